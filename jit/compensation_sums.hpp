#pragma once

#include <cstdint>

namespace qjit {

// Zero-point compensation sums of the constant folding (requant_fold.cpp, spec §4.1) for nrow output channels
// r (nrow = 8, 16, 24 or 32):
// T[r * khw + k] = sum over ch in [0, Cg), ascending, of ol[ch] * (sw[r] * (q_r[ch * khw + k] - zw[r])), fp64,
// each sum starting from +0.0 and adding in that order. row[r] points at channel r's Cg * khw weight codes.
// Every variant performs the same fp64 operations per T, so all return the same bits.
void compensation_sums(int64_t nrow, const int8_t* const row[], const double sw[], const double zw[],
                       const double* ol, int64_t Cg, int64_t khw, double* T);

// The definition: scalar, 8 rows at a time (compensation_sums_8_scalar), one T after another.
void compensation_sums_scalar(int64_t nrow, const int8_t* const row[], const double sw[], const double zw[],
                              const double* ol, int64_t Cg, int64_t khw, double* T);
void compensation_sums_8_scalar(const int8_t* const row[8], const double sw[8], const double zw[8], const double* ol,
                                int64_t Cg, int64_t khw, double* T);

// AVX2: each block of 8 rows is transposed 8 positions at a time (8x8 bytes) into a chunk of per-position
// vectors sw * (q - zw); then each T adds ol[ch] * that in channel order, all nrow T side by side (with 32
// rows, 8 independent chains). Needs AVX2 on the CPU.
void compensation_sums_avx2(int64_t nrow, const int8_t* const row[], const double sw[], const double zw[],
                            const double* ol, int64_t Cg, int64_t khw, double* T);

} // namespace qjit
