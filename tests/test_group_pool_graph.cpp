// GroupConvolution, MaxPool and AvgPool at the graph level: the builder's shape inference and eager
// errors, the float reference ops (Oracle A), the lowering passes (structure and attributes), and
// small compiled graphs that must run as JIT kernels only, equal Oracle B bit for bit and stay
// within spec §4.6 of Oracle A.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "jit/passes/passes.hpp"
#include "jit/pool_fold.hpp"
#include "jit/quant_params.hpp"
#include "qjit/qjit.hpp"
#include "runtime/ref_ops.hpp"
#include "tests/support/chain_check.hpp"
#include "tools/model_zoo.hpp"

namespace qjit {
namespace {

using ir::Op;

std::vector<float> values(int64_t n, float lo, float hi, uint64_t seed) {
    std::mt19937_64 r(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = u(r);
    return v;
}

NodeRef cst(Graph& g, const std::string& name, Shape shape, const std::vector<float>& v) {
    return g.constant(name, Tensor::f32(std::move(shape), v));
}

NodeRef fq(Graph& g, const std::string& name, NodeRef x, float lo, float hi, int64_t L = 256) {
    const NodeRef l = cst(g, name + ".lo", {}, {lo}), h = cst(g, name + ".hi", {}, {hi});
    return g.fake_quantize(name, x, l, h, l, h, L);
}

NodeRef fq_ranges(Graph& g, const std::string& name, NodeRef x, const Shape& rs, const std::vector<float>& lo,
                  const std::vector<float>& hi, int64_t L = 256) {
    const NodeRef l = cst(g, name + ".lo", rs, lo), h = cst(g, name + ".hi", rs, hi);
    return g.fake_quantize(name, x, l, h, l, h, L);
}

// Depthwise/grouped weights [G, O/G, I/G, K, K] with a per-output-channel symmetric FakeQuantize
// (ranges [G, O/G, 1, 1, 1]).
NodeRef group_weights(Graph& g, const std::string& name, int64_t G, int64_t opg, int64_t ipg, int64_t K, uint64_t seed,
                      int64_t L = 255) {
    const std::vector<float> w = values(G * opg * ipg * K * K, -0.5f, 0.5f, seed);
    std::vector<float> lo, hi;
    for (int64_t o = 0; o < G * opg; ++o) {
        float m = 1e-3f;
        for (int64_t i = 0; i < ipg * K * K; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(o * ipg * K * K + i)]));
        lo.push_back(-m);
        hi.push_back(m);
    }
    return fq_ranges(g, name + "_fq", cst(g, name, {G, opg, ipg, K, K}, w), {G, opg, 1, 1, 1}, lo, hi, L);
}

const ir::Node* only(const ir::Graph& g, Op op) {
    const ir::Node* r = nullptr;
    for (int id : g.topo_order())
        if (g.node(id).op == op) {
            if (r) return nullptr;
            r = &g.node(id);
        }
    return r;
}

template <class F> void expect_error(F f, ErrorCode code, const std::string& node, const std::string& what) {
    try {
        f();
        ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        EXPECT_EQ(e.node(), node) << e.what();
        EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
}

// ---- builder ------------------------------------------------------------------------------------

TEST(GroupPoolBuilder, ShapesOfGroupConvAndPools) {
    Graph g;
    const NodeRef x = g.parameter("x", {2, 12, 9, 10});
    const NodeRef w = cst(g, "w", {4, 6, 3, 3, 3}, values(4 * 6 * 3 * 9, -1, 1, 1));
    ConvParams p;
    p.strides = {2, 1};
    p.pads_begin = {1, 0};
    p.pads_end = {1, 2};
    EXPECT_EQ(g.shape_of(g.group_convolution("gc", x, w, p)), (Shape{2, 24, 5, 10}));
    EXPECT_EQ(g.shape_of(g.max_pool("mp", x, {3, 3}, {2, 2}, {0, 0}, {0, 0})), (Shape{2, 12, 4, 4}));
    EXPECT_EQ(g.shape_of(g.max_pool("mpc", x, {3, 3}, {2, 2}, {0, 0}, {0, 0}, RoundingType::ceil)), (Shape{2, 12, 4, 5}));
    EXPECT_EQ(g.shape_of(g.avg_pool("ap", x, {2, 3}, {2, 3}, {1, 1}, {0, 1}, true, RoundingType::ceil)),
              (Shape{2, 12, 5, 4}));
    EXPECT_EQ(g.shape_of(g.avg_pool("gap", x, {9, 10}, {1, 1}, {0, 0}, {0, 0}, true)), (Shape{2, 12, 1, 1}));
}

TEST(GroupPoolBuilder, ErrorsNameTheNode) {
    Graph g;
    const NodeRef x = g.parameter("x", {1, 8, 5, 5});
    const NodeRef w4 = cst(g, "w4", {8, 1, 3, 3}, values(72, -1, 1, 2));
    const NodeRef w5 = cst(g, "w5", {4, 2, 3, 3, 3}, values(216, -1, 1, 3));
    expect_error([&] { g.group_convolution("gc1", x, w4); }, ErrorCode::ShapeMismatch, "gc1", "rank 5");
    expect_error([&] { g.group_convolution("gc2", x, w5); }, ErrorCode::ShapeMismatch, "gc2", "G*I/G = 12");
    const NodeRef w6 = cst(g, "w6", {8, 1, 1, 7, 7}, values(392, -1, 1, 4));
    expect_error([&] { g.group_convolution("gc3", x, w6); }, ErrorCode::ShapeMismatch, "gc3", "does not fit");
    ConvParams bad;
    bad.strides = {0, 1};
    const NodeRef w7 = cst(g, "w7", {8, 1, 1, 3, 3}, values(72, -1, 1, 5));
    expect_error([&] { g.group_convolution("gc4", x, w7, bad); }, ErrorCode::InvalidArgument, "gc4", "strides");
    expect_error([&] { g.max_pool("mp1", x, {6, 6}, {1, 1}, {0, 0}, {0, 0}); }, ErrorCode::ShapeMismatch, "mp1",
                 "does not fit");
    expect_error([&] { g.max_pool("mp2", x, {3}, {1, 1}, {0, 0}, {0, 0}); }, ErrorCode::InvalidArgument, "mp2", "kernel");
    expect_error([&] { g.max_pool("mp3", x, {2, 2}, {1, 1}, {-1, 0}, {0, 0}); }, ErrorCode::InvalidArgument, "mp3",
                 "pads_begin");
    // Pads as large as the kernel: the first window lies in the padding.
    expect_error([&] { g.max_pool("mp4", x, {2, 2}, {1, 1}, {2, 0}, {0, 0}); }, ErrorCode::InvalidArgument, "mp4",
                 "covers no input element");
    expect_error([&] { g.avg_pool("ap1", x, {2, 2}, {1, 1}, {0, 2}, {0, 0}, true); }, ErrorCode::InvalidArgument, "ap1",
                 "covers no input element");
    // Without exclude_pad the same window averages zeros: legal.
    EXPECT_EQ(g.shape_of(g.avg_pool("ap2", x, {2, 2}, {1, 1}, {0, 2}, {0, 0}, false)), (Shape{1, 8, 4, 6}));
    // Ceil mode with a stride beyond the kernel: the last window starts past the padded input.
    expect_error([&] { g.avg_pool("ap3", x, {1, 1}, {3, 3}, {0, 0}, {1, 1}, false, RoundingType::ceil); },
                 ErrorCode::InvalidArgument, "ap3", "padded input");
    const NodeRef x3 = g.parameter("x3", {1, 8, 5});
    expect_error([&] { g.avg_pool("ap4", x3, {1, 1}, {1, 1}, {0, 0}, {0, 0}, true); }, ErrorCode::ShapeMismatch, "ap4",
                 "rank 4");
}

// ---- reference ops (Oracle A) ---------------------------------------------------------------------

TEST(GroupPoolRefOps, GroupConvIsAConvPerGroup) {
    const int64_t G = 3, opg = 2, ipg = 4, K = 3;
    const Tensor x = Tensor::f32({2, G * ipg, 6, 7}, values(2 * G * ipg * 42, -1, 1, 7));
    const Tensor w = Tensor::f32({G, opg, ipg, K, K}, values(G * opg * ipg * K * K, -1, 1, 8));
    ConvParams p;
    p.strides = {2, 1};
    p.pads_begin = {1, 2};
    p.pads_end = {0, 1};
    p.dilations = {1, 2};
    for (bool fp64 : {false, true}) {
        const Tensor y = ref::group_conv2d(x, w, p, fp64);
        for (int64_t gi = 0; gi < G; ++gi) {
            // The group's slice of x and w through the plain conv: same nesting, same bits.
            Tensor xg(ElemType::f32, {2, ipg, 6, 7});
            for (int64_t n = 0; n < 2; ++n)
                std::memcpy(xg.data<float>() + n * ipg * 42, x.data<float>() + (n * G * ipg + gi * ipg) * 42, ipg * 42 * 4);
            const Tensor wg = Tensor::f32({opg, ipg, K, K}, std::vector<float>(w.data<float>() + gi * opg * ipg * K * K,
                                                                             w.data<float>() + (gi + 1) * opg * ipg * K * K));
            const Tensor yg = ref::conv2d(xg, wg, p, fp64);
            const int64_t plane = y.shape()[2] * y.shape()[3];
            for (int64_t n = 0; n < 2; ++n)
                EXPECT_EQ(std::memcmp(yg.data<float>() + n * opg * plane,
                                      y.data<float>() + (n * G * opg + gi * opg) * plane, opg * plane * 4),
                          0)
                    << "group " << gi << " fp64 " << fp64;
        }
    }
}

TEST(GroupPoolRefOps, PoolingCountsAndValues) {
    // One 3x4 channel: 1..12.
    std::vector<float> v(12);
    for (int i = 0; i < 12; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i + 1);
    const Tensor x = Tensor::f32({1, 1, 3, 4}, v);
    PoolParams p;
    p.kernel = {2, 2};
    p.strides = {2, 2};
    p.pads_begin = {1, 1};
    p.pads_end = {0, 0};
    p.rounding = RoundingType::ceil; // OH = ceil((3+1-2)/2)+1 = 2, OW = ceil((4+1-2)/2)+1 = 3
    const Tensor m = ref::max_pool2d(x, p);
    ASSERT_EQ(m.shape(), (Shape{1, 1, 2, 3}));
    EXPECT_EQ(std::vector<float>(m.data<float>(), m.data<float>() + 6), (std::vector<float>{1, 3, 4, 9, 11, 12}));
    p.exclude_pad = true;
    const Tensor a = ref::avg_pool2d(x, p);
    // Windows: rows {-1,0},{1,2}; cols {-1,0},{1,2},{3,4}.
    EXPECT_EQ(std::vector<float>(a.data<float>(), a.data<float>() + 6),
              (std::vector<float>{1, 2.5f, 4, 7, 8.5f, 10}));
    p.exclude_pad = false; // divisor: taps inside [-1, 3) x [-1, 4): the overhang col 4 does not count
    const Tensor b = ref::avg_pool2d(x, p);
    EXPECT_EQ(std::vector<float>(b.data<float>(), b.data<float>() + 6),
              (std::vector<float>{0.25f, 1.25f, 2.0f, 3.5f, 8.5f, 10.0f}));
    EXPECT_EQ(ref::pool_axis_count(2, 2, 2, 1, 0, 4, false), 1); // col window {3, 4}: only 3 in [-1, 4)
    // NaN propagates through MaxPool; -0.0 vs +0.0 keeps the first.
    const Tensor z = Tensor::f32({1, 1, 1, 3}, {-0.0f, 0.0f, std::numeric_limits<float>::quiet_NaN()});
    PoolParams q;
    q.kernel = {1, 2};
    q.strides = {1, 1};
    const Tensor mz = ref::max_pool2d(z, q);
    EXPECT_TRUE(std::signbit(mz.data<float>()[0]));
    EXPECT_TRUE(std::isnan(mz.data<float>()[1]));
}

// ---- passes -------------------------------------------------------------------------------------

TEST(GroupPoolPasses, FoldGroupConvWeightRanges) {
    for (int variant = 0; variant < 5; ++variant) {
        Graph b;
        const NodeRef x = b.parameter("x", {1, 6, 5, 5});
        const int64_t G = 3, opg = 2, ipg = 2;
        const std::vector<float> wv = values(G * opg * ipg * 9, -1, 1, 11);
        const NodeRef w = cst(b, "w", {G, opg, ipg, 3, 3}, wv);
        Shape rs;
        std::vector<float> lo, hi;
        switch (variant) {
        case 0: rs = {G, opg, 1, 1, 1}; for (int i = 0; i < 6; ++i) lo.push_back(-1.0f - 0.1f * i), hi.push_back(1.0f + 0.1f * i); break;
        case 1: rs = {G, 1, 1, 1, 1}; lo = {-1, -2, -3}; hi = {1, 2, 3}; break;
        case 2: rs = {1, opg, 1, 1, 1}; lo = {-1, -2}; hi = {1, 2}; break;
        case 3: rs = {}; lo = {-1}; hi = {1}; break;
        default: rs = {1, 1, ipg, 1, 1}; lo = {-1, -2}; hi = {1, 2}; break; // varies along I/G: not per output
        }
        const NodeRef wq = fq_ranges(b, "wq", w, rs, lo, hi);
        b.result("y", b.group_convolution("gc", x, wq));
        ir::Graph g = b.ir();
        EXPECT_EQ(passes::fold_weight_fq(g), variant < 4 ? 1 : 0) << variant;
        if (variant == 4) continue;
        const ir::Node* k = nullptr;
        for (int id : g.topo_order())
            if (g.node(id).name == "wq") k = &g.node(id);
        ASSERT_TRUE(k && k->qweights) << variant;
        const QuantWeights& q = *k->qweights;
        ASSERT_EQ(q.s_w.size(), 6u);
        for (int64_t o = 0; o < 6; ++o) {
            const int64_t gi = o / opg, m = o % opg;
            const float h = variant == 0 ? hi[static_cast<size_t>(o)] : variant == 1 ? hi[static_cast<size_t>(gi)]
                                                                    : variant == 2 ? hi[static_cast<size_t>(m)]
                                                                                   : hi[0];
            const float l = -h;
            EXPECT_EQ(q.s_w[static_cast<size_t>(o)], (double(h) - double(l)) / 255.0) << variant << " o" << o;
        }
    }
}

TEST(GroupPoolPasses, DepthwiseBecomesAGroupedQConvWithPerChannelScale) {
    Graph b;
    const NodeRef x = b.parameter("x", {1, 8, 6, 6});
    std::vector<float> lo, hi;
    for (int c = 0; c < 8; ++c) lo.push_back(-0.25f * c), hi.push_back(1.0f + 0.5f * c); // s and ol per channel
    const NodeRef q = fq_ranges(b, "fq_x", x, {1, 8, 1, 1}, lo, hi);
    ConvParams p;
    p.pads_begin = p.pads_end = {1, 1};
    const NodeRef dw = b.group_convolution("dw", q, group_weights(b, "dw_w", 8, 1, 1, 3, 12), p);
    const NodeRef bias = b.add("dw_bias", dw, cst(b, "dw_b", {1, 8, 1, 1}, values(8, -0.5f, 0.5f, 13)));
    const NodeRef r6 = b.clamp("dw_relu6", bias, 0.0f, 6.0f);
    b.result("y", fq(b, "fq_y", r6, 0.0f, 6.0f));
    ir::Graph g = b.ir();
    lower(g);
    EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QConv,Dequantize,Result") << g.dump();
    const ir::Node* qc = only(g, Op::QConv);
    ASSERT_TRUE(qc);
    EXPECT_EQ(qc->qconv->g.groups, 8);
    EXPECT_EQ(qc->qconv->g.K(), 9);
    EXPECT_TRUE(qc->qconv->out_levels);
    EXPECT_EQ(qc->qconv->fused_nodes, (std::vector<std::string>{"dw", "dw_bias", "dw_relu6", "fq_y"}));
    EXPECT_TRUE(fp32_fallback_nodes(g).empty());
}

TEST(GroupPoolPasses, GeneralGroupsNeedOneScalePerGroup) {
    for (bool uniform_in_group : {true, false}) {
        Graph b;
        const NodeRef x = b.parameter("x", {1, 8, 5, 5});
        std::vector<float> lo, hi;
        for (int c = 0; c < 8; ++c) {
            const int grp = c / 4;
            lo.push_back(-0.5f * c);
            hi.push_back(-0.5f * c + 2.0f + grp + (uniform_in_group ? 0.0f : 0.25f * (c % 4)));
        }
        const NodeRef q = fq_ranges(b, "fq_x", x, {1, 8, 1, 1}, lo, hi);
        b.result("y", b.group_convolution("gc", q, group_weights(b, "gc_w", 2, 3, 4, 3, 14)));
        ir::Graph g = b.ir();
        lower(g);
        if (uniform_in_group) {
            EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QConv,Result") << g.dump();
            ASSERT_TRUE(only(g, Op::QConv));
            EXPECT_EQ(only(g, Op::QConv)->qconv->g.groups, 2);
        } else {
            EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,GroupConvolution,Result") << g.dump();
            EXPECT_EQ(fp32_fallback_nodes(g), (std::vector<std::string>{"gc"}));
        }
    }
}

TEST(GroupPoolPasses, MaxPoolMovesTheDequantizeUnlessTheScaleIsNegative) {
    for (bool negative : {false, true}) {
        Graph b;
        const NodeRef x = b.parameter("x", {1, 5, 6, 6});
        const NodeRef l = cst(b, "l", {}, {-1.0f}), h = cst(b, "h", {}, {2.0f});
        const NodeRef ol = cst(b, "ol", {}, {negative ? 2.0f : -1.0f}), oh = cst(b, "oh", {}, {negative ? -1.0f : 2.0f});
        const NodeRef q = b.fake_quantize("fq_x", x, l, h, ol, oh, 256);
        b.result("y", b.max_pool("mp", q, {3, 3}, {2, 2}, {1, 1}, {1, 1}));
        ir::Graph g = b.ir();
        lower(g);
        if (!negative) {
            EXPECT_EQ(g.op_signature(), "Parameter,Quantize,MaxPool,Dequantize,Result") << g.dump();
            ASSERT_TRUE(only(g, Op::MaxPool));
            EXPECT_EQ(only(g, Op::MaxPool)->type, ElemType::u8);
            EXPECT_EQ(only(g, Op::MaxPool)->name, "mp");
            EXPECT_TRUE(fp32_fallback_nodes(g).empty());
        } else {
            EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Dequantize,MaxPool,Result") << g.dump();
            EXPECT_EQ(fp32_fallback_nodes(g), (std::vector<std::string>{"mp"}));
        }
    }
}

TEST(GroupPoolPasses, AvgPoolFusesTheNextFakeQuantize) {
    for (bool next_fq : {true, false}) {
        Graph b;
        const NodeRef x = b.parameter("x", {1, 5, 7, 7});
        const NodeRef q = fq(b, "fq_x", x, -1.0f, 1.0f);
        const NodeRef a = b.avg_pool("ap", q, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, RoundingType::ceil);
        b.result("y", next_fq ? fq(b, "fq_y", a, -0.5f, 0.5f, 16) : a);
        ir::Graph g = b.ir();
        lower(g);
        const ir::Node* p = only(g, Op::QAvgPool);
        ASSERT_TRUE(p) << g.dump();
        EXPECT_FALSE(p->qpool->exclude_pad);
        EXPECT_EQ(p->qpool->g.OH, 4);
        if (next_fq) {
            EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QAvgPool,Dequantize,Result") << g.dump();
            EXPECT_EQ(p->type, ElemType::u8);
            EXPECT_EQ(p->qpool->out.levels, 16);
            EXPECT_EQ(p->qpool->fused_nodes, (std::vector<std::string>{"ap", "fq_y"}));
        } else {
            EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QAvgPool,Result") << g.dump();
            EXPECT_EQ(p->type, ElemType::f32);
        }
    }
}

// ---- compiled graphs: JIT only, == Oracle B, within §4.6 of Oracle A ------------------------------

void expect_agreement(const Graph& g, const Shape& in_shape, uint64_t seed, int64_t min_layer_outputs = 1) {
    CompiledModel m = compile(g, {.threads = 2});
    const std::vector<Tensor> inputs{Tensor::f32(in_shape, zoo::random_input(in_shape, seed, -1.3f, 1.3f))};
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, inputs);
    EXPECT_TRUE(r.all_jit) << "non-JIT step: " << r.fallback << "\n" << m.describe();
    EXPECT_TRUE(r.jit_equals_b) << r.mismatch << "\n" << m.describe();
    EXPECT_EQ(r.violations, 0) << r.first_violation;
    EXPECT_GE(r.layer_outputs, min_layer_outputs);
}

TEST(GroupPoolCompiled, EachOpAloneMatchesBothOracles) {
    uint64_t seed = 1;
    for (bool ceil : {false, true}) {
        {   // MaxPool straight after the input FakeQuantize, result in f32 (Dequantize JIT)
            Graph b;
            const NodeRef x = b.parameter("x", {2, 19, 9, 8});
            b.result("y", b.max_pool("mp", fq(b, "fq_x", x, -1.0f, 1.0f), {3, 3}, {2, 2}, {1, 0}, {1, 1},
                                     ceil ? RoundingType::ceil : RoundingType::floor));
            expect_agreement(b, {2, 19, 9, 8}, seed++);
        }
        for (bool excl : {false, true}) { // AvgPool -> FQ and AvgPool -> f32
            for (bool next : {false, true}) {
                Graph b;
                const NodeRef x = b.parameter("x", {1, 17, 8, 9});
                const NodeRef a = b.avg_pool("ap", fq(b, "fq_x", x, -1.0f, 1.0f, 16), {3, 2}, {2, 2}, {1, 1}, {1, 0}, excl,
                                             ceil ? RoundingType::ceil : RoundingType::floor);
                b.result("y", next ? fq(b, "fq_y", a, -0.6f, 0.7f) : a);
                expect_agreement(b, {1, 17, 8, 9}, seed++);
            }
        }
    }
    for (int64_t mult : {1, 2}) { // depthwise and channel multiplier, stride 2, per-channel FQ out
        Graph b;
        const NodeRef x = b.parameter("x", {1, 11, 9, 9});
        ConvParams p;
        p.strides = {2, 2};
        p.pads_begin = p.pads_end = {1, 1};
        const NodeRef dw = b.group_convolution("dw", fq(b, "fq_x", x, -1.0f, 1.0f), group_weights(b, "w", 11, mult, 1, 3, 21), p);
        std::vector<float> lo, hi;
        for (int64_t c = 0; c < 11 * mult; ++c) lo.push_back(-1.5f + 0.0625f * static_cast<float>(c)), hi.push_back(lo.back() + 3.0f);
        b.result("y", fq_ranges(b, "fq_y", dw, {1, 11 * mult, 1, 1}, lo, hi));
        expect_agreement(b, {1, 11, 9, 9}, seed++);
    }
}

} // namespace
} // namespace qjit
