// Pass 3: move Dequantize forward through linear ops and into Convolution/MatMul (spec §3, §8.1).
//  (a) Dequantize -> Reshape/Transpose => Reshape/Transpose(u8 k) -> Dequantize (per-channel: axes 0, 1 kept)
//  (b) Dequantize -> Conv / MatMul      => QConv (u8 k in, f32 out) when the weights were folded
//  (c) QConv(f32) -> Add/Multiply const => post-op Bias/Shift/Scale; -> Relu/Clamp => post-op Clamp
//  (d) Dequantize -> Relu / Clamp       => removed when it cannot change any dequantized value
//  (e) Dequantize -> MaxPool (s >= 0)   => MaxPool(u8 k) -> Dequantize
//  (f) Dequantize -> AvgPool            => QAvgPool (u8 k in, f32 out)
// (b) also takes GroupConvolution (QConv with groups; activation scale constant within each group).
// Rules are applied one at a time until none matches.
#include <cmath>
#include <limits>
#include <memory>

#include "jit/passes/pass_util.hpp"
#include "jit/pool_fold.hpp"
#include "qjit/error.hpp"
#include "jit/passes/passes.hpp"
#include "jit/requant_fold.hpp"
#include "jit/quant_params.hpp"

namespace qjit::passes {
namespace {

// The other input of a binary node when it is a live Constant, else -1.
int constant_operand(const ir::Graph& g, const ir::Node& n, int self) {
    if (n.inputs.size() != 2 || n.inputs[0] == n.inputs[1]) return -1;
    const int other = n.inputs[0] == self ? n.inputs[1] : n.inputs[0];
    return detail::is_live_constant(g, other) ? other : -1;
}

// Every step (oh - ol)/(L-1) equal in fp64 over channels [c0, c1).
bool uniform_step_in(const ActQuant& a, int64_t c0, int64_t c1) {
    for (int64_t c = c0 + 1; c < c1; ++c)
        if (a.step(c) != a.step(c0)) return false;
    return true;
}

bool uniform(const ChannelVec& v) {
    for (float f : v.v)
        if (!(f == v.v[0])) return false;
    return true;
}

// ---- (a) Dequantize -> Reshape / Transpose ---------------------------------------------------
// Replaces Dequantize(did) -> x(xid) by x on the level indices -> Dequantize (the params are metadata
// of the tensor: spec §3 Reshape and Transpose rows; MaxPool (e) once its scales are checked).
bool move_below(ir::Graph& g, int did, int xid) {
    const ir::Node d = g.node(did);
    const ir::Node x = g.node(xid);
    if (x.shape.size() < 2 || x.shape.size() > 4) return false; // u8 tensors have rank 2..4
    ir::Node nx = x;
    nx.inputs = {d.inputs[0]};
    nx.type = ElemType::u8;
    const int nxid = g.add(std::move(nx));
    ir::Node nd = d;
    nd.inputs = {nxid};
    nd.shape = x.shape;
    const int ndid = g.add(std::move(nd));
    g.replace_uses(xid, ndid);
    g.remove_dead();
    g.node(ndid).name = detail::unique_name(g, d.name, ndid);
    return true;
}

// Per-channel params need the channel axis (1) and the axis before it kept.
bool swap_reshape(ir::Graph& g, int did, int rid) {
    const ir::Node& d = g.node(did);
    const ir::Node& r = g.node(rid);
    if (r.inputs.size() != 1) return false;
    const Shape& in = d.shape;
    const Shape& out = r.shape;
    const bool keeps_channel = in.size() >= 2 && out.size() >= 2 && in[0] == out[0] && in[1] == out[1];
    if (d.act->per_channel() && !keeps_channel) return false;
    return move_below(g, did, rid);
}

// Per-channel params need a permutation that keeps axes 0 and 1 first; per-tensor params allow any.
bool swap_transpose(ir::Graph& g, int did, int tid) {
    const ir::Node& d = g.node(did);
    const ir::Node& t = g.node(tid);
    if (t.inputs.size() != 1 || t.ints.size() != d.shape.size()) return false;
    const bool keeps_channel = t.ints.size() >= 2 && t.ints[0] == 0 && t.ints[1] == 1;
    if (d.act->per_channel() && !keeps_channel) return false;
    return move_below(g, did, tid);
}

// ---- (b) Dequantize -> Convolution / MatMul ---------------------------------------------------
bool to_qconv(ir::Graph& g, int did, int cid) {
    const ir::Node d = g.node(did);
    const ir::Node c = g.node(cid);
    if (c.inputs.size() != 2 || c.inputs[0] != did || c.inputs[1] == did) return false;
    if (!detail::is_live_constant(g, c.inputs[1])) return false;
    const ir::Node& wn = g.node(c.inputs[1]);
    if (!wn.qweights) return false;
    const QuantWeights& w = *wn.qweights;
    const ActQuant& a = *d.act;

    QConvDesc desc;
    desc.in = a;
    desc.w = w;
    desc.out_levels = false;
    desc.fused_nodes = {c.name};
    ConvGeom& geo = desc.g;
    int input = d.inputs[0];

    if (c.op == ir::Op::Convolution || c.op == ir::Op::GroupConvolution) {
        const Shape& x = d.shape;
        const bool grouped = c.op == ir::Op::GroupConvolution;
        // GroupConvolution weights [G, O/G, I/G, KH, KW] are [OC][I/G][KH][KW] in memory: read them
        // as OIHW with groups = G.
        Shape ws = wn.shape;
        if (grouped) {
            if (ws.size() != 5) return false;
            geo.groups = ws[0];
            ws = {ws[0] * ws[1], ws[2], ws[3], ws[4]};
        }
        if (x.size() != 4 || ws.size() != 4 || c.shape.size() != 4 || ws[1] * geo.groups != x[1]) return false;
        const ConvParams& p = c.conv;
        if (p.strides.size() != 2 || p.pads_begin.size() != 2 || p.pads_end.size() != 2 || p.dilations.size() != 2)
            return false;
        geo.N = x[0], geo.C = x[1], geo.H = x[2], geo.W = x[3];
        geo.OC = ws[0], geo.KH = ws[2], geo.KW = ws[3];
        geo.OH = c.shape[2], geo.OW = c.shape[3];
        geo.SH = p.strides[0], geo.SW = p.strides[1];
        geo.DH = p.dilations[0], geo.DW = p.dilations[1];
        geo.PT = p.pads_begin[0], geo.PL = p.pads_begin[1];
        geo.PB = p.pads_end[0], geo.PR = p.pads_end[1];
        // Activation scale per tensor (spec §3 Convolution row), per group for GroupConvolution
        // (depthwise: per channel); ol may be per channel. Without groups, up to 8 runs of channels
        // with their own scale (a Concat of differently quantized tensors) split the reduction
        // into segments (spec §8.2).
        if (geo.groups == 1) {
            if (static_cast<int64_t>(conv_segments(desc).size()) - 1 > kMaxConvSegments) return false;
        } else {
            for (int64_t gi = 0; gi < geo.groups; ++gi)
                if (!uniform_step_in(a, gi * geo.Cg(), (gi + 1) * geo.Cg())) return false;
        }
    } else if (c.op == ir::Op::MatMul) {
        if (c.transpose_a || d.shape.size() != 2 || wn.shape.size() != 2 || c.shape.size() != 2) return false;
        // Per-tensor activation only (spec §8.1: a per-channel axis here is the reduction axis K).
        if (!uniform(a.ol) || !uniform(a.oh)) return false;
        const int64_t K = d.shape[1];
        const int64_t N_out = c.transpose_b ? wn.shape[0] : wn.shape[1];
        if ((c.transpose_b ? wn.shape[1] : wn.shape[0]) != K) return false;
        const ir::Node& src = g.node(input);
        const bool flatten = src.op == ir::Op::Reshape && src.inputs.size() == 1 &&
                             g.node(src.inputs[0]).shape.size() == 4 && src.shape.size() == 2;
        const Shape* x4 = flatten ? &g.node(src.inputs[0]).shape : nullptr;
        if (flatten && (*x4)[0] == src.shape[0] && (*x4)[1] * (*x4)[2] * (*x4)[3] == K) {
            // Row-major flatten of [N,C,H,W]: feature c*H*W + h*W + w, i.e. the weights [N_out][K]
            // read as OIHW [N_out,C,H,W]; a full-image convolution of the 4-D level tensor.
            geo.N = (*x4)[0], geo.C = (*x4)[1], geo.H = (*x4)[2], geo.W = (*x4)[3];
            geo.KH = geo.H, geo.KW = geo.W;
            geo.OH = 1, geo.OW = 1;
            desc.fused_nodes.push_back(src.name);
            input = src.inputs[0];
        } else {
            geo.N = 1, geo.C = K, geo.H = 1, geo.W = d.shape[0];
            geo.KH = 1, geo.KW = 1;
            geo.OH = 1, geo.OW = d.shape[0];
        }
        geo.OC = N_out;
        // The folded ActQuant may carry per-channel il/ih for the Quantize; the QConv reads a
        // per-tensor dequantization.
        desc.in.ol.v.resize(1);
        desc.in.oh.v.resize(1);
        if (desc.in.channels != geo.C) {
            desc.in.il.v.resize(1);
            desc.in.ih.v.resize(1);
            desc.in.channels = 1;
        }
    } else {
        return false;
    }
    if (static_cast<int64_t>(w.q.size()) != geo.OC * geo.K() || static_cast<int64_t>(w.s_w.size()) != geo.OC)
        return false;
    if (!detail::folds(desc)) return false;

    const int qid = detail::add_qconv(g, c.name, input, c.shape, std::move(desc));
    g.replace_uses(cid, qid);
    g.remove_dead();
    return true;
}

// ---- (c) QConv(f32) -> Add / Multiply / Relu / Clamp -------------------------------------------
bool fuse_post_op(ir::Graph& g, int qid, int xid) {
    const ir::Node q = g.node(qid);
    const ir::Node x = g.node(xid);
    if (x.shape != q.shape || q.shape.size() < 2) return false;
    const int64_t oc = q.qconv->g.OC;
    if (q.shape[1] != oc) return false;
    PostOp op;
    op.node = x.name;
    switch (x.op) {
    case ir::Op::Add:
    case ir::Op::Multiply: {
        const int k = constant_operand(g, x, qid);
        if (k < 0) return false;
        if (!detail::axis_vector(g.node(k).value, q.shape, 1, Broadcast::numpy, op.v) || !detail::all_finite(op.v))
            return false;
        if (x.op == ir::Op::Multiply) {
            op.kind = PostOp::Scale;
        } else {
            op.kind = PostOp::Bias;
            for (const PostOp& p : q.qconv->post)
                if (p.kind == PostOp::Bias || p.kind == PostOp::Shift) op.kind = PostOp::Shift;
        }
        break;
    }
    case ir::Op::Relu:
        op.kind = PostOp::Clamp;
        op.lo = 0.0f;
        op.hi = std::numeric_limits<float>::infinity();
        break;
    case ir::Op::Clamp:
        op.kind = PostOp::Clamp;
        op.lo = x.clamp_lo;
        op.hi = x.clamp_hi;
        break;
    default:
        return false;
    }
    QConvDesc desc = *q.qconv;
    desc.post.push_back(std::move(op));
    desc.fused_nodes.push_back(x.name);
    if (!detail::folds(desc)) return false;
    const int nid = detail::add_qconv(g, q.name, q.inputs[0], q.shape, std::move(desc));
    g.replace_uses(xid, nid);
    g.remove_dead();
    return true;
}

// ---- (d) Dequantize -> Relu / Clamp -------------------------------------------------------------
// max(v, lo) leaves v unchanged, bit for bit (ref::relu turns -0.0 into +0.0).
bool keeps_low(float v, float lo) { return v > lo || (v == lo && std::signbit(v) == std::signbit(lo)); }
bool keeps_high(float v, float hi) { return v < hi || (v == hi && std::signbit(v) == std::signbit(hi)); }

bool remove_noop(ir::Graph& g, int did, int xid) {
    const ir::Node d = g.node(did);
    const ir::Node x = g.node(xid);
    if (x.inputs.size() != 1 || x.shape != d.shape) return false;
    const float lo = x.op == ir::Op::Relu ? 0.0f : x.clamp_lo;
    const float hi = x.op == ir::Op::Relu ? std::numeric_limits<float>::infinity() : x.clamp_hi;
    if (x.op == ir::Op::Clamp && !(lo <= hi)) return false;
    const ActQuant& a = *d.act;
    const int64_t C = a.per_channel() ? a.channels : 1;
    for (int64_t c = 0; c < C; ++c) {
        for (float v : detail::level_values(a, c))
            if (!keeps_low(v, lo) || !keeps_high(v, hi)) return false;
    }
    g.replace_uses(xid, did);
    g.remove_dead();
    return true;
}

// ---- (e) Dequantize -> MaxPool ------------------------------------------------------------------
// With s >= 0 in every channel, level_value is non-decreasing in k (each of its fp32 steps is), so
// the largest dequantized value of a window is the value of its largest k, bit for bit: the MaxPool
// runs on the level indices and the Dequantize moves after it (spec §3 MaxPool row). s < 0 -> fp32.
bool swap_maxpool(ir::Graph& g, int did, int mid) {
    const ir::Node& d = g.node(did);
    const ir::Node& m = g.node(mid);
    if (m.inputs.size() != 1 || d.shape.size() != 4) return false;
    const ActQuant& a = *d.act;
    const int64_t C = a.per_channel() ? a.channels : 1;
    for (int64_t c = 0; c < C; ++c)
        if (!(a.step(c) >= 0.0)) return false;
    return move_below(g, did, mid);
}

// ---- (f) Dequantize -> AvgPool -------------------------------------------------------------------
// => QAvgPool (u8 k in, f32 out): the exact integer window sum and the folded epilogue of
// jit/pool_fold (spec §4.2 AvgPool form); fuse_requantize later fuses the next FakeQuantize.
bool to_qavgpool(ir::Graph& g, int did, int aid) {
    const ir::Node d = g.node(did);
    const ir::Node a = g.node(aid);
    if (a.inputs.size() != 1 || d.shape.size() != 4 || a.shape.size() != 4) return false;
    QAvgPoolDesc desc;
    desc.g = pool_geometry(d.shape, a.shape, a.pool);
    desc.exclude_pad = a.pool.exclude_pad;
    desc.in = *d.act;
    desc.out_levels = false;
    desc.fused_nodes = {a.name};
    try {
        (void)fold_avgpool(desc);
    } catch (const Error&) {
        return false;
    }
    ir::Node n;
    n.op = ir::Op::QAvgPool;
    n.name = a.name;
    n.inputs = {d.inputs[0]};
    n.type = ElemType::f32;
    n.shape = a.shape;
    n.pool = a.pool;
    n.qpool = std::make_shared<const QAvgPoolDesc>(std::move(desc));
    const int nid = g.add(std::move(n));
    g.replace_uses(aid, nid);
    g.remove_dead();
    return true;
}

bool step(ir::Graph& g) {
    const std::vector<int> order = g.topo_order();
    std::vector<std::vector<int>> users(static_cast<size_t>(g.size()));
    for (int id : order)
        for (int in : g.node(id).inputs) {
            std::vector<int>& u = users[static_cast<size_t>(in)];
            if (u.empty() || u.back() != id) u.push_back(id);
        }
    for (int id : order) {
        const ir::Node& n = g.node(id);
        const std::vector<int>& u = users[static_cast<size_t>(id)];
        if (n.op == ir::Op::Dequantize) {
            for (int x : u) {
                const ir::Op op = g.node(x).op;
                if (op == ir::Op::Reshape && swap_reshape(g, id, x)) return true;
                if (op == ir::Op::Transpose && swap_transpose(g, id, x)) return true;
                if ((op == ir::Op::Relu || op == ir::Op::Clamp) && remove_noop(g, id, x)) return true;
                if ((op == ir::Op::Convolution || op == ir::Op::MatMul) && to_qconv(g, id, x)) return true;
                if (op == ir::Op::GroupConvolution && to_qconv(g, id, x)) return true;
                if (op == ir::Op::MaxPool && swap_maxpool(g, id, x)) return true;
                if (op == ir::Op::AvgPool && to_qavgpool(g, id, x)) return true;
            }
        } else if (n.op == ir::Op::QConv && !n.qconv->out_levels) {
            if (u.size() == 1 && fuse_post_op(g, id, u[0])) return true;
        }
    }
    return false;
}

} // namespace

int propagate_dequantize(ir::Graph& g) {
    int n = 0;
    while (step(g)) ++n;
    return n;
}

} // namespace qjit::passes
