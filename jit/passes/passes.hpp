// The lowering passes, one per file (see README.md). Each rewrites the graph in place: it adds
// nodes, rewires uses and ends with remove_dead(). Each returns the number of rewrites it made.
// No pass throws for a graph it cannot lower: what it does not match stays on the fp32 path.
#pragma once
#include "jit/ir.hpp"

namespace qjit::passes {

// FakeQuantize on constant weights of a Convolution (input 1) or MatMul (input 1), ranges per
// tensor or per output channel -> Constant with Oracle A's fp32 value and QuantWeights (spec §2.4).
int fold_weight_fq(ir::Graph& g);

// Other FakeQuantize with constant ranges, per tensor or per channel on axis 1, levels 2..256
// -> Quantize (f32 -> u8 level index) + Dequantize (u8 -> f32) sharing one ActQuant (spec §2.1).
int decompose_activation_fq(ir::Graph& g);

// Moves Dequantize forward (spec §3): past Reshape, into Convolution/MatMul with folded weights
// (-> QConv with f32 output), through no-op Relu/Clamp; fuses per-channel Add/Multiply/Relu/Clamp
// after a f32 QConv into its post-ops.
int propagate_dequantize(ir::Graph& g);

// QConv(f32) -> Quantize becomes one QConv with u8 output (spec §4.2); Quantize(Dequantize(k))
// that provably returns k is removed.
int fuse_requantize(ir::Graph& g);

// Concat of Dequantize'd tensors -> Dequantize of a u8 Concat: along axis 1 with the inputs'
// params concatenated per channel (spec §3.2), along other axes when all params are identical.
int propagate_concat(ir::Graph& g);

// Add / Multiply of two Dequantize'd tensors -> QEltwise (u8 in, f32 out), then its per-channel
// Add / Multiply by constants, Relu, Clamp and the next Quantize fused into it (spec §4.2).
int fuse_eltwise(ir::Graph& g);

// Dequantize -> (per-channel Multiply / Add by constants, Relu, Clamp)+ -> Quantize -> one
// QEltwise of kind Affine (a per-channel affine requantize).
int fuse_scale_shift(ir::Graph& g);

} // namespace qjit::passes
