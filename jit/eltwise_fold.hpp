// Constant folding of a fused quantized elementwise node (QEltwiseDesc; spec §3, §4.2 "other fused
// forms") and its scalar definition: the one place that turns the desc into fp32 constants. Oracle B
// and the emitters use it, so they cannot drift apart. Compiled with -ffp-contract=off.
//
// Per output channel c, with r_i = ol_i + k_i*s_i (s_i = (oh_i-ol_i)/(L_i-1)) and the post-op chain
// y' = alpha*y + beta (jit/requant_fold.hpp PostChain), the real-valued forms are
//   Add:    y' = alpha*s0*k0 + alpha*s1*k1 + alpha*(ol0+ol1) + beta
//   Mul:    y' = alpha*s0*s1*k0*k1 + alpha*s0*ol1*k0 + alpha*s1*ol0*k1 + alpha*ol0*ol1 + beta
//   Affine: y' = alpha*s0*k0 + alpha*ol0 + beta                      (ScaleShift, Relu/Clamp)
// Levels mode multiplies every coefficient by isc = (L-1)/(ih-il) and adds ish = -il*isc to the
// constant; all of it in fp64, rounded once to fp32: p (k0*k1), a0 (k0), a1 (k1), e. Per element:
//   acc = e; acc = fma(f32(k1), a1, acc); acc = fma(f32(k0), a0, acc); acc = fma(f32(k0*k1), p, acc)
// (spec: Add v = fma(k1,A1,fma(k2,A2,E)), Mul v = fma(k1k2,P,fma(k1,A1,fma(k2,A2,E))) with 1-based
// operand names), where a term whose coefficient is 0 in every channel is omitted for the whole
// layer (not multiplied by +0, which could change the sign of a zero). k0*k1 <= 255^2 is exact in
// fp32. Then the tail of the QConv epilogue: Levels clamps to [0, L-1] in fp32 (NaN -> 0), rounds
// RNE and applies the integer bounds k_lo/k_hi of a fused Relu/Clamp; Threshold (next FQ il == ih)
// and Float use unscaled constants, fp32 bounds, and compare with il / store y.
#pragma once
#include <cstdint>
#include <vector>

#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"

namespace qjit {

struct EltwiseConsts {
    QEltwiseDesc::Kind kind = QEltwiseDesc::Add;
    EpilogueMode mode = EpilogueMode::Levels;
    int64_t c = 0;     // real channels
    int64_t c_pad = 0; // padded to a multiple of 16; padding lanes have all-zero constants
    bool has_p = false, has_a0 = false, has_a1 = false; // per-layer term presence (see above)
    std::vector<float> p, a0, a1, e; // [c_pad]

    // Levels: integer bounds after rounding, k = min(max(k, k_lo), k_hi). [c_pad]
    std::vector<int32_t> k_lo, k_hi;
    float v_max = 255.0f; // clamp of v before rounding: [v_min, v_max] (fold::level_clamp);
    float v_min = 0.0f;   // [0, L-1] unless the next FQ has ONNX rounding
    std::vector<int32_t> k_off; // ONNX offsets added after rounding [c_pad]; empty: none
    int out_levels = 256;
    // Threshold / Float: fp32 bounds when has_bounds. [c_pad]
    bool has_bounds = false;
    std::vector<float> y_lo, y_hi;
    std::vector<float> threshold; // Threshold: il per channel (+inf where the output is constant)

    // Count of per-channel constants the kernel embeds (for describe()).
    int constant_count() const;
};

// Throws qjit::Error(UnsupportedOp) naming desc.fused_nodes.front() when the desc cannot be folded:
// a folded constant non-finite or subnormal, a next FQ with il > ih or mixing il == ih and il < ih,
// or a vector whose size is neither 1 nor `channels`.
EltwiseConsts fold_eltwise(const QEltwiseDesc& desc);

// Scalar definition: Oracle B runs it and the JIT must match it bit for bit. k0, k1 are the input
// levels (k1 ignored by Affine), ch the output channel. Returns the u8 level in *k (Levels,
// Threshold) or the float in *y (Float).
void eltwise_scalar(const EltwiseConsts& c, int64_t ch, int32_t k0, int32_t k1, int32_t* k, float* y);

} // namespace qjit
