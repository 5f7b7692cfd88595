#include "tests/support/chain_check.hpp"

#include <cstring>
#include <sstream>

#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "runtime/oracle_b.hpp"
#include "runtime/oracle_check.hpp"

namespace qjit::tsupport {

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
        if (n.op != ir::Op::QConv) continue;
        const oracle::LayerCheck c =
            oracle::check_qconv_against_a(*n.qconv, vb[static_cast<size_t>(n.inputs[0])], vb[static_cast<size_t>(id)]);
        r.layer_outputs += c.outputs;
        r.flips += c.flips;
        r.violations += c.violations;
        if (r.first_violation.empty() && !c.first_violation.empty()) r.first_violation = n.name + ": " + c.first_violation;
    }
    return r;
}

} // namespace qjit::tsupport
