// Quantize (f32 NCHW -> u8 level index in an ActLayout) and Dequantize (the reverse) emitters, one
// template for two vector levels: avx2 (ymm, 8 pixels per chunk, vmaskmovps tails) and avx512_core
// (zmm, 16 pixels per chunk, opmask tails, compares into opmasks, vcvtps2dq {rn-sae}, vpmovusdb).
// Neither needs VNNI: a VNNI target gets the kernel of the vector level it includes.
//
// Quantize is spec §1.1 step 3 verbatim in fp32, per 8 (16) pixels of a row: a = vsubps(x, il),
// vdivps(a, d) with d = fl(ih - il), vmulps by (L-1); then x <= min(il, ih) -> 0,
// x > max(il, ih) -> L-1, NaN -> 0 (vmaxps with 0 as second source) and vcvtps2dq under the RNE
// MXCSR of the preamble. Per-channel constants sit in the constant pool. Equal to ref::quantize bit
// for bit whatever the caller's MXCSR (rounding mode, FTZ, DAZ).
//
// Dequantize computes fl(fl(fl(k / (L-1)) * fl(oh - ol)) + ol) with vdivps, vmulps, vaddps (no FMA),
// equal to ref::dequantize.
//
// Both handle channels [c_begin, c_end) of one image (QuantizeArgs / DequantizeArgs), any c_stride
// >= C (1 included: a contiguous u8 row), any halo, and a W tail (masked f32 loads/stores).
#pragma once
#include <memory>

#include "emitters/kernels.hpp"
#include "jit/layout.hpp"
#include "jit/quant_params.hpp"

namespace qjit {

// The vector level emit_quantize / emit_dequantize use for target `isa`: avx512_core when `isa`
// includes it, else avx2. The kernel name ends in "__" + to_string(that level).
Isa quantize_isa(Isa isa);
std::unique_ptr<JitKernel> emit_quantize(Isa isa, const ActQuant& q, const ActLayout& out);
std::unique_ptr<JitKernel> emit_dequantize(Isa isa, const ActQuant& q, const ActLayout& in);

inline std::unique_ptr<JitKernel> emit_quantize_avx2(const ActQuant& q, const ActLayout& out) {
    return emit_quantize(Isa::avx2, q, out);
}
inline std::unique_ptr<JitKernel> emit_dequantize_avx2(const ActQuant& q, const ActLayout& in) {
    return emit_dequantize(Isa::avx2, q, in);
}

} // namespace qjit
