// Pass 5: quantized elementwise Add / Multiply of two quantized tensors (spec §3, §4.2).
//  (a) Add / Multiply(Dequantize(k0), Dequantize(k1))   => QEltwise(k0, k1) with f32 output: each
//      input keeps its own (per-tensor or per-channel) params; numpy broadcast of either input
//      (equal ranks); the same tensor on both sides (x + x, x * x) reads one u8 tensor twice.
//  (b) QEltwise(f32) -> Add / Multiply const per channel, Relu, Clamp (its only consumer)
//      => the QEltwise with a Shift / Scale / Clamp post-op.
//  (c) QEltwise(f32) -> Quantize (its only consumer) => QEltwise with u8 levels of that FakeQuantize.
// Every rewrite is validated with fold_eltwise; when it throws the graph is left as it was.
#include <memory>

#include "jit/eltwise_fold.hpp"
#include "jit/passes/pass_util.hpp"
#include "jit/passes/passes.hpp"
#include "jit/quant_params.hpp"
#include "qjit/error.hpp"

namespace qjit::passes {
namespace {

bool eltwise_folds(const QEltwiseDesc& d) {
    try {
        (void)fold_eltwise(d);
        return true;
    } catch (const Error&) {
        return false;
    }
}

int add_qeltwise(ir::Graph& g, const std::string& name, std::vector<int> inputs, const Shape& shape,
                 QEltwiseDesc desc) {
    ir::Node n;
    n.op = ir::Op::QEltwise;
    n.name = name;
    n.inputs = std::move(inputs);
    n.type = desc.out_levels ? ElemType::u8 : ElemType::f32;
    n.shape = shape;
    n.qelt = std::make_shared<const QEltwiseDesc>(std::move(desc));
    return g.add(std::move(n));
}

// An input whose ActQuant fits an output with C channels (a broadcast input has one channel and
// per-tensor params).
bool input_fits(const ir::Node& d, const Shape& out) {
    if (d.shape.size() != out.size()) return false;
    const ActQuant& a = *d.act;
    return !a.per_channel() || (a.channels == d.shape[1] && d.shape[1] == out[1]);
}

// ---- (a) ----------------------------------------------------------------------------------
bool to_qeltwise(ir::Graph& g, int xid) {
    const ir::Node x = g.node(xid);
    if (x.inputs.size() != 2 || x.shape.size() < 2 || x.shape.size() > 4) return false;
    const ir::Node& d0 = g.node(x.inputs[0]);
    const ir::Node& d1 = g.node(x.inputs[1]);
    for (const ir::Node* d : {&d0, &d1})
        if (d->dead || d->op != ir::Op::Dequantize || d->inputs.size() != 1 || !d->act || !input_fits(*d, x.shape))
            return false;
    QEltwiseDesc desc;
    desc.kind = x.op == ir::Op::Add ? QEltwiseDesc::Add : QEltwiseDesc::Mul;
    desc.channels = x.shape[1];
    desc.in0 = *d0.act;
    desc.in1 = *d1.act;
    desc.out_levels = false;
    desc.fused_nodes = {x.name};
    if (!eltwise_folds(desc)) return false;
    const int nid = add_qeltwise(g, x.name, {d0.inputs[0], d1.inputs[0]}, x.shape, std::move(desc));
    g.replace_uses(xid, nid);
    g.remove_dead();
    return true;
}

// ---- (b) ----------------------------------------------------------------------------------
bool fuse_post_op(ir::Graph& g, int qid, int xid) {
    const ir::Node q = g.node(qid);
    PostOp op;
    if (!detail::post_op_of(g, g.node(xid), qid, q.shape, &op)) return false;
    QEltwiseDesc desc = *q.qelt;
    desc.post.push_back(std::move(op));
    desc.fused_nodes.push_back(g.node(xid).name);
    if (!eltwise_folds(desc)) return false;
    const int nid = add_qeltwise(g, q.name, q.inputs, q.shape, std::move(desc));
    g.replace_uses(xid, nid);
    g.remove_dead();
    return true;
}

// ---- (c) ----------------------------------------------------------------------------------
bool fuse_quantize(ir::Graph& g, int qid, int zid) {
    const ir::Node q = g.node(qid);
    const ir::Node z = g.node(zid);
    if (z.op != ir::Op::Quantize || z.inputs.size() != 1 || z.shape != q.shape) return false;
    const ActQuant& a = *z.act;
    if (a.per_channel() && a.channels != q.qelt->channels) return false;
    QEltwiseDesc desc = *q.qelt;
    desc.out_levels = true;
    desc.out = a;
    desc.fused_nodes.push_back(z.name);
    if (!eltwise_folds(desc)) return false;
    const int nid = add_qeltwise(g, q.name, q.inputs, q.shape, std::move(desc));
    g.replace_uses(zid, nid);
    g.remove_dead();
    return true;
}

bool step(ir::Graph& g) {
    for (int id : g.topo_order()) {
        const ir::Node& n = g.node(id);
        if ((n.op == ir::Op::Add || n.op == ir::Op::Multiply) && to_qeltwise(g, id)) return true;
        if (n.op == ir::Op::QEltwise && !n.qelt->out_levels) {
            const int u = detail::single_consumer(g, id);
            if (u < 0) continue;
            if (g.node(u).op == ir::Op::Quantize ? fuse_quantize(g, id, u) : fuse_post_op(g, id, u)) return true;
        }
    }
    return false;
}

} // namespace

int fuse_eltwise(ir::Graph& g) {
    int n = 0;
    while (step(g)) ++n;
    return n;
}

} // namespace qjit::passes
