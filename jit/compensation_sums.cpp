#include "jit/compensation_sums.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace qjit {

void compensation_sums_8_scalar(const int8_t* const row[8], const double sw[8], const double zw[8], const double* ol,
                                int64_t Cg, int64_t khw, double* T) {
    for (int64_t k = 0; k < khw; ++k) {
        double t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t ch = 0; ch < Cg; ++ch) {
            const double a = ol[ch];
            const int64_t at = ch * khw + k;
            for (int b = 0; b < 8; ++b) t[b] += a * (sw[b] * (static_cast<double>(row[b][at]) - zw[b]));
        }
        for (int b = 0; b < 8; ++b) T[b * khw + k] = t[b];
    }
}

namespace {

// 8 consecutive positions of 8 rows, transposed: c[j] holds positions 2j (low 8 bytes) and 2j + 1, rows 0..7.
struct Codes8x8 {
    __m128i c0, c1, c2, c3;
};
inline Codes8x8 transpose_8x8(const int8_t* const row[8], int64_t p) {
    const auto ld = [&](int b) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row[b] + p)); };
    const __m128i a01 = _mm_unpacklo_epi8(ld(0), ld(1)), a23 = _mm_unpacklo_epi8(ld(2), ld(3));
    const __m128i a45 = _mm_unpacklo_epi8(ld(4), ld(5)), a67 = _mm_unpacklo_epi8(ld(6), ld(7));
    const __m128i b0 = _mm_unpacklo_epi16(a01, a23), b1 = _mm_unpackhi_epi16(a01, a23);
    const __m128i b2 = _mm_unpacklo_epi16(a45, a67), b3 = _mm_unpackhi_epi16(a45, a67);
    return {_mm_unpacklo_epi32(b0, b2), _mm_unpackhi_epi32(b0, b2), _mm_unpacklo_epi32(b1, b3),
            _mm_unpackhi_epi32(b1, b3)};
}

// One position: its 8 codes (rows 0..7) in the low 8 bytes of x -> w0 / w1 = sw * (q - zw) of rows 0..3 /
// 4..7 (the int8 -> fp64 conversion is exact). Without kZw all 8 zw are +-0.0 and q - zw == q exactly,
// so the subtraction is left out (same bits).
template <bool kZw>
__attribute__((target("avx2"), always_inline)) inline void values8(__m256d sw0, __m256d sw1, __m256d zw0,
                                                                    __m256d zw1, __m128i x, __m256d& w0, __m256d& w1) {
    const __m256i v = _mm256_cvtepi8_epi32(x);
    __m256d q0 = _mm256_cvtepi32_pd(_mm256_castsi256_si128(v));
    __m256d q1 = _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1));
    if (kZw) {
        q0 = _mm256_sub_pd(q0, zw0);
        q1 = _mm256_sub_pd(q1, zw1);
    }
    w0 = _mm256_mul_pd(sw0, q0);
    w1 = _mm256_mul_pd(sw1, q1);
}

// One position -> out[b] = sw[b] * (q_b - zw[b]).
template <bool kZw>
__attribute__((target("avx2"), always_inline)) inline void put8(__m256d sw0, __m256d sw1, __m256d zw0, __m256d zw1,
                                                                 __m128i x, double* out) {
    __m256d w0, w1;
    values8<kZw>(sw0, sw1, zw0, zw1, x, w0, w1);
    _mm256_storeu_pd(out, w0);
    _mm256_storeu_pd(out + 4, w1);
}

// Positions [p0, p1) of the 8 rows -> W[(p - p0) * 8 + b] = sw[b] * (q_b[p] - zw[b]) (the same two fp64
// operations as the definition; the int8 -> fp64 conversion is exact).
template <bool kZw>
__attribute__((target("avx2"))) void weight_values_8(const int8_t* const row[8], __m256d sw0, __m256d sw1,
                                                      __m256d zw0, __m256d zw1, int64_t p0, int64_t p1, double* W) {
    int64_t p = p0;
    for (; p + 8 <= p1; p += 8) {
        const Codes8x8 c = transpose_8x8(row, p);
        double* w = W + (p - p0) * 8;
        put8<kZw>(sw0, sw1, zw0, zw1, c.c0, w);
        put8<kZw>(sw0, sw1, zw0, zw1, _mm_unpackhi_epi64(c.c0, c.c0), w + 8);
        put8<kZw>(sw0, sw1, zw0, zw1, c.c1, w + 16);
        put8<kZw>(sw0, sw1, zw0, zw1, _mm_unpackhi_epi64(c.c1, c.c1), w + 24);
        put8<kZw>(sw0, sw1, zw0, zw1, c.c2, w + 32);
        put8<kZw>(sw0, sw1, zw0, zw1, _mm_unpackhi_epi64(c.c2, c.c2), w + 40);
        put8<kZw>(sw0, sw1, zw0, zw1, c.c3, w + 48);
        put8<kZw>(sw0, sw1, zw0, zw1, _mm_unpackhi_epi64(c.c3, c.c3), w + 56);
    }
    double sw[8], zw[8];
    _mm256_storeu_pd(sw, sw0);
    _mm256_storeu_pd(sw + 4, sw1);
    _mm256_storeu_pd(zw, zw0);
    _mm256_storeu_pd(zw + 4, zw1);
    for (; p < p1; ++p)
        for (int b = 0; b < 8; ++b) W[(p - p0) * 8 + b] = sw[b] * (static_cast<double>(row[b][p]) - zw[b]);
}

// One position's 8 codes (low 8 bytes of x) -> t += a * (sw * (q - zw)), rows 0..3 in t0, 4..7 in t1.
template <bool kZw>
__attribute__((target("avx2"), always_inline)) inline void add8(__m256d sw0, __m256d sw1, __m256d zw0, __m256d zw1,
                                                                __m256d a, __m128i x, __m256d& t0, __m256d& t1) {
    __m256d w0, w1;
    values8<kZw>(sw0, sw1, zw0, zw1, x, w0, w1);
    t0 = _mm256_add_pd(t0, _mm256_mul_pd(a, w0));
    t1 = _mm256_add_pd(t1, _mm256_mul_pd(a, w1));
}

// Position POS of NB transposed 8x8 blocks: t[2i], t[2i+1] += a * (sw * (q - zw)) for block i.
template <bool kZw, int NB, int POS>
__attribute__((target("avx2"), always_inline)) inline void step(const Codes8x8* c, const __m256d* sv,
                                                                const __m256d* zv, double a_val, __m256d* t) {
    const __m256d a = _mm256_set1_pd(a_val);
    for (int i = 0; i < NB; ++i) {
        const __m128i x = POS / 2 == 0 ? c[i].c0 : POS / 2 == 1 ? c[i].c1 : POS / 2 == 2 ? c[i].c2 : c[i].c3;
        add8<kZw>(sv[2 * i], sv[2 * i + 1], zv[2 * i], zv[2 * i + 1], a, POS % 2 == 0 ? x : _mm_unpackhi_epi64(x, x),
                  t[2 * i], t[2 * i + 1]);
    }
}

// khw == 1 (FC, 1x1): the transposed codes feed the sums directly, channel after channel, no W buffer; NB
// blocks of 8 rows side by side (2 * NB independent chains, so the add latency does not bound the loop).
template <bool kZw, int NB>
__attribute__((target("avx2"))) void sums_1tap(const int8_t* const row[], const double sw[], const double zw[],
                                               const double* ol, int64_t Cg, double* T) {
    __m256d sv[2 * NB], zv[2 * NB], t[2 * NB];
    for (int j = 0; j < 2 * NB; ++j) {
        sv[j] = _mm256_loadu_pd(sw + 4 * j);
        zv[j] = _mm256_loadu_pd(zw + 4 * j);
        t[j] = _mm256_setzero_pd();
    }
    int64_t ch = 0;
    for (; ch + 8 <= Cg; ch += 8) {
        Codes8x8 c[NB];
        for (int i = 0; i < NB; ++i) c[i] = transpose_8x8(row + 8 * i, ch);
        step<kZw, NB, 0>(c, sv, zv, ol[ch + 0], t);
        step<kZw, NB, 1>(c, sv, zv, ol[ch + 1], t);
        step<kZw, NB, 2>(c, sv, zv, ol[ch + 2], t);
        step<kZw, NB, 3>(c, sv, zv, ol[ch + 3], t);
        step<kZw, NB, 4>(c, sv, zv, ol[ch + 4], t);
        step<kZw, NB, 5>(c, sv, zv, ol[ch + 5], t);
        step<kZw, NB, 6>(c, sv, zv, ol[ch + 6], t);
        step<kZw, NB, 7>(c, sv, zv, ol[ch + 7], t);
    }
    double tt[8 * NB];
    for (int j = 0; j < 2 * NB; ++j) _mm256_storeu_pd(tt + 4 * j, t[j]);
    for (; ch < Cg; ++ch)
        for (int b = 0; b < 8 * NB; ++b) tt[b] += ol[ch] * (sw[b] * (static_cast<double>(row[b][ch]) - zw[b]));
    for (int b = 0; b < 8 * NB; ++b) T[b] = tt[b];
}

// 2 <= khw <= 4 * NV: one row's taps are contiguous per channel, so the lanes run over taps: vector j holds
// taps 4j..4j+3 of T, added channel after channel. The last vector may read into the next channel's codes
// (lanes >= khw, computed and dropped); the last channel goes scalar so no read passes the row's end.
template <bool kZw, int NV>
__attribute__((target("avx2"))) void sums_taps_row(const int8_t* q, double sw_r, double zw_r, const double* ol,
                                                   int64_t Cg, int64_t khw, double* T) {
    const __m256d sw = _mm256_set1_pd(sw_r), zw = _mm256_set1_pd(zw_r);
    __m256d t[NV];
    for (int j = 0; j < NV; ++j) t[j] = _mm256_setzero_pd();
    for (int64_t ch = 0; ch + 1 < Cg; ++ch) {
        const __m256d a = _mm256_set1_pd(ol[ch]);
        const int8_t* qc = q + ch * khw;
        for (int j = 0; j < NV; ++j) {
            int32_t bytes;
            std::memcpy(&bytes, qc + 4 * j, 4);
            __m256d v = _mm256_cvtepi32_pd(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(bytes)));
            if (kZw) v = _mm256_sub_pd(v, zw);
            t[j] = _mm256_add_pd(t[j], _mm256_mul_pd(a, _mm256_mul_pd(sw, v)));
        }
    }
    double tt[4 * NV];
    for (int j = 0; j < NV; ++j) _mm256_storeu_pd(tt + 4 * j, t[j]);
    if (Cg > 0) {
        const int64_t ch = Cg - 1;
        for (int64_t k = 0; k < khw; ++k)
            tt[k] += ol[ch] * (sw_r * (static_cast<double>(q[ch * khw + k]) - zw_r));
    }
    for (int64_t k = 0; k < khw; ++k) T[k] = tt[k];
}

template <bool kZw>
__attribute__((target("avx2"))) void sums_taps(int64_t nrow, const int8_t* const row[], const double sw[],
                                               const double zw[], const double* ol, int64_t Cg, int64_t khw,
                                               double* T) {
    for (int64_t r = 0; r < nrow; ++r) {
        double* Tr = T + r * khw;
        if (khw <= 4)
            sums_taps_row<kZw, 1>(row[r], sw[r], zw[r], ol, Cg, khw, Tr);
        else if (khw <= 8)
            sums_taps_row<kZw, 2>(row[r], sw[r], zw[r], ol, Cg, khw, Tr);
        else if (khw <= 12)
            sums_taps_row<kZw, 3>(row[r], sw[r], zw[r], ol, Cg, khw, Tr);
        else
            sums_taps_row<kZw, 4>(row[r], sw[r], zw[r], ol, Cg, khw, Tr);
    }
}

} // namespace

__attribute__((target("avx2"))) void compensation_sums_avx2(int64_t nrow, const int8_t* const row[],
                                                             const double sw[], const double zw[], const double* ol,
                                                             int64_t Cg, int64_t khw, double* T) {
    const int64_t n8 = nrow / 8; // blocks of 8 rows, 2 independent fp64 chains each
    bool zw_zero = true;
    for (int64_t r = 0; r < nrow; ++r) zw_zero = zw_zero && zw[r] == 0.0;
    if (khw == 1) {
        int64_t blk = 0;
        for (; blk + 2 <= n8; blk += 2)
            (zw_zero ? sums_1tap<false, 2> : sums_1tap<true, 2>)(row + blk * 8, sw + blk * 8, zw + blk * 8, ol, Cg,
                                                                 T + blk * 8);
        if (blk < n8)
            (zw_zero ? sums_1tap<false, 1> : sums_1tap<true, 1>)(row + blk * 8, sw + blk * 8, zw + blk * 8, ol, Cg,
                                                                 T + blk * 8);
        return;
    }
    if (khw <= 16) {
        (zw_zero ? sums_taps<false> : sums_taps<true>)(nrow, row, sw, zw, ol, Cg, khw, T);
        return;
    }
    // 4 KiB of W per block: all blocks' chunks stay in L1 between their write and their reads.
    constexpr int64_t kChunkPositions = 64;
    const int64_t chunk_ch = std::max<int64_t>(1, kChunkPositions / std::max<int64_t>(1, khw));
    const int64_t w_block = std::min(chunk_ch, std::max<int64_t>(1, Cg)) * khw * 8;
    std::vector<double> W(static_cast<size_t>(n8 * w_block));
    // acc[(k * n8 + blk) * 8 + b]: the running T, +0.0 at first (as the definition's t = 0).
    std::vector<double> acc(static_cast<size_t>(khw * n8 * 8), 0.0);
    for (int64_t c_lo = 0; c_lo < Cg; c_lo += chunk_ch) {
        const int64_t c_hi = std::min(Cg, c_lo + chunk_ch);
        for (int64_t blk = 0; blk < n8; ++blk) {
            const __m256d sw0 = _mm256_loadu_pd(sw + blk * 8), sw1 = _mm256_loadu_pd(sw + blk * 8 + 4);
            const __m256d zw0 = _mm256_loadu_pd(zw + blk * 8), zw1 = _mm256_loadu_pd(zw + blk * 8 + 4);
            (zw_zero ? weight_values_8<false> : weight_values_8<true>)(row + blk * 8, sw0, sw1, zw0, zw1, c_lo * khw,
                                                                       c_hi * khw, W.data() + blk * w_block);
        }
        for (int64_t k = 0; k < khw; ++k) {
            double* ak = &acc[static_cast<size_t>(k * n8 * 8)];
            if (n8 == 4) { // 8 chains side by side: the add latency no longer bounds the loop
                __m256d t0 = _mm256_loadu_pd(ak), t1 = _mm256_loadu_pd(ak + 4);
                __m256d t2 = _mm256_loadu_pd(ak + 8), t3 = _mm256_loadu_pd(ak + 12);
                __m256d t4 = _mm256_loadu_pd(ak + 16), t5 = _mm256_loadu_pd(ak + 20);
                __m256d t6 = _mm256_loadu_pd(ak + 24), t7 = _mm256_loadu_pd(ak + 28);
                const double* w = W.data() + k * 8;
                for (int64_t ch = c_lo; ch < c_hi; ++ch, w += khw * 8) {
                    const __m256d a = _mm256_set1_pd(ol[ch]);
                    t0 = _mm256_add_pd(t0, _mm256_mul_pd(a, _mm256_loadu_pd(w)));
                    t1 = _mm256_add_pd(t1, _mm256_mul_pd(a, _mm256_loadu_pd(w + 4)));
                    t2 = _mm256_add_pd(t2, _mm256_mul_pd(a, _mm256_loadu_pd(w + w_block)));
                    t3 = _mm256_add_pd(t3, _mm256_mul_pd(a, _mm256_loadu_pd(w + w_block + 4)));
                    t4 = _mm256_add_pd(t4, _mm256_mul_pd(a, _mm256_loadu_pd(w + 2 * w_block)));
                    t5 = _mm256_add_pd(t5, _mm256_mul_pd(a, _mm256_loadu_pd(w + 2 * w_block + 4)));
                    t6 = _mm256_add_pd(t6, _mm256_mul_pd(a, _mm256_loadu_pd(w + 3 * w_block)));
                    t7 = _mm256_add_pd(t7, _mm256_mul_pd(a, _mm256_loadu_pd(w + 3 * w_block + 4)));
                }
                _mm256_storeu_pd(ak, t0);
                _mm256_storeu_pd(ak + 4, t1);
                _mm256_storeu_pd(ak + 8, t2);
                _mm256_storeu_pd(ak + 12, t3);
                _mm256_storeu_pd(ak + 16, t4);
                _mm256_storeu_pd(ak + 20, t5);
                _mm256_storeu_pd(ak + 24, t6);
                _mm256_storeu_pd(ak + 28, t7);
                continue;
            }
            for (int64_t blk = 0; blk < n8; ++blk) {
                __m256d t0 = _mm256_loadu_pd(ak + blk * 8), t1 = _mm256_loadu_pd(ak + blk * 8 + 4);
                for (int64_t ch = c_lo; ch < c_hi; ++ch) {
                    const __m256d a = _mm256_set1_pd(ol[ch]);
                    const double* w = W.data() + blk * w_block + ((ch - c_lo) * khw + k) * 8;
                    t0 = _mm256_add_pd(t0, _mm256_mul_pd(a, _mm256_loadu_pd(w)));
                    t1 = _mm256_add_pd(t1, _mm256_mul_pd(a, _mm256_loadu_pd(w + 4)));
                }
                _mm256_storeu_pd(ak + blk * 8, t0);
                _mm256_storeu_pd(ak + blk * 8 + 4, t1);
            }
        }
    }
    for (int64_t blk = 0; blk < n8; ++blk)
        for (int64_t k = 0; k < khw; ++k)
            for (int b = 0; b < 8; ++b)
                T[(blk * 8 + b) * khw + k] = acc[static_cast<size_t>((k * n8 + blk) * 8 + b)];
}

void compensation_sums_scalar(int64_t nrow, const int8_t* const row[], const double sw[], const double zw[],
                              const double* ol, int64_t Cg, int64_t khw, double* T) {
    for (int64_t blk = 0; blk < nrow / 8; ++blk)
        compensation_sums_8_scalar(row + blk * 8, sw + blk * 8, zw + blk * 8, ol, Cg, khw, T + blk * 8 * khw);
}

void compensation_sums(int64_t nrow, const int8_t* const row[], const double sw[], const double zw[],
                       const double* ol, int64_t Cg, int64_t khw, double* T) {
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2)
        compensation_sums_avx2(nrow, row, sw, zw, ol, Cg, khw, T);
    else
        compensation_sums_scalar(nrow, row, sw, zw, ol, Cg, khw, T);
}

} // namespace qjit
