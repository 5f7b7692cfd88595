// ISA dispatch of the whole pipeline: the scheduler's op -> emitter table picks, per node, the
// highest-level rule the target includes; QJIT_MAX_ISA and CompileOptions::max_isa cap it;
// allow_unsupported_isa generates for a level the host lacks (and run() then refuses); describe()
// names the ISA of every kernel. Models that run are checked against Oracle B at tolerance 0.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "isa/isa.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tools/model_zoo.hpp"

using namespace qjit;

namespace {

class EnvCap {
public:
    explicit EnvCap(const char* v) {
        const char* old = std::getenv("QJIT_MAX_ISA");
        had_ = old != nullptr;
        if (had_) old_ = old;
        if (v) setenv("QJIT_MAX_ISA", v, 1);
        else unsetenv("QJIT_MAX_ISA");
    }
    ~EnvCap() {
        if (had_) setenv("QJIT_MAX_ISA", old_.c_str(), 1);
        else unsetenv("QJIT_MAX_ISA");
    }

private:
    bool had_ = false;
    std::string old_;
};

std::string suffix(const std::string& name) {
    const size_t at = name.rfind("__");
    if (at == std::string::npos) return "";
    const size_t end = name.find(' ', at);
    return name.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
}

// The level each kernel family gets for target `t`: dense conv the target itself, Quantize /
// Dequantize its vector level.
Isa expected_for(const std::string& name, Isa t) {
    if (name.rfind("quantize", 0) == 0 || name.rfind("dequantize", 0) == 0)
        return isa_includes(t, Isa::avx512_core) ? Isa::avx512_core : Isa::avx2;
    return t;
}

zoo::ChainConfig chain() {
    zoo::ChainConfig cfg;
    cfg.h = 9, cfg.w = 11, cfg.c1 = 20, cfg.c2 = 33, cfg.classes = 7;
    cfg.asym_weights = true;
    return cfg;
}

// Compiles the chain for `target` and checks every kernel's level, describe() and (if the host runs
// it) JIT == Oracle B.
void check_target(Isa requested, Isa want, bool allow_unsupported) {
    SCOPED_TRACE(std::string("requested ") + to_string(requested) + ", expected " + to_string(want));
    const zoo::ChainConfig cfg = chain();
    const Graph g = zoo::build_chain(cfg);
    CompileOptions opt;
    opt.max_isa = requested;
    opt.allow_unsupported_isa = allow_unsupported;
    CompiledModel m = compile(g, opt);
    EXPECT_EQ(m.isa(), want);
    const std::string text = m.describe();
    int conv = 0;
    for (const KernelInfo& k : m.kernels()) {
        if (!k.jit) continue;
        EXPECT_EQ(suffix(k.name), to_string(expected_for(k.name, want))) << k.name;
        EXPECT_NE(text.find(std::string("isa=") + suffix(k.name)), std::string::npos) << text;
        if (k.name.rfind("conv", 0) == 0 || k.name.rfind("fc", 0) == 0) ++conv;
    }
    EXPECT_GE(conv, 3) << text;
    const Shape in_shape{cfg.n, cfg.c, cfg.h, cfg.w};
    const std::vector<Tensor> inputs{Tensor::f32(in_shape, zoo::random_input(in_shape, 5))};
    if (!isa_supported(want)) {
        EXPECT_THROW(m.run(inputs), Error) << "run() of code the host cannot execute";
        return;
    }
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, inputs);
    EXPECT_TRUE(r.all_jit) << r.fallback;
    EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
    EXPECT_EQ(r.violations, 0) << r.first_violation;
}

TEST(IsaDispatch, MaxIsaAvx2UsesOnlyAvx2Kernels) {
    EnvCap cap("avx2");
    check_target(Isa::native, Isa::avx2, false);
    check_target(Isa::avx512_core_vnni, Isa::avx2, true); // the cap holds for generation too
}

TEST(IsaDispatch, EveryLevelTheHostRuns) {
    EnvCap cap(nullptr);
    for (Isa isa : all_isas()) {
        if (!isa_supported(isa)) {
            std::printf("[dispatch] host lacks %s: checked by generation only\n", to_string(isa));
            continue;
        }
        check_target(isa, isa, false);
    }
    check_target(Isa::native, max_isa_supported(), false);
}

TEST(IsaDispatch, GenerationForLevelsTheHostLacks) {
    EnvCap cap(nullptr);
    for (Isa isa : all_isas()) check_target(isa, isa, true);
}

TEST(IsaDispatch, EnvironmentCapMeetsTheRequest) {
    {
        EnvCap cap("avx2_vnni");
        check_target(Isa::avx512_core_vnni, Isa::avx2, true); // incomparable levels meet at avx2
        check_target(Isa::avx2_vnni, Isa::avx2_vnni, true);
    }
    {
        EnvCap cap("avx512_core");
        check_target(Isa::avx512_core_vnni, Isa::avx512_core, true);
    }
}

} // namespace
