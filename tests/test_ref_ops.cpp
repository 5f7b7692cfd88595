// runtime/ref_ops (the float reference ops) and the run_oracle_a interface: numpy broadcasting,
// conv/matmul against exact integer sums, the fixed fp32 summation order vs the fp64 variant,
// relu/clamp special values, and Oracle A's input checking, per-node values and lowered-op refusal.
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "jit/ir.hpp"
#include "qjit/graph.hpp"
#include "runtime/oracle_a.hpp"
#include "runtime/ref_ops.hpp"

namespace {

using qjit::ConvParams;
using qjit::ElemType;
using qjit::ErrorCode;
using qjit::NodeRef;
using qjit::Shape;
using qjit::Tensor;
namespace ref = qjit::ref;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// Small integers: every product and partial sum is exact in fp32, so any summation order agrees.
Tensor small_ints(Shape s, std::mt19937& rng) {
    Tensor t(ElemType::f32, std::move(s));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(static_cast<int>(rng() % 7) - 3);
    return t;
}

TEST(RefOps, BroadcastShape) {
    EXPECT_EQ(ref::broadcast_shape({}, {3}), (Shape{3}));
    EXPECT_EQ(ref::broadcast_shape({2, 1}, {1, 3}), (Shape{2, 3}));
    EXPECT_EQ(ref::broadcast_shape({4, 1, 5}, {3, 1}), (Shape{4, 3, 5}));
    try {
        ref::broadcast_shape({2, 3}, {4}, "who");
        ADD_FAILURE() << "no error";
    } catch (const qjit::Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
        EXPECT_EQ(e.node(), "who");
    }
}

TEST(RefOps, BroadcastIndexMapsCoordinates) {
    const Shape in{3, 1}, out{2, 3, 4};
    const ref::BroadcastIndex bi(in, out);
    for (int64_t a = 0; a < 2; ++a)
        for (int64_t b = 0; b < 3; ++b)
            for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(bi((a * 3 + b) * 4 + c), b);
    EXPECT_TRUE(ref::BroadcastIndex(out, out).identity());
    EXPECT_EQ(ref::BroadcastIndex({}, out)(17), 0);
}

// Independent conv: scatter every input tap into int64 outputs.
std::vector<int64_t> conv_exact(const Tensor& x, const Tensor& w, const ConvParams& p, const Shape& os) {
    const Shape& xs = x.shape();
    const Shape& ws = w.shape();
    std::vector<int64_t> out(static_cast<size_t>(qjit::num_elements(os)), 0);
    for (int64_t n = 0; n < os[0]; ++n)
        for (int64_t o = 0; o < os[1]; ++o)
            for (int64_t oy = 0; oy < os[2]; ++oy)
                for (int64_t ox = 0; ox < os[3]; ++ox)
                    for (int64_t c = 0; c < xs[1]; ++c)
                        for (int64_t ky = 0; ky < ws[2]; ++ky)
                            for (int64_t kx = 0; kx < ws[3]; ++kx) {
                                const int64_t iy = oy * p.strides[0] + ky * p.dilations[0] - p.pads_begin[0];
                                const int64_t ix = ox * p.strides[1] + kx * p.dilations[1] - p.pads_begin[1];
                                if (iy < 0 || ix < 0 || iy >= xs[2] || ix >= xs[3]) continue;
                                out[static_cast<size_t>(((n * os[1] + o) * os[2] + oy) * os[3] + ox)] +=
                                    static_cast<int64_t>(x.data<float>()[((n * xs[1] + c) * xs[2] + iy) * xs[3] + ix]) *
                                    static_cast<int64_t>(w.data<float>()[((o * xs[1] + c) * ws[2] + ky) * ws[3] + kx]);
                            }
    return out;
}

TEST(RefOps, Conv2dHandExample) {
    const Tensor x = Tensor::f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor w = Tensor::f32({1, 1, 2, 2}, {1, 0, 0, 1});
    const Tensor plain = ref::conv2d(x, w, {});
    ASSERT_EQ(plain.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_EQ(std::vector<float>(plain.data<float>(), plain.data<float>() + 4), (std::vector<float>{6, 8, 12, 14}));
    ConvParams p;
    p.strides = {2, 2};
    p.pads_begin = {1, 1};
    p.pads_end = {1, 1};
    const Tensor y = ref::conv2d(x, w, p);
    ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_EQ(std::vector<float>(y.data<float>(), y.data<float>() + 4), (std::vector<float>{1, 3, 7, 14}));
    ConvParams d;
    d.dilations = {2, 2};
    const Tensor z = ref::conv2d(x, w, d);
    ASSERT_EQ(z.shape(), (Shape{1, 1, 1, 1}));
    EXPECT_EQ(z.data<float>()[0], 10.0f);
}

TEST(RefOps, Conv2dMatchesExactIntegerSums) {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 40; ++trial) {
        const int64_t N = 1 + rng() % 2, C = 1 + rng() % 5, H = 3 + rng() % 6, W = 3 + rng() % 6;
        const int64_t O = 1 + rng() % 4, KH = 1 + rng() % 3, KW = 1 + rng() % 3;
        ConvParams p;
        p.strides = {1 + static_cast<int64_t>(rng() % 2), 1 + static_cast<int64_t>(rng() % 3)};
        p.dilations = {1 + static_cast<int64_t>(rng() % 2), 1};
        p.pads_begin = {static_cast<int64_t>(rng() % 3), static_cast<int64_t>(rng() % 2)};
        p.pads_end = {static_cast<int64_t>(rng() % 2), static_cast<int64_t>(rng() % 4)};
        const Tensor x = small_ints({N, C, H, W}, rng), w = small_ints({O, C, KH, KW}, rng);
        for (bool fp64 : {false, true}) {
            const Tensor y = ref::conv2d(x, w, p, fp64);
            const std::vector<int64_t> want = conv_exact(x, w, p, y.shape());
            ASSERT_EQ(y.shape()[0], N);
            ASSERT_EQ(y.shape()[1], O);
            for (size_t i = 0; i < want.size(); ++i)
                ASSERT_EQ(y.data<float>()[i], static_cast<float>(want[i])) << "trial " << trial << " i " << i;
        }
    }
}

// fp32 sums c, then kh, then kw, from 0: 1e8 + -1e8 + 1 = 1 but 1e8 + 1 + -1e8 = 0.
// The fp64 variant rounds once at the end and gives 1 for both.
TEST(RefOps, Conv2dSummationOrder) {
    const Tensor w = Tensor::f32({1, 3, 1, 1}, {1, 1, 1});
    const Tensor x_a = Tensor::f32({1, 3, 1, 1}, {1e8f, -1e8f, 1.0f});
    const Tensor x_b = Tensor::f32({1, 3, 1, 1}, {1e8f, 1.0f, -1e8f});
    EXPECT_EQ(ref::conv2d(x_a, w, {}).data<float>()[0], 1.0f);
    EXPECT_EQ(ref::conv2d(x_b, w, {}).data<float>()[0], 0.0f);
    EXPECT_EQ(ref::conv2d(x_b, w, {}, true).data<float>()[0], 1.0f);
    // the same along kh within one channel
    const Tensor wk = Tensor::f32({1, 1, 3, 1}, {1, 1, 1});
    const Tensor xk = Tensor::f32({1, 1, 3, 1}, {1e8f, 1.0f, -1e8f});
    EXPECT_EQ(ref::conv2d(xk, wk, {}).data<float>()[0], 0.0f);
    EXPECT_EQ(ref::conv2d(xk, wk, {}, true).data<float>()[0], 1.0f);
}

TEST(RefOps, MatMulMatchesExactIntegerSums) {
    std::mt19937 rng(5);
    struct Case { Shape a, b; bool ta, tb; Shape out; };
    const Case cases[] = {
        {{3, 4}, {4, 5}, false, false, {3, 5}},
        {{4, 3}, {4, 5}, true, false, {3, 5}},
        {{3, 4}, {5, 4}, false, true, {3, 5}},
        {{4, 3}, {5, 4}, true, true, {3, 5}},
        {{2, 1, 3, 4}, {5, 4, 6}, false, false, {2, 5, 3, 6}},
        {{3, 4}, {2, 4, 2}, false, false, {2, 3, 2}},
        {{2, 4, 3}, {2, 2, 4}, true, true, {2, 3, 2}},
    };
    for (const Case& c : cases) {
        const Tensor a = small_ints(c.a, rng), b = small_ints(c.b, rng);
        for (bool fp64 : {false, true}) {
            const Tensor y = ref::matmul(a, b, c.ta, c.tb, fp64);
            ASSERT_EQ(y.shape(), c.out);
            // naive: index every operand through explicit coordinates
            const int64_t M = c.out[c.out.size() - 2], N = c.out.back();
            const int64_t K = c.ta ? c.a[c.a.size() - 2] : c.a.back();
            const int64_t batches = y.numel() / (M * N);
            const Shape batch(c.out.begin(), c.out.end() - 2);
            const ref::BroadcastIndex ba(Shape(c.a.begin(), c.a.end() - 2), batch);
            const ref::BroadcastIndex bb(Shape(c.b.begin(), c.b.end() - 2), batch);
            for (int64_t bi = 0; bi < batches; ++bi)
                for (int64_t m = 0; m < M; ++m)
                    for (int64_t n = 0; n < N; ++n) {
                        int64_t s = 0;
                        for (int64_t k = 0; k < K; ++k) {
                            const int64_t ai = ba(bi) * M * K + (c.ta ? k * M + m : m * K + k);
                            const int64_t bj = bb(bi) * K * N + (c.tb ? n * K + k : k * N + n);
                            s += static_cast<int64_t>(a.data<float>()[ai]) * static_cast<int64_t>(b.data<float>()[bj]);
                        }
                        ASSERT_EQ(y.data<float>()[(bi * M + m) * N + n], static_cast<float>(s));
                    }
        }
    }
    const Tensor a = Tensor::f32({1, 3}, {1e8f, 1.0f, -1e8f}), b = Tensor::f32({3, 1}, {1, 1, 1});
    EXPECT_EQ(ref::matmul(a, b, false, false).data<float>()[0], 0.0f);
    EXPECT_EQ(ref::matmul(a, b, false, false, true).data<float>()[0], 1.0f);
}

TEST(RefOps, EltwiseBroadcast) {
    const Tensor a = Tensor::f32({2, 1}, {1, 2});
    const Tensor b = Tensor::f32({3}, {10, 20, 30});
    const Tensor s = ref::add(a, b), m = ref::multiply(a, b);
    ASSERT_EQ(s.shape(), (Shape{2, 3}));
    EXPECT_EQ(std::vector<float>(s.data<float>(), s.data<float>() + 6), (std::vector<float>{11, 21, 31, 12, 22, 32}));
    EXPECT_EQ(std::vector<float>(m.data<float>(), m.data<float>() + 6), (std::vector<float>{10, 20, 30, 20, 40, 60}));
}

TEST(RefOps, ReluClampSpecialValues) {
    const Tensor x = Tensor::f32({5}, {-3.0f, -0.0f, 2.0f, kNaN, 7.0f});
    const Tensor r = ref::relu(x);
    EXPECT_EQ(bits(r.data<float>()[0]), bits(0.0f));
    EXPECT_EQ(bits(r.data<float>()[1]), bits(0.0f)); // -0 -> +0
    EXPECT_EQ(r.data<float>()[2], 2.0f);
    EXPECT_TRUE(std::isnan(r.data<float>()[3]));
    const Tensor c = ref::clamp(x, -1.0f, 6.0f);
    EXPECT_EQ(c.data<float>()[0], -1.0f);
    EXPECT_EQ(c.data<float>()[2], 2.0f);
    EXPECT_TRUE(std::isnan(c.data<float>()[3]));
    EXPECT_EQ(c.data<float>()[4], 6.0f);
}

TEST(RefOps, Reshape) {
    const Tensor x = Tensor::f32({2, 3}, {1, 2, 3, 4, 5, 6});
    const Tensor y = ref::reshape(x, {3, 2});
    EXPECT_EQ(y.shape(), (Shape{3, 2}));
    EXPECT_EQ(y.data<float>()[5], 6.0f);
    EXPECT_THROW(ref::reshape(x, {4}), qjit::Error);
}

// ---- run_oracle_a -------------------------------------------------------------------------------

struct Small {
    qjit::Graph g;
    NodeRef x, w, fq, conv, unused, out;
    Small() {
        x = g.parameter("x", {1, 3, 1, 1});
        w = g.constant("w", Tensor::f32({1, 3, 1, 1}, {1, 1, 1}));
        const NodeRef lo = g.constant("lo", Tensor::f32({}, {-2e8f}));
        const NodeRef hi = g.constant("hi", Tensor::f32({}, {2e8f}));
        fq = g.fake_quantize("fq", x, lo, hi, lo, hi, 256);
        conv = g.convolution("conv", x, w);
        unused = g.relu("unused", x);
        out = g.result("out", conv);
        g.result("out_fq", fq);
    }
};

TEST(OracleA, ValuesOfEveryNode) {
    Small s;
    const Tensor in = Tensor::f32({1, 3, 1, 1}, {1e8f, 1.0f, -1e8f});
    const std::vector<Tensor> v = qjit::oracle::run_oracle_a(s.g.ir(), {in});
    ASSERT_EQ(static_cast<int>(v.size()), s.g.ir().size());
    EXPECT_EQ(v[static_cast<size_t>(s.x.id)].data<float>()[0], 1e8f);
    EXPECT_EQ(v[static_cast<size_t>(s.w.id)].shape(), (Shape{1, 3, 1, 1}));
    EXPECT_EQ(v[static_cast<size_t>(s.conv.id)].data<float>()[0], 0.0f); // fp32 order
    EXPECT_TRUE(v[static_cast<size_t>(s.unused.id)].empty()) << "a node no Result reads gets no value";
    const std::vector<Tensor> outs = qjit::oracle::oracle_a_outputs(s.g.ir(), {in});
    ASSERT_EQ(outs.size(), 2u);
    EXPECT_EQ(outs[0].data<float>()[0], 0.0f);
    EXPECT_EQ(outs[1].shape(), (Shape{1, 3, 1, 1}));
    const std::vector<Tensor> outs64 = qjit::oracle::oracle_a_outputs(s.g.ir(), {in}, {.fp64_accumulate = true});
    EXPECT_EQ(outs64[0].data<float>()[0], 1.0f);

    s.g.ir().remove_dead();
    ASSERT_TRUE(s.g.ir().node(s.unused.id).dead);
    EXPECT_TRUE(qjit::oracle::run_oracle_a(s.g.ir(), {in})[static_cast<size_t>(s.unused.id)].empty());
}

TEST(OracleA, BadInputsNameTheParameter) {
    qjit::Graph g;
    const NodeRef a = g.parameter("a", {2});
    const NodeRef b = g.parameter("b", {1, 2});
    g.result("out", g.add("sum", a, b));
    const Tensor ta = Tensor::f32({2}, {1, 2}), tb = Tensor::f32({1, 2}, {3, 4});
    auto expect_bad = [&](const std::vector<Tensor>& in, const std::string& node) {
        try {
            qjit::oracle::run_oracle_a(g.ir(), in);
            ADD_FAILURE() << "accepted";
        } catch (const qjit::Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::BadInput) << e.what();
            EXPECT_EQ(e.node(), node) << e.what();
        }
    };
    expect_bad({ta}, "b");                                 // too few
    expect_bad({ta, tb, tb}, "<inputs>");                  // too many
    expect_bad({tb, tb}, "a");                             // shape
    expect_bad({ta, Tensor::u8({1, 2}, {3, 4})}, "b");     // type
    EXPECT_NO_THROW(qjit::oracle::run_oracle_a(g.ir(), {ta, tb}));
}

TEST(OracleA, RefusesLoweredOps) {
    qjit::Graph g;
    const NodeRef x = g.parameter("x", {4});
    const NodeRef r = g.relu("relu", x);
    g.result("out", r);
    g.ir().node(r.id).op = qjit::ir::Op::Quantize; // as a pass would leave it
    try {
        qjit::oracle::run_oracle_a(g.ir(), {Tensor::f32({4}, {1, 2, 3, 4})});
        ADD_FAILURE() << "accepted a lowered op";
    } catch (const qjit::Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Internal);
        EXPECT_EQ(e.node(), "relu");
    }
}

TEST(OracleA, RequiresRoundToNearest) {
    qjit::Graph g;
    g.result("out", g.parameter("x", {1}));
    ASSERT_EQ(std::fesetround(FE_TOWARDZERO), 0);
    EXPECT_THROW(qjit::oracle::run_oracle_a(g.ir(), {Tensor::f32({1}, {1})}), qjit::Error);
    std::fesetround(FE_TONEAREST);
    EXPECT_NO_THROW(qjit::oracle::run_oracle_a(g.ir(), {Tensor::f32({1}, {1})}));
}

} // namespace
