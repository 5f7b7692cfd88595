// Pieces every constant folding (requant_fold, eltwise_fold, pool_fold) shares: the one fp64 -> fp32
// rounding with its normal-value check (spec §1.4), and the choice of epilogue mode from the next
// FakeQuantize. Compiled with -ffp-contract=off.
#pragma once
#include <cstdint>
#include <string>

#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"

namespace qjit::fold {

// The first fused node's name, or `fallback` when there is none.
const std::string& node_name(const std::vector<std::string>& fused_nodes, const std::string& fallback);

// Rounds once to fp32; throws Error(UnsupportedOp) naming `node` unless the result is a normal
// fp32 value or zero.
float to_f32_checked(double v, const std::string& node, const char* what);

// Float when !out_levels; else Threshold when every channel of `out` has il == ih, Levels when every
// channel has il < ih. Throws Error(UnsupportedOp) for il > ih or a mix.
EpilogueMode output_mode(bool out_levels, const ActQuant& out, int64_t channels, const std::string& node);

} // namespace qjit::fold
