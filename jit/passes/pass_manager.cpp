#include "jit/passes/pass_manager.hpp"

#include "jit/passes/passes.hpp"
#include "qjit/error.hpp"

namespace qjit {

void lower(ir::Graph& g, const LowerOptions& options) {
    passes::fold_weight_fq(g);
    passes::decompose_activation_fq(g);
    // Concat and the other propagation rules enable each other (a Reshape before a Concat, a Concat
    // of Concats, a Conv after a Concat): run both to a fixed point.
    while (passes::propagate_concat(g) + passes::propagate_dequantize(g) > 0) {
    }
    passes::fuse_requantize(g);
    passes::fuse_eltwise(g);
    passes::fuse_scale_shift(g);
    g.remove_dead();
    if (options.allow_fp32_fallback) return;
    const std::vector<std::string> fp32 = fp32_fallback_nodes(g);
    if (!fp32.empty())
        throw Error(ErrorCode::UnsupportedOp, fp32.front(),
                    "cannot run quantized (" + std::to_string(fp32.size()) +
                        " node(s) would run in fp32) and allow_fp32_fallback is off");
}

std::vector<std::string> fp32_fallback_nodes(const ir::Graph& g) {
    std::vector<std::string> r;
    for (int id : g.topo_order()) {
        const ir::Node& n = g.node(id);
        switch (n.op) {
        case ir::Op::FakeQuantize:
        case ir::Op::Convolution:
        case ir::Op::MatMul:
        case ir::Op::Add:
        case ir::Op::Multiply:
        case ir::Op::Relu:
        case ir::Op::Clamp:
        case ir::Op::GroupConvolution:
        case ir::Op::AvgPool:
        case ir::Op::Subtract:
        case ir::Op::Sigmoid:
        case ir::Op::HardSigmoid:
        case ir::Op::HardSwish:
        case ir::Op::LeakyRelu:
        case ir::Op::Softmax:
        case ir::Op::Pad:
        case ir::Op::Resize:
        case ir::Op::Tile:
            r.push_back(n.name);
            break;
        case ir::Op::MaxPool: // on u8 level indices it is quantized (propagate_dequantize)
            if (n.type == ElemType::f32) r.push_back(n.name);
            break;
        case ir::Op::Concat:    // a u8 Concat is a copy of level indices
        case ir::Op::Transpose: // so is a u8 Transpose
            if (n.type == ElemType::f32) r.push_back(n.name);
            break;
        default:
            break;
        }
    }
    return r;
}

} // namespace qjit
