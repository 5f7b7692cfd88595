// Runs the lowering passes in order (jit/passes/README.md) and reports what stays in fp32.
#pragma once
#include <string>
#include <vector>

#include "jit/ir.hpp"

namespace qjit {

struct LowerOptions {
    bool allow_fp32_fallback = true; // false: a float compute node left after lowering is an Error
};

// fold_weight_fq, decompose_activation_fq, propagate_concat + propagate_dequantize (to a fixed
// point), fuse_requantize, fuse_eltwise, fuse_scale_shift, remove_dead.
// Throws Error(UnsupportedOp) naming the first fp32 fallback node when !allow_fp32_fallback.
void lower(ir::Graph& g, const LowerOptions& options = {});

// Names of the live float compute nodes (FakeQuantize, Convolution, MatMul, Add, Multiply, Relu,
// Clamp, f32 Concat) in topological order: the nodes that run on the generic fp32 path.
std::vector<std::string> fp32_fallback_nodes(const ir::Graph& g);

} // namespace qjit
