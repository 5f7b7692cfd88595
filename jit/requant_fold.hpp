// Constant folding of a fused QConv (spec §4.1, §4.2): the one place that turns a QConvDesc into
// the fp32 constants of the canonical epilogue. Oracle B and every emitter use it, so they cannot
// drift apart. Compiled with -ffp-contract=off.
#pragma once
#include <cstdint>
#include <vector>

#include "jit/quant_params.hpp"

namespace qjit {

// Output mode of the epilogue.
enum class EpilogueMode {
    Levels,    // v = fma(f,M',fma(fS,N',E')); clamp [0,L-1]; RNE; integer bounds; u8 k
    Threshold, // next FQ has il == ih: y = fma(f,M,fma(fS,N,E+b)); float bounds; k = y > il ? L-1 : 0
    Float,     // no next FQ: y as in Threshold, float bounds, f32 output
};

struct QConvConsts {
    EpilogueMode mode = EpilogueMode::Levels;
    int64_t oc = 0;      // real output channels
    int64_t oc_pad = 0;  // padded to a multiple of 16; padding lanes have all-zero constants
    bool has_n = false;  // asymmetric weights anywhere: the N*S term is present (per layer)
    // Segment split (spec §8.2): input channels [seg_c[i], seg_c[i+1]) share one activation step;
    // D_i (and S_i) are summed per segment and m, n hold one [oc_pad] vector per segment. One
    // segment unless the input is a Concat of differently quantized tensors (groups == 1 only).
    std::vector<int64_t> seg_c;

    std::vector<float> m; // [n_seg][oc_pad]  M' (Levels) or M (Threshold, Float)
    std::vector<float> n; // [n_seg][oc_pad]  N' or N (all zero when !has_n)

    // Border patterns (spec §8.3): pattern of output pixel (oh, ow) is
    // row_class[oh] * n_col_classes + col_class[ow]; E[pattern * oc_pad + o].
    int64_t n_row_classes = 1, n_col_classes = 1;
    std::vector<int32_t> row_class; // [OH]
    std::vector<int32_t> col_class; // [OW]
    std::vector<float> e;           // E' (Levels) or E+b (Threshold, Float)

    // Levels: integer bounds applied after rounding, k = min(max(k, k_lo), k_hi). [oc_pad]
    std::vector<int32_t> k_lo, k_hi;
    float v_max = 255.0f;           // clamp of v before rounding: [v_min, v_max] (fold::level_clamp);
    float v_min = 0.0f;             // [0, L-1] unless the next FQ has ONNX rounding
    std::vector<int32_t> k_off;     // ONNX offsets added after rounding [oc_pad]; empty: none
    // Threshold / Float: fp32 bounds y = min(max(y, y_lo), y_hi) when has_bounds. [oc_pad]
    bool has_bounds = false;
    std::vector<float> y_lo, y_hi;
    // Threshold: the next FQ's il per channel. [oc_pad]
    std::vector<float> threshold;
    int out_levels = 256;

    int64_t pattern(int64_t oh, int64_t ow) const {
        return static_cast<int64_t>(row_class[static_cast<size_t>(oh)]) * n_col_classes +
               col_class[static_cast<size_t>(ow)];
    }
    int64_t n_seg() const { return seg_c.size() < 2 ? 1 : static_cast<int64_t>(seg_c.size()) - 1; }
    // Count of distinct per-channel constants the kernel embeds (for describe()).
    int constant_count() const;
};

// The affine map and bounds a post-op chain applies to a raw value y, per channel, in fp64:
// y_final = clamp(alpha*y + beta, lo, hi); has_bounds when the chain holds a Clamp. Shared by the
// QConv folding and the eltwise folding (jit/eltwise_fold.*).
struct PostChain {
    std::vector<double> alpha, beta, lo, hi;
    bool has_bounds = false;
};
PostChain fold_post_chain(const std::vector<PostOp>& post, int64_t channels);

// Throws qjit::Error (naming desc.fused_nodes.front()) when a folded constant is non-finite or subnormal.
QConvConsts fold_qconv(const QConvDesc& desc);

// The integer lower bound k_lo folded into the fp32 clamp before rounding, when every one of the
// `oc` channels has the same k_lo = K > 0, K <= v_max, there are no ONNX offsets and oc fills whole
// vectors of `lanes` (a padded lane would otherwise turn 0 into K): max(rne(min(max(v, v_min), v_max)), K)
// equals rne(min(max(v, max(v_min, K)), v_max)) for an integer K, since rounding is monotonic and
// rne(K) = K (a NaN takes the lower bound on both sides). One vpmaxsd fewer per output vector (a
// destination zero point under a fused ReLU makes k_lo uniform). Returns the lower clamp to use;
// *drop_klo tells whether the k_lo step can go.
float fold_uniform_klo(const QConvConsts& c, int64_t oc, int64_t lanes, bool* drop_klo);


// The most segments a reduction is split into (spec §8.2); beyond, the Conv runs in fp32.
constexpr int64_t kMaxConvSegments = 8;

// Channel boundaries {0, c_1, ..., C} of the runs of equal activation step (bit-equal fp64) of a
// groups == 1 QConvDesc; {0, C} for grouped convs (whose step is checked per group by fold_qconv).
std::vector<int64_t> conv_segments(const QConvDesc& d);

// Scalar epilogue: the definition Oracle B runs and the JIT must match bit for bit.
// d[i], s[i] are the exact integer sums of segment i (one entry without a split); o the output
// channel; pattern as above. The fixed nesting of §8.2: t = E; for i = n_seg-1 down to 0:
// [t = fma(f(S_i), N'_i, t)]; t = fma(f(D_i), M'_i, t).
// Returns the u8 level (Levels, Threshold) in *k or the float (Float) in *y.
void epilogue_scalar(const QConvConsts& c, int64_t o, int64_t pattern, const int64_t* d, const int64_t* s,
                     int32_t* k, float* y);
inline void epilogue_scalar(const QConvConsts& c, int64_t o, int64_t pattern, int64_t d, int64_t s, int32_t* k,
                            float* y) {
    epilogue_scalar(c, o, pattern, &d, &s, k, y);
}

} // namespace qjit
