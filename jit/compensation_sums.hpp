#pragma once

#include <cstdint>

namespace qjit {

// Zero-point compensation sums of the constant folding (requant_fold.cpp, spec §4.1) for nrow output channels
// r (nrow = 8, 16, 24 or 32):
// T[r * khw + k] = sum over ch in [0, Cg), ascending, of ol[ch] * (sw[r] * (q_r[ch * khw + k] - zw[r])), fp64,
// each sum starting from +0.0 and adding in that order. row[r] points at output channel r's Cg * khw weight
// codes; nothing outside [row[r], row[r] + Cg * khw) is read.
// Every variant performs the same fp64 operations per T, so all return the same bits.
void compensation_sums(int64_t nrow, const int8_t* const row[], const double sw[], const double zw[],
                       const double* ol, int64_t Cg, int64_t khw, double* T);

// The definition: scalar, 8 rows at a time (compensation_sums_8_scalar), one T after another.
void compensation_sums_scalar(int64_t nrow, const int8_t* const row[], const double sw[], const double zw[],
                              const double* ol, int64_t Cg, int64_t khw, double* T);
void compensation_sums_8_scalar(const int8_t* const row[8], const double sw[8], const double zw[8], const double* ol,
                                int64_t Cg, int64_t khw, double* T);

// AVX2, the same operations per T: khw == 1 sums 16 rows side by side from 8x8 byte transposes of the codes;
// 2 <= khw <= 16 runs the lanes over one row's contiguous taps; larger khw builds per-position vectors
// sw * (q - zw) of 8 rows (8x8 transposes) and sums all rows side by side. Needs AVX2 on the CPU.
void compensation_sums_avx2(int64_t nrow, const int8_t* const row[], const double sw[], const double zw[],
                            const double* ol, int64_t Cg, int64_t khw, double* T);

} // namespace qjit
