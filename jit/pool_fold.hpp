// Constant folding of a fused quantized AvgPool (spec §3 AvgPool row, §4.2 AvgPool form): the one
// place that turns a QAvgPoolDesc into the fp32 constants of its epilogue. Oracle B
// (runtime/pool_ref) and the emitter (emitters/pool) both use it. Compiled with -ffp-contract=off.
//
// Per output element of channel c with window sum S = sum of the valid k (exact, integer):
//   y = (n_valid * ol[c] + s[c] * S) / cnt        (the real average; cnt per qjit's PoolParams rule)
//   Levels:    v = fma(f32(S), M', E'), M' = s*isc/cnt, E' = (n_valid/cnt)*ol*isc + ish; clamp [0, L-1]; RNE
//   Threshold: y = fma(f32(S), M, E),   M = s/cnt, E = (n_valid/cnt)*ol; k = y > il ? L-1 : 0
//   Float:     y = fma(f32(S), M, E)
// every constant computed in fp64 and rounded once to fp32. M and E depend on the border pattern
// (n_valid and cnt change at the borders and with ceil mode), so both are tables over patterns.
#pragma once
#include <cstdint>
#include <vector>

#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"
#include "qjit/graph.hpp"

namespace qjit {

struct AvgPoolConsts {
    EpilogueMode mode = EpilogueMode::Float;
    int64_t c = 0;      // real channels
    int64_t c_pad = 0;  // padded to a multiple of 16; padding lanes have all-zero constants

    // Border patterns: output pixel (oh, ow) has pattern row_class[oh] * n_col_classes + col_class[ow].
    // Classes group output coordinates by (valid taps, divisor) along their axis.
    int64_t n_row_classes = 1, n_col_classes = 1;
    std::vector<int32_t> row_class; // [OH]
    std::vector<int32_t> col_class; // [OW]
    std::vector<float> m;           // [pattern * c_pad + c]: M' (Levels) or M (Threshold, Float)
    std::vector<float> e;           // [pattern * c_pad + c]: E' (Levels) or E (Threshold, Float)

    float v_max = 255.0f;           // Levels: clamp of v before rounding: [v_min, v_max]
    float v_min = 0.0f;             // (fold::level_clamp; [0, L-1] unless the next FQ has ONNX rounding)
    std::vector<int32_t> k_off;     // ONNX offsets added after rounding [c_pad]; empty: none
    int out_levels = 256;
    std::vector<float> threshold;   // Threshold: the next FQ's il per channel (+inf: constant channel). [c_pad]

    int64_t pattern(int64_t oh, int64_t ow) const {
        return static_cast<int64_t>(row_class[static_cast<size_t>(oh)]) * n_col_classes +
               col_class[static_cast<size_t>(ow)];
    }
    int64_t patterns() const { return n_row_classes * n_col_classes; }
    // Count of per-channel constants the kernel embeds (for describe()).
    int constant_count() const;
};

// Throws qjit::Error (naming desc.fused_nodes.front()) for an inconsistent description, a next
// FakeQuantize with il > ih or mixing il == ih and il < ih channels, or a folded constant that is
// non-finite or subnormal.
AvgPoolConsts fold_avgpool(const QAvgPoolDesc& desc);

// Scalar epilogue: the definition Oracle B runs and the JIT must match bit for bit. `sum` is the
// exact window sum of channel ch; returns the u8 level (Levels, Threshold) in *k or the float in *y.
void avgpool_epilogue_scalar(const AvgPoolConsts& c, int64_t ch, int64_t pattern, int64_t sum, int32_t* k, float* y);

// The largest window sum: KH*KW*(L_a-1) (the kernel picks 16- or 32-bit lanes from it).
int64_t avgpool_max_sum(const QAvgPoolDesc& desc);

// The geometry of a MaxPool / AvgPool on NCHW input `x` with output `y` as a ConvGeom: C = OC =
// groups, KH x KW window, strides, pads_begin (PT, PL) and pads_end (PB, PR) as given, OH/OW from
// `y` (the rounding mode's), no dilation.
ConvGeom pool_geometry(const Shape& x, const Shape& y, const PoolParams& p);

} // namespace qjit
