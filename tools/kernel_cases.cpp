#include "tools/kernel_cases.hpp"

#include <cmath>
#include <random>

#include "jit/fq_math.hpp"

namespace qjit::zoo {

int64_t KernelCase::real_macs() const {
    if (fc) return w * c * oc;
    const int64_t oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    int64_t taps = 0;
    for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x)
            for (int64_t i = 0; i < k; ++i)
                for (int64_t j = 0; j < k; ++j) {
                    const int64_t iy = y * stride - pad + i, ix = x * stride - pad + j;
                    taps += iy >= 0 && iy < h && ix >= 0 && ix < w;
                }
    return n * taps * c * oc / groups;
}

QConvDesc make_qconv_case(const KernelCase& kc, uint64_t seed) {
    std::mt19937_64 rng(seed);
    QConvDesc d;
    ConvGeom& g = d.g;
    g.N = kc.n; g.C = kc.c; g.OC = kc.oc; g.groups = kc.groups;
    if (kc.fc) {
        g.H = 1; g.W = kc.w; g.KH = g.KW = 1; g.OH = 1; g.OW = kc.w;
    } else {
        g.H = kc.h; g.W = kc.w; g.KH = g.KW = kc.k;
        g.SH = g.SW = kc.stride;
        g.PT = g.PL = g.PB = g.PR = kc.pad;
        g.OH = (kc.h + 2 * kc.pad - kc.k) / kc.stride + 1;
        g.OW = (kc.w + 2 * kc.pad - kc.k) / kc.stride + 1;
    }
    d.in.levels = 256;
    d.in.il.v = d.in.ol.v = {kc.zero_points ? -1.0f : 0.0f};
    d.in.ih.v = d.in.oh.v = {kc.zero_points ? 1.55f : 2.55f};

    const int64_t K = g.K();
    QuantWeights& w = d.w;
    w.levels = 255;
    std::vector<int8_t>& q = w.q.mut();
    std::vector<float>& w_float = w.w_float.mut();
    q.resize(static_cast<size_t>(g.OC * K));
    w_float.resize(q.size());
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t o = 0; o < g.OC; ++o) {
        std::vector<float> f(static_cast<size_t>(K));
        float m = 1e-6f;
        for (float& x : f) m = std::max(m, std::fabs(x = nd(rng)));
        const float s = m / 127.0f;
        for (int64_t i = 0; i < K; ++i) {
            const int k = fq::level_index(f[static_cast<size_t>(i)], -127 * s, 127 * s, 255);
            q[static_cast<size_t>(o * K + i)] = static_cast<int8_t>(k - 127);
            w_float[static_cast<size_t>(o * K + i)] = fq::level_value(k, -127 * s, 127 * s, 255);
        }
        w.s_w.push_back((127.0 * s - (-127.0 * s)) / 254.0);
        w.z_w.push_back(0.0);
        w.n_dropped.push_back(0.0);
        w.const_channel.push_back(0);
        w.w_c.push_back(0.0);
    }
    PostOp bias;
    bias.kind = PostOp::Bias;
    std::normal_distribution<float> bd(0.0f, 0.5f);
    for (int64_t o = 0; o < g.OC; ++o) bias.v.push_back(bd(rng));
    d.post.push_back(bias);
    d.post.push_back(PostOp{PostOp::Clamp, {}, 0.0f, INFINITY, "relu"});
    d.out_levels = true;
    d.out.levels = 256;
    d.out.il.v = d.out.ol.v = {kc.zero_points ? -0.5f : 0.0f};
    d.out.ih.v = d.out.oh.v = {kc.zero_points ? 6.0f : 6.5f};
    d.fused_nodes = {kc.name};
    return d;
}

} // namespace qjit::zoo
