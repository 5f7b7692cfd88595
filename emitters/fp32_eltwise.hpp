// fp32 elementwise kernels for the float (mixed-precision) regions: Relu, Clamp, LeakyRelu,
// HardSigmoid, HardSwish, Add, Subtract, Multiply on plain f32 buffers. One template for every level
// (ymm + vmaskmovps tail on avx2 / avx2_vnni, zmm + opmask tail on the AVX-512 levels).
//
// Each op is the formula of runtime/ref_ops{,_extra}.cpp as a fixed sequence of single IEEE fp32
// operations (vaddps / vsubps / vmulps / vdivps, no FMA, no reciprocal), and every select is a compare
// + blend with the reference's predicate, so NaN, -0, inf and subnormals give the reference's bits:
//   Relu        isnan(v) ? v : (v > 0 ? v : 0)         -> v AND (v !<= 0 unordered)
//   Clamp       isnan(v) ? v : v < lo ? lo : v > hi ? hi : v
//   LeakyRelu   v < 0 ? alpha * v : v
//   HardSigmoid max(0, min(1, alpha * v + beta))       (std::min/std::max: vminps(t, 1), vmaxps(t, 0))
//   HardSwish   v * max(0, min(1, v / 6 + 0.5))
//   Add/Sub/Mul a op b, one operand optionally one broadcast scalar (per-channel rows, scalars).
// The kernel processes `n` consecutive elements (Fp32EltwiseArgs); the caller splits the tensor.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "emitters/kernels.hpp"

namespace qjit {

// Sigmoid is emitters/fp32_transcendental's kernel (AVX2 code at every level, same argument layout).
enum class Fp32Op { Relu, Clamp, LeakyRelu, HardSigmoid, HardSwish, Add, Subtract, Multiply, Sigmoid };
// Binary ops: None = both operands are n consecutive floats; A / B = that operand is one float
// broadcast over the n elements.
enum class Fp32Bcast { None, A, B };

struct Fp32EltwiseDesc {
    Fp32Op op = Fp32Op::Relu;
    Fp32Bcast bcast = Fp32Bcast::None;
    float p0 = 0.f, p1 = 0.f; // Clamp lo, hi; LeakyRelu alpha; HardSigmoid alpha, beta
};

struct Fp32EltwiseArgs {
    const float* a;
    const float* b; // binary ops only
    float* dst;
    int64_t n;
};

bool fp32_op_binary(Fp32Op op);
const char* fp32_op_name(Fp32Op op); // "relu", "add", ...
// "fp32_<op>[_bcast_a|_bcast_b]__<isa>"
std::string fp32_eltwise_kernel_name(const Fp32EltwiseDesc& d, Isa isa);
std::unique_ptr<JitKernel> emit_fp32_eltwise(Isa isa, const Fp32EltwiseDesc& d);

} // namespace qjit
