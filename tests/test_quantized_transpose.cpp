// Transpose in the quantized region (spec §3 Transpose row): the Dequantize moves below a Transpose
// whose permutation keeps axes 0 and 1 first (per-channel params) or below any Transpose (per-tensor
// params), so the Transpose copies level indices and the following Conv / FC stays a quantized JIT
// kernel; a per-channel Transpose that moves the channel axis stays fp32. Every model equals Oracle B
// and stays within §4.6 of Oracle A.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "tests/support/chain_check.hpp"

namespace qjit::test {
namespace {

std::vector<float> normal(std::mt19937_64& rng, int64_t n, float sd) {
    std::normal_distribution<float> nd(0.f, sd);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = nd(rng);
    return v;
}

NodeRef scalar(Graph& g, const std::string& name, float v) { return g.constant(name, Tensor::f32({1}, {v})); }

// x [1, C, H, W] -> FakeQuantize (per-channel or per-tensor) -> Transpose(perm) -> consumer.
// consumer: a 3x3 conv when the result is 4-D with C channels, else Reshape to [1, K] + MatMul.
Graph transpose_graph(const std::vector<int64_t>& perm, bool per_channel, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const int64_t C = 6, H = 5, W = 7;
    Graph g;
    NodeRef x = g.parameter("x", {1, C, H, W});
    NodeRef lo, hi;
    if (per_channel) {
        std::vector<float> l(C), h(C);
        for (int64_t c = 0; c < C; ++c) l[static_cast<size_t>(c)] = -0.2f * static_cast<float>(c + 1),
                                        h[static_cast<size_t>(c)] = 0.7f + 0.3f * static_cast<float>(c);
        lo = g.constant("lo", Tensor::f32({1, C, 1, 1}, l));
        hi = g.constant("hi", Tensor::f32({1, C, 1, 1}, h));
    } else {
        lo = scalar(g, "lo", -1.1f), hi = scalar(g, "hi", 1.4f);
    }
    NodeRef q = g.fake_quantize("fq_x", x, lo, hi, lo, hi, 256);
    NodeRef t = g.transpose("transpose", q, perm);
    Shape ts(4);
    const Shape xs{1, C, H, W};
    for (size_t i = 0; i < 4; ++i) ts[i] = xs[static_cast<size_t>(perm[i])];
    NodeRef wl = scalar(g, "w_lo", -1.f), wh = scalar(g, "w_hi", 1.f);
    NodeRef out;
    if (perm[1] == 1) {
        NodeRef w = g.fake_quantize("w_fq", g.constant("w", Tensor::f32({4, C, 3, 3}, normal(rng, 4 * C * 9, 0.3f))),
                                    wl, wh, wl, wh, 255);
        ConvParams p;
        p.pads_begin = {1, 1};
        p.pads_end = {1, 1};
        out = g.convolution("conv", t, w, p);
    } else {
        const int64_t K = C * H * W;
        NodeRef flat = g.reshape("flatten", t, {1, K});
        NodeRef w = g.fake_quantize("w_fq", g.constant("w", Tensor::f32({K, 5}, normal(rng, K * 5, 0.1f))), wl, wh, wl,
                                    wh, 255);
        out = g.matmul("fc", flat, w);
    }
    g.result("y", out);
    return g;
}

struct Case {
    std::vector<int64_t> perm;
    bool per_channel;
    bool quantized; // the Transpose copies level indices and the consumer is a quantized kernel
};

class QuantizedTranspose : public ::testing::TestWithParam<int> {};

TEST_P(QuantizedTranspose, LevelIndexCopyOrFp32AndEqualsOracleB) {
    const std::vector<Case> cases = {
        {{0, 1, 3, 2}, true, true},   // spatial transpose, per-channel: params follow axis 1
        {{0, 1, 2, 3}, true, true},   // identity
        {{0, 1, 3, 2}, false, true},  // per-tensor
        {{0, 2, 3, 1}, false, true},  // NCHW -> NHWC then flatten into an FC, per-tensor
        {{0, 3, 1, 2}, false, true},  // per-tensor, channel moves
        {{0, 2, 3, 1}, true, false},  // per-channel params cannot follow the channel: fp32
    };
    const Case& k = cases[static_cast<size_t>(GetParam())];
    const Graph g = transpose_graph(k.perm, k.per_channel, 40 + static_cast<uint64_t>(GetParam()));
    CompiledModel m = compile(g, {});
    const std::string text = m.describe();
    SCOPED_TRACE(text);
    if (std::getenv("QJIT_TEST_PRINT")) std::printf("%s\n", text.c_str());
    EXPECT_EQ(text.find("transpose_u8") != std::string::npos, k.quantized);
    EXPECT_EQ(text.find("ref_Transpose_f32") != std::string::npos, !k.quantized);
    if (k.quantized) {
        EXPECT_EQ(text.find("ref_Convolution_f32"), std::string::npos);
        EXPECT_EQ(text.find("ref_MatMul_f32"), std::string::npos);
    }
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> u(-1.5f, 2.f);
    for (int t = 0; t < 3; ++t) {
        std::vector<float> v(6 * 5 * 7);
        for (float& f : v) f = u(rng);
        const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, {Tensor::f32({1, 6, 5, 7}, v)});
        EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
        EXPECT_EQ(r.violations, 0) << r.first_violation;
    }
}

INSTANTIATE_TEST_SUITE_P(Perms, QuantizedTranspose, ::testing::Range(0, 6));

} // namespace
} // namespace qjit::test
