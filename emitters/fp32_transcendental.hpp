// fp32 JIT kernels of the float regions that need an exponential: Sigmoid (a stream kernel with the
// Fp32EltwiseArgs layout, reached through emit_fp32_eltwise(Fp32Op::Sigmoid)) and Softmax (a row kernel
// for the innermost axis, a strided one for any other). All compute in double with jit/exp_math's
// exp_fixed, lane by lane the same operations as the reference (ref::sigmoid, ref::softmax), so they
// equal it bit for bit.
// AVX2 code (ymm, 4 doubles per vector), generated for every level: each level includes AVX2.
//
// Sigmoid: x -> double, negate, e = exp_fixed, 1 / (1 + e), -> float.
// Softmax (either kernel), per row of n floats: mx = max of the row ignoring NaN (vmaxps with the element first, as
// std::max(mx, v)); sum = e_0 + e_1 + ... in order from +0 (a NaN sum stays that NaN), e_i =
// exp_fixed(double(x_i) - double(mx)); y_i = float(e_i / sum), e_i computed again rather than stored.
#pragma once
#include <cstdint>
#include <memory>

#include "emitters/kernels.hpp"

namespace qjit {

struct Fp32SoftmaxArgs {
    const float* src;
    float* dst;
    int64_t n; // row length, >= 1
};

// Softmax along an axis with a stride: up to four neighbouring positions of the inner dims at once, one
// lane each, every lane the reference's sequence over the axis.
struct Fp32SoftmaxColsArgs {
    const float* src; // position 0, axis element 0
    float* dst;
    int64_t n;            // axis length, >= 1
    int64_t stride_bytes; // between axis elements
    int64_t count;        // positions, 1..4
};

std::unique_ptr<JitKernel> emit_fp32_sigmoid();     // "fp32_sigmoid__avx2", Fp32EltwiseArgs (b unused)
std::unique_ptr<JitKernel> emit_fp32_softmax_row(); // "fp32_softmax_row__avx2", Fp32SoftmaxArgs
std::unique_ptr<JitKernel> emit_fp32_softmax_cols(); // "fp32_softmax_cols__avx2", Fp32SoftmaxColsArgs

} // namespace qjit
