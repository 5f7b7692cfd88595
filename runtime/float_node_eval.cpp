#include "runtime/float_node_eval.hpp"

#include "runtime/ref_ops.hpp"
#include "runtime/ref_ops_extra.hpp"

namespace qjit::ref {

Tensor eval_float_node(const ir::Node& n, const std::vector<const Tensor*>& in, bool fp64) {
    auto need = [&](size_t count) {
        if (in.size() != count)
            throw Error(ErrorCode::Internal, n.name, "wrong number of inputs for " + std::string(ir::to_string(n.op)));
    };
    switch (n.op) {
    case ir::Op::FakeQuantize:
        if (in.size() != 7) need(5); // 7: ONNX rounding (scale, offset)
        return fake_quantize(*in[0], *in[1], *in[2], *in[3], *in[4], static_cast<int>(n.levels),
                             in.size() == 7 ? in[5] : nullptr, in.size() == 7 ? in[6] : nullptr);
    case ir::Op::Convolution: need(2); return conv2d(*in[0], *in[1], n.conv, fp64);
    case ir::Op::GroupConvolution: need(2); return group_conv2d(*in[0], *in[1], n.conv, fp64);
    case ir::Op::MaxPool: need(1); return max_pool2d(*in[0], n.pool);
    case ir::Op::AvgPool: need(1); return avg_pool2d(*in[0], n.pool, fp64);
    case ir::Op::MatMul: need(2); return matmul(*in[0], *in[1], n.transpose_a, n.transpose_b, fp64);
    case ir::Op::Add: need(2); return add(*in[0], *in[1]);
    case ir::Op::Multiply: need(2); return multiply(*in[0], *in[1]);
    case ir::Op::Relu: need(1); return relu(*in[0]);
    case ir::Op::Clamp: need(1); return clamp(*in[0], n.clamp_lo, n.clamp_hi);
    case ir::Op::Reshape: need(1); return reshape(*in[0], n.shape);
    case ir::Op::Concat: return concat(in, n.concat_axis);
    case ir::Op::Subtract: need(2); return subtract(*in[0], *in[1]);
    case ir::Op::Sigmoid: need(1); return sigmoid(*in[0]);
    case ir::Op::HardSigmoid: need(1); return hard_sigmoid(*in[0], n.alpha, n.beta);
    case ir::Op::HardSwish: need(1); return hard_swish(*in[0]);
    case ir::Op::LeakyRelu: need(1); return leaky_relu(*in[0], n.alpha);
    case ir::Op::Softmax: need(1); return softmax(*in[0], n.axis);
    case ir::Op::Transpose: need(1); return transpose(*in[0], n.ints);
    case ir::Op::Pad: {
        need(1);
        const size_t r = n.ints.size() / 2;
        return pad(*in[0], {n.ints.begin(), n.ints.begin() + static_cast<long>(r)},
                   {n.ints.begin() + static_cast<long>(r), n.ints.end()}, n.alpha);
    }
    case ir::Op::Resize: need(1); return resize(*in[0], n.shape, n.resize);
    case ir::Op::Tile: need(1); return tile(*in[0], n.ints);
    default:
        throw Error(ErrorCode::Internal, n.name, std::string("not a float compute op: ") + ir::to_string(n.op));
    }
}

Tensor eval_float_node(const ir::Graph&, const ir::Node& n, const std::vector<Tensor>& values, bool fp64) {
    std::vector<const Tensor*> in;
    for (int id : n.inputs) in.push_back(&values[static_cast<size_t>(id)]);
    return eval_float_node(n, in, fp64);
}

} // namespace qjit::ref
