#include "jit/fq_math.hpp"

#include <cfenv>
#include <cmath>

#include "qjit/error.hpp"

namespace qjit::fq {

void require_round_to_nearest() {
    if (std::fegetround() != FE_TONEAREST)
        throw Error(ErrorCode::Internal, "<fpu>", "rounding mode is not round-to-nearest-even");
}

static float level_index_f(float x, float il, float ih, int levels) {
    const float lo = il < ih ? il : ih;
    const float hi = il < ih ? ih : il;
    if (x <= lo) return 0.0f;
    if (x > hi) return static_cast<float>(levels - 1);
    const float a = x - il;
    const float d = ih - il;
    const float u = (a / d) * static_cast<float>(levels - 1);
    return std::nearbyint(u);
}

float fake_quantize(float x, float il, float ih, float ol, float oh, int levels) {
    const float lo = il < ih ? il : ih;
    const float hi = il < ih ? ih : il;
    if (x <= lo) return ol;
    if (x > hi) return oh;
    const float k = level_index_f(x, il, ih, levels);
    return (k / static_cast<float>(levels - 1)) * (oh - ol) + ol;
}

int level_index(float x, float il, float ih, int levels) {
    const float k = level_index_f(x, il, ih, levels);
    if (!(k > 0.0f)) return 0; // NaN and 0
    return static_cast<int>(k);
}

float fake_quantize_and_level(float x, float il, float ih, float ol, float oh, int levels, int* k) {
    const float lo = il < ih ? il : ih;
    const float hi = il < ih ? ih : il;
    if (x <= lo) {
        *k = 0;
        return ol;
    }
    if (x > hi) {
        *k = levels - 1;
        return oh;
    }
    const float kf = level_index_f(x, il, ih, levels);
    *k = kf > 0.0f ? static_cast<int>(kf) : 0; // NaN and 0
    return (kf / static_cast<float>(levels - 1)) * (oh - ol) + ol;
}

float level_value(int k, float ol, float oh, int levels) {
    return (static_cast<float>(k) / static_cast<float>(levels - 1)) * (oh - ol) + ol;
}

int onnx_level_index(float x, float scale, int off, int levels) {
    const float t = std::nearbyint(x / scale) + static_cast<float>(off); // exact while |t| < 2^24
    if (!(t > 0.0f)) return 0;                                             // NaN, and below range
    const float top = static_cast<float>(levels - 1);
    return static_cast<int>(t < top ? t : top);
}

float onnx_fake_quantize(float x, float scale, int off, float ol, float oh, int levels) {
    if (std::isnan(x)) return x;
    return level_value(onnx_level_index(x, scale, off, levels), ol, oh, levels);
}

int round_rne(float v) { return static_cast<int>(std::nearbyint(v)); }

} // namespace qjit::fq
