// The float FakeQuantize kernel of the mixed-precision regions: a FakeQuantize that the passes keep in
// fp32 (ranges not along the channel axis, tensors of rank 1 or 5+, a consumer that needs the float
// value) runs as generated code instead of the interpreter. The ranges are constants of the model,
// baked into the kernel's constant pool; one template for every level (ymm + vmaskmovps tail on
// avx2 / avx2_vnni, zmm + opmask tail on the AVX-512 levels).
//
// Each element is jit/fq_math's fake_quantize (spec §1.1) as a fixed sequence of single IEEE fp32
// operations, so NaN, -0, inf, subnormals and exact ties give the reference's bits:
//   x <= lo ? ol : x > hi ? oh : fl(fl(fl(RNE(fl(fl(fl(x - il) / fl(ih - il)) * (L-1))) / (L-1)) * fl(oh - ol)) + ol)
// with lo = min(il, ih), hi = max(il, ih) as the reference picks them (vsubps, vdivps, vmulps,
// vroundps / vrndscaleps with RNE, two compares + blends; no FMA, no reciprocal).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "emitters/kernels.hpp"

namespace qjit {

// Where a call's parameters come from.
//   Rows:  one parameter set per call, Fp32FqArgs::p its index (per-channel ranges over rows of elements).
//   Lanes: element i of the call uses parameter set p + i (ranges that vary along the innermost axis).
enum class Fp32FqMode { Rows, Lanes };

struct Fp32FqDesc {
    Fp32FqMode mode = Fp32FqMode::Rows;
    int levels = 256;
    std::vector<float> il, ih, ol, oh; // one entry per parameter set, all the same size (>= 1)
};

struct Fp32FqArgs {
    const float* src;
    float* dst;
    int64_t n; // elements
    int64_t p; // parameter set (Rows) or the first element's set (Lanes)
};

// "fp32_fq_L<levels>_<rows|lanes>_p<sets>__<isa>"
std::string fp32_fq_kernel_name(const Fp32FqDesc& d, Isa isa);
// Throws Error(Internal) when the four vectors differ in size or are empty, or levels is outside 2..65536.
std::unique_ptr<JitKernel> emit_fp32_fake_quantize(Isa isa, const Fp32FqDesc& d);

} // namespace qjit
