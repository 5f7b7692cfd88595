// Lowering passes (jit/passes/): each pass alone on graphs built with qjit::Graph, asserting the
// resulting structure (op_signature / dump) and the attributes it computed; then the whole
// pipeline, and the cases that must stay on the fp32 path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "jit/fq_math.hpp"
#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "jit/passes/passes.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"
#include "qjit/graph.hpp"
#include "runtime/oracle_a.hpp"
#include "runtime/oracle_b.hpp"
#include "runtime/qconv_ref.hpp"

namespace qjit {
namespace {

using ir::Op;

// ---- helpers ----------------------------------------------------------------------------------

// Deterministic values in [lo, hi).
std::vector<float> values(int64_t n, float lo, float hi, uint32_t seed) {
    std::vector<float> v(static_cast<size_t>(n));
    uint32_t s = seed * 2654435761u + 12345u;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = lo + (hi - lo) * static_cast<float>(s >> 8) / static_cast<float>(1u << 24);
    }
    return v;
}

NodeRef cst(Graph& g, const std::string& name, Shape shape, std::vector<float> v) {
    return g.constant(name, Tensor::f32(std::move(shape), v));
}
NodeRef scalar(Graph& g, const std::string& name, float v) { return cst(g, name, {1}, {v}); }

// FakeQuantize with per-tensor ranges.
NodeRef fq(Graph& g, const std::string& name, NodeRef x, float il, float ih, float ol, float oh, int64_t L = 256) {
    return g.fake_quantize(name, x, scalar(g, name + ".il", il), scalar(g, name + ".ih", ih),
                           scalar(g, name + ".ol", ol), scalar(g, name + ".oh", oh), L);
}

// FakeQuantize with the four ranges given as tensors of one shape.
NodeRef fq_t(Graph& g, const std::string& name, NodeRef x, const Shape& rs, const std::vector<float>& il,
             const std::vector<float>& ih, const std::vector<float>& ol, const std::vector<float>& oh,
             int64_t L = 256) {
    return g.fake_quantize(name, x, cst(g, name + ".il", rs, il), cst(g, name + ".ih", rs, ih),
                           cst(g, name + ".ol", rs, ol), cst(g, name + ".oh", rs, oh), L);
}

// The live node with this name.
const ir::Node& by_name(const ir::Graph& g, const std::string& name) {
    for (int id : g.topo_order())
        if (g.node(id).name == name) return g.node(id);
    ADD_FAILURE() << "no live node " << name << " in\n" << g.dump();
    static ir::Node none;
    return none;
}

// The only live node of this op.
const ir::Node& only(const ir::Graph& g, Op op) {
    const ir::Node* r = nullptr;
    int n = 0;
    for (int id : g.topo_order())
        if (g.node(id).op == op) r = &g.node(id), ++n;
    if (n != 1) {
        ADD_FAILURE() << n << " live " << ir::to_string(op) << " nodes in\n" << g.dump();
        static ir::Node none;
        return none;
    }
    return *r;
}

std::vector<const ir::Node*> all(const ir::Graph& g, Op op) {
    std::vector<const ir::Node*> r;
    for (int id : g.topo_order())
        if (g.node(id).op == op) r.push_back(&g.node(id));
    return r;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// A level-index activation tensor NCHW -> NHWC buffer for ref::qconv.
std::vector<uint8_t> to_nhwc(const std::vector<int>& k, int64_t N, int64_t C, int64_t H, int64_t W) {
    std::vector<uint8_t> r(static_cast<size_t>(N * C * H * W));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t w = 0; w < W; ++w)
                    r[static_cast<size_t>(((n * H + h) * W + w) * C + c)] =
                        static_cast<uint8_t>(k[static_cast<size_t>(((n * C + c) * H + h) * W + w)]);
    return r;
}

// Runs a f32-output QConv with the scalar reference on level indices `k` (NCHW of the QConv's
// input) and compares it with an fp64 convolution of the dequantized activations (`a`, NCHW) and
// Oracle A's weights w_float: checks that geometry, weight order and constants agree.
void check_qconv_numerics(const QConvDesc& d, const std::vector<int>& k, const std::vector<float>& a) {
    const ConvGeom& g = d.g;
    ASSERT_FALSE(d.out_levels);
    const QConvConsts c = fold_qconv(d);
    ActLayout in;
    in.N = g.N, in.H = g.H, in.W = g.W, in.C = g.C, in.c_stride = g.C;
    ActLayout out;
    out.N = g.N, out.H = g.OH, out.W = g.OW, out.C = g.OC, out.c_stride = g.OC, out.elem_bytes = 4;
    const std::vector<uint8_t> src = to_nhwc(k, g.N, g.C, g.H, g.W);
    std::vector<float> y(static_cast<size_t>(g.N * g.OH * g.OW * g.OC));
    ref::qconv(d, c, src.data(), in, y.data(), out);
    int checked = 0;
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t o = 0; o < g.OC; ++o)
            for (int64_t oh = 0; oh < g.OH; ++oh)
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    double acc = 0, mag = 0;
                    for (int64_t ch = 0; ch < g.C; ++ch)
                        for (int64_t kh = 0; kh < g.KH; ++kh)
                            for (int64_t kw = 0; kw < g.KW; ++kw) {
                                const int64_t ih = oh * g.SH - g.PT + kh * g.DH, iw = ow * g.SW - g.PL + kw * g.DW;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                const double av = a[static_cast<size_t>(((n * g.C + ch) * g.H + ih) * g.W + iw)];
                                const double wv = d.w.w_float[static_cast<size_t>(((o * g.C + ch) * g.KH + kh) * g.KW + kw)];
                                acc += av * wv;
                                mag += std::fabs(av * wv);
                            }
                    double bias = 0, scale = 1;
                    for (const PostOp& p : d.post) {
                        const double v = p.v.empty() ? 0 : (p.v.size() == 1 ? p.v[0] : p.v[static_cast<size_t>(o)]);
                        if (p.kind == PostOp::Bias || p.kind == PostOp::Shift) bias += v, acc += v;
                        if (p.kind == PostOp::Scale) acc *= v, mag *= std::fabs(v), scale *= std::fabs(v);
                        if (p.kind == PostOp::Clamp) acc = std::min(std::max(acc, double(p.lo)), double(p.hi));
                    }
                    const float got = y[static_cast<size_t>(((n * g.OH + oh) * g.OW + ow) * g.OC + o)];
                    EXPECT_NEAR(got, acc, 1e-5 * (mag + std::fabs(bias) * scale + 1.0))
                        << "n" << n << " o" << o << " oh" << oh << " ow" << ow << " " << g.str();
                    ++checked;
                }
    EXPECT_GT(checked, 0);
}

std::vector<int> levels_of(const std::vector<float>& x, const ActQuant& a, int64_t C, int64_t inner) {
    std::vector<int> k(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        const int64_t c = (static_cast<int64_t>(i) / inner) % C;
        k[i] = fq::level_index(x[i], a.il.at(c), a.ih.at(c), a.levels);
    }
    return k;
}
std::vector<float> dequant(const std::vector<int>& k, const ActQuant& a, int64_t C, int64_t inner) {
    std::vector<float> v(k.size());
    for (size_t i = 0; i < k.size(); ++i) {
        const int64_t c = (static_cast<int64_t>(i) / inner) % C;
        v[i] = fq::level_value(k[i], a.ol.at(c), a.oh.at(c), a.levels);
    }
    return v;
}

// ---- fold_weight_fq ---------------------------------------------------------------------------

TEST(FoldWeightFq, PerChannelConvWeightsSymmetricSnappedAsymmetricConstant) {
    Graph b;
    const NodeRef x = b.parameter("x", {1, 2, 5, 5});
    const std::vector<float> wv = values(4 * 2 * 3 * 3, -1.5f, 1.5f, 1);
    const NodeRef w = cst(b, "w", {4, 2, 3, 3}, wv);
    // o0: [-2, 127/64] symmetric exactly; o1: [-0.128, 0.127] off by ~1e-6 (snapped);
    // o2: [0, 1] asymmetric (z_w = -128); o3: ol == oh (constant channel).
    const std::vector<float> il = {-1.0f, -1.0f, -1.0f, -1.0f}, ih = {1.0f, 1.0f, 0.5f, 1.0f};
    const std::vector<float> ol = {-2.0f, -0.128f, 0.0f, 0.5f}, oh = {1.984375f, 0.127f, 1.0f, 0.5f};
    const NodeRef wq = fq_t(b, "wq", w, {4, 1, 1, 1}, il, ih, ol, oh);
    b.result("y", b.convolution("conv", x, wq));
    ir::Graph g = b.ir();

    EXPECT_EQ(passes::fold_weight_fq(g), 1);
    EXPECT_EQ(g.op_signature(), "Parameter,Convolution,Result");
    const ir::Node& k = by_name(g, "wq");
    ASSERT_EQ(k.op, Op::Constant);
    ASSERT_TRUE(k.qweights);
    EXPECT_EQ(by_name(g, "conv").inputs[1], k.id);
    const QuantWeights& q = *k.qweights;
    EXPECT_EQ(q.levels, 256);
    ASSERT_EQ(q.q.size(), wv.size());
    ASSERT_EQ(q.s_w.size(), 4u);
    const int64_t inner = 2 * 3 * 3;
    int distinct_codes = 0;
    for (int64_t o = 0; o < 4; ++o)
        for (int64_t j = 0; j < inner; ++j) {
            const size_t i = static_cast<size_t>(o * inner + j);
            const size_t u = static_cast<size_t>(o);
            const float a = fq::fake_quantize(wv[i], il[u], ih[u], ol[u], oh[u], 256);
            EXPECT_TRUE(same_bits(k.value.data<float>()[i], a)) << i;
            EXPECT_TRUE(same_bits(q.w_float[i], a)) << i;
            const int code = o == 3 ? 0 : fq::level_index(wv[i], il[u], ih[u], 256) - 128;
            EXPECT_EQ(q.q[i], code) << i;
            distinct_codes += q.q[i] != q.q[0];
        }
    EXPECT_GT(distinct_codes, 10); // the test data exercises the grid, not one saturated value
    for (int64_t o = 0; o < 3; ++o)
        EXPECT_EQ(q.s_w[static_cast<size_t>(o)], (double(oh[o]) - double(ol[o])) / 255.0);
    // o0: the §2.4 symmetry test holds exactly.
    EXPECT_EQ(q.z_w[0], 0.0);
    EXPECT_EQ(q.n_dropped[0], 0.0);
    // o1: z_w ~ 1e-6 is snapped to 0 and recorded.
    const double z1 = -128.0 - double(ol[1]) / q.s_w[1];
    ASSERT_NE(z1, 0.0);
    ASSERT_LE(std::fabs(z1), std::ldexp(1.0, -16));
    EXPECT_EQ(q.z_w[1], 0.0);
    EXPECT_EQ(q.n_dropped[1], z1);
    // o2: asymmetric.
    EXPECT_EQ(q.z_w[2], -128.0);
    EXPECT_EQ(q.n_dropped[2], 0.0);
    // o3: constant channel.
    EXPECT_EQ(q.const_channel, (std::vector<uint8_t>{0, 0, 0, 1}));
    EXPECT_EQ(q.w_c[3], 0.5);
    EXPECT_FALSE(q.symmetric());
}

TEST(FoldWeightFq, PerTensorLevels15GivesSignedSymmetricCodes) {
    Graph b;
    const NodeRef x = b.parameter("x", {1, 3, 4, 4});
    const std::vector<float> wv = values(2 * 3, -1.0f, 1.0f, 2);
    const NodeRef wq = fq(b, "wq", cst(b, "w", {2, 3, 1, 1}, wv), -0.7f, 0.7f, -0.7f, 0.7f, 15);
    b.result("y", b.convolution("conv", x, wq));
    ir::Graph g = b.ir();
    ASSERT_EQ(passes::fold_weight_fq(g), 1);
    const QuantWeights& q = *by_name(g, "wq").qweights;
    EXPECT_EQ(q.levels, 15);
    EXPECT_TRUE(q.symmetric()); // ol*(L-1) + 7*(oh-ol) == 0
    for (size_t i = 0; i < wv.size(); ++i) {
        EXPECT_GE(q.q[i], -7);
        EXPECT_LE(q.q[i], 7);
        EXPECT_EQ(q.q[i], fq::level_index(wv[i], -0.7f, 0.7f, 15) - 7);
    }
}

TEST(FoldWeightFq, MatMulWeightsKxNStoredAsNxK) {
    const int64_t M = 3, K = 5, N = 4;
    Graph b;
    const NodeRef a = b.parameter("a", {M, K});
    const std::vector<float> wv = values(K * N, -1.0f, 1.0f, 3);
    const std::vector<float> lo = {-1.0f, -0.5f, -0.25f, -1.0f}, hi = {1.0f, 0.5f, 0.25f, 0.75f};
    const NodeRef wq = fq_t(b, "wq", cst(b, "w", {K, N}, wv), {1, N}, lo, hi, lo, hi);
    b.result("y", b.matmul("mm", a, wq));
    ir::Graph g = b.ir();
    ASSERT_EQ(passes::fold_weight_fq(g), 1);
    const ir::Node& k = by_name(g, "wq");
    ASSERT_TRUE(k.qweights);
    const QuantWeights& q = *k.qweights;
    EXPECT_EQ(k.shape, (Shape{K, N})); // the float value keeps the graph's shape
    ASSERT_EQ(q.s_w.size(), static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) {
        EXPECT_EQ(q.s_w[static_cast<size_t>(n)], (double(hi[n]) - double(lo[n])) / 255.0);
        for (int64_t kk = 0; kk < K; ++kk) {
            const float x = wv[static_cast<size_t>(kk * N + n)];
            EXPECT_EQ(q.q[static_cast<size_t>(n * K + kk)], fq::level_index(x, lo[n], hi[n], 256) - 128);
            EXPECT_TRUE(same_bits(q.w_float[static_cast<size_t>(n * K + kk)],
                                  fq::fake_quantize(x, lo[n], hi[n], lo[n], hi[n], 256)));
            EXPECT_TRUE(same_bits(k.value.data<float>()[kk * N + n], q.w_float[static_cast<size_t>(n * K + kk)]));
        }
    }
}

TEST(FoldWeightFq, MatMulWeightsNxKTransposed) {
    const int64_t M = 2, K = 3, N = 2;
    Graph b;
    const NodeRef a = b.parameter("a", {M, K});
    const std::vector<float> wv = values(N * K, -1.0f, 1.0f, 4);
    const NodeRef wq = fq_t(b, "wq", cst(b, "w", {N, K}, wv), {N, 1}, {-1, -2}, {1, 2}, {-1, -2}, {1, 2});
    b.result("y", b.matmul("mm", a, wq, false, true));
    ir::Graph g = b.ir();
    ASSERT_EQ(passes::fold_weight_fq(g), 1);
    const QuantWeights& q = *by_name(g, "wq").qweights;
    for (size_t i = 0; i < wv.size(); ++i) {
        const float r = i < 3 ? 1.0f : 2.0f;
        EXPECT_EQ(q.q[i], fq::level_index(wv[i], -r, r, 256) - 128);
    }
}

TEST(FoldWeightFq, UnsupportedWeightFqStaysFloat) {
    auto lower_weights = [](auto&& make_fq) {
        Graph b;
        const NodeRef x = b.parameter("x", {1, 3, 4, 4});
        const NodeRef w = cst(b, "w", {3, 3, 3, 3}, values(81, -1, 1, 5));
        b.result("y", b.convolution("conv", x, make_fq(b, w)));
        ir::Graph g = b.ir();
        const int n = passes::fold_weight_fq(g);
        return std::make_pair(n, g.op_signature());
    };
    const std::vector<float> lo3 = {-1, -1, -1}, hi3 = {1, 1, 1};
    // il >= ih in one channel.
    auto r = lower_weights([&](Graph& b, NodeRef w) {
        return fq_t(b, "wq", w, {3, 1, 1, 1}, {-1, 1, -1}, {1, 1, 1}, lo3, hi3);
    });
    EXPECT_EQ(r.first, 0);
    EXPECT_EQ(r.second, "Parameter,FakeQuantize,Convolution,Result");
    // Ranges along the input-channel axis.
    r = lower_weights([&](Graph& b, NodeRef w) {
        return fq_t(b, "wq", w, {1, 3, 1, 1}, {-1, -2, -3}, {1, 2, 3}, lo3, hi3);
    });
    EXPECT_EQ(r.first, 0);
    // [OC] broadcasts (numpy, right-aligned) along KW, not along the output channels.
    r = lower_weights([&](Graph& b, NodeRef w) { return fq_t(b, "wq", w, {3}, {-1, -2, -3}, {1, 2, 3}, lo3, hi3); });
    EXPECT_EQ(r.first, 0);
    // Per-element ranges.
    r = lower_weights([&](Graph& b, NodeRef w) {
        const std::vector<float> l(81, -1.0f), h(81, 1.0f);
        return fq_t(b, "wq", w, {3, 3, 3, 3}, l, h, l, h);
    });
    EXPECT_EQ(r.first, 0);
    // A non-constant range.
    r = lower_weights([&](Graph& b, NodeRef w) {
        return b.fake_quantize("wq", w, b.parameter("lo", {1}), scalar(b, "ih", 1), scalar(b, "ol", -1),
                               scalar(b, "oh", 1), 256);
    });
    EXPECT_EQ(r.first, 0);
    // A weight FakeQuantize whose output also feeds a non-weight input.
    {
        Graph b;
        const NodeRef x = b.parameter("x", {1, 3, 1, 1});
        const NodeRef wq = fq(b, "wq", cst(b, "w", {3, 3, 1, 1}, values(9, -1, 1, 6)), -1, 1, -1, 1);
        b.result("y", b.convolution("conv", x, wq));
        b.result("z", b.add("add", wq, wq));
        ir::Graph g = b.ir();
        EXPECT_EQ(passes::fold_weight_fq(g), 0);
    }
    // Constant weights with no FakeQuantize stay float.
    {
        Graph b;
        const NodeRef x = b.parameter("x", {1, 3, 4, 4});
        b.result("y", b.convolution("conv", x, cst(b, "w", {3, 3, 1, 1}, values(9, -1, 1, 7))));
        ir::Graph g = b.ir();
        EXPECT_EQ(passes::fold_weight_fq(g), 0);
        EXPECT_FALSE(by_name(g, "w").qweights);
    }
}

// ---- decompose_activation_fq --------------------------------------------------------------------

TEST(DecomposeActivationFq, PerTensor) {
    Graph b;
    const NodeRef x = b.parameter("x", {1, 4, 5, 5});
    b.result("y", fq(b, "fq", x, -1.0f, 2.0f, -0.5f, 1.5f, 17));
    ir::Graph g = b.ir();
    EXPECT_EQ(passes::decompose_activation_fq(g), 1);
    EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,Result");
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [1,4,5,5]\n"
              "fq=Quantize(x) u8 [1,4,5,5]\n"
              "fq/dequantize=Dequantize(fq) f32 [1,4,5,5]\n"
              "y=Result(fq/dequantize) f32 [1,4,5,5]\n");
    const ir::Node& q = only(g, Op::Quantize);
    const ir::Node& d = only(g, Op::Dequantize);
    ASSERT_TRUE(q.act);
    EXPECT_EQ(q.act, d.act);
    const ActQuant& a = *q.act;
    EXPECT_EQ(a.levels, 17);
    EXPECT_EQ(a.channels, 1);
    EXPECT_FALSE(a.per_channel());
    EXPECT_EQ(a.il.v, std::vector<float>{-1.0f});
    EXPECT_EQ(a.ih.v, std::vector<float>{2.0f});
    EXPECT_EQ(a.ol.v, std::vector<float>{-0.5f});
    EXPECT_EQ(a.oh.v, std::vector<float>{1.5f});
}

TEST(DecomposeActivationFq, PerChannelAxis1AndCollapsedVectors) {
    Graph b;
    const NodeRef x = b.parameter("x", {2, 3, 4, 4});
    const NodeRef f = b.fake_quantize("fq", x, cst(b, "il", {1, 3, 1, 1}, {-1, -2, -3}),
                                      cst(b, "ih", {3, 1, 1}, {1, 1, 1}), // all equal: per tensor
                                      scalar(b, "ol", 0.0f), cst(b, "oh", {}, {2.55f}), 256);
    b.result("y", f);
    ir::Graph g = b.ir();
    EXPECT_EQ(passes::decompose_activation_fq(g), 1);
    const ActQuant& a = *only(g, Op::Quantize).act;
    EXPECT_TRUE(a.per_channel());
    EXPECT_EQ(a.channels, 3);
    EXPECT_EQ(a.il.v, (std::vector<float>{-1, -2, -3}));
    EXPECT_EQ(a.ih.v, std::vector<float>{1});
    EXPECT_EQ(a.ol.v, std::vector<float>{0});
    EXPECT_EQ(a.oh.v, std::vector<float>{2.55f});
}

TEST(DecomposeActivationFq, Rank2LastAxisIsTheChannelAxis) {
    for (const Shape& rs : {Shape{1, 3}, Shape{3}}) {
        Graph b;
        const NodeRef x = b.parameter("x", {5, 3});
        b.result("y", fq_t(b, "fq", x, rs, {0, 0, 0}, {1, 2, 3}, {0, 0, 0}, {1, 2, 3}));
        ir::Graph g = b.ir();
        EXPECT_EQ(passes::decompose_activation_fq(g), 1) << to_string(rs);
        const ActQuant& a = *only(g, Op::Quantize).act;
        EXPECT_EQ(a.channels, 3);
        EXPECT_EQ(a.oh.v, (std::vector<float>{1, 2, 3}));
    }
}

TEST(DecomposeActivationFq, InvertedAndDegenerateRangesAreDecomposedUnmarked) {
    Graph b;
    const NodeRef x = b.parameter("x", {1, 2, 3, 3});
    const NodeRef f1 = fq(b, "inv", x, 1.0f, -1.0f, 0.0f, 1.0f);
    b.result("y", fq(b, "step", f1, 0.5f, 0.5f, 0.0f, 1.0f, 2));
    ir::Graph g = b.ir();
    EXPECT_EQ(passes::decompose_activation_fq(g), 2);
    EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,Quantize,Dequantize,Result");
    EXPECT_EQ(by_name(g, "inv").act->il.v, std::vector<float>{1.0f});
    EXPECT_EQ(by_name(g, "step").act->levels, 2);
}

TEST(DecomposeActivationFq, UnsupportedLayoutsStayFakeQuantize) {
    auto count = [](auto&& build) {
        Graph b;
        build(b);
        ir::Graph g = b.ir();
        return passes::decompose_activation_fq(g);
    };
    // Non-constant range.
    EXPECT_EQ(count([](Graph& b) {
                  const NodeRef x = b.parameter("x", {1, 2, 3, 3});
                  b.result("y", b.fake_quantize("fq", x, b.parameter("lo", {1}), scalar(b, "ih", 1),
                                                scalar(b, "ol", 0), scalar(b, "oh", 1), 256));
              }),
              0);
    // Last axis of a rank-4 tensor.
    EXPECT_EQ(count([](Graph& b) {
                  const NodeRef x = b.parameter("x", {1, 2, 3, 3});
                  b.result("y", fq_t(b, "fq", x, {1, 1, 1, 3}, {0, 0, 0}, {1, 2, 3}, {0, 0, 0}, {1, 1, 1}));
              }),
              0);
    // Per element.
    EXPECT_EQ(count([](Graph& b) {
                  const NodeRef x = b.parameter("x", {1, 2, 1, 2});
                  b.result("y", fq_t(b, "fq", x, {1, 2, 1, 2}, {0, 0, 0, 0}, {1, 2, 3, 4}, {0, 0, 0, 0},
                                     {1, 1, 1, 1}));
              }),
              0);
    // Rank 1 (no quantized activation view).
    EXPECT_EQ(count([](Graph& b) { b.result("y", fq(b, "fq", b.parameter("x", {7}), 0, 1, 0, 1)); }), 0);
    // A FakeQuantize of a constant is not an activation.
    EXPECT_EQ(count([](Graph& b) {
                  const NodeRef x = b.parameter("x", {1, 3});
                  b.result("y", b.add("add", x, fq(b, "fq", cst(b, "c", {1, 3}, {1, 2, 3}), 0, 4, 0, 4)));
              }),
              0);
}

TEST(DecomposeActivationFq, PdpdIsRejectedByTheBuilder) {
    Graph b;
    const NodeRef x = b.parameter("x", {1, 2, 3, 3});
    try {
        b.fake_quantize("fq", x, scalar(b, "il", 0), scalar(b, "ih", 1), scalar(b, "ol", 0), scalar(b, "oh", 1), 256,
                        Broadcast::pdpd);
        FAIL() << "pdpd accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::UnsupportedOp);
        EXPECT_EQ(e.node(), "fq");
    }
}

// ---- propagate_dequantize -----------------------------------------------------------------------

ir::Graph decomposed(const Graph& b) {
    ir::Graph g = b.ir();
    passes::fold_weight_fq(g);
    passes::decompose_activation_fq(g);
    return g;
}

TEST(PropagateDequantize, ReshapeSwapsPerTensorAndChannelKeepingPerChannel) {
    {
        Graph b;
        b.result("y", b.reshape("r", fq(b, "fq", b.parameter("x", {2, 3, 4, 4}), 0, 1, 0, 1), {2, 48}));
        ir::Graph g = decomposed(b);
        EXPECT_EQ(passes::propagate_dequantize(g), 1);
        EXPECT_EQ(g.dump(),
                  "x=Parameter() f32 [2,3,4,4]\n"
                  "fq=Quantize(x) u8 [2,3,4,4]\n"
                  "r=Reshape(fq) u8 [2,48]\n"
                  "fq/dequantize=Dequantize(r) f32 [2,48]\n"
                  "y=Result(fq/dequantize) f32 [2,48]\n");
    }
    {   // per channel, axes 0 and 1 kept
        Graph b;
        const NodeRef x = b.parameter("x", {2, 3, 4, 4});
        const NodeRef f = fq_t(b, "fq", x, {1, 3, 1, 1}, {0, 0, 0}, {1, 2, 3}, {0, 0, 0}, {1, 2, 3});
        b.result("y", b.reshape("r", f, {2, 3, 16}));
        ir::Graph g = decomposed(b);
        EXPECT_EQ(passes::propagate_dequantize(g), 1);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Reshape,Dequantize,Result");
        EXPECT_EQ(only(g, Op::Dequantize).act->channels, 3);
    }
    {   // per channel, flattened: the channel axis is lost
        Graph b;
        const NodeRef x = b.parameter("x", {2, 3, 4, 4});
        const NodeRef f = fq_t(b, "fq", x, {1, 3, 1, 1}, {0, 0, 0}, {1, 2, 3}, {0, 0, 0}, {1, 2, 3});
        b.result("y", b.reshape("r", f, {2, 48}));
        ir::Graph g = decomposed(b);
        EXPECT_EQ(passes::propagate_dequantize(g), 0);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,Reshape,Result");
    }
}

TEST(PropagateDequantize, ConvWithFoldedWeightsBecomesQConv) {
    Graph b;
    const NodeRef x = b.parameter("x", {2, 3, 7, 6});
    const NodeRef a = fq_t(b, "fq", x, {1, 3, 1, 1}, {-1, -2, 0}, {1, 2, 3}, {-0.5f, 0.25f, 0}, {2.05f, 2.8f, 2.55f});
    // L = 255 on [-1, 1]: symmetric weights (-1*254 + 127*2 == 0).
    const NodeRef wq = fq(b, "wq", cst(b, "w", {4, 3, 3, 2}, values(72, -1, 1, 8)), -1, 1, -1, 1, 255);
    ConvParams p;
    p.strides = {2, 1};
    p.pads_begin = {1, 0};
    p.pads_end = {2, 1};
    p.dilations = {1, 2};
    b.result("y", b.convolution("conv", a, wq, p));
    ir::Graph g = decomposed(b);
    EXPECT_EQ(passes::propagate_dequantize(g), 1);
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [2,3,7,6]\n"
              "fq=Quantize(x) u8 [2,3,7,6]\n"
              "conv=QConv(fq) f32 [2,4,4,5]\n"
              "y=Result(conv) f32 [2,4,4,5]\n");
    const ir::Node& q = only(g, Op::QConv);
    const QConvDesc& d = *q.qconv;
    EXPECT_FALSE(d.out_levels);
    EXPECT_EQ(d.fused_nodes, std::vector<std::string>{"conv"});
    EXPECT_TRUE(d.post.empty());
    EXPECT_EQ(d.g.str(), "N2C3H7W6_OC4_K3x2_S2x1_D1x2_P1,0,2,1");
    EXPECT_EQ(d.g.OH, 4);
    EXPECT_EQ(d.g.OW, 5);
    EXPECT_EQ(d.in.ol.v, (std::vector<float>{-0.5f, 0.25f, 0}));
    EXPECT_EQ(d.w.q.size(), 72u);
    EXPECT_TRUE(d.w.symmetric());

    const std::vector<float> xv = values(2 * 3 * 7 * 6, -2.5f, 3.5f, 9);
    const std::vector<int> k = levels_of(xv, d.in, 3, 42);
    check_qconv_numerics(d, k, dequant(k, d.in, 3, 42));
}

TEST(PropagateDequantize, MatMulRank2GeometryIsA1x1Conv) {
    const int64_t M = 6, K = 5, N = 3;
    Graph b;
    const NodeRef a = fq(b, "fq", b.parameter("a", {M, K}), -1, 1, -1, 1);
    const NodeRef wq = fq(b, "wq", cst(b, "w", {N, K}, values(N * K, -1, 1, 10)), -1, 1, -1, 1);
    b.result("y", b.matmul("mm", a, wq, false, true));
    ir::Graph g = decomposed(b);
    EXPECT_EQ(passes::propagate_dequantize(g), 1);
    EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QConv,Result");
    const ir::Node& q = only(g, Op::QConv);
    EXPECT_EQ(q.shape, (Shape{M, N}));
    const ConvGeom& geo = q.qconv->g;
    EXPECT_EQ(geo.str(), "N1C5H1W6_OC3_K1x1_S1x1_D1x1_P0,0,0,0");
    EXPECT_EQ(geo.OH, 1);
    EXPECT_EQ(geo.OW, M);

    const std::vector<float> xv = values(M * K, -1.2f, 1.2f, 11);
    // [M,K] row-major is NCHW [1,K,1,M] transposed: build the NCHW tensor for the checker.
    std::vector<float> nchw(static_cast<size_t>(M * K));
    for (int64_t m = 0; m < M; ++m)
        for (int64_t kk = 0; kk < K; ++kk) nchw[static_cast<size_t>(kk * M + m)] = xv[static_cast<size_t>(m * K + kk)];
    const std::vector<int> k = levels_of(nchw, q.qconv->in, 1, 1);
    check_qconv_numerics(*q.qconv, k, dequant(k, q.qconv->in, 1, 1));
}

TEST(PropagateDequantize, FlattenReshapeMatMulIsAFullImageConv) {
    const int64_t Nb = 2, C = 3, H = 2, W = 4, N = 5, K = C * H * W;
    Graph b;
    const NodeRef a = fq(b, "fq", b.parameter("x", {Nb, C, H, W}), -1, 1, 0.5f, 1.5f);
    const NodeRef flat = b.reshape("flat", a, {Nb, -1});
    const std::vector<float> lo = {-1, -0.5f, -0.25f, -1, -2}, hi = {1, 0.5f, 0.25f, 0.5f, 2};
    const NodeRef wq = fq_t(b, "wq", cst(b, "w", {K, N}, values(K * N, -1, 1, 12)), {1, N}, lo, hi, lo, hi);
    b.result("y", b.matmul("fc", flat, wq));
    ir::Graph g = decomposed(b);
    EXPECT_EQ(passes::propagate_dequantize(g), 2); // swap past the Reshape, then the QConv
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [2,3,2,4]\n"
              "fq=Quantize(x) u8 [2,3,2,4]\n"
              "fc=QConv(fq) f32 [2,5]\n"
              "y=Result(fc) f32 [2,5]\n");
    const QConvDesc& d = *only(g, Op::QConv).qconv;
    EXPECT_EQ(d.g.str(), "N2C3H2W4_OC5_K2x4_S1x1_D1x1_P0,0,0,0");
    EXPECT_EQ(d.g.OH, 1);
    EXPECT_EQ(d.g.OW, 1);
    EXPECT_EQ(d.fused_nodes, (std::vector<std::string>{"fc", "flat"}));
    EXPECT_FALSE(d.w.symmetric()); // ranges [-1, 0.5] etc.

    const std::vector<float> xv = values(Nb * K, -1.2f, 1.2f, 13);
    const std::vector<int> k = levels_of(xv, d.in, C, H * W);
    check_qconv_numerics(d, k, dequant(k, d.in, C, H * W));
}

// Per-channel activation scales into a Conv: up to 8 runs of equal scale split the reduction into
// segments (spec §8.2) and the Conv becomes a QConv; 9 runs stay fp32.
TEST(PropagateDequantize, PerChannelActivationScaleIntoConvSplitsOrStaysFloat) {
    for (int64_t C : {2, 9}) {
        Graph b;
        const NodeRef x = b.parameter("x", {1, C, 4, 4});
        std::vector<float> zero(static_cast<size_t>(C), 0.0f), hi(static_cast<size_t>(C));
        for (int64_t c = 0; c < C; ++c) hi[static_cast<size_t>(c)] = static_cast<float>(c + 1);
        const NodeRef a = fq_t(b, "fq", x, {1, C, 1, 1}, zero, hi, zero, hi);
        const NodeRef wq = fq(b, "wq", cst(b, "w", {2, C, 1, 1}, values(2 * C, -1, 1, 14)), -1, 1, -1, 1);
        b.result("y", b.convolution("conv", a, wq));
        ir::Graph g = decomposed(b);
        if (C <= kMaxConvSegments) {
            EXPECT_EQ(passes::propagate_dequantize(g), 1);
            EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QConv,Result");
            EXPECT_TRUE(fp32_fallback_nodes(g).empty());
        } else {
            EXPECT_EQ(passes::propagate_dequantize(g), 0);
            EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,Convolution,Result");
            EXPECT_EQ(fp32_fallback_nodes(g), std::vector<std::string>{"conv"});
        }
    }
}

TEST(PropagateDequantize, MatMulPerChannelActivationOrFloatWeightsStaysFloat) {
    {   // per-channel along K (the reduction axis)
        Graph b;
        const NodeRef a = fq_t(b, "fq", b.parameter("a", {2, 3}), {1, 3}, {0, 0, 0}, {1, 1, 1}, {0, 0.5f, 0},
                               {1, 1.5f, 1});
        const NodeRef wq = fq(b, "wq", cst(b, "w", {3, 2}, values(6, -1, 1, 15)), -1, 1, -1, 1);
        b.result("y", b.matmul("mm", a, wq));
        ir::Graph g = decomposed(b);
        EXPECT_EQ(passes::propagate_dequantize(g), 0);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,MatMul,Result");
    }
    {   // weights without FakeQuantize
        Graph b;
        const NodeRef a = fq(b, "fq", b.parameter("a", {2, 3}), 0, 1, 0, 1);
        b.result("y", b.matmul("mm", a, cst(b, "w", {3, 2}, values(6, -1, 1, 16))));
        ir::Graph g = decomposed(b);
        EXPECT_EQ(passes::propagate_dequantize(g), 0);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,MatMul,Result");
    }
    {   // batched MatMul
        Graph b;
        const NodeRef a = fq(b, "fq", b.parameter("a", {2, 2, 3}), 0, 1, 0, 1);
        const NodeRef wq = fq(b, "wq", cst(b, "w", {3, 2}, values(6, -1, 1, 17)), -1, 1, -1, 1);
        b.result("y", b.matmul("mm", a, wq));
        ir::Graph g = decomposed(b);
        EXPECT_EQ(passes::propagate_dequantize(g), 0);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,MatMul,Result");
    }
}

TEST(PropagateDequantize, PostOpsFuseInOrder) {
    Graph b;
    const NodeRef a = fq(b, "fq", b.parameter("x", {1, 2, 4, 4}), 0, 1, 0, 1);
    const NodeRef wq = fq(b, "wq", cst(b, "w", {3, 2, 1, 1}, values(6, -1, 1, 18)), -1, 1, -1, 1);
    NodeRef y = b.convolution("conv", a, wq);
    y = b.add("bias", cst(b, "b", {1, 3, 1, 1}, {0.5f, -0.25f, 1}), y);
    y = b.multiply("scale", y, cst(b, "s", {3, 1, 1}, {2, -1, 0.5f}));
    y = b.add("shift", y, scalar(b, "t", 0.125f));
    y = b.relu("relu", y);
    y = b.clamp("clamp", y, -1.0f, 3.0f);
    b.result("out", y);
    ir::Graph g = decomposed(b);
    EXPECT_EQ(passes::propagate_dequantize(g), 6);
    EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QConv,Result");
    const QConvDesc& d = *only(g, Op::QConv).qconv;
    EXPECT_EQ(d.fused_nodes, (std::vector<std::string>{"conv", "bias", "scale", "shift", "relu", "clamp"}));
    ASSERT_EQ(d.post.size(), 5u);
    EXPECT_EQ(d.post[0].kind, PostOp::Bias);
    EXPECT_EQ(d.post[0].v, (std::vector<float>{0.5f, -0.25f, 1}));
    EXPECT_EQ(d.post[0].node, "bias");
    EXPECT_EQ(d.post[1].kind, PostOp::Scale);
    EXPECT_EQ(d.post[1].v, (std::vector<float>{2, -1, 0.5f}));
    EXPECT_EQ(d.post[2].kind, PostOp::Shift);
    EXPECT_EQ(d.post[2].v, std::vector<float>{0.125f});
    EXPECT_EQ(d.post[3].kind, PostOp::Clamp);
    EXPECT_EQ(d.post[3].lo, 0.0f);
    EXPECT_EQ(d.post[3].hi, std::numeric_limits<float>::infinity());
    EXPECT_EQ(d.post[4].kind, PostOp::Clamp);
    EXPECT_EQ(d.post[4].lo, -1.0f);
    EXPECT_EQ(d.post[4].hi, 3.0f);

    const std::vector<float> xv = values(32, -0.2f, 1.2f, 19);
    const std::vector<int> k = levels_of(xv, d.in, 1, 1);
    check_qconv_numerics(d, k, dequant(k, d.in, 1, 1));
}

TEST(PropagateDequantize, PostOpsThatDoNotFuse) {
    auto sig = [](auto&& tail) {
        Graph b;
        const NodeRef a = fq(b, "fq", b.parameter("x", {1, 2, 3, 3}), 0, 1, 0, 1);
        const NodeRef wq = fq(b, "wq", cst(b, "w", {3, 2, 1, 1}, values(6, -1, 1, 20)), -1, 1, -1, 1);
        tail(b, b.convolution("conv", a, wq));
        ir::Graph g = decomposed(b);
        passes::propagate_dequantize(g);
        return g.op_signature();
    };
    // A constant that varies along W.
    EXPECT_EQ(sig([](Graph& b, NodeRef y) { b.result("o", b.add("add", y, cst(b, "c", {1, 1, 1, 3}, {1, 2, 3}))); }),
              "Parameter,Quantize,QConv,Add,Result");
    // A constant that grows the shape.
    EXPECT_EQ(sig([](Graph& b, NodeRef y) { b.result("o", b.add("add", y, cst(b, "c", {2, 1, 1, 1}, {1, 2}))); }),
              "Parameter,Quantize,QConv,Add,Result");
    // Two consumers of the QConv.
    EXPECT_EQ(sig([](Graph& b, NodeRef y) {
                  b.result("o1", b.relu("relu", y));
                  b.result("o2", y);
              }),
              "Parameter,Quantize,QConv,Relu,Result,Result");
    // Multiply of two activations.
    EXPECT_EQ(sig([](Graph& b, NodeRef y) { b.result("o", b.multiply("mul", y, y)); }),
              "Parameter,Quantize,QConv,Multiply,Result");
}

TEST(PropagateDequantize, NoOpReluAndClampAreRemoved) {
    auto lower = [](float ol, float oh, auto&& op) {
        Graph b;
        const NodeRef a = fq(b, "fq", b.parameter("x", {1, 2, 3, 3}), 0, 1, ol, oh);
        b.result("y", op(b, a));
        ir::Graph g = decomposed(b);
        passes::propagate_dequantize(g);
        return g.op_signature();
    };
    auto relu = [](Graph& b, NodeRef a) { return b.relu("relu", a); };
    EXPECT_EQ(lower(0.0f, 2.55f, relu), "Parameter,Quantize,Dequantize,Result");
    EXPECT_EQ(lower(0.5f, 2.0f, relu), "Parameter,Quantize,Dequantize,Result");
    EXPECT_EQ(lower(-0.1f, 2.0f, relu), "Parameter,Quantize,Dequantize,Relu,Result");
    EXPECT_EQ(lower(2.0f, -1.0f, relu), "Parameter,Quantize,Dequantize,Relu,Result"); // ol > oh reaches -1
    auto clamp_wide = [](Graph& b, NodeRef a) { return b.clamp("clamp", a, -1.0f, 3.0f); };
    auto clamp_narrow = [](Graph& b, NodeRef a) { return b.clamp("clamp", a, 0.0f, 1.0f); };
    EXPECT_EQ(lower(-0.5f, 2.5f, clamp_wide), "Parameter,Quantize,Dequantize,Result");
    EXPECT_EQ(lower(2.5f, -0.5f, clamp_wide), "Parameter,Quantize,Dequantize,Result");
    EXPECT_EQ(lower(-0.5f, 2.5f, clamp_narrow), "Parameter,Quantize,Dequantize,Clamp,Result");

    // With the Relu gone, the Conv behind it is quantized.
    Graph b;
    const NodeRef a = b.relu("relu", fq(b, "fq", b.parameter("x", {1, 2, 3, 3}), 0, 1, 0, 2.55f));
    const NodeRef wq = fq(b, "wq", cst(b, "w", {2, 2, 1, 1}, values(4, -1, 1, 21)), -1, 1, -1, 1);
    b.result("y", b.convolution("conv", a, wq));
    ir::Graph g = decomposed(b);
    passes::propagate_dequantize(g);
    EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QConv,Result");
}

// ---- fuse_requantize ----------------------------------------------------------------------------

ir::Graph propagated(const Graph& b) {
    ir::Graph g = decomposed(b);
    passes::propagate_dequantize(g);
    return g;
}

TEST(FuseRequantize, QConvTakesTheNextQuantize) {
    Graph b;
    const NodeRef a = fq(b, "fq", b.parameter("x", {1, 2, 3, 3}), 0, 1, 0, 1);
    const NodeRef wq = fq(b, "wq", cst(b, "w", {3, 2, 1, 1}, values(6, -1, 1, 22)), -1, 1, -1, 1);
    const NodeRef y = fq_t(b, "fq2", b.convolution("conv", a, wq), {1, 3, 1, 1}, {-1, -2, -3}, {1, 2, 3},
                           {-1, -2, -3}, {1, 2, 3});
    b.result("out", y);
    ir::Graph g = propagated(b);
    EXPECT_EQ(passes::fuse_requantize(g), 1);
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [1,2,3,3]\n"
              "fq=Quantize(x) u8 [1,2,3,3]\n"
              "conv=QConv(fq) u8 [1,3,3,3]\n"
              "fq2/dequantize=Dequantize(conv) f32 [1,3,3,3]\n"
              "out=Result(fq2/dequantize) f32 [1,3,3,3]\n");
    const ir::Node& q = only(g, Op::QConv);
    EXPECT_EQ(q.type, ElemType::u8);
    const QConvDesc& d = *q.qconv;
    EXPECT_TRUE(d.out_levels);
    EXPECT_EQ(d.out.il.v, (std::vector<float>{-1, -2, -3}));
    EXPECT_EQ(d.out.channels, 3);
    EXPECT_EQ(d.fused_nodes, (std::vector<std::string>{"conv", "fq2"}));
    EXPECT_EQ(fold_qconv(d).mode, EpilogueMode::Levels);
}

TEST(FuseRequantize, InvertedOrMixedNextRangeIsNotFused) {
    for (int variant = 0; variant < 2; ++variant) {
        Graph b;
        const NodeRef a = fq(b, "fq", b.parameter("x", {1, 2, 3, 3}), 0, 1, 0, 1);
        const NodeRef wq = fq(b, "wq", cst(b, "w", {2, 2, 1, 1}, values(4, -1, 1, 23)), -1, 1, -1, 1);
        const NodeRef c = b.convolution("conv", a, wq);
        // variant 0: il > ih; variant 1: il == ih in one channel, il < ih in the other.
        const NodeRef y = variant == 0 ? fq(b, "fq2", c, 1.0f, -1.0f, 0.0f, 1.0f)
                                       : fq_t(b, "fq2", c, {1, 2, 1, 1}, {0, 0}, {0, 1}, {0, 0}, {1, 1});
        b.result("out", y);
        ir::Graph g = propagated(b);
        EXPECT_EQ(passes::fuse_requantize(g), 0) << variant;
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QConv,Quantize,Dequantize,Result") << variant;
        EXPECT_FALSE(only(g, Op::QConv).qconv->out_levels);
    }
}

TEST(FuseRequantize, ThresholdNextFqFuses) {
    Graph b;
    const NodeRef a = fq(b, "fq", b.parameter("x", {1, 2, 3, 3}), 0, 1, 0, 1);
    const NodeRef wq = fq(b, "wq", cst(b, "w", {2, 2, 1, 1}, values(4, -1, 1, 24)), -1, 1, -1, 1);
    b.result("out", fq(b, "fq2", b.convolution("conv", a, wq), 0.25f, 0.25f, 0, 1, 2));
    ir::Graph g = propagated(b);
    EXPECT_EQ(passes::fuse_requantize(g), 1);
    EXPECT_EQ(fold_qconv(*only(g, Op::QConv).qconv).mode, EpilogueMode::Threshold);
}

TEST(FuseRequantize, FqFqIdentityIsDropped) {
    {   // same params with il == ol, ih == oh: Quantize(Dequantize(k)) == k
        Graph b;
        const NodeRef a = fq(b, "fq1", b.parameter("x", {1, 2, 3, 3}), -1.28f, 1.27f, -1.28f, 1.27f);
        b.result("y", fq(b, "fq2", a, -1.28f, 1.27f, -1.28f, 1.27f));
        ir::Graph g = propagated(b);
        EXPECT_EQ(passes::fuse_requantize(g), 1);
        EXPECT_EQ(g.dump(),
                  "x=Parameter() f32 [1,2,3,3]\n"
                  "fq1=Quantize(x) u8 [1,2,3,3]\n"
                  "fq2/dequantize=Dequantize(fq1) f32 [1,2,3,3]\n"
                  "y=Result(fq2/dequantize) f32 [1,2,3,3]\n");
    }
    {   // a coarser second grid is not the identity
        Graph b;
        const NodeRef a = fq(b, "fq1", b.parameter("x", {1, 2, 3, 3}), 0, 1, 0, 1);
        b.result("y", fq(b, "fq2", a, 0, 1, 0, 1, 16));
        ir::Graph g = propagated(b);
        EXPECT_EQ(passes::fuse_requantize(g), 0);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,Quantize,Dequantize,Result");
    }
    {   // identical ActQuant whose output range is not its input range
        Graph b;
        const NodeRef a = fq(b, "fq1", b.parameter("x", {1, 2, 3, 3}), 0, 1, 0, 255);
        b.result("y", fq(b, "fq2", a, 0, 1, 0, 255));
        ir::Graph g = propagated(b);
        EXPECT_EQ(passes::fuse_requantize(g), 0);
    }
}

// ---- the whole pipeline -------------------------------------------------------------------------

TEST(Lower, ConvConvFcChainIsFullyQuantized) {
    Graph b;
    const NodeRef x = b.parameter("x", {2, 3, 6, 6});
    NodeRef t = fq(b, "fq_in", x, -1.0f, 1.0f, -1.0f, 1.0f);
    // Conv3x3, per-channel weight ranges, bias, ReLU.
    const std::vector<float> lo = {-1, -0.5f, -0.25f, -2}, hi = {1, 0.5f, 0.25f, 2};
    const NodeRef w1 = fq_t(b, "w1q", cst(b, "w1", {4, 3, 3, 3}, values(108, -1, 1, 25)), {4, 1, 1, 1}, lo, hi, lo, hi);
    ConvParams p;
    p.pads_begin = {1, 1};
    p.pads_end = {1, 1};
    t = b.convolution("conv1", t, w1, p);
    t = b.add("bias1", t, cst(b, "b1", {1, 4, 1, 1}, {0.1f, -0.2f, 0.3f, 0}));
    t = b.relu("relu1", t);
    t = fq(b, "fq1", t, 0.0f, 2.55f, 0.0f, 2.55f);
    // Conv1x1.
    const NodeRef w2 = fq(b, "w2q", cst(b, "w2", {5, 4, 1, 1}, values(20, -1, 1, 26)), -1, 1, -1, 1);
    t = b.convolution("conv2", t, w2);
    t = fq(b, "fq2", t, -4.0f, 4.0f, -4.0f, 4.0f);
    // Flatten + FC.
    t = b.reshape("flatten", t, {2, -1});
    const NodeRef w3 = fq(b, "w3q", cst(b, "w3", {180, 10}, values(1800, -1, 1, 27)), -0.5f, 0.5f, -0.5f, 0.5f);
    t = b.matmul("fc", t, w3);
    b.result("y", t);

    ir::Graph g = b.ir();
    lower(g, LowerOptions{false});
    EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QConv,QConv,QConv,Result");
    EXPECT_TRUE(fp32_fallback_nodes(g).empty()) << g.dump();
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [2,3,6,6]\n"
              "fq_in=Quantize(x) u8 [2,3,6,6]\n"
              "conv1=QConv(fq_in) u8 [2,4,6,6]\n"
              "conv2=QConv(conv1) u8 [2,5,6,6]\n"
              "fc=QConv(conv2) f32 [2,10]\n"
              "y=Result(fc) f32 [2,10]\n");
    const std::vector<const ir::Node*> qc = all(g, Op::QConv);
    ASSERT_EQ(qc.size(), 3u);
    const QConvDesc& c1 = *qc[0]->qconv;
    EXPECT_EQ(c1.fused_nodes, (std::vector<std::string>{"conv1", "bias1", "relu1", "fq1"}));
    ASSERT_EQ(c1.post.size(), 2u);
    EXPECT_EQ(c1.post[0].kind, PostOp::Bias);
    EXPECT_EQ(c1.post[1].kind, PostOp::Clamp);
    EXPECT_TRUE(c1.out_levels);
    EXPECT_EQ(c1.g.str(), "N2C3H6W6_OC4_K3x3_S1x1_D1x1_P1,1,1,1");
    const QConvDesc& c2 = *qc[1]->qconv;
    EXPECT_EQ(c2.fused_nodes, (std::vector<std::string>{"conv2", "fq2"}));
    EXPECT_EQ(c2.in.oh.v, std::vector<float>{2.55f});
    const QConvDesc& c3 = *qc[2]->qconv;
    EXPECT_EQ(c3.fused_nodes, (std::vector<std::string>{"fc", "flatten"}));
    EXPECT_FALSE(c3.out_levels);
    EXPECT_EQ(c3.g.str(), "N2C5H6W6_OC10_K6x6_S1x1_D1x1_P0,0,0,0");
    for (const ir::Node* n : qc) EXPECT_NO_THROW(fold_qconv(*n->qconv)) << n->name;
}

TEST(Lower, LoweredChainUnderOracleBMatchesOracleA) {
    // Per-channel input offsets with one exact step (2/255), per-channel weights, bias, ReLU,
    // requantize, flatten-FC: Oracle B on the lowered graph against Oracle A on the float graph.
    Graph b;
    const NodeRef x = b.parameter("x", {2, 3, 6, 6});
    const Shape c3{1, 3, 1, 1};
    NodeRef t = fq_t(b, "fq_in", x, c3, {-1, -1.5f, -0.5f}, {1, 0.5f, 1.5f}, {-1, -0.25f, 0.25f}, {1, 1.75f, 2.25f});
    const std::vector<float> lo = {-1, -0.5f, -0.25f, -2}, hi = {1, 0.5f, 0.25f, 2};
    const NodeRef w1 = fq_t(b, "w1q", cst(b, "w1", {4, 3, 3, 3}, values(108, -1, 1, 25)), {4, 1, 1, 1}, lo, hi, lo, hi);
    ConvParams p;
    p.pads_begin = {1, 1};
    p.pads_end = {1, 1};
    t = b.relu("relu1", b.add("bias1", b.convolution("conv1", t, w1, p), cst(b, "b1", {1, 4, 1, 1}, {0.1f, -0.2f, 0.3f, 0})));
    t = fq(b, "fq1", t, 0.0f, 2.55f, 0.0f, 2.55f);
    t = b.convolution("conv2", t, fq(b, "w2q", cst(b, "w2", {5, 4, 1, 1}, values(20, -1, 1, 26)), -1, 1, -1, 1));
    t = b.reshape("flatten", fq(b, "fq2", t, -4.0f, 4.0f, -4.0f, 4.0f), {2, -1});
    t = b.matmul("fc", t, fq(b, "w3q", cst(b, "w3", {180, 10}, values(1800, -1, 1, 27)), -0.5f, 0.5f, -0.5f, 0.5f));
    b.result("y", t);
    ir::Graph g = b.ir();
    lower(g, LowerOptions{false});
    ASSERT_EQ(g.op_signature(), "Parameter,Quantize,QConv,QConv,QConv,Result");
    const std::vector<Tensor> in = {Tensor::f32({2, 3, 6, 6}, values(216, -1.2f, 1.2f, 5))};
    const Tensor ya = oracle::oracle_a_outputs(b.ir(), in)[0];
    const Tensor yb = oracle::oracle_b_outputs(g, in)[0];
    ASSERT_EQ(ya.shape(), yb.shape());
    double max_a = 0;
    for (int64_t i = 0; i < ya.numel(); ++i) max_a = std::max(max_a, double(std::fabs(ya.at_f32(i))));
    EXPECT_GT(max_a, 1.0);
    // Fixed data with no level flip between A and B: the difference is fp32 rounding only.
    for (int64_t i = 0; i < ya.numel(); ++i) EXPECT_NEAR(yb.at_f32(i), ya.at_f32(i), 1e-5 * max_a) << i;
}

TEST(Lower, Fp32FallbackIsReportedAndCanBeRefused) {
    auto build = [](Graph& b) {
        const NodeRef x = b.parameter("x", {1, 2, 3, 3});
        const NodeRef a = fq(b, "fqa", x, 0, 1, 0, 1);
        b.result("y", b.multiply("mul", a, x)); // product of a quantized and a float activation
    };
    Graph b;
    build(b);
    ir::Graph g = b.ir();
    lower(g);
    EXPECT_EQ(fp32_fallback_nodes(g), std::vector<std::string>{"mul"});
    EXPECT_EQ(g.op_signature().find("Multiply") != std::string::npos, true);
    ir::Graph g2 = b.ir();
    try {
        lower(g2, LowerOptions{false});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::UnsupportedOp);
        EXPECT_EQ(e.node(), "mul");
    }
}

TEST(Lower, NonConstantRangeStaysFakeQuantize) {
    Graph b;
    const NodeRef x = b.parameter("x", {1, 2, 3, 3});
    const NodeRef hi = b.parameter("hi", {1});
    const NodeRef a = b.fake_quantize("fq", x, scalar(b, "il", 0), hi, scalar(b, "ol", 0), scalar(b, "oh", 1), 256);
    const NodeRef wq = fq(b, "wq", cst(b, "w", {2, 2, 1, 1}, values(4, -1, 1, 28)), -1, 1, -1, 1);
    b.result("y", b.convolution("conv", a, wq));
    ir::Graph g = b.ir();
    lower(g);
    // The weights are still folded (the fp32 conv reads Oracle A's weights); nothing else changes.
    EXPECT_EQ(g.op_signature(), "Parameter,Parameter,FakeQuantize,Convolution,Result");
    EXPECT_TRUE(by_name(g, "wq").qweights);
    EXPECT_EQ(fp32_fallback_nodes(g), (std::vector<std::string>{"fq", "conv"}));
    ir::Graph g2 = b.ir();
    EXPECT_THROW(lower(g2, LowerOptions{false}), Error);
}

TEST(Lower, FqAfterConvBeforeResultAndSharedActivation) {
    // One FakeQuantize feeding a quantized Conv and a float Result.
    Graph b;
    const NodeRef a = fq(b, "fq", b.parameter("x", {1, 2, 3, 3}), 0, 1, 0, 1);
    const NodeRef wq = fq(b, "wq", cst(b, "w", {2, 2, 1, 1}, values(4, -1, 1, 29)), -1, 1, -1, 1);
    b.result("y", fq(b, "fq2", b.convolution("conv", a, wq), -1, 1, -1, 1));
    b.result("z", a);
    ir::Graph g = b.ir();
    lower(g, LowerOptions{false});
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [1,2,3,3]\n"
              "fq=Quantize(x) u8 [1,2,3,3]\n"
              "conv=QConv(fq) u8 [1,2,3,3]\n"
              "fq2/dequantize=Dequantize(conv) f32 [1,2,3,3]\n"
              "y=Result(fq2/dequantize) f32 [1,2,3,3]\n"
              "fq/dequantize=Dequantize(fq) f32 [1,2,3,3]\n"
              "z=Result(fq/dequantize) f32 [1,2,3,3]\n");
}

} // namespace
} // namespace qjit
