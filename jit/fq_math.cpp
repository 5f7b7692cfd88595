#include "jit/fq_math.hpp"

#include <immintrin.h>

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

namespace {

// 8 lanes of fake_quantize_and_level for il < ih (lo = il, hi = ih): sub, div, mul, round to nearest
// even (vroundps = nearbyint under RNE), div, mul, add, as the scalar form; the branches become blends.
__attribute__((target("avx2"))) int64_t fq_level_avx2(const float* x, int64_t n, float il, float ih, float ol,
                                                       float oh, int levels, float* y, int* k) {
    const float lm1 = static_cast<float>(levels - 1);
    const __m256 vil = _mm256_set1_ps(il), vih = _mm256_set1_ps(ih), vol = _mm256_set1_ps(ol),
                 voh = _mm256_set1_ps(oh), vd = _mm256_set1_ps(ih - il), vl = _mm256_set1_ps(lm1),
                 vdo = _mm256_set1_ps(oh - ol), zero = _mm256_setzero_ps();
    const __m256i kmax = _mm256_set1_epi32(levels - 1);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
            for (int64_t j = i; j < i + 8; ++j) y[j] = fake_quantize_and_level(x[j], il, ih, ol, oh, levels, &k[j]);
            continue;
        }
        const __m256 le = _mm256_cmp_ps(v, vil, _CMP_LE_OQ), gt = _mm256_cmp_ps(v, vih, _CMP_GT_OQ);
        const __m256 u = _mm256_mul_ps(_mm256_div_ps(_mm256_sub_ps(v, vil), vd), vl);
        const __m256 kf = _mm256_round_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256 ym = _mm256_add_ps(_mm256_mul_ps(_mm256_div_ps(kf, vl), vdo), vol);
        const __m256i km = _mm256_cvttps_epi32(_mm256_max_ps(kf, zero)); // kf > 0 ? (int)kf : 0 (kf >= 0 here)
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(_mm256_blendv_ps(ym, voh, gt), vol, le));
        const __m256i kk = _mm256_blendv_epi8(km, kmax, _mm256_castps_si256(gt));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(k + i),
                            _mm256_andnot_si256(_mm256_castps_si256(le), kk));
    }
    return i;
}

} // namespace

void fake_quantize_and_level_n(const float* x, int64_t n, float il, float ih, float ol, float oh, int levels, float* y,
                               int* k) {
    static const bool avx2 = __builtin_cpu_supports("avx2");
    int64_t i = avx2 && il < ih ? fq_level_avx2(x, n, il, ih, ol, oh, levels, y, k) : 0;
    for (; i < n; ++i) y[i] = fake_quantize_and_level(x[i], il, ih, ol, oh, levels, &k[i]);
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
