#include "tests/support/block_building.hpp"

#include <algorithm>
#include <cmath>

namespace qjit::tsupport {

std::vector<float> normal(Rng& r, int64_t n, float sigma) {
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(r);
    return v;
}

NodeRef scalar(Graph& g, const std::string& name, float v) { return g.constant(name, Tensor::f32({}, {v})); }

NodeRef fq(Graph& g, const std::string& name, NodeRef x, float lo, float hi, int64_t L) {
    const NodeRef l = scalar(g, name + ".lo", lo), h = scalar(g, name + ".hi", hi);
    return g.fake_quantize(name, x, l, h, l, h, L);
}

// Per-channel FakeQuantize on axis 1: [lo[c], hi[c]].
NodeRef fq_pc(Graph& g, const std::string& name, NodeRef x, const std::vector<float>& lo, const std::vector<float>& hi,
              int64_t L) {
    const int64_t C = static_cast<int64_t>(lo.size());
    const NodeRef l = g.constant(name + ".lo", Tensor::f32({1, C, 1, 1}, lo));
    const NodeRef h = g.constant(name + ".hi", Tensor::f32({1, C, 1, 1}, hi));
    return g.fake_quantize(name, x, l, h, l, h, L);
}

// Weights with a per-output-channel FakeQuantize: symmetric grid, or shifted (asymmetric) when asym.
// `shape` is OIHW or [G, O/G, I/G, KH, KW]; the range shape has 1s after the output axes.
NodeRef weights(Graph& g, const std::string& name, const Shape& shape, int L, bool asym, Rng& r) {
    const bool grouped = shape.size() == 5;
    const int64_t oc = grouped ? shape[0] * shape[1] : shape[0];
    const int64_t per = num_elements(shape) / oc;
    const std::vector<float> w = normal(r, num_elements(shape), 0.3f);
    std::vector<float> lo(static_cast<size_t>(oc)), hi(static_cast<size_t>(oc));
    std::uniform_real_distribution<float> shift(-0.2f, 0.2f);
    for (int64_t o = 0; o < oc; ++o) {
        float m = 1e-3f;
        for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(o * per + i)]));
        const int c = L / 2;
        const float s = m / static_cast<float>(std::max(1, L - 1 - c));
        lo[static_cast<size_t>(o)] = -static_cast<float>(c) * s + (asym ? shift(r) * m : 0.0f);
        hi[static_cast<size_t>(o)] = lo[static_cast<size_t>(o)] + static_cast<float>(L - 1) * s;
    }
    Shape rs(shape.size(), 1);
    rs[0] = shape[0];
    if (grouped) rs[1] = shape[1];
    const NodeRef wc = g.constant(name, Tensor::f32(shape, w));
    const NodeRef l = g.constant(name + "_lo", Tensor::f32(rs, lo)), h = g.constant(name + "_hi", Tensor::f32(rs, hi));
    return g.fake_quantize(name + "_fq", wc, l, h, l, h, L);
}

NodeRef bias(Graph& g, const std::string& name, NodeRef x, int64_t C, Rng& r) {
    return g.add(name, x, g.constant(name + "_b", Tensor::f32({1, C, 1, 1}, normal(r, C, 0.2f))));
}

} // namespace qjit::tsupport
