// Pass 3b: move Dequantize past Concat (spec §3 Concat row, §3.2 non-unified Concat).
//  Concat(Dequantize(k_0), ..., Dequantize(k_n)) => Dequantize(Concat(k_0, ..., k_n)) with
//  * axis 1 (the channel axis of every u8 rank): any per-tensor / per-channel ActQuant with one
//    `levels`; the result's ActQuant is the inputs' vectors expanded to their channels and
//    concatenated (per-segment params, exactly: il/ih/ol/oh are per-channel values), collapsed to
//    per tensor where all values are bit-equal;
//  * another axis: only when every input's ActQuant is bit-identical (the result keeps it).
// The u8 Concat is a copy of level indices; the Dequantize keeps every value A computes.
#include <cstring>
#include <memory>

#include "jit/passes/pass_util.hpp"
#include "jit/passes/passes.hpp"
#include "jit/quant_params.hpp"

namespace qjit::passes {
namespace {

bool bit_equal(const ChannelVec& a, const ChannelVec& b) {
    return a.v.size() == b.v.size() && std::memcmp(a.v.data(), b.v.data(), a.v.size() * sizeof(float)) == 0;
}

bool same_act(const ActQuant& a, const ActQuant& b) {
    return a.levels == b.levels && a.channels == b.channels && bit_equal(a.il, b.il) && bit_equal(a.ih, b.ih) &&
           bit_equal(a.ol, b.ol) && bit_equal(a.oh, b.oh);
}

void collapse(ChannelVec& v) {
    bool equal = true;
    for (size_t i = 1; i < v.v.size() && equal; ++i) equal = std::memcmp(&v.v[i], &v.v[0], sizeof(float)) == 0;
    if (equal && !v.v.empty()) v.v.resize(1);
}

bool swap_concat(ir::Graph& g, int cid) {
    const ir::Node c = g.node(cid);
    if (c.type != ElemType::f32 || c.inputs.empty() || c.shape.size() < 2 || c.shape.size() > 4) return false;
    std::vector<const ir::Node*> deq;
    for (int in : c.inputs) {
        const ir::Node& d = g.node(in);
        if (d.dead || d.op != ir::Op::Dequantize || d.inputs.size() != 1 || !d.act) return false;
        deq.push_back(&d);
    }
    auto act = std::make_shared<ActQuant>();
    const ActQuant& first = *deq[0]->act;
    if (c.concat_axis == 1) {
        act->levels = first.levels;
        ChannelVec* dst[4] = {&act->il, &act->ih, &act->ol, &act->oh};
        for (const ir::Node* d : deq) {
            const ActQuant& a = *d->act;
            if (a.levels != first.levels) return false;
            const int64_t C = d->shape[1];
            if (a.per_channel() && a.channels != C) return false;
            const ChannelVec* src[4] = {&a.il, &a.ih, &a.ol, &a.oh};
            for (int i = 0; i < 4; ++i)
                for (int64_t ch = 0; ch < C; ++ch) dst[i]->v.push_back(src[i]->at(ch));
        }
        for (ChannelVec* v : dst) collapse(*v);
        act->channels = act->per_channel() ? c.shape[1] : 1;
    } else {
        for (const ir::Node* d : deq)
            if (!same_act(*d->act, first)) return false;
        *act = first;
    }

    ir::Node nc = c;
    nc.inputs.clear();
    for (const ir::Node* d : deq) nc.inputs.push_back(d->inputs[0]);
    nc.type = ElemType::u8;
    const int ncid = g.add(std::move(nc));
    ir::Node nd;
    nd.op = ir::Op::Dequantize;
    nd.name = c.name + "/dequantize";
    nd.inputs = {ncid};
    nd.type = ElemType::f32;
    nd.shape = c.shape;
    nd.act = act;
    const int ndid = g.add(std::move(nd));
    g.replace_uses(cid, ndid);
    g.remove_dead();
    g.node(ndid).name = detail::unique_name(g, c.name + "/dequantize", ndid);
    return true;
}

} // namespace

int propagate_concat(ir::Graph& g) {
    int n = 0;
    for (bool changed = true; changed;) {
        changed = false;
        for (int id : g.topo_order()) {
            const ir::Node& node = g.node(id);
            if (node.dead || node.op != ir::Op::Concat) continue;
            if (swap_concat(g, id)) {
                ++n;
                changed = true;
                break;
            }
        }
    }
    return n;
}

} // namespace qjit::passes
