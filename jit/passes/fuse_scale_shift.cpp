// Pass 6: ScaleShift between two FakeQuantizes (spec §3 ScaleShift row, §4.2): a chain
//   Dequantize(k) -> (Multiply / Add by a per-channel Constant, Relu, Clamp)+ -> Quantize
// in which every node but the Dequantize has a single consumer becomes one QEltwise of kind Affine
// (a per-channel affine requantize with the chain as post-ops): negative multipliers flip the clamp
// bounds, a zero multiplier makes the channel constant. A Dequantize -> Quantize pair without
// anything between stays as it is (fuse_requantize drops it when it is the identity; otherwise the
// two elementwise kernels compute exactly what Oracle A computes). A ScaleShift after a QConv is
// already a QConv post-op (propagate_dequantize (c)).
#include <memory>

#include "jit/eltwise_fold.hpp"
#include "jit/passes/pass_util.hpp"
#include "jit/passes/passes.hpp"
#include "jit/quant_params.hpp"
#include "qjit/error.hpp"

namespace qjit::passes {
namespace {

bool fuse_chain(ir::Graph& g, int did, int first) {
    const ir::Node d = g.node(did);
    QEltwiseDesc desc;
    desc.kind = QEltwiseDesc::Affine;
    desc.channels = d.shape[1];
    desc.in0 = *d.act;
    int cur = did, x = first;
    while (g.node(x).op != ir::Op::Quantize) {
        PostOp op;
        if (!detail::post_op_of(g, g.node(x), cur, d.shape, &op)) return false;
        desc.post.push_back(std::move(op));
        desc.fused_nodes.push_back(g.node(x).name);
        cur = x;
        x = detail::single_consumer(g, x);
        if (x < 0) return false;
    }
    if (desc.post.empty()) return false;
    const ir::Node q = g.node(x);
    if (q.inputs.size() != 1 || q.shape != d.shape) return false;
    if (q.act->per_channel() && q.act->channels != desc.channels) return false;
    desc.out_levels = true;
    desc.out = *q.act;
    desc.fused_nodes.push_back(q.name);
    try {
        (void)fold_eltwise(desc);
    } catch (const Error&) {
        return false;
    }
    ir::Node n;
    n.op = ir::Op::QEltwise;
    n.name = desc.fused_nodes.front();
    n.inputs = {d.inputs[0]};
    n.type = ElemType::u8;
    n.shape = d.shape;
    n.qelt = std::make_shared<const QEltwiseDesc>(std::move(desc));
    const int nid = g.add(std::move(n));
    g.replace_uses(x, nid);
    g.remove_dead();
    return true;
}

bool step(ir::Graph& g) {
    for (int id : g.topo_order()) {
        const ir::Node& n = g.node(id);
        if (n.op != ir::Op::Dequantize || n.inputs.size() != 1 || !n.act || n.shape.size() < 2) continue;
        for (int x : g.consumers(id))
            if (fuse_chain(g, id, x)) return true;
    }
    return false;
}

} // namespace

int fuse_scale_shift(ir::Graph& g) {
    int n = 0;
    while (step(g)) ++n;
    return n;
}

} // namespace qjit::passes
