#include "tests/support/chain_check.hpp"

#include <cstring>
#include <sstream>

#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "jit/pool_fold.hpp"
#include "runtime/oracle_b.hpp"
#include "runtime/oracle_check.hpp"

namespace qjit::tsupport {
namespace {

// The dequantization of the u8 tensor `id` as its consumers read it (a Dequantize, or the input
// ActQuant of a QConv / QAvgPool, through further u8 MaxPools), or null.
const ActQuant* consumer_act(const ir::Graph& g, int id) {
    for (int u : g.consumers(id)) {
        const ir::Node& c = g.node(u);
        if (c.op == ir::Op::Dequantize) return c.act.get();
        if (c.op == ir::Op::QConv && c.inputs[0] == id) return &c.qconv->in;
        if (c.op == ir::Op::QAvgPool) return &c.qpool->in;
        if (c.op == ir::Op::MaxPool && c.type == ElemType::u8)
            if (const ActQuant* a = consumer_act(g, u)) return a;
    }
    return nullptr;
}

// The ActQuant that gives meaning to the u8 levels of node id: that of the node which produced
// them (a MaxPool keeps its input's). The consumer's may differ: an FQ -> FQ pair with the
// identity level map is dropped, leaving the second FQ's (possibly negative-scale) dequantization.
const ActQuant* producer_act(const ir::Graph& g, int id) {
    const ir::Node& p = g.node(id);
    switch (p.op) {
    case ir::Op::Quantize: return p.act.get();
    case ir::Op::QConv: return p.qconv->out_levels ? &p.qconv->out : nullptr;
    case ir::Op::QAvgPool: return p.qpool->out_levels ? &p.qpool->out : nullptr;
    case ir::Op::QEltwise: return p.qelt->out_levels ? &p.qelt->out : nullptr;
    case ir::Op::MaxPool: return p.type == ElemType::u8 ? producer_act(g, p.inputs[0]) : nullptr;
    default: return nullptr;
    }
}

// The §4.6 check of a QAvgPool or u8 MaxPool node (MaxPool: exact); false for other nodes.
bool pool_layer_check(const ir::Graph& g, const ir::Node& n, const std::vector<Tensor>& vb, oracle::LayerCheck* c) {
    if (n.op != ir::Op::QAvgPool && n.op != ir::Op::MaxPool) return false;
    const Tensor& in = vb[static_cast<size_t>(n.inputs[0])];
    const Tensor& out = vb[static_cast<size_t>(n.id)];
    if (n.op == ir::Op::QAvgPool) {
        *c = oracle::check_avgpool_against_a(*n.qpool, in, out);
        return true;
    }
    if (n.op != ir::Op::MaxPool || n.type != ElemType::u8) return false;
    const ActQuant* a = producer_act(g, n.inputs[0]);
    if (!a) a = consumer_act(g, n.id);
    if (!a) return false;
    *c = oracle::check_maxpool_against_a(pool_geometry(g.node(n.inputs[0]).shape, n.shape, n.pool), *a, in, out);
    return true;
}

} // namespace

bool same_bytes(const Tensor& a, const Tensor& b, std::string* why) {
    if (a.type() != b.type() || a.shape() != b.shape()) {
        *why = "type/shape differ: " + to_string(a.shape()) + " vs " + to_string(b.shape());
        return false;
    }
    const size_t es = elem_size(a.type());
    for (int64_t i = 0; i < a.numel(); ++i)
        if (std::memcmp(static_cast<const uint8_t*>(a.raw()) + i * es, static_cast<const uint8_t*>(b.raw()) + i * es,
                        es) != 0) {
            std::ostringstream os;
            os << "element " << i << ": " << a.at_f32(i) << " vs " << b.at_f32(i);
            *why = os.str();
            return false;
        }
    return true;
}

OracleAgreement check_against_oracles(const Graph& graph, CompiledModel& model, const std::vector<Tensor>& inputs) {
    OracleAgreement r;
    for (const KernelInfo& k : model.kernels())
        if (!k.jit && r.all_jit) {
            r.all_jit = false;
            r.fallback = k.name + " (" + k.fused_nodes + ")";
        }
    const std::vector<Tensor> out = model.run(inputs);
    ir::Graph lowered = graph.ir();
    lower(lowered);
    const std::vector<Tensor> vb = oracle::run_oracle_b(lowered, inputs);
    const std::vector<int> results = lowered.results();
    for (size_t i = 0; i < results.size() && r.jit_equals_b; ++i) {
        std::string why;
        if (!same_bytes(out.at(i), vb[static_cast<size_t>(results[i])], &why)) {
            r.jit_equals_b = false;
            r.mismatch = "result " + std::to_string(i) + ": " + why;
        }
    }
    for (int id : lowered.topo_order()) {
        const ir::Node& n = lowered.node(id);
        if (oracle::LayerCheck pc; pool_layer_check(lowered, n, vb, &pc)) {
            r.layer_outputs += pc.outputs;
            r.flips += pc.flips;
            r.violations += pc.violations;
            if (r.first_violation.empty() && !pc.first_violation.empty()) r.first_violation = n.name + ": " + pc.first_violation;
            continue;
        }
        if (n.op != ir::Op::QConv && n.op != ir::Op::QEltwise) continue;
        const Tensor& in0 = vb[static_cast<size_t>(n.inputs[0])];
        const oracle::LayerCheck c =
            n.op == ir::Op::QConv
                ? oracle::check_qconv_against_a(*n.qconv, in0, vb[static_cast<size_t>(id)])
                : oracle::check_qeltwise_against_a(*n.qelt, in0,
                                                   n.inputs.size() > 1 ? &vb[static_cast<size_t>(n.inputs[1])] : nullptr,
                                                   vb[static_cast<size_t>(id)]);
        r.layer_outputs += c.outputs;
        r.flips += c.flips;
        r.violations += c.violations;
        if (r.first_violation.empty() && !c.first_violation.empty()) r.first_violation = n.name + ": " + c.first_violation;
    }
    return r;
}

bool runs_as_jit(const CompiledModel& model, const std::string& fused_nodes, const std::string& name_prefix) {
    bool jit = false;
    for (const KernelInfo& k : model.kernels())
        if (k.fused_nodes == fused_nodes) jit = k.jit && k.name.rfind(name_prefix, 0) == 0;
    return jit;
}

} // namespace qjit::tsupport
