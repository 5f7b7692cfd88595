// fp32 GEMM kernel of the float (mixed-precision) regions: C[m][j] = sum_k A[m][k] * B[k][j], the
// reduction core of the fp32 Conv / GroupConvolution (B = an im2col tile, k in the reference's
// (c, kh, kw) nesting) and MatMul steps (jit/fp32_conv_step.hpp).
//
// Bit-exactness with runtime/ref_ops (fp64 = false): every output lane starts from +0 and, for
// k = 0..K-1 in order, adds one product with one rounding each: vmulps then vaddps (no FMA, no
// reassociation), so lane j computes exactly the reference's `acc += x * y`. The output columns
// (j) are the vector lanes and rows of A are broadcast scalars; independent outputs never mix.
// The product's operand order follows the reference (`a_first`: A * B as in MatMul's x * y, else
// B * A as in conv's x * w where B holds the inputs), and the sum is acc + product, so two NaN
// operands give the reference's payload.
//
// Register blocking: tiles of 4 rows x 2 vectors (ymm: 8 lanes, zmm: 16), then 1 vector, then a
// masked last vector (vmaskmovps / opmask store); rows 4 at a time, then one at a time.
// B must be readable for whole vectors: ldb is a multiple of the lane count (the columns past
// `ncols` are computed and dropped). Stores never touch C past ncols.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "emitters/kernels.hpp"

namespace qjit {

struct Fp32GemmDesc {
    bool a_first = false; // product A * B (MatMul) instead of B * A (conv: x * w, B = inputs)
};

struct Fp32GemmArgs {
    const float* a; // m rows of k floats, row stride lda_bytes
    const float* b; // k rows, row stride ldb_bytes (a multiple of the vector width)
    float* c;       // m rows of ncols outputs, row stride ldc_bytes
    int64_t m, k, ncols;
    int64_t lda_bytes, ldb_bytes, ldc_bytes;
};

// Lanes of the vectors the level's kernel uses (ldb must be a multiple of it): 8 or 16.
int fp32_gemm_lanes(Isa isa);
// "fp32_gemm_<ab|ba>__<isa>"
std::string fp32_gemm_kernel_name(const Fp32GemmDesc& d, Isa isa);
std::unique_ptr<JitKernel> emit_fp32_gemm(Isa isa, const Fp32GemmDesc& d);

} // namespace qjit
