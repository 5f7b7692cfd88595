// Quantized elementwise emitter (QEltwise: Add / Multiply of two u8 level tensors, per-channel
// affine requantize) and the u8 Concat copy kernel, one template over IsaTraits for every ISA level
// (avx2 / avx2_vnni: ymm, 8 lanes, VEX; avx512_core / avx512_core_vnni: zmm, 16 lanes, EVEX, opmask
// tails, {rn-sae}). There is no dot product here, so the VNNI levels run the code of the vector level
// they include, under their own kernel name (__<isa>).
//
// QEltwise kernel (EltwiseArgs, one image): for output rows [h_begin, h_end), every pixel, every
// channel vector of 8 / 16: zero-extend the levels of each input (or broadcast one level of an input
// with one channel, bc_c), convert to fp32 and run the fused form of jit/eltwise_fold bit for bit:
//   acc = E; acc = fma(f(k1), A1, acc); acc = fma(f(k0), A0, acc); acc = fma(f(k0)*f(k1), P, acc)
// (a term absent in the whole layer is omitted; f(k0)*f(k1) <= 255^2 is exact), then vmaxps 0 /
// vminps L-1 / vcvtps2dq (RNE: the preamble's MXCSR, {rn-sae} on EVEX) / vpmaxsd k_lo / vpminsd k_hi
// and a u8 store (vpmovusdb on EVEX), or fp32 bounds and a compare with il (Threshold), or an f32
// store (Float). Per-channel constants sit in the RIP-relative pool, zero-padded (c_pad, a multiple
// of 16) so that lanes >= C compute level 0 / +0.0f.
// Inputs may have any halo and c_stride (>= round_up(C, 8)), and broadcast along H, W or C (the
// step handles N); a pixel of the output is written over round_up(C, 8) channels, which the
// output's c_stride must cover; on EVEX levels a last vector of 8 channels is loaded and stored
// under an opmask (k2), so nothing past round_up(C, 8) is read or written.
//
// Concat copy kernel (ConcatCopyArgs): rows [h_begin, h_end) of one input image, each of src.W
// pixels copying exactly src.C bytes to the destination pixel (dst c_stride apart), or whole rows
// when both pixel strides equal C: ymm (zmm) blocks, then 16/8/4/2/1-byte moves (VEX levels) or one
// opmask-tailed vmovdqu8 (EVEX levels). No arithmetic: it is a copy step, named concat_copy_*.
#pragma once
#include <memory>

#include "emitters/kernels.hpp"
#include "jit/eltwise_fold.hpp"
#include "jit/layout.hpp"
#include "jit/quant_params.hpp"
#include "qjit/qjit.hpp"

namespace qjit {

// Validates the layouts against the folded constants (channels, broadcast dims, element sizes,
// c_stride coverage) and throws Error(InvalidArgument / JitFailure). in1 is null for Affine.
// c = fold_eltwise(d).
std::unique_ptr<JitKernel> emit_qeltwise(Isa isa, const QEltwiseDesc& d, const EltwiseConsts& c,
                                         const BroadcastOperand& in0, const BroadcastOperand* in1, const ActLayout& out);

// Copies src (N = 1 image; rows, pixels, C bytes) into a destination with pixel stride
// dst.c_stride and row stride dst.row_stride() (u8 layouts).
std::unique_ptr<JitKernel> emit_concat_copy(Isa isa, const ActLayout& src, const ActLayout& dst);

} // namespace qjit
