#include "tests/support/graph_fuzz.hpp"

#include <xmmintrin.h>

#include <algorithm>
#include <exception>

#include "tests/support/chain_check.hpp"

namespace qjit::tsupport {

bool allowed_compile_error(ErrorCode c) {
    return c == ErrorCode::UnsupportedOp || c == ErrorCode::NonConstantRange;
}

std::string graph_reproducer(uint64_t seed) {
    return "QJIT_GRAPH_SEED=" + std::to_string(seed) + " ./test_random_graphs";
}

GraphVerdict check_random_graph(const rgraph::RandomGraph& rg) {
    GraphVerdict v;
    std::string fallback;
    auto fail = [&](const std::string& why) {
        v.kind = GraphVerdict::failed;
        v.why = why + (fallback.empty() ? std::string(" [all steps JIT]") : " [fp32 fallback steps, first: " + fallback + "]");
        return v;
    };
    CompiledModel m1, m2;
    try {
        CompileOptions o;
        o.threads = 1;
        m1 = compile(rg.graph, o);
    } catch (const Error& e) {
        if (!allowed_compile_error(e.code()))
            return fail(std::string("compile threw Error(") + to_string(e.code()) + "): " + e.what());
        v.kind = GraphVerdict::rejected;
        v.why = std::string(to_string(e.code())) + ": " + e.what();
        return v;
    } catch (const std::exception& e) {
        return fail(std::string("compile threw a non-qjit exception: ") + e.what());
    }
    for (const KernelInfo& k : m1.kernels())
        if (!k.jit) v.fallback_kernels.push_back(k.name);
    try {
        const OracleAgreement r = check_against_oracles(rg.graph, m1, rg.inputs);
        v.all_jit = r.all_jit;
        fallback = r.fallback;
        v.layer_outputs = r.layer_outputs;
        v.flips = r.flips;
        if (!r.jit_equals_b) return fail("JIT != Oracle B: " + r.mismatch);
        // A's fp64 check of a FakeQuantize whose oh-ol (or ih-il) overflows fp32 to inf is not
        // meaningful (fp32 B divides by inf, fp64 A does not; A's own fp32 FQ gives inf*0 = NaN):
        // such graphs keep JIT == B and the threads/MXCSR checks only.
        const bool a_meaningful = std::find(rg.features.begin(), rg.features.end(), "range_width_overflows_inf") ==
                                  rg.features.end();
        v.a_checked = a_meaningful;
        if (r.violations && a_meaningful) return fail("outside spec 4.6 of Oracle A (" + std::to_string(r.violations) +
                                      " outputs): " + r.first_violation);
        CompileOptions o;
        o.threads = 2;
        m2 = compile(rg.graph, o);
        const std::vector<Tensor> a = m1.run(rg.inputs), b = m2.run(rg.inputs);
        for (size_t i = 0; i < a.size(); ++i) {
            std::string why;
            if (!same_bytes(a[i], b.at(i), &why))
                return fail("threads 1 vs 2 differ on result " + std::to_string(i) + ": " + why);
        }
        // The caller's MXCSR (round toward zero, FTZ, DAZ) must not change the output (spec §5.12).
        const unsigned saved = _mm_getcsr();
        _mm_setcsr((saved & ~0x6000u) | 0x6000u | 0x8040u);
        std::vector<Tensor> c;
        try {
            c = m1.run(rg.inputs);
        } catch (...) {
            _mm_setcsr(saved);
            throw;
        }
        _mm_setcsr(saved);
        for (size_t i = 0; i < a.size(); ++i) {
            std::string why;
            if (same_bytes(a[i], c.at(i), &why)) continue;
            // Generated kernels and interpreted fp32 steps alike run under MXCSR 0x1F80 (the executor
            // sets it per step), so the caller's rounding mode, FTZ or DAZ never change a result.
            return fail("caller MXCSR (RZ, FTZ, DAZ) changed result " + std::to_string(i) + ": " + why);
        }
    } catch (const Error& e) {
        return fail(std::string("run/oracles threw Error(") + to_string(e.code()) + "): " + e.what());
    } catch (const std::exception& e) {
        return fail(std::string("run/oracles threw: ") + e.what());
    }
    return v;
}

} // namespace qjit::tsupport
