// Lowering of eltwise Add / Multiply of two quantized tensors, ScaleShift chains and Concat
// (jit/passes/fuse_eltwise.cpp, fuse_scale_shift.cpp, propagate_concat.cpp): the graph structure
// after lower() (dump / op_signature), the descs the passes build, and the cases that must stay on
// the fp32 path.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "jit/eltwise_fold.hpp"
#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "jit/passes/passes.hpp"
#include "jit/quant_params.hpp"
#include "qjit/graph.hpp"

namespace qjit {
namespace {

using ir::Op;

NodeRef cst(Graph& g, const std::string& name, Shape shape, std::vector<float> v) {
    return g.constant(name, Tensor::f32(std::move(shape), v));
}
NodeRef scalar(Graph& g, const std::string& name, float v) { return cst(g, name, {1}, {v}); }

// FakeQuantize with per-tensor ranges (input range = output range).
NodeRef fq(Graph& g, const std::string& name, NodeRef x, float lo, float hi, int64_t L = 256) {
    return g.fake_quantize(name, x, scalar(g, name + ".il", lo), scalar(g, name + ".ih", hi),
                           scalar(g, name + ".ol", lo), scalar(g, name + ".oh", hi), L);
}

// FakeQuantize with per-channel (axis 1) ranges of a rank-4 tensor.
NodeRef fq_pc(Graph& g, const std::string& name, NodeRef x, const std::vector<float>& lo, const std::vector<float>& hi,
              int64_t L = 256) {
    const Shape s{1, static_cast<int64_t>(lo.size()), 1, 1};
    return g.fake_quantize(name, x, cst(g, name + ".il", s, lo), cst(g, name + ".ih", s, hi),
                           cst(g, name + ".ol", s, lo), cst(g, name + ".oh", s, hi), L);
}

// Weights [O, C, 1, 1] through a per-tensor FakeQuantize.
NodeRef weights(Graph& g, const std::string& name, int64_t O, int64_t C) {
    std::vector<float> w(static_cast<size_t>(O * C));
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i * 7 % 13) - 6) / 8.0f;
    return fq(g, name + "_fq", cst(g, name, {O, C, 1, 1}, w), -1.0f, 1.0f, 255);
}

ir::Graph lowered(const Graph& b) {
    ir::Graph g = b.ir();
    lower(g);
    return g;
}

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

TEST(FuseEltwise, AddOfTwoQuantizedTensorsWithDifferentParams) {
    Graph b;
    const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 3, 4, 4}), -1.0f, 1.0f);
    const NodeRef c = fq_pc(b, "fqb", b.parameter("y", {1, 3, 4, 4}), {0, -0.5f, -2}, {2, 0.5f, 1}, 16);
    b.result("r", fq(b, "fqo", b.add("add", a, c), -3.0f, 3.0f));
    const ir::Graph g = lowered(b);
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [1,3,4,4]\n"
              "fqa=Quantize(x) u8 [1,3,4,4]\n"
              "y=Parameter() f32 [1,3,4,4]\n"
              "fqb=Quantize(y) u8 [1,3,4,4]\n"
              "add=QEltwise(fqa,fqb) u8 [1,3,4,4]\n"
              "fqo/dequantize=Dequantize(add) f32 [1,3,4,4]\n"
              "r=Result(fqo/dequantize) f32 [1,3,4,4]\n");
    EXPECT_TRUE(fp32_fallback_nodes(g).empty());
    const QEltwiseDesc& d = *only(g, Op::QEltwise).qelt;
    EXPECT_EQ(d.kind, QEltwiseDesc::Add);
    EXPECT_EQ(d.channels, 3);
    EXPECT_FALSE(d.in0.per_channel());
    EXPECT_TRUE(d.in1.per_channel());
    EXPECT_EQ(d.in1.levels, 16);
    EXPECT_EQ(d.in1.ol.v, (std::vector<float>{0, -0.5f, -2}));
    EXPECT_TRUE(d.out_levels);
    EXPECT_EQ(d.fused_nodes, (std::vector<std::string>{"add", "fqo"}));
    EXPECT_TRUE(d.post.empty());
}

TEST(FuseEltwise, MultiplyBroadcastOperandReluAndScaleShiftFuse) {
    Graph b;
    const NodeRef a = fq(b, "fqa", b.parameter("x", {2, 4, 5, 5}), -1.0f, 1.0f);
    const NodeRef s = fq(b, "fqs", b.parameter("s", {2, 4, 1, 1}), 0.0f, 2.0f);
    NodeRef t = b.multiply("mul", s, a); // the broadcast operand first
    t = b.multiply("scale", t, cst(b, "k", {1, 4, 1, 1}, {1, -2, 0, 0.5f}));
    t = b.add("shift", t, cst(b, "beta", {1, 4, 1, 1}, {0.1f, 0.2f, 0.3f, 0.4f}));
    t = b.relu("relu", t);
    b.result("r", fq(b, "fqo", t, 0.0f, 4.0f));
    const ir::Graph g = lowered(b);
    EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Parameter,Quantize,QEltwise,Dequantize,Result");
    const ir::Node& n = only(g, Op::QEltwise);
    EXPECT_EQ(n.name, "mul");
    EXPECT_EQ(g.node(n.inputs[0]).name, "fqs");
    EXPECT_EQ(g.node(n.inputs[0]).shape, (Shape{2, 4, 1, 1}));
    const QEltwiseDesc& d = *n.qelt;
    EXPECT_EQ(d.kind, QEltwiseDesc::Mul);
    EXPECT_EQ(d.fused_nodes, (std::vector<std::string>{"mul", "scale", "shift", "relu", "fqo"}));
    ASSERT_EQ(d.post.size(), 3u);
    EXPECT_EQ(d.post[0].kind, PostOp::Scale);
    EXPECT_EQ(d.post[1].kind, PostOp::Shift);
    EXPECT_EQ(d.post[2].kind, PostOp::Clamp);
    EXPECT_NO_THROW(fold_eltwise(d));
}

TEST(FuseEltwise, SameTensorOnBothSidesAndFloatOutput) {
    Graph b;
    const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 2, 3, 3}), -1.0f, 1.0f);
    b.result("r", b.add("twice", a, a)); // no FakeQuantize after it: f32 output
    const ir::Graph g = lowered(b);
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [1,2,3,3]\n"
              "fqa=Quantize(x) u8 [1,2,3,3]\n"
              "twice=QEltwise(fqa,fqa) f32 [1,2,3,3]\n"
              "r=Result(twice) f32 [1,2,3,3]\n");
    EXPECT_FALSE(only(g, Op::QEltwise).qelt->out_levels);
}

TEST(FuseEltwise, WhatStaysFloat) {
    {   // one input is not quantized
        Graph b;
        const NodeRef x = b.parameter("x", {1, 2, 3, 3});
        b.result("r", fq(b, "fqo", b.add("add", fq(b, "fqa", x, -1, 1), x), -1, 1));
        EXPECT_EQ(fp32_fallback_nodes(lowered(b)), std::vector<std::string>{"add"});
    }
    {   // ranks differ (numpy broadcast of a lower-rank quantized tensor)
        Graph b;
        const NodeRef x = fq(b, "fqx", b.parameter("x", {1, 2, 3, 3}), -1, 1);
        const NodeRef y = fq(b, "fqy", b.parameter("y", {3, 3}), -1, 1);
        b.result("r", b.add("add", x, y));
        EXPECT_EQ(fp32_fallback_nodes(lowered(b)), std::vector<std::string>{"add"});
    }
    {   // a ScaleShift with no FakeQuantize after it keeps Dequantize's exact values
        Graph b;
        const NodeRef x = fq(b, "fqx", b.parameter("x", {1, 2, 3, 3}), -1, 1);
        b.result("r", b.multiply("mul", x, cst(b, "k", {1, 2, 1, 1}, {2, -1})));
        EXPECT_EQ(fp32_fallback_nodes(lowered(b)), std::vector<std::string>{"mul"});
    }
    {   // the next FakeQuantize has il > ih
        Graph b;
        const NodeRef x = fq(b, "fqx", b.parameter("x", {1, 2, 3, 3}), -1, 1);
        const NodeRef s = b.add("add", x, x);
        b.result("r", b.fake_quantize("fqo", s, scalar(b, "lo", 1), scalar(b, "hi", -1), scalar(b, "ol", -1),
                                      scalar(b, "oh", 1), 256));
        const ir::Graph g = lowered(b);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QEltwise,Quantize,Dequantize,Result");
        EXPECT_FALSE(only(g, Op::QEltwise).qelt->out_levels);
    }
}

TEST(FuseScaleShift, MultiplyAddBetweenTwoFakeQuantizesIsOneAffineRequantize) {
    Graph b;
    const NodeRef a = fq_pc(b, "fqa", b.parameter("x", {1, 4, 3, 3}), {-1, 0, -2, 0.5f}, {1, 2, 2, 1.5f});
    NodeRef t = b.multiply("mul", cst(b, "sigma", {1, 4, 1, 1}, {2, -1, 0, 0.5f}), a);
    t = b.add("add", t, cst(b, "beta", {1}, {0.25f}));
    b.result("r", fq(b, "fqo", t, -2, 2, 16));
    const ir::Graph g = lowered(b);
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [1,4,3,3]\n"
              "fqa=Quantize(x) u8 [1,4,3,3]\n"
              "mul=QEltwise(fqa) u8 [1,4,3,3]\n"
              "fqo/dequantize=Dequantize(mul) f32 [1,4,3,3]\n"
              "r=Result(fqo/dequantize) f32 [1,4,3,3]\n");
    const QEltwiseDesc& d = *only(g, Op::QEltwise).qelt;
    EXPECT_EQ(d.kind, QEltwiseDesc::Affine);
    EXPECT_EQ(d.fused_nodes, (std::vector<std::string>{"mul", "add", "fqo"}));
    ASSERT_EQ(d.post.size(), 2u);
    EXPECT_EQ(d.post[0].v, (std::vector<float>{2, -1, 0, 0.5f}));
    const EltwiseConsts c = fold_eltwise(d);
    EXPECT_EQ(c.a0[2], 0.0f); // zero multiplier: a constant channel
    EXPECT_LT(c.a0[1], 0.0f); // negative multiplier
}

TEST(FuseScaleShift, ReluBetweenFakeQuantizesAndPlainRequantize) {
    {   // Relu that changes values: an Affine with a Clamp post-op (integer bounds)
        Graph b;
        const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 2, 3, 3}), -1, 1);
        b.result("r", fq(b, "fqo", b.relu("relu", a), 0, 1, 16));
        const ir::Graph g = lowered(b);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,QEltwise,Dequantize,Result");
        const EltwiseConsts c = fold_eltwise(*only(g, Op::QEltwise).qelt);
        EXPECT_EQ(c.k_lo[0], 0);
    }
    {   // FQ -> FQ without anything between stays Dequantize + Quantize (exact in A's terms)
        Graph b;
        const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 2, 3, 3}), -1, 1);
        b.result("r", fq(b, "fqo", a, 0, 1, 16));
        EXPECT_EQ(lowered(b).op_signature(), "Parameter,Quantize,Dequantize,Quantize,Dequantize,Result");
    }
}

TEST(PropagateConcat, ChannelAxisConcatenatesPerChannelParams) {
    Graph b;
    const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 2, 3, 3}), -1, 1);
    const NodeRef c = fq_pc(b, "fqb", b.parameter("y", {1, 3, 3, 3}), {0, 0, -4}, {1, 2, 4});
    const NodeRef cat = b.concat("cat", {a, c}, 1);
    const NodeRef other = fq(b, "fqz", b.parameter("z", {1, 5, 3, 3}), -1, 1);
    b.result("r", fq(b, "fqo", b.add("add", cat, other), -3, 3));
    const ir::Graph g = lowered(b);
    EXPECT_EQ(g.dump(),
              "x=Parameter() f32 [1,2,3,3]\n"
              "fqa=Quantize(x) u8 [1,2,3,3]\n"
              "y=Parameter() f32 [1,3,3,3]\n"
              "fqb=Quantize(y) u8 [1,3,3,3]\n"
              "cat=Concat(fqa,fqb) u8 [1,5,3,3]\n"
              "z=Parameter() f32 [1,5,3,3]\n"
              "fqz=Quantize(z) u8 [1,5,3,3]\n"
              "add=QEltwise(cat,fqz) u8 [1,5,3,3]\n"
              "fqo/dequantize=Dequantize(add) f32 [1,5,3,3]\n"
              "r=Result(fqo/dequantize) f32 [1,5,3,3]\n");
    EXPECT_TRUE(fp32_fallback_nodes(g).empty());
    const QEltwiseDesc& d = *only(g, Op::QEltwise).qelt;
    EXPECT_EQ(d.in0.channels, 5);
    EXPECT_EQ(d.in0.ol.v, (std::vector<float>{-1, -1, 0, 0, -4}));
    EXPECT_EQ(d.in0.oh.v, (std::vector<float>{1, 1, 1, 2, 4}));
}

TEST(PropagateConcat, OtherAxesNeedIdenticalParams) {
    {
        Graph b;
        const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 2, 3, 3}), -1, 1);
        const NodeRef c = fq(b, "fqb", b.parameter("y", {1, 2, 4, 3}), -1, 1);
        b.result("r", b.concat("cat", {a, c}, -2));
        const ir::Graph g = lowered(b);
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Parameter,Quantize,Concat,Dequantize,Result");
        EXPECT_EQ(only(g, Op::Concat).type, ElemType::u8);
        EXPECT_EQ(only(g, Op::Concat).concat_axis, 2);
    }
    {
        Graph b;
        const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 2, 3, 3}), -1, 1);
        const NodeRef c = fq(b, "fqb", b.parameter("y", {1, 2, 4, 3}), -1, 2);
        b.result("r", b.concat("cat", {a, c}, 2));
        const ir::Graph g = lowered(b);
        EXPECT_EQ(only(g, Op::Concat).type, ElemType::f32);
        EXPECT_EQ(fp32_fallback_nodes(g), std::vector<std::string>{"cat"});
    }
    {   // different levels along the channel axis
        Graph b;
        const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 2, 3, 3}), -1, 1, 256);
        const NodeRef c = fq(b, "fqb", b.parameter("y", {1, 2, 3, 3}), -1, 1, 16);
        b.result("r", b.concat("cat", {a, c}, 1));
        EXPECT_EQ(fp32_fallback_nodes(lowered(b)), std::vector<std::string>{"cat"});
    }
}

TEST(PropagateConcat, ConvAfterConcatSplitsItsReduction) {
    auto build = [](float hi_b) {
        Graph b;
        const NodeRef a = fq(b, "fqa", b.parameter("x", {1, 2, 3, 3}), -1, 1);  // step 2/255
        const NodeRef c = fq(b, "fqb", b.parameter("y", {1, 3, 3, 3}), 0, hi_b); // step hi_b/255
        const NodeRef cat = b.concat("cat", {a, c}, 1);
        b.result("r", fq(b, "fqo", b.convolution("conv", cat, weights(b, "w", 4, 5)), -2, 2));
        return b;
    };
    {   // equal steps, different offsets: the offsets go into E
        const ir::Graph g = lowered(build(2.0f));
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Parameter,Quantize,Concat,QConv,Dequantize,Result");
        EXPECT_TRUE(fp32_fallback_nodes(g).empty());
    }
    {   // different steps: a QConv with a segment split (spec §8.2)
        const ir::Graph g = lowered(build(1.0f));
        EXPECT_EQ(g.op_signature(), "Parameter,Quantize,Parameter,Quantize,Concat,QConv,Dequantize,Result");
        EXPECT_TRUE(fp32_fallback_nodes(g).empty());
    }
}

} // namespace
} // namespace qjit
