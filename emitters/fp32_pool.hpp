// fp32 pooling kernel of the float (mixed-precision) regions: reduces the K rows of a window tile
// (row t = window tap t in row-major order, column = output pixel; jit/fp32_pool_step.hpp lays it
// out, taps outside the input filled with -inf for max and +0 for average) into one output per
// column, the columns in vector lanes.
//   Max: m = row 0, then per row v: m = v where !(v <= m) and m is not NaN (compare + blend). That
//        is ref::max_pool2d's `v > m || isnan(v)` with its stop at the first NaN; a -inf tap never
//        replaces a valid element nor wins over one (equal -inf keeps the same bits).
//   Avg: acc = +0, acc = acc + v per row (a +0 tap leaves acc unchanged: acc is never -0), then one
//        vdivps by the column's count (exact IEEE division, no reciprocal).
// ymm + vmaskmovps tail (avx2 levels), zmm + opmask tail (AVX-512 levels). Rows are read as whole
// vectors (ldb a multiple of the lanes); stores stop at ncols.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "emitters/kernels.hpp"

namespace qjit {

struct Fp32PoolArgs {
    const float* b;   // k rows, row stride ldb_bytes
    const float* div; // avg: ncols divisors (readable as whole vectors)
    float* c;         // ncols outputs
    int64_t k, ncols, ldb_bytes;
};

// "fp32_maxpool__<isa>" / "fp32_avgpool__<isa>"
std::string fp32_pool_kernel_name(bool max, Isa isa);
std::unique_ptr<JitKernel> emit_fp32_pool(Isa isa, bool max);

} // namespace qjit
