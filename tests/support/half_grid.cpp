#include "tests/support/half_grid.hpp"

#include <cmath>

#include "jit/ir.hpp"
#include "tests/support/chain_check.hpp"

namespace qjit::tsupport {

std::vector<Tensor> half_grid_inputs(const Graph& g, int64_t max_elements) {
    std::vector<Tensor> in;
    int64_t total = 0, i = 0;
    for (int id : g.ir().parameters()) {
        const Shape& s = g.ir().node(id).shape;
        total += num_elements(s);
        if (total > max_elements) return {};
        Tensor t(ElemType::f32, s);
        float* p = t.data<float>();
        for (int64_t e = 0; e < t.numel(); ++e, ++i) {
            const float j = static_cast<float>((i * 37) % 512 - 256) + 0.5f;
            const float x = std::ldexp(j, -3 - static_cast<int>(i % 4));
            p[e] = i % 3 == 0 ? x : std::nextafter(x, i % 3 == 1 ? 1e30f : -1e30f);
        }
        in.push_back(std::move(t));
    }
    return in;
}

std::string half_grid_jit_vs_b(const Graph& g, const CompileOptions& o, int64_t max_elements) {
    const std::vector<Tensor> in = half_grid_inputs(g, max_elements);
    if (in.empty() && !g.ir().parameters().empty()) return "";
    CompiledModel m = compile(g, o);
    const OracleAgreement r = check_against_oracles(g, m, in);
    return r.jit_equals_b ? "" : r.mismatch;
}

} // namespace qjit::tsupport
