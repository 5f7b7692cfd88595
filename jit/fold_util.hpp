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

// Levels mode with the next FakeQuantize `out` (spec §4.2 step 4, §2.5): the fp32 clamp [v_min, v_max]
// of v before rounding and the per-channel integer offsets added after it. Without ONNX rounding (or
// when every offset is 0) that is [0, L-1] and no offsets (k_off empty); else [-max off, L-1 - min off]
// and k_off[ch] = off (0 in constant channels ol == oh and in the padding up to `pad`).
void level_clamp(const ActQuant& out, int64_t channels, int64_t pad, float* v_min, float* v_max,
                 std::vector<int32_t>* k_off);

// The rounding every Levels epilogue shares: v = min(max(v, v_min), v_max) (NaN -> v_min), q = RNE(v);
// with offsets q = min(max(q + k_off[ch], 0), L-1). The integer bounds k_lo / k_hi come after it.
int32_t round_level(float v, float v_min, float v_max, const std::vector<int32_t>& k_off, size_t ch, int levels);

} // namespace qjit::fold
