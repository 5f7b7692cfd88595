#include "runtime/oracle_b.hpp"

#include <cstring>

#include "jit/fq_math.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"
#include "runtime/act_layout.hpp"
#include "runtime/qconv_ref.hpp"
#include "runtime/pool_ref.hpp"
#include "runtime/qeltwise_ref.hpp"
#include "runtime/float_node_eval.hpp"

namespace qjit::oracle {
namespace {

// Channel of logical element i of a tensor of shape s (axis 1; the last axis for rank 2).
struct ChannelOf {
    int64_t inner = 1, C = 1;
    explicit ChannelOf(const Shape& s) {
        if (s.size() >= 2) {
            C = s[1];
            for (size_t i = 2; i < s.size(); ++i) inner *= s[i];
        }
    }
    int64_t operator()(int64_t i) const { return (i / inner) % C; }
};

} // namespace

Tensor quantize_logical(const ActQuant& q, const Tensor& x) {
    Tensor k(ElemType::u8, x.shape());
    const ChannelOf ch(x.shape());
    const float* s = x.data<float>();
    uint8_t* d = k.data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t c = ch(i);
        d[i] = static_cast<uint8_t>(q.level(c, s[i]));
    }
    return k;
}

Tensor dequantize_logical(const ActQuant& q, const Tensor& k) {
    Tensor y(ElemType::f32, k.shape());
    const ChannelOf ch(k.shape());
    const uint8_t* s = k.data<uint8_t>();
    float* d = y.data<float>();
    for (int64_t i = 0; i < k.numel(); ++i) {
        const int64_t c = ch(i);
        d[i] = fq::level_value(s[i], q.ol.at(c), q.oh.at(c), q.levels);
    }
    return y;
}

Tensor qconv_logical(const QConvDesc& d, const Tensor& k, const Shape& out_shape) {
    const QConvConsts c = fold_qconv(d);
    ActLayout in;
    in.N = d.g.N; in.H = d.g.H; in.W = d.g.W; in.C = d.g.C;
    in.c_stride = round_up16(d.g.C);
    // Input tensor is rank 4 (conv / flatten-FC) or rank 2 (FC rows): both map onto (N,H,W,C).
    const ActLayout view = rt::act_layout_for(k.shape());
    if (view.N * view.H * view.W * view.C != in.N * in.H * in.W * in.C)
        throw Error(ErrorCode::Internal, d.fused_nodes.empty() ? "<qconv>" : d.fused_nodes[0],
                    "QConv input shape does not match its geometry");
    std::vector<uint8_t> src(static_cast<size_t>(in.bytes()), 0);
    rt::logical_to_act(k.raw(), k.shape(), src.data(), in);
    ActLayout out;
    out.N = d.g.N; out.H = d.g.OH; out.W = d.g.OW; out.C = d.g.OC;
    out.c_stride = c.oc_pad;
    out.elem_bytes = d.out_levels ? 1 : 4;
    std::vector<uint8_t> dst(static_cast<size_t>(out.bytes()), 0);
    ref::qconv(d, c, src.data(), in, dst.data(), out);
    Tensor r(d.out_levels ? ElemType::u8 : ElemType::f32, out_shape);
    ActLayout out_view = rt::act_layout_for(out_shape, out.elem_bytes);
    out_view.c_stride = out.c_stride;
    rt::act_to_logical(dst.data(), out_view, out_shape, r.raw());
    return r;
}

std::vector<Tensor> run_oracle_b(const ir::Graph& g, const std::vector<Tensor>& inputs) {
    fq::require_round_to_nearest();
    std::vector<Tensor> v(static_cast<size_t>(g.size()));
    const std::vector<int> params = g.parameters();
    if (inputs.size() != params.size())
        throw Error(ErrorCode::BadInput, "<model>", "wrong number of inputs");
    for (size_t i = 0; i < params.size(); ++i) {
        const ir::Node& p = g.node(params[i]);
        if (inputs[i].shape() != p.shape || inputs[i].type() != p.type)
            throw Error(ErrorCode::BadInput, p.name, "input does not match the parameter");
        v[static_cast<size_t>(p.id)] = inputs[i];
    }
    for (int id : g.topo_order()) {
        const ir::Node& n = g.node(id);
        auto in = [&](size_t i) -> const Tensor& { return v[static_cast<size_t>(n.inputs[i])]; };
        Tensor& out = v[static_cast<size_t>(id)];
        switch (n.op) {
        case ir::Op::Parameter: break;
        case ir::Op::Constant: out = n.value; break;
        case ir::Op::Quantize: out = quantize_logical(*n.act, in(0)); break;
        case ir::Op::Dequantize: out = dequantize_logical(*n.act, in(0)); break;
        case ir::Op::QConv: out = qconv_logical(*n.qconv, in(0), n.shape); break;
        case ir::Op::QAvgPool: out = ref::qavgpool_logical(*n.qpool, in(0), n.shape); break;
        case ir::Op::MaxPool: // on level indices after propagate_dequantize, else the float op
            if (n.type == ElemType::u8)
                out = ref::maxpool_levels_logical(pool_geometry(in(0).shape(), n.shape, n.pool), in(0), n.shape);
            else
                out = ref::eval_float_node(g, n, v);
            break;
        case ir::Op::QEltwise:
            out = qeltwise_logical(*n.qelt, in(0), n.inputs.size() > 1 ? &in(1) : nullptr, n.shape);
            break;
        case ir::Op::Reshape: {
            out = Tensor(in(0).type(), n.shape);
            std::memcpy(out.raw(), in(0).raw(), in(0).bytes());
            break;
        }
        case ir::Op::Result: out = in(0); break;
        default: out = ref::eval_float_node(g, n, v); break;
        }
    }
    return v;
}

std::vector<Tensor> oracle_b_outputs(const ir::Graph& g, const std::vector<Tensor>& inputs) {
    std::vector<Tensor> all = run_oracle_b(g, inputs);
    std::vector<Tensor> r;
    for (int id : g.results()) r.push_back(all[static_cast<size_t>(id)]);
    return r;
}

} // namespace qjit::oracle
