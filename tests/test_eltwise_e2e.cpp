// End-to-end blocks with quantized eltwise ops, ScaleShift and Concat, built with the public graph
// builder: each compiles into generated kernels only (describe() shows no fallback), equals Oracle B
// bit for bit (every thread count tried) and keeps every fused layer (QConv and QEltwise) within
// spec §4.6 of Oracle A. FakeQuantize ranges are calibrated on Oracle A's values of the float graph.
// Reproduce one configuration: QJIT_TEST_SEED=<seed> <binary> --gtest_filter=<test>.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "qjit/qjit.hpp"
#include "runtime/oracle_a.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/emitter_testing.hpp"

namespace qjit {
namespace {

using Rng = std::mt19937_64;

// A model under construction with its inputs, so that FakeQuantize ranges can be calibrated on
// Oracle A's values of what is built so far.
class Net {
public:
    explicit Net(uint64_t seed) : rng(seed) {}
    Graph g;
    std::vector<Tensor> inputs;
    Rng rng;

    NodeRef input(const std::string& name, const Shape& s) {
        std::uniform_real_distribution<float> u(-1.2f, 1.2f);
        std::vector<float> v(static_cast<size_t>(num_elements(s)));
        for (float& x : v) x = u(rng);
        inputs.push_back(Tensor::f32(s, v));
        return g.parameter(name, s);
    }

    NodeRef constant(const std::string& name, const Shape& s, const std::vector<float>& v) {
        return g.constant(name, Tensor::f32(s, v));
    }

    // Oracle A's values of x on the current graph (a copy with a probe Result).
    Tensor values_of(NodeRef x) const {
        Graph c = g;
        c.result("__probe", x);
        return oracle::oracle_a_outputs(c.ir(), inputs).back();
    }

    // FakeQuantize of x with input range = output range = [p2, p98] of its values, per tensor or
    // per channel; `equal_width`: per-channel ranges of one dyadic width (one exact step: `width`,
    // or the smallest power of two covering every channel's range) with different dyadic offsets.
    NodeRef fq(const std::string& name, NodeRef x, int L, bool per_channel, bool equal_width = false,
               float width = 0.0f) {
        const Tensor v = values_of(x);
        const Shape& s = v.shape();
        const int64_t C = s[1];
        int64_t inner = 1;
        for (size_t i = 2; i < s.size(); ++i) inner *= s[i];
        std::vector<std::vector<float>> by_ch(static_cast<size_t>(per_channel ? C : 1));
        for (int64_t i = 0; i < v.numel(); ++i)
            by_ch[per_channel ? static_cast<size_t>((i / inner) % C) : 0].push_back(v.data<float>()[i]);
        std::vector<float> lo, hi;
        for (auto& b : by_ch) {
            std::sort(b.begin(), b.end());
            float l = b[b.size() * 2 / 100], h = b[b.size() * 98 / 100];
            if (!(h - l > 1e-3f)) h = l + 1e-3f;
            lo.push_back(l);
            hi.push_back(h);
        }
        if (equal_width) {
            float w = 0;
            for (size_t i = 0; i < lo.size(); ++i) w = std::max(w, hi[i] - lo[i]);
            if (width == 0.0f) width = std::ldexp(1.0f, static_cast<int>(std::ceil(std::log2(w))));
            for (size_t i = 0; i < lo.size(); ++i) {
                lo[i] = std::ldexp(std::round(std::ldexp(lo[i], 6)), -6);
                hi[i] = lo[i] + width;
            }
        }
        Shape rs = per_channel ? Shape(s.size(), 1) : Shape{1};
        if (per_channel) rs[1] = C;
        const NodeRef l = constant(name + ".lo", rs, lo), h = constant(name + ".hi", rs, hi);
        return g.fake_quantize(name, x, l, h, l, h, L);
    }

    // Conv KxK (same padding) with per-output-channel FakeQuantize'd weights and a bias.
    NodeRef conv(const std::string& name, NodeRef x, int64_t OC, int64_t k, bool bias = true) {
        const int64_t C = g.shape_of(x)[1];
        std::normal_distribution<float> nd(0.0f, 0.4f / std::sqrt(static_cast<float>(C * k * k)) * 2.0f);
        std::vector<float> w(static_cast<size_t>(OC * C * k * k));
        for (float& v : w) v = nd(rng);
        std::vector<float> lo(static_cast<size_t>(OC)), hi(static_cast<size_t>(OC));
        const int64_t per = C * k * k;
        for (int64_t o = 0; o < OC; ++o) {
            float m = 1e-3f;
            for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(o * per + i)]));
            lo[static_cast<size_t>(o)] = -m * 128.0f / 127.0f;
            hi[static_cast<size_t>(o)] = m;
        }
        const NodeRef wc = constant(name + ".w", {OC, C, k, k}, w);
        const NodeRef l = constant(name + ".wlo", {OC, 1, 1, 1}, lo), h = constant(name + ".whi", {OC, 1, 1, 1}, hi);
        ConvParams p;
        p.pads_begin = p.pads_end = {k / 2, k / 2};
        NodeRef t = g.convolution(name, x, g.fake_quantize(name + ".wfq", wc, l, h, l, h, 256), p);
        if (bias) {
            std::normal_distribution<float> bd(0.0f, 0.2f);
            std::vector<float> b(static_cast<size_t>(OC));
            for (float& v : b) v = bd(rng);
            t = g.add(name + ".bias", t, constant(name + ".b", {1, OC, 1, 1}, b));
        }
        return t;
    }

    // Depthwise KxK (same padding, GroupConvolution with G = C) with per-channel weight FQ and a bias.
    NodeRef dwconv(const std::string& name, NodeRef x, int64_t k) {
        const int64_t C = g.shape_of(x)[1];
        std::normal_distribution<float> nd(0.0f, 0.4f);
        std::vector<float> w(static_cast<size_t>(C * k * k));
        for (float& v : w) v = nd(rng);
        std::vector<float> lo(static_cast<size_t>(C)), hi(static_cast<size_t>(C));
        for (int64_t o = 0; o < C; ++o) {
            float m = 1e-3f;
            for (int64_t i = 0; i < k * k; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(o * k * k + i)]));
            lo[static_cast<size_t>(o)] = -m * 128.0f / 127.0f;
            hi[static_cast<size_t>(o)] = m;
        }
        const NodeRef wc = constant(name + ".w", {C, 1, 1, k, k}, w);
        const NodeRef l = constant(name + ".wlo", {C, 1, 1, 1, 1}, lo), h = constant(name + ".whi", {C, 1, 1, 1, 1}, hi);
        ConvParams p;
        p.pads_begin = p.pads_end = {k / 2, k / 2};
        const NodeRef t = g.group_convolution(name, x, g.fake_quantize(name + ".wfq", wc, l, h, l, h, 256), p);
        return g.add(name + ".bias", t, constant(name + ".b", {1, C, 1, 1}, per_channel(C, -0.2f, 0.2f)));
    }

    std::vector<float> per_channel(int64_t C, float lo, float hi) {
        std::uniform_real_distribution<float> u(lo, hi);
        std::vector<float> v(static_cast<size_t>(C));
        for (float& x : v) x = u(rng);
        return v;
    }
};

int count_op(const Graph& g, ir::Op op) {
    ir::Graph l = g.ir();
    lower(l);
    int n = 0;
    for (int id : l.topo_order()) n += l.node(id).op == op;
    return n;
}

// Compiles with fp32 fallback refused and checks both oracles for threads 1 and 3.
void check_model(const Graph& g, const std::vector<Tensor>& inputs, const std::string& what) {
    SCOPED_TRACE(what);
    for (int threads : {1, 3}) {
        CompileOptions opt;
        opt.threads = threads;
        opt.allow_fp32_fallback = false;
        CompiledModel m = compile(g, opt);
        const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, inputs);
        EXPECT_TRUE(r.all_jit) << "non-JIT step: " << r.fallback << "\n" << m.describe();
        EXPECT_EQ(m.describe().find("NON-JIT"), std::string::npos) << m.describe();
        EXPECT_TRUE(r.jit_equals_b) << r.mismatch << "\n" << m.describe();
        EXPECT_EQ(r.violations, 0) << r.first_violation;
        EXPECT_GT(r.layer_outputs, 0);
        if (threads == 1 && std::getenv("QJIT_TEST_VERBOSE"))
            std::printf("%s\n%s  %lld layer outputs, %lld flips\n", what.c_str(), m.describe().c_str(),
                        static_cast<long long>(r.layer_outputs), static_cast<long long>(r.flips));
    }
}

// x -> FQ -> conv3x3 + bias -> Relu -> FQ -> conv3x3 + bias -> FQ (branch) and the FQ'd x (skip)
// -> Add with different params on each side [-> Relu] -> FQ.
void residual_block(uint64_t seed) {
    Net n(seed);
    Rng& r = n.rng;
    const int64_t C = std::vector<int64_t>{1, 3, 8, 13, 16, 24}[r() % 6];
    const int64_t N = 1 + r() % 2, H = 2 + r() % 6, W = 2 + r() % 9;
    const int L = std::vector<int>{256, 256, 255, 16}[r() % 4];
    const bool pc_in = r() % 2, pc_branch = r() % 3 == 0, pc_out = r() % 2, relu_out = r() % 2;
    const NodeRef x = n.input("x", {N, C, H, W});
    const NodeRef q = n.fq("fq_in", x, L, pc_in, /*equal_width=*/true);
    NodeRef t = n.g.relu("relu1", n.conv("conv1", q, C, 3));
    t = n.fq("fq1", t, L, false);
    t = n.fq("fq2", n.conv("conv2", t, C, 3), L, pc_branch, /*equal_width=*/false);
    t = n.g.add("add", t, q);
    if (relu_out) t = n.g.relu("relu_out", t);
    t = n.fq("fq_out", t, L, pc_out);
    n.g.result("y", t);
    const std::string what = "residual seed=" + std::to_string(seed) + " N" + std::to_string(N) + " C" +
                             std::to_string(C) + " H" + std::to_string(H) + " W" + std::to_string(W) + " L" +
                             std::to_string(L) + (pc_in ? " pc_in" : "") + (pc_branch ? " pc_branch" : "") +
                             (pc_out ? " pc_out" : "") + (relu_out ? " relu_out" : "");
    EXPECT_EQ(count_op(n.g, ir::Op::QEltwise), 1) << what;
    check_model(n.g, n.inputs, what);
}

TEST(EltwiseE2E, ResidualBlocksMatchBothOracles) {
    const uint64_t base = test::base_seed(0);
    if (base) {
        residual_block(base);
        return;
    }
    for (uint64_t seed = 1; seed <= 24 && !HasFailure(); ++seed) residual_block(seed);
}

// Two branches quantized with different params, concatenated along channels, then
//  (a) Add with a third quantized tensor -> FQ, (b) an FQ requantize, (c) a Conv (the branches
//  share one step, offsets differ) -> FQ, (d) Multiply by a per-channel broadcast tensor -> f32,
//  (e) a depthwise conv (per-channel input scales are fine there) -> FQ.
void concat_block(uint64_t seed) {
    Net n(seed);
    Rng& r = n.rng;
    const int64_t C = 1 + r() % 6, C1 = 1 + r() % 17, C2 = 1 + r() % 17;
    const int64_t N = 1 + r() % 2, H = 2 + r() % 5, W = 2 + r() % 7;
    const int L = std::vector<int>{256, 255, 16}[r() % 3];
    const NodeRef x = n.input("x", {N, C, H, W});
    const NodeRef q = n.fq("fq_in", x, 256, false);
    const NodeRef a = n.fq("fq_a", n.g.relu("relu_a", n.conv("conv_a", q, C1, 1)), L, r() % 2);
    const NodeRef b = n.fq("fq_b", n.conv("conv_b", q, C2, 3), L, r() % 2);
    const NodeRef cat = n.g.concat("cat", {a, b}, 1);
    const NodeRef z = n.fq("fq_z", n.input("z", {N, C1 + C2, H, W}), 256, r() % 2);
    n.g.result("sum", n.fq("fq_sum", n.g.add("add", cat, z), L, r() % 2));
    n.g.result("requant", n.fq("fq_re", cat, 256, false));
    const NodeRef s = n.fq("fq_s", n.input("s", {N, C1 + C2, 1, 1}), 256, false);
    n.g.result("scaled", n.g.multiply("mul", cat, s));
    n.g.result("dw_out", n.fq("fq_dw", n.g.relu("dw_relu", n.dwconv("dw", cat, 3)), 256, r() % 2));
    // Same step on both branches: a Conv reads the concatenation quantized.
    const NodeRef a2 = n.fq("fq_a2", n.g.relu("relu_a2", n.conv("conv_a2", q, C1, 1)), 256, false, true, 4.0f);
    const NodeRef b2 = n.fq("fq_b2", n.conv("conv_b2", q, C2, 3), 256, true, true, 4.0f);
    const NodeRef cat2 = n.g.concat("cat2", {a2, b2}, 1);
    n.g.result("conv_out", n.fq("fq_c", n.conv("conv_c", cat2, 1 + r() % 9, 3), 256, false));
    const std::string what = "concat seed=" + std::to_string(seed) + " N" + std::to_string(N) + " C" +
                             std::to_string(C) + "/" + std::to_string(C1) + "+" + std::to_string(C2) + " H" +
                             std::to_string(H) + " W" + std::to_string(W) + " L" + std::to_string(L);
    check_model(n.g, n.inputs, what);
}

TEST(EltwiseE2E, ConcatOfDifferentlyQuantizedBranches) {
    const uint64_t base = test::base_seed(0);
    if (base) {
        concat_block(base);
        return;
    }
    for (uint64_t seed = 1; seed <= 16 && !HasFailure(); ++seed) concat_block(seed);
}

// Conv -> Multiply(sigma: negative and zero channels) -> Add(beta) -> FQ: the ScaleShift is a QConv
// post-op; and FQ -> Multiply -> Add -> Relu -> FQ: a standalone affine requantize.
TEST(EltwiseE2E, ScaleShiftWithNegativeAndZeroMultipliers) {
    for (uint64_t seed = 1; seed <= 8 && !HasFailure(); ++seed) {
        Net n(seed);
        const int64_t C = 5 + static_cast<int64_t>(seed % 4) * 4, OC = 6 + static_cast<int64_t>(seed % 3);
        const NodeRef x = n.input("x", {1, C, 5, 6});
        const NodeRef q = n.fq("fq_in", x, 256, seed % 2 == 0, true);
        std::vector<float> sigma = n.per_channel(OC, 0.3f, 1.5f);
        for (size_t i = 0; i < sigma.size(); ++i)
            if (i % 3 == 1) sigma[i] = -sigma[i];
        sigma[2] = 0.0f;
        NodeRef t = n.g.multiply("conv_mul", n.conv("conv", q, OC, 3), n.constant("sigma", {1, OC, 1, 1}, sigma));
        t = n.g.add("conv_add", t, n.constant("beta", {1, OC, 1, 1}, n.per_channel(OC, -0.5f, 0.5f)));
        t = n.fq("fq_conv", t, 256, seed % 3 == 0);
        std::vector<float> sigma2 = n.per_channel(OC, 0.5f, 2.0f);
        sigma2[0] = -sigma2[0];
        sigma2[OC - 1] = 0.0f;
        NodeRef u = n.g.multiply("ss_mul", t, n.constant("sigma2", {1, OC, 1, 1}, sigma2));
        u = n.g.add("ss_add", u, n.constant("beta2", {1, OC, 1, 1}, n.per_channel(OC, -0.5f, 0.5f)));
        if (seed % 2) u = n.g.relu("ss_relu", u);
        n.g.result("y", n.fq("fq_ss", u, seed % 2 ? 16 : 256, seed % 2 == 1));
        EXPECT_EQ(count_op(n.g, ir::Op::QConv), 1);
        EXPECT_EQ(count_op(n.g, ir::Op::QEltwise), 1);
        check_model(n.g, n.inputs, "scale-shift seed=" + std::to_string(seed));
    }
}

// Broadcast operands through the whole pipeline: [N,C,H,W] * [N,C,1,1] (squeeze-excite style),
// + [N,1,H,W], and x + x with an f32 output.
TEST(EltwiseE2E, BroadcastOperandsAndFloatOutputs) {
    for (uint64_t seed = 1; seed <= 8 && !HasFailure(); ++seed) {
        Net n(seed);
        const int64_t N = 1 + static_cast<int64_t>(seed % 2), C = 3 + static_cast<int64_t>(seed) * 3, H = 4, W = 5;
        const NodeRef x = n.fq("fq_x", n.input("x", {N, C, H, W}), 256, seed % 2 == 0);
        const NodeRef s = n.fq("fq_s", n.input("s", {N, C, 1, 1}), 256, seed % 3 == 0);
        const NodeRef p = n.fq("fq_p", n.input("p", {N, 1, H, W}), 16, false);
        NodeRef t = n.fq("fq_se", n.g.multiply("se", x, s), 256, false);
        t = n.fq("fq_sum", n.g.add("plus_plane", p, t), 255, seed % 2 == 1);
        n.g.result("y", t);
        n.g.result("twice", n.g.add("twice", x, x));
        EXPECT_EQ(count_op(n.g, ir::Op::QEltwise), 3);
        check_model(n.g, n.inputs, "broadcast seed=" + std::to_string(seed));
    }
}

// Concat along H of tensors with identical params is a u8 copy; a Concat of rank-2 rows too.
TEST(EltwiseE2E, ConcatAlongOtherAxes) {
    Net n(5);
    const NodeRef lo = n.constant("lo", {1}, {-1.0f}), hi = n.constant("hi", {1}, {1.0f});
    auto q = [&](const std::string& name, NodeRef x) { return n.g.fake_quantize(name, x, lo, hi, lo, hi, 256); };
    const NodeRef a = q("fa", n.input("a", {2, 3, 2, 5}));
    const NodeRef b = q("fb", n.input("b", {2, 3, 4, 5}));
    const NodeRef c = q("fc", n.input("c", {2, 3, 3, 5}));
    const NodeRef cat = n.g.concat("cat_h", {a, b, c}, 2);
    n.g.result("h", n.fq("fq_h", n.g.add("add_h", cat, cat), 256, false));
    const NodeRef w1 = q("fw1", n.input("w1", {2, 3, 4, 2}));
    n.g.result("w", n.fq("fq_w", n.g.multiply("mul_w", n.g.concat("cat_w", {w1, b}, 3), n.g.concat("cat_w2", {b, w1}, 3)),
                         256, false));
    const NodeRef r1 = q("fr1", n.input("r1", {3, 7})), r2 = q("fr2", n.input("r2", {2, 7}));
    n.g.result("rows", n.g.concat("cat_rows", {r1, r2}, 0));
    check_model(n.g, n.inputs, "concat other axes");
}

// Rank-2 ([rows, channels]) and rank-3 ([N, C, L]) quantized tensors: per-channel params on the
// middle axis of rank 3 (per-channel params on a rank-2 tensor would leave its Quantize on the scalar
// fallback), row and channel broadcasts.
TEST(EltwiseE2E, Rank2AndRank3Tensors) {
    for (uint64_t seed = 1; seed <= 4 && !HasFailure(); ++seed) {
        Net n(seed);
        const int64_t M = 3 + static_cast<int64_t>(seed), K = 5 + 7 * static_cast<int64_t>(seed % 3);
        const NodeRef a = n.fq("fa", n.input("a", {M, K}), 256, false);
        const NodeRef b = n.fq("fb", n.input("b", {1, K}), 255, false);
        const NodeRef c = n.fq("fc", n.input("c", {M, 1}), 16, false);
        NodeRef t = n.fq("f_ab", n.g.add("add_ab", a, b), 256, false);
        n.g.result("y2", n.fq("f_abc", n.g.multiply("mul_c", t, c), 255, false));
        const NodeRef x = n.fq("fx", n.input("x", {2, K, M}), 256, true);
        const NodeRef z = n.fq("fz", n.input("z", {2, K, 1}), 256, false);
        n.g.result("y3", n.fq("f_xz", n.g.relu("relu3", n.g.add("add3", x, z)), 256, seed % 2 == 0));
        EXPECT_EQ(count_op(n.g, ir::Op::QEltwise), 3);
        check_model(n.g, n.inputs, "rank 2/3 seed=" + std::to_string(seed));
    }
}

} // namespace
} // namespace qjit
