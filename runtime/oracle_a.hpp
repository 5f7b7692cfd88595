// Oracle A (spec §0): the float graph evaluated in fp32 exactly as spec §1 says, node by node,
// with the plain loops of runtime/ref_ops. Optional fp64 accumulation for Conv/MatMul (§4.6).
#pragma once
#include <vector>

#include "jit/ir.hpp"
#include "qjit/tensor.hpp"

namespace qjit::oracle {

struct OracleAOptions {
    bool fp64_accumulate = false; // Conv/MatMul sum in double and round to fp32 once
};

// Evaluates the float ops (Parameter .. Result) of g. Returns the value of every node, indexed by
// node id; dead or unreachable nodes get an empty Tensor. `inputs` follow g.parameters() order.
// Throws Error(BadInput) naming the parameter on a count/shape/type mismatch, Error(Internal) on a
// lowered op (Quantize, Dequantize, QConv), and Error(Internal) unless the FPU rounds to nearest.
std::vector<Tensor> run_oracle_a(const ir::Graph& g, const std::vector<Tensor>& inputs,
                                 const OracleAOptions& options = {});

// The values of g's Results, in graph order.
std::vector<Tensor> oracle_a_outputs(const ir::Graph& g, const std::vector<Tensor>& inputs,
                                     const OracleAOptions& options = {});

} // namespace qjit::oracle
