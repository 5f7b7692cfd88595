// Oracle B (spec §0, §4): runs the lowered graph with exact integer sums and the canonical fp32
// epilogue. Quantized tensors are u8 level indices in logical order; fp32 regions use the same
// reference ops as the runtime's fp32 fallback, so the JIT must equal B bit for bit everywhere.
#pragma once
#include <vector>

#include "jit/ir.hpp"
#include "qjit/tensor.hpp"

namespace qjit::oracle {

// Value of every node by id (dead nodes empty): f32 tensors, or u8 level tensors for quantized nodes.
std::vector<Tensor> run_oracle_b(const ir::Graph& lowered, const std::vector<Tensor>& inputs);
// Just the Results, in graph order.
std::vector<Tensor> oracle_b_outputs(const ir::Graph& lowered, const std::vector<Tensor>& inputs);

// Elementwise Quantize / Dequantize of a logical tensor (channel axis per runtime/act_layout.hpp).
Tensor quantize_logical(const ActQuant& q, const Tensor& x);
Tensor dequantize_logical(const ActQuant& q, const Tensor& k);
// One QConv node on a logical u8 input; returns a logical u8 or f32 tensor of node shape `out_shape`.
Tensor qconv_logical(const QConvDesc& d, const Tensor& k, const Shape& out_shape);

} // namespace qjit::oracle
