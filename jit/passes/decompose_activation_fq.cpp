// Pass 2: activation FakeQuantize -> Quantize (u8 level index) + Dequantize (spec §1.3, §2.1).
#include <memory>

#include "jit/passes/pass_util.hpp"
#include "jit/passes/passes.hpp"
#include "jit/quant_params.hpp"

namespace qjit::passes {
namespace {

bool decompose_one(ir::Graph& g, int id) {
    const ir::Node fq = g.node(id);
    if (fq.inputs.size() != 5 && fq.inputs.size() != 7) return false; // 7: ONNX rounding (scale, offset)
    const ir::Node& x = g.node(fq.inputs[0]);
    // A FakeQuantize of a constant is not an activation: it stays a float FakeQuantize (a weight
    // FakeQuantize that fold_weight_fq refused is meant for the fp32 path).
    if (x.op == ir::Op::Constant || x.type != ElemType::f32) return false;
    if (x.shape != fq.shape) return false;
    for (size_t i = 1; i < fq.inputs.size(); ++i)
        if (!detail::is_live_constant(g, fq.inputs[static_cast<size_t>(i)])) return false;
    if (fq.levels < 2 || fq.levels > 256) return false;

    const Shape& s = fq.shape;
    // u8 activation tensors have rank 2..4 (NHWC views, runtime/act_layout); others stay fp32.
    if (s.size() < 2 || s.size() > 4) return false;
    const int axis = 1;
    auto act = std::make_shared<ActQuant>();
    act->levels = static_cast<int>(fq.levels);
    ChannelVec* dst[4] = {&act->il, &act->ih, &act->ol, &act->oh};
    for (int i = 0; i < 4; ++i) {
        if (!detail::axis_vector(g.node(fq.inputs[static_cast<size_t>(1 + i)]).value, s, axis, fq.broadcast,
                                 dst[i]->v) ||
            !detail::all_finite(dst[i]->v))
            return false;
    }
    if (fq.inputs.size() == 7) {
        ChannelVec* onnx[2] = {&act->onnx_scale, &act->onnx_off};
        for (int i = 0; i < 2; ++i)
            if (!detail::axis_vector(g.node(fq.inputs[static_cast<size_t>(5 + i)]).value, s, axis, Broadcast::numpy,
                                     onnx[i]->v))
                return false;
    }
    act->channels = act->per_channel() ? s[1] : 1;

    ir::Node q;
    q.op = ir::Op::Quantize;
    q.name = fq.name; // fuse_requantize records this name in fused_nodes
    q.inputs = {fq.inputs[0]};
    q.type = ElemType::u8;
    q.shape = s;
    q.act = act;
    const int qid = g.add(std::move(q));

    ir::Node d;
    d.op = ir::Op::Dequantize;
    d.name = fq.name + "/dequantize";
    d.inputs = {qid};
    d.type = ElemType::f32;
    d.shape = s;
    d.act = act;
    const int did = g.add(std::move(d));
    g.replace_uses(id, did);
    return true;
}

} // namespace

int decompose_activation_fq(ir::Graph& g) {
    int n = 0;
    const int count = g.size();
    for (int id = 0; id < count; ++id) {
        const ir::Node& node = g.node(id);
        if (node.dead || node.op != ir::Op::FakeQuantize) continue;
        if (decompose_one(g, id)) ++n;
    }
    if (n) g.remove_dead();
    return n;
}

} // namespace qjit::passes
