// Pass 4: fuse the next FakeQuantize's Quantize into a f32 QConv (spec §4.2), and drop a
// Quantize(Dequantize(k)) that gives k back for every level (FakeQuantize -> FakeQuantize).
#include <memory>

#include "jit/fq_math.hpp"
#include "jit/passes/pass_util.hpp"
#include "jit/pool_fold.hpp"
#include "qjit/error.hpp"
#include "jit/passes/passes.hpp"
#include "jit/quant_params.hpp"

namespace qjit::passes {
namespace {

// QConv(f32) -> Quantize  =>  QConv(u8 levels of the Quantize's FakeQuantize).
bool fuse_quantize(ir::Graph& g, int qid) {
    const ir::Node q = g.node(qid);
    if (q.inputs.size() != 1) return false;
    const ir::Node c = g.node(q.inputs[0]);
    if (c.dead || c.op != ir::Op::QConv || c.qconv->out_levels) return false;
    if (detail::single_consumer(g, c.id) != qid) return false;
    const ActQuant& a = *q.act;
    const int64_t oc = c.qconv->g.OC;
    if (a.per_channel() && (a.channels != oc || c.shape.size() < 2 || c.shape[1] != oc)) return false;
    for (int64_t o = 0; o < (a.per_channel() ? oc : 1); ++o)
        if (!(a.il.at(o) <= a.ih.at(o))) return false;

    QConvDesc desc = *c.qconv;
    desc.out_levels = true;
    desc.out = a;
    desc.fused_nodes.push_back(q.name);
    if (!detail::folds(desc)) return false;
    const int nid = detail::add_qconv(g, c.name, c.inputs[0], q.shape, std::move(desc));
    g.replace_uses(qid, nid);
    g.remove_dead();
    return true;
}

// QAvgPool(f32) -> Quantize  =>  QAvgPool(u8 levels of the Quantize's FakeQuantize), spec §4.2.
bool fuse_pool_quantize(ir::Graph& g, int qid) {
    const ir::Node q = g.node(qid);
    if (q.inputs.size() != 1) return false;
    const ir::Node p = g.node(q.inputs[0]);
    if (p.dead || p.op != ir::Op::QAvgPool || p.qpool->out_levels) return false;
    if (detail::single_consumer(g, p.id) != qid) return false;
    const ActQuant& a = *q.act;
    const int64_t C = p.qpool->g.C;
    if (a.per_channel() && a.channels != C) return false;
    QAvgPoolDesc desc = *p.qpool;
    desc.out_levels = true;
    desc.out = a;
    desc.fused_nodes.push_back(q.name);
    try {
        (void)fold_avgpool(desc);
    } catch (const Error&) {
        return false;
    }
    ir::Node n = p;
    n.inputs = p.inputs;
    n.type = ElemType::u8;
    n.shape = q.shape;
    n.qpool = std::make_shared<const QAvgPoolDesc>(std::move(desc));
    const int nid = g.add(std::move(n));
    g.replace_uses(qid, nid);
    g.remove_dead();
    return true;
}

// Quantize(Dequantize(k)) == k for every level k in every channel: the pair is the identity.
bool drop_identity(ir::Graph& g, int qid) {
    const ir::Node q = g.node(qid);
    if (q.inputs.size() != 1) return false;
    const ir::Node d = g.node(q.inputs[0]);
    if (d.dead || d.op != ir::Op::Dequantize || d.inputs.size() != 1) return false;
    const ActQuant& qa = *q.act;
    const ActQuant& da = *d.act;
    if (qa.levels != da.levels) return false;
    const int64_t C = qa.per_channel() ? qa.channels : (da.per_channel() ? da.channels : 1);
    if ((qa.per_channel() && qa.channels != C) || (da.per_channel() && da.channels != C)) return false;
    for (int64_t ch = 0; ch < C; ++ch) {
        const std::vector<float> v = detail::level_values(da, ch);
        for (int k = 0; k < qa.levels; ++k)
            if (qa.level(ch, v[static_cast<size_t>(k)]) != k) return false;
    }
    g.replace_uses(qid, d.inputs[0]);
    g.remove_dead();
    return true;
}

} // namespace

int fuse_requantize(ir::Graph& g) {
    int n = 0;
    for (bool changed = true; changed;) {
        changed = false;
        for (int id : g.topo_order()) {
            const ir::Node& node = g.node(id);
            if (node.dead || node.op != ir::Op::Quantize) continue;
            if (drop_identity(g, id) || fuse_quantize(g, id) || fuse_pool_quantize(g, id)) {
                ++n;
                changed = true;
                break;
            }
        }
    }
    return n;
}

} // namespace qjit::passes
