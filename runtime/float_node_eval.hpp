// Evaluates one float-graph node (FakeQuantize, Convolution, MatMul, Add, Multiply, Relu, Clamp,
// Reshape, Concat and the float-only ops of ref_ops_extra) with the reference ops. Shared by Oracle A, Oracle B's fp32 regions and the runtime's
// fp32 fallback steps, so all three compute the same bits.
#pragma once
#include <vector>

#include "jit/ir.hpp"
#include "qjit/tensor.hpp"

namespace qjit::ref {

// `inputs` are the values of n.inputs in order.
Tensor eval_float_node(const ir::Node& n, const std::vector<const Tensor*>& inputs, bool fp64_accumulate = false);

// Convenience: inputs looked up by id in `values` (indexed by node id).
Tensor eval_float_node(const ir::Graph& g, const ir::Node& n, const std::vector<Tensor>& values,
                       bool fp64_accumulate = false);

} // namespace qjit::ref
