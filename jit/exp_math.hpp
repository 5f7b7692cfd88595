// qjit's exponential: one fixed sequence of IEEE double operations that the reference ops
// (ref::sigmoid, ref::softmax) and the fp32 JIT kernels (emitters/fp32_transcendental) both execute,
// so generated code equals the reference bit for bit by construction (std::exp differs between
// C libraries). Accuracy: within 2 double ulp of e^x on [-708, 709], far below one fp32 ulp of the
// ops' float results. Compiled with -ffp-contract=off: every operation rounds on its own.
//
//   NaN -> x;  x > 709 -> +inf;  x < -708 -> +0;  otherwise
//   n = RNE(x * log2(e));  r = (x - n * ln2_hi) - n * ln2_lo          (|r| <= ln2 / 2)
//   p = Horner over the Taylor coefficients 1/k!, k = 13 .. 0 (p = p * r + c_k, one rounding each)
//   e^x = p * 2^n (2^n built from its exponent bits; n in [-1021, 1023], so no subnormal, no overflow)
#pragma once

namespace qjit::fpm {

constexpr double kExpMax = 709.0;  // above: +inf
constexpr double kExpMin = -708.0; // below: +0
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2Hi = 6.93147180369123816490e-01; // ln 2 with 21 trailing zero bits: n * kLn2Hi is exact
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr int kExpDegree = 13;

// Taylor coefficient 1/k! (k = 0 .. kExpDegree), the correctly rounded double of that division chain.
double exp_coefficient(int k);

double exp_fixed(double x);

// 1 / (1 + e^-v) in double, rounded to float once: ref::sigmoid.
float sigmoid(float v);

} // namespace qjit::fpm
