// Checks one compiled model against both oracles: JIT == Oracle B bit for bit (every Result), and
// every QConv (grouped included), QEltwise, QAvgPool and u8 MaxPool layer of B within spec §4.6 of
// Oracle A (teacher forcing; MaxPool exactly).
#pragma once
#include <string>
#include <vector>

#include "qjit/qjit.hpp"

namespace qjit::tsupport {

struct OracleAgreement {
    bool jit_equals_b = true;
    std::string mismatch;       // first differing output element, if any
    int64_t layer_outputs = 0;
    int64_t flips = 0;
    int64_t violations = 0;
    std::string first_violation;
    bool all_jit = true;        // every step of the schedule is a generated kernel
    std::string fallback;       // the first non-JIT step
};

OracleAgreement check_against_oracles(const Graph& graph, CompiledModel& model, const std::vector<Tensor>& inputs);

// Byte equality of two tensors; describes the first difference in *why.
bool same_bytes(const Tensor& a, const Tensor& b, std::string* why);

// Whether the step that runs node(s) `fused_nodes` (KernelInfo::fused_nodes) in `model` is a JIT
// kernel whose name starts with `name_prefix`.
bool runs_as_jit(const CompiledModel& model, const std::string& fused_nodes, const std::string& name_prefix);

} // namespace qjit::tsupport
