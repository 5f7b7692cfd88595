#include "jit/scheduler.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include "emitters/conv.hpp"
#include "emitters/group_conv.hpp"
#include "emitters/pool.hpp"
#include "emitters/eltwise.hpp"
#include "emitters/fp32_transcendental.hpp"
#include "emitters/fp32_gemm.hpp"
#include "emitters/fp32_pool.hpp"
#include "emitters/quantize.hpp"
#include "isa/isa.hpp"
#include "jit/code_cache.hpp"
#include "jit/eltwise_fold.hpp"
#include "jit/fp32_conv_step.hpp"
#include "jit/fp32_eltwise_step.hpp"
#include "jit/fp32_fq_step.hpp"
#include "jit/fp32_softmax_step.hpp"
#include "jit/fp32_pool_step.hpp"
#include "jit/kernel_key.hpp"
#include "jit/kernel_steps.hpp"
#include "jit/pool_fold.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"
#include "runtime/act_layout.hpp"
#include "runtime/fallback_steps.hpp"

namespace qjit {

namespace {

struct Ctx {
    const ir::Graph& g;
    ScheduleOptions opt;
    rt::Plan plan;
    std::vector<int> slot_of;      // node id -> slot
    std::map<int, int> plain_copy; // F32Act slot -> plain f32 slot
};

int add_slot(Ctx& c, rt::SlotDesc d) {
    if (d.kind == rt::SlotDesc::F32Plain) d.bytes = num_elements(d.shape) * 4;
    else d.bytes = d.layout.bytes();
    c.plan.slots.push_back(std::move(d));
    return static_cast<int>(c.plan.slots.size()) - 1;
}

const rt::SlotDesc& slot(Ctx& c, int s) { return c.plan.slots[static_cast<size_t>(s)]; }

// The slot of node `id` as a plain logical f32 tensor, inserting a reorder once if needed.
int plain_f32_slot(Ctx& c, int id) {
    const int s = c.slot_of[static_cast<size_t>(id)];
    if (slot(c, s).kind != rt::SlotDesc::F32Act) return s;
    auto it = c.plain_copy.find(s);
    if (it != c.plain_copy.end()) return it->second;
    rt::SlotDesc d;
    d.shape = slot(c, s).shape;
    const int p = add_slot(c, d);
    c.plan.steps.push_back(rt::make_act_to_plain_step(slot(c, s), s, p));
    c.plain_copy[s] = p;
    return p;
}

ActLayout qconv_out_layout(const QConvDesc& d) {
    ActLayout l;
    l.N = d.g.N; l.H = d.g.OH; l.W = d.g.OW; l.C = d.g.OC;
    l.c_stride = round_up16(d.g.OC);
    l.elem_bytes = d.out_levels ? 1 : 4;
    return l;
}

// Layout of a u8 activation node before halos are added.
ActLayout u8_layout(const ir::Node& n) {
    if (n.op == ir::Op::QConv) return qconv_out_layout(*n.qconv);
    return rt::act_layout_for(n.shape, 1);
}

void grow_halo(ActLayout& l, const ActLayout& h) {
    l.halo_t = std::max(l.halo_t, h.halo_t);
    l.halo_l = std::max(l.halo_l, h.halo_l);
    l.halo_b = std::max(l.halo_b, h.halo_b);
    l.halo_r = std::max(l.halo_r, h.halo_r);
}

bool is_u8_node(const ir::Node& n) { return n.type == ElemType::u8; }

// ---- the op -> emitter table -------------------------------------------------------------

// Every kernel comes through the code cache (jit/code_cache.hpp): `key` describes it completely.
template <class Make> std::shared_ptr<JitKernel> cached(const KernelKey& key, Make&& make) {
    return CodeCache::global().get_or_create(key.str(), [&]() -> std::shared_ptr<JitKernel> { return make(); });
}

KernelInfo jit_info(const JitKernel& k, const std::string& nodes) {
    KernelInfo i;
    i.name = k.name;
    i.fused_nodes = nodes;
    i.code_bytes = k.code_size();
    i.constants = k.constants;
    i.jit = true;
    return i;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : "+") + x;
    return s;
}

// Dense QConv / FC at ISA level `isa` (emitters/conv: one template, blocking chosen per level).
void build_qconv(Ctx& c, const ir::Node& n, Isa isa) {
    const QConvDesc& d = *n.qconv;
    const QConvConsts consts = fold_qconv(d);
    const int in_slot = c.slot_of[static_cast<size_t>(n.inputs[0])];
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    const ActLayout& in = slot(c, in_slot).layout;
    const ActLayout& out = slot(c, out_slot).layout;
    const ConvBlocking b = choose_conv_blocking(isa, d, consts);
    std::shared_ptr<JitKernel> k = cached(KernelKey("conv", isa).add(d).add(consts).add(in).add(out).add(b),
                                          [&] { return emit_conv(d, consts, in, out, b); });
    PackedWeights w = pack_conv_weights(d, b);
    auto step = make_qconv_step(k, std::move(w), d.g, b, in, out, in_slot, out_slot);
    step->info = jit_info(*k, join(d.fused_nodes));
    c.plan.steps.push_back(std::move(step));
}

// Rank-2 tensors are [rows][channels]; with per-tensor params the kernels see them as
// `rows` images of one channel whose pixels are the channel values (same memory).
ActLayout elementwise_view(const ActLayout& act, const Shape& shape, bool& ok) {
    ok = true;
    if (shape.size() != 2) return act;
    ActLayout v = act;
    v.N = shape[0]; v.H = 1; v.W = shape[1]; v.C = 1;
    v.c_stride = 1;
    v.halo_t = v.halo_b = v.halo_l = 0;
    v.halo_r = act.c_stride - shape[1];
    ok = act.halo_t == 0 && act.halo_l == 0 && act.halo_b == 0 && act.halo_r == 0;
    return v;
}

bool elementwise_supported(const ir::Node& n, const ActLayout& act) {
    if (n.shape.size() == 2 && n.act->per_channel()) return false;
    bool ok = true;
    elementwise_view(act, n.shape, ok);
    return ok;
}

void build_quantize(Ctx& c, const ir::Node& n, Isa isa) {
    const int in_slot = plain_f32_slot(c, n.inputs[0]);
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    bool ok = true;
    const ActLayout view = elementwise_view(slot(c, out_slot).layout, n.shape, ok);
    std::shared_ptr<JitKernel> k = cached(KernelKey("quantize", isa).add(*n.act).add(view),
                                          [&] { return emit_quantize(isa, *n.act, view); });
    auto step = make_quantize_step(k, view, view.C, in_slot, out_slot);
    step->info = jit_info(*k, n.name);
    c.plan.steps.push_back(std::move(step));
}

void build_dequantize(Ctx& c, const ir::Node& n, Isa isa) {
    const int in_slot = c.slot_of[static_cast<size_t>(n.inputs[0])];
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    bool ok = true;
    const ActLayout view = elementwise_view(slot(c, in_slot).layout, n.shape, ok);
    std::shared_ptr<JitKernel> k = cached(KernelKey("dequantize", isa).add(*n.act).add(view),
                                          [&] { return emit_dequantize(isa, *n.act, view); });
    auto step = make_dequantize_step(k, view, view.C, in_slot, out_slot);
    step->info = jit_info(*k, n.name);
    c.plan.steps.push_back(std::move(step));
}

// ---- QEltwise and u8 Concat (emitters/eltwise) ----------------------------------------

// An input of an elementwise node as its kernel sees it: the slot's layout, broadcast flags from
// comparing its NHWC view with the output's (equal ranks; a dim of 1 stretches).
BroadcastOperand broadcast_operand(const ActLayout& in, const ActLayout& out) {
    BroadcastOperand b;
    b.l = in;
    b.bc_n = in.N == 1 && out.N > 1;
    b.bc_h = in.H == 1 && out.H > 1;
    b.bc_w = in.W == 1 && out.W > 1;
    b.bc_c = in.C == 1 && out.C > 1;
    return b;
}

bool qeltwise_supported(Ctx& c, const ir::Node& n) {
    const ActLayout& out = slot(c, c.slot_of[static_cast<size_t>(n.id)]).layout;
    if (static_cast<int>(n.inputs.size()) != n.qelt->inputs() || out.C != n.qelt->channels) return false;
    for (int in : n.inputs) {
        const rt::SlotDesc& s = slot(c, c.slot_of[static_cast<size_t>(in)]);
        if (s.kind != rt::SlotDesc::U8Act || s.shape.size() != n.shape.size()) return false;
        const ActLayout& l = s.layout;
        if ((l.N != out.N && l.N != 1) || (l.H != out.H && l.H != 1) || (l.W != out.W && l.W != 1) ||
            (l.C != out.C && l.C != 1))
            return false;
    }
    return true;
}

void build_qeltwise(Ctx& c, const ir::Node& n, Isa isa) {
    const QEltwiseDesc& d = *n.qelt;
    const EltwiseConsts consts = fold_eltwise(d);
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    const ActLayout& out = slot(c, out_slot).layout;
    const int s0 = c.slot_of[static_cast<size_t>(n.inputs[0])];
    const int s1 = n.inputs.size() > 1 ? c.slot_of[static_cast<size_t>(n.inputs[1])] : -1;
    const BroadcastOperand in0 = broadcast_operand(slot(c, s0).layout, out);
    BroadcastOperand in1;
    if (s1 >= 0) in1 = broadcast_operand(slot(c, s1).layout, out);
    KernelKey key("qeltwise", isa);
    key.add(d).add(consts).add(in0).i(s1 >= 0).add(out);
    if (s1 >= 0) key.add(in1);
    std::shared_ptr<JitKernel> k =
        cached(key, [&] { return emit_qeltwise(isa, d, consts, in0, s1 >= 0 ? &in1 : nullptr, out); });
    auto step = make_qeltwise_step(k, in0, s1 >= 0 ? &in1 : nullptr, out, s0, s1, out_slot);
    step->info = jit_info(*k, join(d.fused_nodes));
    c.plan.steps.push_back(std::move(step));
}

// Index of logical axis `a` of a rank-r tensor in its NHWC view: 0 N, 1 H, 2 W, 3 C.
int view_dim(size_t rank, int64_t a) {
    if (a == 1) return 3;
    if (rank == 4) return a == 0 ? 0 : a == 2 ? 1 : 2;
    if (rank == 3) return a == 0 ? 0 : 2;
    return 2; // rank 2, axis 0: the rows are the pixels of the view
}

void build_concat(Ctx& c, const ir::Node& n, Isa isa) {
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    const ActLayout& out = slot(c, out_slot).layout;
    const int dim = view_dim(n.shape.size(), n.concat_axis);
    std::vector<ConcatPiece> pieces;
    int64_t off = 0;
    for (int in : n.inputs) {
        ConcatPiece p;
        p.src_slot = c.slot_of[static_cast<size_t>(in)];
        p.src = slot(c, p.src_slot).layout;
        int64_t* offs[4] = {&p.n_off, &p.h_off, &p.w_off, &p.c_off};
        const int64_t ext[4] = {p.src.N, p.src.H, p.src.W, p.src.C};
        *offs[dim] = off;
        off += ext[dim];
        p.kernel = cached(KernelKey("concat_copy", isa).add(p.src).add(out),
                          [&] { return emit_concat_copy(isa, p.src, out); });
        pieces.push_back(std::move(p));
    }
    auto step = make_concat_step(pieces, out, out_slot);
    KernelInfo i = jit_info(*pieces.front().kernel, n.name);
    i.name = "concat_copy_u8_x" + std::to_string(pieces.size()) + "__" + to_string(isa) + " (copy, no arithmetic)";
    i.code_bytes = 0;
    for (const ConcatPiece& p : pieces) i.code_bytes += p.kernel->code_size();
    step->info = i;
    c.plan.steps.push_back(std::move(step));
}

// ---- grouped QConv, MaxPool, AvgPool (emitters/group_conv, emitters/pool) -----------------

void build_group_conv(Ctx& c, const ir::Node& n, Isa isa) {
    const QConvDesc& d = *n.qconv;
    const QConvConsts consts = fold_qconv(d);
    const int in_slot = c.slot_of[static_cast<size_t>(n.inputs[0])];
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    const ActLayout& in = slot(c, in_slot).layout;
    const ActLayout& out = slot(c, out_slot).layout;
    const ConvBlocking b = choose_group_conv_blocking(isa, d, consts);
    std::shared_ptr<JitKernel> k = cached(KernelKey("group_conv", isa).add(d).add(consts).add(in).add(out).add(b),
                                          [&] { return emit_group_conv(isa, d, consts, in, out, b); });
    PackedWeights w = pack_group_conv_weights(d, b);
    auto step = make_qconv_step(k, std::move(w), d.g, b, in, out, in_slot, out_slot);
    step->info = jit_info(*k, join(d.fused_nodes));
    c.plan.steps.push_back(std::move(step));
}

// The window geometry of a u8 MaxPool or a QAvgPool.
ConvGeom pool_geom_of(const ir::Graph& g, const ir::Node& n) {
    return n.op == ir::Op::QAvgPool ? n.qpool->g : pool_geometry(g.node(n.inputs[0]).shape, n.shape, n.pool);
}

void build_maxpool(Ctx& c, const ir::Node& n, Isa isa) {
    const int in_slot = c.slot_of[static_cast<size_t>(n.inputs[0])];
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    const ActLayout& in = slot(c, in_slot).layout;
    const ActLayout& out = slot(c, out_slot).layout;
    const ConvGeom g = pool_geom_of(c.g, n);
    std::shared_ptr<JitKernel> k = cached(KernelKey("maxpool", isa).add(g).add(in).add(out),
                                          [&] { return emit_maxpool(isa, g, in, out, n.name); });
    auto step = make_pool_step(k, in, out, in_slot, out_slot);
    step->info = jit_info(*k, n.name);
    c.plan.steps.push_back(std::move(step));
}

void build_avgpool(Ctx& c, const ir::Node& n, Isa isa) {
    const QAvgPoolDesc& d = *n.qpool;
    const AvgPoolConsts consts = fold_avgpool(d);
    const int in_slot = c.slot_of[static_cast<size_t>(n.inputs[0])];
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    const ActLayout& in = slot(c, in_slot).layout;
    const ActLayout& out = slot(c, out_slot).layout;
    std::shared_ptr<JitKernel> k = cached(KernelKey("avgpool", isa).add(d).add(consts).add(in).add(out),
                                          [&] { return emit_avgpool(isa, d, consts, in, out); });
    auto step = make_pool_step(k, in, out, in_slot, out_slot);
    step->info = jit_info(*k, join(d.fused_nodes));
    c.plan.steps.push_back(std::move(step));
}

struct EmitterRule {
    ir::Op op;
    Isa min_isa;
    std::function<bool(Ctx&, const ir::Node&)> supports;
    std::function<void(Ctx&, const ir::Node&)> build;
};

// A rule's build function for ISA level `isa` (the rule's min_isa).
template <Isa isa> void build_qconv_at(Ctx& c, const ir::Node& n) { build_qconv(c, n, isa); }
template <Isa isa> void build_quantize_at(Ctx& c, const ir::Node& n) { build_quantize(c, n, isa); }
template <Isa isa> void build_dequantize_at(Ctx& c, const ir::Node& n) { build_dequantize(c, n, isa); }
template <Isa isa> void build_group_conv_at(Ctx& c, const ir::Node& n) { build_group_conv(c, n, isa); }
template <Isa isa> void build_qeltwise_at(Ctx& c, const ir::Node& n) { build_qeltwise(c, n, isa); }
template <Isa isa> void build_concat_at(Ctx& c, const ir::Node& n) { build_concat(c, n, isa); }
template <Isa isa> void build_maxpool_at(Ctx& c, const ir::Node& n) { build_maxpool(c, n, isa); }
template <Isa isa> void build_avgpool_at(Ctx& c, const ir::Node& n) { build_avgpool(c, n, isa); }

bool always(Ctx&, const ir::Node&) { return true; }
bool concat_supported(Ctx& c, const ir::Node& n) {
    if (n.type != ElemType::u8) return false;
    for (int in : n.inputs)
        if (slot(c, c.slot_of[static_cast<size_t>(in)]).kind != rt::SlotDesc::U8Act) return false;
    return true;
}
bool group_conv_supported(Ctx&, const ir::Node& n) { return group_conv_supports(*n.qconv); }
bool maxpool_supported(Ctx&, const ir::Node& n) { return n.type == ElemType::u8; }
bool dense_qconv_supported(Ctx&, const ir::Node& n) { return n.qconv->g.groups == 1 && n.qconv->g.K() <= kMaxConvK; }
bool quantize_supported(Ctx& c, const ir::Node& n) {
    return elementwise_supported(n, slot(c, c.slot_of[static_cast<size_t>(n.id)]).layout);
}
bool dequantize_supported(Ctx& c, const ir::Node& n) {
    return elementwise_supported(n, slot(c, c.slot_of[static_cast<size_t>(n.inputs[0])]).layout);
}

const std::vector<EmitterRule>& emitter_table() {
    static const std::vector<EmitterRule> table = {
        // Dense QConv / FC, one rule per level (find_rule takes the highest the target includes).
        {ir::Op::QConv, Isa::avx2, dense_qconv_supported, build_qconv_at<Isa::avx2>},
        {ir::Op::QConv, Isa::avx2_vnni, dense_qconv_supported, build_qconv_at<Isa::avx2_vnni>},
        {ir::Op::QConv, Isa::avx512_core, dense_qconv_supported, build_qconv_at<Isa::avx512_core>},
        {ir::Op::QConv, Isa::avx512_core_vnni, dense_qconv_supported, build_qconv_at<Isa::avx512_core_vnni>},
        {ir::Op::Quantize, Isa::avx512_core, quantize_supported, build_quantize_at<Isa::avx512_core>},
        {ir::Op::Dequantize, Isa::avx512_core, dequantize_supported, build_dequantize_at<Isa::avx512_core>},
        // Grouped / depthwise QConv, one rule per level (emitters/group_conv: one template).
        {ir::Op::QConv, Isa::avx2, group_conv_supported, build_group_conv_at<Isa::avx2>},
        {ir::Op::QConv, Isa::avx2_vnni, group_conv_supported, build_group_conv_at<Isa::avx2_vnni>},
        {ir::Op::QConv, Isa::avx512_core, group_conv_supported, build_group_conv_at<Isa::avx512_core>},
        {ir::Op::QConv, Isa::avx512_core_vnni, group_conv_supported, build_group_conv_at<Isa::avx512_core_vnni>},
        // MaxPool / AvgPool, one rule per level (emitters/pool: one template).
        {ir::Op::MaxPool, Isa::avx2, maxpool_supported, build_maxpool_at<Isa::avx2>},
        {ir::Op::MaxPool, Isa::avx2_vnni, maxpool_supported, build_maxpool_at<Isa::avx2_vnni>},
        {ir::Op::MaxPool, Isa::avx512_core, maxpool_supported, build_maxpool_at<Isa::avx512_core>},
        {ir::Op::MaxPool, Isa::avx512_core_vnni, maxpool_supported, build_maxpool_at<Isa::avx512_core_vnni>},
        {ir::Op::QAvgPool, Isa::avx2, always, build_avgpool_at<Isa::avx2>},
        {ir::Op::QAvgPool, Isa::avx2_vnni, always, build_avgpool_at<Isa::avx2_vnni>},
        {ir::Op::QAvgPool, Isa::avx512_core, always, build_avgpool_at<Isa::avx512_core>},
        {ir::Op::QAvgPool, Isa::avx512_core_vnni, always, build_avgpool_at<Isa::avx512_core_vnni>},
        {ir::Op::Quantize, Isa::avx2, quantize_supported, build_quantize_at<Isa::avx2>},
        {ir::Op::Dequantize, Isa::avx2, dequantize_supported, build_dequantize_at<Isa::avx2>},
        // QEltwise and the u8 Concat copy, one rule per level (emitters/eltwise: one template).
        {ir::Op::QEltwise, Isa::avx2, qeltwise_supported, build_qeltwise_at<Isa::avx2>},
        {ir::Op::QEltwise, Isa::avx2_vnni, qeltwise_supported, build_qeltwise_at<Isa::avx2_vnni>},
        {ir::Op::QEltwise, Isa::avx512_core, qeltwise_supported, build_qeltwise_at<Isa::avx512_core>},
        {ir::Op::QEltwise, Isa::avx512_core_vnni, qeltwise_supported, build_qeltwise_at<Isa::avx512_core_vnni>},
        {ir::Op::Concat, Isa::avx2, concat_supported, build_concat_at<Isa::avx2>},
        {ir::Op::Concat, Isa::avx2_vnni, concat_supported, build_concat_at<Isa::avx2_vnni>},
        {ir::Op::Concat, Isa::avx512_core, concat_supported, build_concat_at<Isa::avx512_core>},
        {ir::Op::Concat, Isa::avx512_core_vnni, concat_supported, build_concat_at<Isa::avx512_core_vnni>},
    };
    return table;
}

// Highest-ISA rule for n that the target includes and that accepts n.
const EmitterRule* find_rule(Ctx& c, const ir::Node& n) {
    const EmitterRule* best = nullptr;
    for (const EmitterRule& r : emitter_table())
        if (r.op == n.op && isa_includes(c.opt.isa, r.min_isa) && r.supports(c, n) &&
            (!best || static_cast<int>(r.min_isa) > static_cast<int>(best->min_isa)))
            best = &r;
    return best;
}

// The level of the fp32 kernels: the highest the target includes.
Isa fp32_isa(const Ctx& c) {
    for (Isa l : {Isa::avx512_core_vnni, Isa::avx512_core, Isa::avx2_vnni})
        if (isa_includes(c.opt.isa, l)) return l;
    return Isa::avx2;
}

// Shapes of plain f32 input slots; false when a slot (or the output) is not plain f32.
bool plain_shapes(Ctx& c, const std::vector<int>& ins, int out_slot, std::vector<Shape>& shapes) {
    for (int s : ins) {
        if (slot(c, s).kind != rt::SlotDesc::F32Plain) return false;
        shapes.push_back(slot(c, s).shape);
    }
    return slot(c, out_slot).kind == rt::SlotDesc::F32Plain;
}

// A float elementwise node as an fp32 JIT kernel (emitters/fp32_eltwise) on plain f32 slots, at
// the highest level the target includes; false when no fp32 kernel applies (it stays interpreted).
bool build_fp32_eltwise(Ctx& c, const ir::Node& n, const std::vector<int>& ins, int out_slot) {
    std::vector<Shape> shapes;
    if (!plain_shapes(c, ins, out_slot, shapes)) return false;
    const std::optional<Fp32EltwisePlan> p = plan_fp32_eltwise(n, shapes);
    if (!p) return false;
    const Isa isa = fp32_isa(c);
    const Fp32EltwiseDesc& d = p->desc;
    std::shared_ptr<JitKernel> k =
        cached(KernelKey("fp32_eltwise", isa).i(static_cast<int>(d.op)).i(static_cast<int>(d.bcast)).f(d.p0).f(d.p1),
               [&] { return emit_fp32_eltwise(isa, d); });
    auto step = make_fp32_eltwise_step(k, *p, ins, out_slot);
    step->info = jit_info(*k, n.name);
    c.plan.steps.push_back(std::move(step));
    return true;
}

// A FakeQuantize that stays in float, with constant ranges, as an fp32 JIT kernel
// (emitters/fp32_fake_quantize); false when none applies (it stays interpreted).
bool build_fp32_fake_quantize(Ctx& c, const ir::Node& n, const std::vector<int>& ins, int out_slot) {
    if (n.op != ir::Op::FakeQuantize || ins.size() != 5) return false;
    if (slot(c, ins[0]).kind != rt::SlotDesc::F32Plain || slot(c, out_slot).kind != rt::SlotDesc::F32Plain)
        return false;
    for (size_t i = 1; i < 5; ++i)
        if (!c.g.is_constant(n.inputs[i])) return false;
    auto range = [&](size_t i) -> const Tensor& { return c.g.node(n.inputs[i]).value; };
    const std::optional<Fp32FqPlan> p =
        plan_fp32_fake_quantize(n, slot(c, ins[0]).shape, range(1), range(2), range(3), range(4));
    if (!p) return false;
    const Isa isa = fp32_isa(c);
    const Fp32FqDesc& d = p->desc;
    std::shared_ptr<JitKernel> k = cached(KernelKey("fp32_fq", isa)
                                              .i(static_cast<int>(d.mode))
                                              .i(d.levels)
                                              .vec(d.il)
                                              .vec(d.ih)
                                              .vec(d.ol)
                                              .vec(d.oh),
                                          [&] { return emit_fp32_fake_quantize(isa, d); });
    auto step = make_fp32_fq_step(k, *p, ins[0], out_slot);
    step->info = jit_info(*k, n.name);
    c.plan.steps.push_back(std::move(step));
    return true;
}

// A Softmax as an fp32 kernel (emitters/fp32_transcendental, AVX2 code at every level): the row kernel
// over the innermost axis, the strided kernel otherwise; false when none applies (it stays interpreted).
bool build_fp32_softmax(Ctx& c, const ir::Node& n, const std::vector<int>& ins, int out_slot) {
    if (n.op != ir::Op::Softmax || ins.size() != 1 || slot(c, ins[0]).kind != rt::SlotDesc::F32Plain ||
        slot(c, out_slot).kind != rt::SlotDesc::F32Plain)
        return false;
    const std::optional<Fp32SoftmaxPlan> p = plan_fp32_softmax(n, slot(c, ins[0]).shape);
    if (!p) return false;
    std::shared_ptr<JitKernel> k =
        p->rows() ? cached(KernelKey("fp32_softmax_row", Isa::avx2), [] { return emit_fp32_softmax_row(); })
                  : cached(KernelKey("fp32_softmax_cols", Isa::avx2), [] { return emit_fp32_softmax_cols(); });
    auto step = make_fp32_softmax_step(k, *p, ins[0], out_slot);
    step->info = jit_info(*k, n.name);
    c.plan.steps.push_back(std::move(step));
    return true;
}

// A float Convolution / GroupConvolution / MatMul as im2col (or B) tiles + the fp32 GEMM kernel
// (jit/fp32_conv_step), a float MaxPool / AvgPool as window tiles + the fp32 pool kernel
// (jit/fp32_pool_step). Returns "" when built, else why it stays interpreted ("-": not such a node).
std::string build_fp32_reduction(Ctx& c, const ir::Node& n, const std::vector<int>& ins, int out_slot) {
    const bool pool = n.op == ir::Op::MaxPool || n.op == ir::Op::AvgPool;
    if (n.op != ir::Op::Convolution && n.op != ir::Op::GroupConvolution && n.op != ir::Op::MatMul && !pool)
        return "-";
    std::vector<Shape> shapes;
    if (!plain_shapes(c, ins, out_slot, shapes) || shapes.size() != (pool ? 1u : 2u)) return "inputs not plain f32";
    const Isa isa = fp32_isa(c);
    const int lanes = fp32_gemm_lanes(isa);
    if (pool) {
        const Fp32PoolPlan p = plan_fp32_pool(n, shapes[0], lanes);
        if (!p.why_not.empty()) return p.why_not;
        std::shared_ptr<JitKernel> k = cached(KernelKey("fp32_pool", isa).i(p.max ? 1 : 0),
                                              [&] { return emit_fp32_pool(isa, p.max); });
        auto step = make_fp32_pool_step(k, p, lanes, ins[0], out_slot);
        step->info = jit_info(*k, n.name);
        c.plan.steps.push_back(std::move(step));
        return "";
    }
    Fp32GemmDesc d;
    d.a_first = n.op == ir::Op::MatMul;
    auto gemm = [&] {
        return cached(KernelKey("fp32_gemm", isa).i(d.a_first ? 1 : 0), [&] { return emit_fp32_gemm(isa, d); });
    };
    std::unique_ptr<rt::Step> step;
    std::shared_ptr<JitKernel> k;
    if (n.op == ir::Op::MatMul) {
        const Fp32MatMulPlan p = plan_fp32_matmul(n, shapes[0], shapes[1], lanes);
        if (!p.why_not.empty()) return p.why_not;
        k = gemm();
        const ir::Node& bn = c.g.node(n.inputs[1]);
        step = make_fp32_matmul_step(k, p, lanes, ins, out_slot, bn.op == ir::Op::Constant ? &bn.value : nullptr);
    } else {
        const ir::Node& wn = c.g.node(n.inputs[1]);
        const Fp32ConvPlan p = plan_fp32_conv(n, shapes[0], wn.op == ir::Op::Constant ? &wn.value : nullptr, lanes);
        if (!p.why_not.empty()) return p.why_not;
        k = gemm();
        step = make_fp32_conv_step(k, p, lanes, ins, out_slot);
    }
    step->info = jit_info(*k, n.name);
    c.plan.steps.push_back(std::move(step));
    return "";
}

void build_fallback(Ctx& c, const ir::Node& n) {
    const int out_slot = c.slot_of[static_cast<size_t>(n.id)];
    switch (n.op) {
    case ir::Op::Quantize:
        c.plan.steps.push_back(rt::make_quantize_ref_step(n, slot(c, plain_f32_slot(c, n.inputs[0])),
                                                          plain_f32_slot(c, n.inputs[0]), slot(c, out_slot), out_slot));
        return;
    case ir::Op::Dequantize: {
        const int in = c.slot_of[static_cast<size_t>(n.inputs[0])];
        c.plan.steps.push_back(rt::make_dequantize_ref_step(n, slot(c, in), in, slot(c, out_slot), out_slot));
        return;
    }
    case ir::Op::QConv:
        throw Error(ErrorCode::UnsupportedOp, n.name, "no emitter accepts this quantized convolution");
    case ir::Op::QAvgPool:
        throw Error(ErrorCode::UnsupportedOp, n.name, "no emitter accepts this quantized AvgPool");
    case ir::Op::MaxPool:
        if (n.type == ElemType::u8)
            throw Error(ErrorCode::UnsupportedOp, n.name, "no emitter accepts this MaxPool on level indices");
        break;
    case ir::Op::QEltwise:
        throw Error(ErrorCode::UnsupportedOp, n.name, "no emitter accepts this quantized elementwise node");
    default: break;
    }
    std::vector<int> ins;
    std::vector<rt::SlotDesc> descs;
    for (int id : n.inputs) {
        const int s = plain_f32_slot(c, id);
        ins.push_back(s);
        descs.push_back(slot(c, s));
    }
    if (build_fp32_eltwise(c, n, ins, out_slot) || build_fp32_fake_quantize(c, n, ins, out_slot) ||
        build_fp32_softmax(c, n, ins, out_slot))
        return;
    const std::string why = build_fp32_reduction(c, n, ins, out_slot);
    if (why.empty()) return;
    c.plan.steps.push_back(rt::make_float_node_step(n, std::move(ins), std::move(descs), out_slot));
    if (why != "-") c.plan.steps.back()->info.name += " [no fp32 kernel: " + why + "]";
}

// The ISA level a kernel was generated for: the token after "__" in its name.
std::string kernel_isa(const std::string& name) {
    const size_t at = name.rfind("__");
    if (at == std::string::npos) return "?";
    const size_t end = name.find(' ', at);
    return name.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
}

std::string schedule_text(const rt::Plan& p, const ScheduleOptions& o) {
    std::ostringstream os;
    os << "qjit schedule: isa " << to_string(o.isa) << ", threads " << o.threads << ", " << p.steps.size()
       << " steps\n";
    int i = 0;
    for (const auto& s : p.steps) {
        const KernelInfo& k = s->info;
        os << "  [" << i++ << "] " << k.name << "  nodes=" << (k.fused_nodes.empty() ? "-" : k.fused_nodes);
        if (k.jit)
            os << "  code=" << k.code_bytes << "B consts=" << k.constants << "  jit isa=" << kernel_isa(k.name)
               << (k.name.rfind("fp32_", 0) == 0 ? "  fp32 JIT (mixed precision)" : "") << "\n";
        else
            os << "  NON-JIT fallback\n";
    }
    return os.str();
}

} // namespace

rt::Plan schedule(const ir::Graph& g, const ScheduleOptions& opt) {
    Ctx c{g, opt, {}, std::vector<int>(static_cast<size_t>(g.size()), -1), {}};
    const std::vector<int> order = g.topo_order();

    // 1. Layouts of u8 activations, with the halo every QConv consumer needs.
    std::map<int, ActLayout> u8_layouts;
    for (int id : order) {
        const ir::Node& n = g.node(id);
        if (is_u8_node(n)) {
            if (!rt::has_act_view(n.shape))
                throw Error(ErrorCode::UnsupportedOp, n.name, "quantized tensor of rank " + std::to_string(n.shape.size()));
            u8_layouts[id] = u8_layout(n);
        }
    }
    for (int id : order) {
        const ir::Node& n = g.node(id);
        if (n.op == ir::Op::QConv)
            grow_halo(u8_layouts.at(n.inputs[0]), n.qconv->g.groups == 1 ? required_input_halo(n.qconv->g)
                                                                          : required_group_conv_input_halo(n.qconv->g));
        if ((n.op == ir::Op::MaxPool && is_u8_node(n)) || n.op == ir::Op::QAvgPool)
            grow_halo(u8_layouts.at(n.inputs[0]), required_pool_input_halo(pool_geom_of(g, n)));
    }

    // 2. Slots.
    for (int id : order) {
        const ir::Node& n = g.node(id);
        rt::SlotDesc d;
        d.shape = n.shape;
        if (n.op == ir::Op::Result) {
            c.slot_of[static_cast<size_t>(id)] = c.slot_of[static_cast<size_t>(n.inputs[0])];
            continue;
        }
        if (is_u8_node(n)) {
            d.kind = rt::SlotDesc::U8Act;
            d.layout = u8_layouts.at(id);
        } else if (n.op == ir::Op::QConv) {
            d.kind = rt::SlotDesc::F32Act;
            d.layout = qconv_out_layout(*n.qconv);
        } else if (n.op == ir::Op::QEltwise) {
            d.kind = rt::SlotDesc::F32Act;
            d.layout = rt::act_layout_for(n.shape, 4);
        } else if (n.op == ir::Op::QAvgPool) { // f32 average (no FakeQuantize after it)
            d.kind = rt::SlotDesc::F32Act;
            d.layout = rt::act_layout_for(n.shape, 4);
        } else if (n.op == ir::Op::Constant) {
            d.init.assign(static_cast<const uint8_t*>(n.value.raw()),
                          static_cast<const uint8_t*>(n.value.raw()) + n.value.bytes());
            if (n.value.type() != ElemType::f32)
                throw Error(ErrorCode::UnsupportedOp, n.name, "non-f32 constant in a float region");
        } else if (n.op == ir::Op::Parameter) {
            d.param_index = static_cast<int>(c.plan.param_slots.size());
        }
        const int s = add_slot(c, std::move(d));
        c.slot_of[static_cast<size_t>(id)] = s;
        if (n.op == ir::Op::Parameter) {
            c.plan.param_slots.push_back(s);
            c.plan.param_names.push_back(n.name);
        }
    }

    // run() takes its inputs in the graph's parameter (creation) order, as the oracles do; the
    // topological order above may meet the parameters in another order.
    c.plan.param_slots.clear();
    c.plan.param_names.clear();
    for (int id : g.parameters()) {
        const int s = c.slot_of[static_cast<size_t>(id)];
        c.plan.slots[static_cast<size_t>(s)].param_index = static_cast<int>(c.plan.param_slots.size());
        c.plan.param_slots.push_back(s);
        c.plan.param_names.push_back(g.node(id).name);
    }

    // 3. Steps, in topological order.
    for (int id : order) {
        const ir::Node& n = g.node(id);
        switch (n.op) {
        case ir::Op::Parameter:
        case ir::Op::Constant:
            continue;
        case ir::Op::Result: {
            // Results read f32 (plain or NHWC activation layout); a u8 result is a lowering bug.
            const int s = c.slot_of[static_cast<size_t>(n.inputs[0])];
            if (slot(c, s).kind == rt::SlotDesc::U8Act)
                throw Error(ErrorCode::Internal, n.name, "Result of a quantized tensor");
            c.plan.result_slots.push_back(s);
            c.plan.result_names.push_back(n.name);
            continue;
        }
        case ir::Op::Reshape: {
            const int in = n.type == ElemType::u8 ? c.slot_of[static_cast<size_t>(n.inputs[0])]
                                                  : plain_f32_slot(c, n.inputs[0]);
            const int out = c.slot_of[static_cast<size_t>(id)];
            c.plan.steps.push_back(rt::make_relayout_step(slot(c, in), in, slot(c, out), out, n.name));
            continue;
        }
        case ir::Op::Transpose: // on level indices (propagate_dequantize): a copy in the new axis order
            if (n.type == ElemType::u8) {
                const int in = c.slot_of[static_cast<size_t>(n.inputs[0])];
                const int out = c.slot_of[static_cast<size_t>(id)];
                c.plan.steps.push_back(rt::make_relayout_step(slot(c, in), in, slot(c, out), out, n.name, n.ints));
                continue;
            }
            break;
        default: break;
        }
        if (const EmitterRule* r = find_rule(c, n))
            r->build(c, n);
        else
            build_fallback(c, n);
    }
    c.plan.schedule_text = schedule_text(c.plan, opt);
    return std::move(c.plan);
}

} // namespace qjit
