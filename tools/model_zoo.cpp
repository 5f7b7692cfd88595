#include "tools/model_zoo.hpp"

#include <cmath>

namespace qjit::zoo {
namespace {

std::vector<float> normal(std::mt19937_64& rng, int64_t n, float sigma) {
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
}

NodeRef scalar(Graph& g, const std::string& name, float v) { return g.constant(name, Tensor::f32({}, {v})); }

// FakeQuantize of weights [OC, ...] with per-output-channel symmetric (or shifted) ranges.
NodeRef weight_fq(Graph& g, const std::string& name, NodeRef w, const std::vector<float>& wv, int64_t oc,
                  const Shape& range_shape, int levels, bool asym, std::mt19937_64& rng) {
    const int64_t per = static_cast<int64_t>(wv.size()) / oc;
    std::vector<float> lo(static_cast<size_t>(oc)), hi(static_cast<size_t>(oc));
    std::uniform_real_distribution<float> shift(-0.2f, 0.2f);
    for (int64_t o = 0; o < oc; ++o) {
        float m = 1e-3f;
        for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(wv[static_cast<size_t>(o * per + i)]));
        // Symmetric grid for the code range [-c, L-1-c]: ol = -c*s, oh = (L-1-c)*s.
        const int c = levels / 2;
        const float s = m / static_cast<float>(std::max(1, levels - 1 - c));
        lo[static_cast<size_t>(o)] = -static_cast<float>(c) * s;
        hi[static_cast<size_t>(o)] = static_cast<float>(levels - 1 - c) * s;
        if (asym) {
            const float t = shift(rng) * m;
            lo[static_cast<size_t>(o)] += t;
            hi[static_cast<size_t>(o)] += t;
        }
    }
    NodeRef l = g.constant(name + "_lo", Tensor::f32(range_shape, lo));
    NodeRef h = g.constant(name + "_hi", Tensor::f32(range_shape, hi));
    return g.fake_quantize(name, w, l, h, l, h, levels);
}

} // namespace

std::string ChainConfig::str() const {
    return "n=" + std::to_string(n) + " c=" + std::to_string(c) + " h=" + std::to_string(h) + " w=" +
           std::to_string(w) + " c1=" + std::to_string(c1) + " c2=" + std::to_string(c2) + " classes=" +
           std::to_string(classes) + " k=" + std::to_string(k) + " stride=" + std::to_string(stride) + " pad=" +
           std::to_string(pad) + " dil=" + std::to_string(dilation) + " L=" + std::to_string(levels_in) + "/" +
           std::to_string(levels_act) + "/" + std::to_string(levels_w) + " asym_w=" + std::to_string(asym_weights) +
           " pc_out=" + std::to_string(per_channel_out) + " seed=" + std::to_string(seed);
}

ChainConfig random_chain_config(uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&](std::initializer_list<int64_t> v) { return *(v.begin() + rng() % v.size()); };
    ChainConfig c;
    c.n = pick({1, 1, 2});
    c.c = pick({1, 2, 3, 4, 5, 8, 16, 17});
    c.h = pick({1, 3, 5, 7, 8, 12});
    c.w = pick({1, 2, 5, 7, 9, 13});
    c.c1 = pick({1, 3, 8, 16, 17, 24, 33});
    c.c2 = pick({1, 7, 8, 16, 31});
    c.classes = pick({1, 5, 10, 16, 17});
    c.k = pick({1, 3, 3, 5});
    c.stride = pick({1, 1, 2, 3});
    c.dilation = pick({1, 1, 2});
    c.pad = pick({0, 1, 2, 3, 6});
    // Keep the output at least 1x1.
    while ((c.h + 2 * c.pad - (c.k - 1) * c.dilation - 1) < 0 || (c.w + 2 * c.pad - (c.k - 1) * c.dilation - 1) < 0)
        c.pad++;
    c.levels_in = static_cast<int>(pick({256, 256, 255, 16, 3}));
    c.levels_act = static_cast<int>(pick({256, 256, 255, 16, 2}));
    c.levels_w = static_cast<int>(pick({255, 256, 255, 16, 15}));
    c.asym_weights = rng() % 4 == 0;
    c.per_channel_out = rng() % 3 == 0;
    c.seed = seed;
    return c;
}

Graph build_chain(const ChainConfig& cfg) {
    std::mt19937_64 rng(cfg.seed);
    Graph g;
    NodeRef x = g.parameter("input", {cfg.n, cfg.c, cfg.h, cfg.w});
    NodeRef lo = scalar(g, "in_lo", -1.0f), hi = scalar(g, "in_hi", 1.0f);
    NodeRef q0 = g.fake_quantize("fq_input", x, lo, hi, lo, hi, cfg.levels_in);

    // Conv KxK with per-channel FQ weights, bias and Relu.
    const std::vector<float> w1 = normal(rng, cfg.c1 * cfg.c * cfg.k * cfg.k, 0.3f);
    NodeRef w1c = g.constant("conv1_w", Tensor::f32({cfg.c1, cfg.c, cfg.k, cfg.k}, w1));
    NodeRef w1q = weight_fq(g, "conv1_w_fq", w1c, w1, cfg.c1, {cfg.c1, 1, 1, 1}, cfg.levels_w, cfg.asym_weights, rng);
    ConvParams p;
    p.strides = {cfg.stride, cfg.stride};
    p.pads_begin = {cfg.pad, cfg.pad};
    p.pads_end = {cfg.pad, cfg.pad};
    p.dilations = {cfg.dilation, cfg.dilation};
    NodeRef c1 = g.convolution("conv1", q0, w1q, p);
    NodeRef b1 = g.constant("conv1_b", Tensor::f32({1, cfg.c1, 1, 1}, normal(rng, cfg.c1, 0.2f)));
    NodeRef a1 = g.add("conv1_bias", c1, b1);
    NodeRef r1 = g.relu("conv1_relu", a1);
    NodeRef q1;
    if (cfg.per_channel_out) {
        // Per-channel ranges of equal width (exact in fp32) and different offsets: the next conv's
        // input step stays per-tensor while ol varies per channel (it goes into E, spec §4.1).
        std::vector<float> l(static_cast<size_t>(cfg.c1)), h(static_cast<size_t>(cfg.c1));
        for (size_t i = 0; i < l.size(); ++i) {
            l[i] = -static_cast<float>(rng() % 33) / 64.0f;
            h[i] = l[i] + 3.0f;
        }
        NodeRef lc = g.constant("fq1_lo", Tensor::f32({1, cfg.c1, 1, 1}, l));
        NodeRef hc = g.constant("fq1_hi", Tensor::f32({1, cfg.c1, 1, 1}, h));
        q1 = g.fake_quantize("fq_conv1", r1, lc, hc, lc, hc, cfg.levels_act);
    } else {
        NodeRef l = scalar(g, "fq1_lo", 0.0f), h = scalar(g, "fq1_hi", 3.0f);
        q1 = g.fake_quantize("fq_conv1", r1, l, h, l, h, cfg.levels_act);
    }
    const std::vector<float> w2 = normal(rng, cfg.c2 * cfg.c1, 0.2f);
    NodeRef w2c = g.constant("conv2_w", Tensor::f32({cfg.c2, cfg.c1, 1, 1}, w2));
    NodeRef w2q = weight_fq(g, "conv2_w_fq", w2c, w2, cfg.c2, {cfg.c2, 1, 1, 1}, cfg.levels_w, cfg.asym_weights, rng);
    NodeRef c2 = g.convolution("conv2", q1, w2q);
    NodeRef l2 = scalar(g, "fq2_lo", -2.0f), h2 = scalar(g, "fq2_hi", 2.5f);
    NodeRef q2 = g.fake_quantize("fq_conv2", c2, l2, h2, l2, h2, cfg.levels_act);
    const Shape s2 = g.shape_of(q2);
    const int64_t k = s2[1] * s2[2] * s2[3];
    NodeRef flat = g.reshape("flatten", q2, {cfg.n, k});
    const std::vector<float> w3 = normal(rng, k * cfg.classes, 0.1f);
    NodeRef w3c = g.constant("fc_w", Tensor::f32({cfg.classes, k}, w3));
    NodeRef w3q = weight_fq(g, "fc_w_fq", w3c, w3, cfg.classes, {cfg.classes, 1}, cfg.levels_w, cfg.asym_weights, rng);
    NodeRef fc = g.matmul("fc", flat, w3q, false, true);
    g.result("logits", fc);
    return g;
}

std::vector<float> random_input(const Shape& shape, uint64_t seed, float lo, float hi) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(static_cast<size_t>(num_elements(shape)));
    for (float& x : v) x = u(rng);
    return v;
}

} // namespace qjit::zoo
