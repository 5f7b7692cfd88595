// qjit::Graph builder validation: every rejected call throws qjit::Error with the right code and
// node() equal to the name of the node being built, adds no node, and never crashes. Also checks the
// inferred shapes of accepted calls and that a copied Graph is independent of the original.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "jit/ir.hpp"
#include "qjit/graph.hpp"

namespace {

using qjit::Broadcast;
using qjit::ConvParams;
using qjit::ElemType;
using qjit::ErrorCode;
using qjit::NodeRef;
using qjit::Shape;
using qjit::Tensor;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Runs `stmt`, which must throw qjit::Error(code) naming `node`, and must not add a node to g.
#define EXPECT_QJIT_ERROR(g, stmt, code_, node_)                                                        \
    do {                                                                                                \
        const int before_ = (g).ir().size();                                                            \
        try {                                                                                           \
            stmt;                                                                                       \
            ADD_FAILURE() << "no qjit::Error from: " #stmt;                                             \
        } catch (const qjit::Error& e_) {                                                               \
            EXPECT_EQ(e_.code(), (code_)) << #stmt << " -> " << e_.what();                              \
            EXPECT_EQ(e_.node(), (node_)) << #stmt << " -> " << e_.what();                              \
        } catch (const std::exception& e_) {                                                            \
            ADD_FAILURE() << #stmt << " threw a non-qjit exception: " << e_.what();                     \
        }                                                                                               \
        EXPECT_EQ((g).ir().size(), before_) << #stmt << " added a node";                                \
    } while (0)

// prefix + number (spelled out: GCC 12 warns falsely on "literal" + std::to_string)
std::string numbered(const char* prefix, int64_t n) {
    std::string r(prefix);
    r += std::to_string(n);
    return r;
}

Tensor filled(Shape s, float v) {
    Tensor t(ElemType::f32, std::move(s));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
    return t;
}

class Builder : public ::testing::Test {
protected:
    qjit::Graph g;
    NodeRef x, lo, hi, u8c, res;
    void SetUp() override {
        x = g.parameter("x", {1, 3, 8, 8});
        lo = g.constant("lo", Tensor::f32({}, {0.0f}));
        hi = g.constant("hi", Tensor::f32({}, {1.0f}));
        u8c = g.constant("u8c", Tensor::u8({1, 3, 8, 8}, std::vector<uint8_t>(192, 1)));
        res = g.result("res", x);
    }
};

// ---- all ops --------------------------------------------------------------------------------

TEST_F(Builder, EmptyName) {
    EXPECT_QJIT_ERROR(g, g.parameter("", {1}), ErrorCode::InvalidArgument, "");
    EXPECT_QJIT_ERROR(g, g.constant("", Tensor::f32({}, {1.0f})), ErrorCode::InvalidArgument, "");
    EXPECT_QJIT_ERROR(g, g.relu("", x), ErrorCode::InvalidArgument, "");
    EXPECT_QJIT_ERROR(g, g.add("", x, x), ErrorCode::InvalidArgument, "");
    EXPECT_QJIT_ERROR(g, g.fake_quantize("", x, lo, hi, lo, hi, 256), ErrorCode::InvalidArgument, "");
    EXPECT_QJIT_ERROR(g, g.result("", x), ErrorCode::InvalidArgument, "");
}

TEST_F(Builder, UnknownInputIds) {
    const NodeRef none{}, far{999};
    EXPECT_QJIT_ERROR(g, g.relu("r", none), ErrorCode::InvalidArgument, "r");
    EXPECT_QJIT_ERROR(g, g.relu("r", far), ErrorCode::InvalidArgument, "r");
    EXPECT_QJIT_ERROR(g, g.add("a", x, far), ErrorCode::InvalidArgument, "a");
    EXPECT_QJIT_ERROR(g, g.multiply("m", none, x), ErrorCode::InvalidArgument, "m");
    EXPECT_QJIT_ERROR(g, g.matmul("mm", x, far), ErrorCode::InvalidArgument, "mm");
    EXPECT_QJIT_ERROR(g, g.convolution("conv", far, x), ErrorCode::InvalidArgument, "conv");
    EXPECT_QJIT_ERROR(g, g.clamp("c", far, 0, 1), ErrorCode::InvalidArgument, "c");
    EXPECT_QJIT_ERROR(g, g.reshape("rs", far, {-1}), ErrorCode::InvalidArgument, "rs");
    EXPECT_QJIT_ERROR(g, g.result("out", far), ErrorCode::InvalidArgument, "out");
    for (int bad = 0; bad < 5; ++bad) {
        NodeRef in[5] = {x, lo, hi, lo, hi};
        in[bad] = far;
        EXPECT_QJIT_ERROR(g, g.fake_quantize("fq", in[0], in[1], in[2], in[3], in[4], 256),
                          ErrorCode::InvalidArgument, "fq");
    }
}

TEST_F(Builder, ResultHasNoConsumers) {
    EXPECT_QJIT_ERROR(g, g.relu("r", res), ErrorCode::InvalidArgument, "r");
    EXPECT_QJIT_ERROR(g, g.result("out2", res), ErrorCode::InvalidArgument, "out2");
}

TEST_F(Builder, NonF32InputsAreUnsupported) {
    EXPECT_QJIT_ERROR(g, g.relu("r", u8c), ErrorCode::UnsupportedOp, "r");
    EXPECT_QJIT_ERROR(g, g.clamp("c", u8c, 0, 1), ErrorCode::UnsupportedOp, "c");
    EXPECT_QJIT_ERROR(g, g.add("a", x, u8c), ErrorCode::UnsupportedOp, "a");
    EXPECT_QJIT_ERROR(g, g.multiply("m", u8c, x), ErrorCode::UnsupportedOp, "m");
    EXPECT_QJIT_ERROR(g, g.reshape("rs", u8c, {-1}), ErrorCode::UnsupportedOp, "rs");
    EXPECT_QJIT_ERROR(g, g.result("out", u8c), ErrorCode::UnsupportedOp, "out");
    const NodeRef s8w = g.constant("s8w", Tensor::s8({4, 3, 1, 1}, std::vector<int8_t>(12, 1)));
    EXPECT_QJIT_ERROR(g, g.convolution("conv", x, s8w), ErrorCode::UnsupportedOp, "conv");
    const NodeRef s32m = g.constant("s32m", Tensor::s32({8, 2}, std::vector<int32_t>(16, 1)));
    EXPECT_QJIT_ERROR(g, g.matmul("mm", x, s32m), ErrorCode::UnsupportedOp, "mm");
    // FakeQuantize: x and each of the four ranges
    EXPECT_QJIT_ERROR(g, g.fake_quantize("fq", u8c, lo, hi, lo, hi, 256), ErrorCode::UnsupportedOp, "fq");
    const NodeRef s32r = g.constant("s32r", Tensor::s32({}, {0}));
    for (int bad = 1; bad < 5; ++bad) {
        NodeRef in[5] = {x, lo, hi, lo, hi};
        in[bad] = s32r;
        EXPECT_QJIT_ERROR(g, g.fake_quantize("fq", in[0], in[1], in[2], in[3], in[4], 256),
                          ErrorCode::UnsupportedOp, "fq");
    }
}

// ---- Parameter / Constant -----------------------------------------------------------------------

TEST_F(Builder, ParameterChecks) {
    EXPECT_QJIT_ERROR(g, g.parameter("p", {1, 0, 4}), ErrorCode::InvalidArgument, "p");
    EXPECT_QJIT_ERROR(g, g.parameter("p", {-1, 4}), ErrorCode::InvalidArgument, "p");
    EXPECT_QJIT_ERROR(g, g.parameter("p", {1, 4}, ElemType::u8), ErrorCode::UnsupportedOp, "p");
    EXPECT_QJIT_ERROR(g, g.parameter("p", {1, 4}, ElemType::s8), ErrorCode::UnsupportedOp, "p");
    EXPECT_QJIT_ERROR(g, g.parameter("p", {1, 4}, ElemType::s32), ErrorCode::UnsupportedOp, "p");
    const NodeRef scalar = g.parameter("scalar", {});
    EXPECT_EQ(g.shape_of(scalar), Shape{});
    EXPECT_EQ(g.type_of(scalar), ElemType::f32);
}

TEST_F(Builder, ConstantChecks) {
    EXPECT_QJIT_ERROR(g, g.constant("k", Tensor{}), ErrorCode::InvalidArgument, "k");
    EXPECT_QJIT_ERROR(g, g.constant("k", Tensor(ElemType::f32, {2, 0})), ErrorCode::InvalidArgument, "k");
    // any element type is a legal constant; NaN is legal outside FakeQuantize ranges
    EXPECT_EQ(g.type_of(g.constant("k8", Tensor::s8({2}, {1, -1}))), ElemType::s8);
    EXPECT_EQ(g.type_of(g.constant("k32", Tensor::s32({2}, {1, -1}))), ElemType::s32);
    EXPECT_NO_THROW(g.constant("knan", Tensor::f32({1}, {kNaN})));
}

// ---- FakeQuantize -------------------------------------------------------------------------------

TEST_F(Builder, FakeQuantizeLevels) {
    for (int64_t L : std::initializer_list<int64_t>{-5, 0, 1, 257, 65536, int64_t{1} << 32})
        EXPECT_QJIT_ERROR(g, g.fake_quantize("fq", x, lo, hi, lo, hi, L), ErrorCode::InvalidLevels, "fq");
    EXPECT_NO_THROW(g.fake_quantize("fq2", x, lo, hi, lo, hi, 2));
    EXPECT_NO_THROW(g.fake_quantize("fq256", x, lo, hi, lo, hi, 256));
}

TEST_F(Builder, FakeQuantizePdpdIsUnsupported) {
    EXPECT_QJIT_ERROR(g, g.fake_quantize("fq", x, lo, hi, lo, hi, 256, Broadcast::pdpd), ErrorCode::UnsupportedOp,
                      "fq");
}

TEST_F(Builder, FakeQuantizeNonFiniteConstantRange) {
    for (float bad : {kNaN, kInf, -kInf}) {
        // per-channel range with one bad channel
        const NodeRef c = g.constant(numbered("bad", g.ir().size()), Tensor::f32({1, 3, 1, 1}, {0.0f, bad, 1.0f}));
        for (int slot = 1; slot < 5; ++slot) {
            NodeRef in[5] = {x, lo, hi, lo, hi};
            in[slot] = c;
            EXPECT_QJIT_ERROR(g, g.fake_quantize("fq", in[0], in[1], in[2], in[3], in[4], 256),
                              ErrorCode::NonFiniteRange, "fq");
        }
    }
}

TEST_F(Builder, FakeQuantizeNonConstantRangesAreLegal) {
    const NodeRef p = g.parameter("p_il", {1, 3, 1, 1});
    const NodeRef derived = g.add("derived_ih", p, hi);
    const NodeRef fq = g.fake_quantize("fq", x, p, derived, lo, hi, 256);
    EXPECT_EQ(g.shape_of(fq), (Shape{1, 3, 8, 8}));
}

TEST_F(Builder, FakeQuantizeRangeShapes) {
    auto c = [&](Shape s) { return g.constant(numbered("r", g.ir().size()), filled(s, 0.5f)); };
    const NodeRef bad_ranges[] = {c({3}), c({1, 4, 1, 1}), c({1, 1, 3, 1, 1}), c({2, 3, 1, 1}), c({8, 1, 1, 1, 1})};
    for (const NodeRef r : bad_ranges)
        for (int slot = 1; slot < 5; ++slot) {
            NodeRef in[5] = {x, lo, hi, lo, hi};
            in[slot] = r;
            EXPECT_QJIT_ERROR(g, g.fake_quantize("fq", in[0], in[1], in[2], in[3], in[4], 256),
                              ErrorCode::ShapeMismatch, "fq");
        }
    // numpy: every layout of spec §1.3 / §5.4 that stretches to x
    for (Shape s : {Shape{}, Shape{1}, Shape{8}, Shape{1, 3, 1, 1}, Shape{3, 1, 1}, Shape{1, 3, 8, 8}, Shape{1, 1, 1, 8}})
        EXPECT_NO_THROW(g.fake_quantize(numbered("ok", g.ir().size()), x, c(s), hi, lo, hi, 256))
            << qjit::to_string(s);
    // none: equal shapes only
    const NodeRef per_channel = c({1, 3, 1, 1});
    EXPECT_QJIT_ERROR(g, g.fake_quantize("fq", x, per_channel, hi, lo, hi, 256, Broadcast::none),
                      ErrorCode::ShapeMismatch, "fq");
    const NodeRef full = c({1, 3, 8, 8});
    EXPECT_NO_THROW(g.fake_quantize("fq_none", x, full, full, full, full, 16, Broadcast::none));
}

// ---- Convolution --------------------------------------------------------------------------------

TEST_F(Builder, ConvolutionChecks) {
    const NodeRef w = g.constant("w", filled({4, 3, 3, 3}, 0.1f));
    const NodeRef x3 = g.parameter("x3", {3, 8, 8});
    const NodeRef w2 = g.constant("w2", filled({4, 3}, 0.1f));
    const NodeRef w5ch = g.constant("w5ch", filled({4, 5, 3, 3}, 0.1f));
    const NodeRef wbig = g.constant("wbig", filled({4, 3, 9, 1}, 0.1f));
    EXPECT_QJIT_ERROR(g, g.convolution("conv", x3, w), ErrorCode::ShapeMismatch, "conv");
    EXPECT_QJIT_ERROR(g, g.convolution("conv", x, w2), ErrorCode::ShapeMismatch, "conv");
    EXPECT_QJIT_ERROR(g, g.convolution("conv", x, w5ch), ErrorCode::ShapeMismatch, "conv");
    EXPECT_QJIT_ERROR(g, g.convolution("conv", x, wbig), ErrorCode::ShapeMismatch, "conv");

    auto with = [](auto f) {
        ConvParams p;
        f(p);
        return p;
    };
    const ConvParams bad_params[] = {
        with([](ConvParams& p) { p.strides = {0, 1}; }),
        with([](ConvParams& p) { p.strides = {1}; }),
        with([](ConvParams& p) { p.dilations = {1, 0}; }),
        with([](ConvParams& p) { p.dilations = {1, 1, 1}; }),
        with([](ConvParams& p) { p.pads_begin = {-1, 0}; }),
        with([](ConvParams& p) { p.pads_end = {0, 0, 0}; }),
        with([](ConvParams& p) { p.pads_end = {0, -2}; }),
    };
    for (const ConvParams& p : bad_params)
        EXPECT_QJIT_ERROR(g, g.convolution("conv", x, w, p), ErrorCode::InvalidArgument, "conv");
    // the dilated kernel (span 9) does not fit 8 rows; with one pad row it does
    const ConvParams dil4 = with([](ConvParams& p) { p.dilations = {4, 1}; });
    EXPECT_QJIT_ERROR(g, g.convolution("conv", x, w, dil4), ErrorCode::ShapeMismatch, "conv");
    const ConvParams dil4pad = with([](ConvParams& p) { p.dilations = {4, 1}; p.pads_end = {1, 0}; });
    EXPECT_EQ(g.shape_of(g.convolution("conv_dil", x, w, dil4pad)), (Shape{1, 4, 1, 6}));
    // stride 2, pad 1: (8 + 2 - 3) / 2 + 1 = 4
    const ConvParams s2 = with([](ConvParams& p) { p.strides = {2, 2}; p.pads_begin = {1, 1}; p.pads_end = {1, 1}; });
    EXPECT_EQ(g.shape_of(g.convolution("conv_s2", x, w, s2)), (Shape{1, 4, 4, 4}));
    // non-constant weights are legal in the float graph
    const NodeRef wp = g.parameter("wp", {2, 3, 1, 1});
    EXPECT_EQ(g.shape_of(g.convolution("conv_wp", x, wp)), (Shape{1, 2, 8, 8}));
}

// ---- MatMul -------------------------------------------------------------------------------------

TEST_F(Builder, MatMulChecks) {
    const NodeRef v = g.parameter("v", {4});
    const NodeRef a = g.parameter("a", {3, 4});
    const NodeRef b = g.parameter("b", {5, 6});
    const NodeRef bt = g.parameter("bt", {6, 4});
    const NodeRef a3 = g.parameter("a3", {2, 3, 4});
    const NodeRef b3 = g.parameter("b3", {3, 4, 5});
    EXPECT_QJIT_ERROR(g, g.matmul("mm", v, a), ErrorCode::ShapeMismatch, "mm");
    EXPECT_QJIT_ERROR(g, g.matmul("mm", a, v), ErrorCode::ShapeMismatch, "mm");
    EXPECT_QJIT_ERROR(g, g.matmul("mm", a, b), ErrorCode::ShapeMismatch, "mm");              // K 4 vs 5
    EXPECT_QJIT_ERROR(g, g.matmul("mm", a, bt), ErrorCode::ShapeMismatch, "mm");             // K 4 vs 6
    EXPECT_QJIT_ERROR(g, g.matmul("mm", a, a), ErrorCode::ShapeMismatch, "mm");              // K 4 vs 3
    EXPECT_QJIT_ERROR(g, g.matmul("mm", a3, b3), ErrorCode::ShapeMismatch, "mm");            // batch 2 vs 3
    EXPECT_EQ(g.shape_of(g.matmul("mm_t", a, bt, false, true)), (Shape{3, 6}));
    EXPECT_EQ(g.shape_of(g.matmul("mm_ta", a, a, true, false)), (Shape{4, 4}));
    const NodeRef a4 = g.parameter("a4", {2, 1, 3, 4});
    const NodeRef b3k = g.parameter("b3k", {5, 4, 6});
    EXPECT_EQ(g.shape_of(g.matmul("mm_b", a4, b3k)), (Shape{2, 5, 3, 6}));
    EXPECT_EQ(g.shape_of(g.matmul("mm_2x3", a, b3k)), (Shape{5, 3, 6}));
}

// ---- Add / Multiply / Relu / Clamp / Reshape / Result -------------------------------------------

TEST_F(Builder, EltwiseBroadcast) {
    const NodeRef v4 = g.constant("v4", filled({4}, 1.0f));
    const NodeRef c3 = g.constant("c3", filled({3, 1, 1}, 1.0f));
    const NodeRef row = g.constant("row", filled({2, 1, 1, 1, 1}, 1.0f));
    EXPECT_QJIT_ERROR(g, g.add("add", x, v4), ErrorCode::ShapeMismatch, "add");
    EXPECT_QJIT_ERROR(g, g.multiply("mul", v4, x), ErrorCode::ShapeMismatch, "mul");
    EXPECT_EQ(g.shape_of(g.add("add_c", x, c3)), (Shape{1, 3, 8, 8}));
    EXPECT_EQ(g.shape_of(g.multiply("mul_r", row, x)), (Shape{2, 1, 3, 8, 8}));
    EXPECT_EQ(g.shape_of(g.add("x_plus_x", x, x)), (Shape{1, 3, 8, 8}));
}

TEST_F(Builder, ClampChecks) {
    EXPECT_QJIT_ERROR(g, g.clamp("c", x, kNaN, 1.0f), ErrorCode::InvalidArgument, "c");
    EXPECT_QJIT_ERROR(g, g.clamp("c", x, 0.0f, kNaN), ErrorCode::InvalidArgument, "c");
    EXPECT_QJIT_ERROR(g, g.clamp("c", x, 2.0f, 1.0f), ErrorCode::InvalidArgument, "c");
    EXPECT_NO_THROW(g.clamp("c_inf", x, -kInf, kInf));
    EXPECT_NO_THROW(g.clamp("c_eq", x, 0.5f, 0.5f));
    const NodeRef c = g.clamp("c_ok", x, 0.0f, 6.0f);
    EXPECT_EQ(g.ir().node(c.id).clamp_lo, 0.0f);
    EXPECT_EQ(g.ir().node(c.id).clamp_hi, 6.0f);
}

TEST_F(Builder, ReshapeChecks) {
    EXPECT_QJIT_ERROR(g, g.reshape("rs", x, {-1, -1}), ErrorCode::InvalidArgument, "rs");
    EXPECT_QJIT_ERROR(g, g.reshape("rs", x, {-2, 96}), ErrorCode::InvalidArgument, "rs");
    EXPECT_QJIT_ERROR(g, g.reshape("rs", x, {1, 3, 8, 8, 0}), ErrorCode::InvalidArgument, "rs");
    EXPECT_QJIT_ERROR(g, g.reshape("rs", x, {1, 100}), ErrorCode::ShapeMismatch, "rs");
    EXPECT_QJIT_ERROR(g, g.reshape("rs", x, {5, -1}), ErrorCode::ShapeMismatch, "rs");
    EXPECT_EQ(g.shape_of(g.reshape("flat", x, {0, -1})), (Shape{1, 192}));
    EXPECT_EQ(g.shape_of(g.reshape("keep", x, {0, 0, -1})), (Shape{1, 3, 64}));
    EXPECT_EQ(g.shape_of(g.reshape("all", x, {-1})), (Shape{192}));
    EXPECT_EQ(g.shape_of(g.reshape("explicit", x, {3, 64})), (Shape{3, 64}));
}

TEST_F(Builder, NodesCarryTypeShapeAndInputs) {
    const NodeRef fq = g.fake_quantize("fq", x, lo, hi, lo, hi, 255);
    const NodeRef r = g.relu("relu", fq);
    const NodeRef out = g.result("out", r);
    const qjit::ir::Node& n = g.ir().node(fq.id);
    EXPECT_EQ(n.op, qjit::ir::Op::FakeQuantize);
    EXPECT_EQ(n.name, "fq");
    EXPECT_EQ(n.levels, 255);
    EXPECT_EQ(n.broadcast, Broadcast::numpy);
    EXPECT_EQ(n.inputs, (std::vector<int>{x.id, lo.id, hi.id, lo.id, hi.id}));
    EXPECT_EQ(n.type, ElemType::f32);
    EXPECT_EQ(n.shape, (Shape{1, 3, 8, 8}));
    EXPECT_EQ(g.ir().node(out.id).inputs, std::vector<int>{r.id});
    EXPECT_EQ(g.shape_of(out), (Shape{1, 3, 8, 8}));
}

// ---- handles, copies, moves ---------------------------------------------------------------------

TEST_F(Builder, BadHandlesInAccessors) {
    EXPECT_QJIT_ERROR(g, g.shape_of(NodeRef{42}), ErrorCode::InvalidArgument, "<node id 42>");
    EXPECT_QJIT_ERROR(g, g.type_of(NodeRef{-1}), ErrorCode::InvalidArgument, "<node id -1>");
}

TEST_F(Builder, CopyIsDeepAndMovedFromThrows) {
    qjit::Graph copy = g;
    const int size = g.ir().size();
    copy.relu("only_in_copy", x);
    EXPECT_EQ(g.ir().size(), size);
    EXPECT_EQ(copy.ir().size(), size + 1);
    qjit::Graph assigned;
    assigned = copy;
    assigned.relu("only_in_assigned", x);
    EXPECT_EQ(copy.ir().size(), size + 1);

    qjit::Graph moved = std::move(copy);
    EXPECT_EQ(moved.ir().size(), size + 1);
    try {
        copy.relu("after_move", x); // NOLINT(bugprone-use-after-move): checked on purpose
        ADD_FAILURE() << "moved-from graph accepted a node";
    } catch (const qjit::Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
        EXPECT_EQ(e.node(), "after_move");
    }
    copy = moved; // a moved-from graph can be assigned again
    EXPECT_EQ(copy.ir().size(), size + 1);
}

// Random builder calls with random handles, shapes and attributes: each either succeeds or throws
// qjit::Error; anything else (another exception type, a crash) fails the test.
TEST(BuilderFuzz, OnlyQjitErrors) {
    std::mt19937 rng(7);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    auto rand_shape = [&]() {
        Shape s(static_cast<size_t>(pick(5)));
        for (int64_t& d : s) d = pick(6) - 1; // -1..4
        return s;
    };
    qjit::Graph g;
    int accepted = 0, rejected = 0;
    for (int i = 0; i < 3000; ++i) {
        const std::string name = numbered("n", i);
        auto ref = [&]() { return NodeRef{pick(g.ir().size() + 3) - 1}; };
        try {
            switch (pick(12)) {
            case 0: g.parameter(name, rand_shape()); break;
            case 1: {
                Shape s = rand_shape();
                for (int64_t& d : s) d = d < 1 ? 1 : d;
                Tensor t(ElemType::f32, s);
                for (int64_t e = 0; e < t.numel(); ++e) t.data<float>()[e] = static_cast<float>(pick(7)) - 3.0f;
                if (pick(10) == 0 && t.numel() > 0) t.data<float>()[0] = kNaN;
                g.constant(name, std::move(t));
                break;
            }
            case 2:
                g.fake_quantize(name, ref(), ref(), ref(), ref(), ref(), pick(300) - 20,
                                static_cast<Broadcast>(pick(3)));
                break;
            case 3: {
                ConvParams p;
                p.strides = {pick(3), pick(3)};
                p.pads_begin = {pick(3) - 1, pick(2)};
                p.dilations = {1 + pick(2), pick(3)};
                g.convolution(name, ref(), ref(), p);
                break;
            }
            case 4: g.matmul(name, ref(), ref(), pick(2), pick(2)); break;
            case 5: g.add(name, ref(), ref()); break;
            case 6: g.multiply(name, ref(), ref()); break;
            case 7: g.relu(name, ref()); break;
            case 8: g.clamp(name, ref(), static_cast<float>(pick(5)) - 2, static_cast<float>(pick(5)) - 2); break;
            case 9: g.reshape(name, ref(), rand_shape()); break;
            case 10: g.result(name, ref()); break;
            default: g.shape_of(ref()); g.type_of(ref()); break;
            }
            ++accepted;
        } catch (const qjit::Error&) {
            ++rejected;
        }
    }
    EXPECT_GT(accepted, 100);
    EXPECT_GT(rejected, 100);
    // every accepted node has a shape with positive dims and the inputs it names exist
    for (const qjit::ir::Node& n : g.ir().nodes()) {
        for (int64_t d : n.shape) EXPECT_GE(d, 1) << n.name;
        for (int in : n.inputs) EXPECT_LT(in, n.id) << n.name;
    }
}

} // namespace
