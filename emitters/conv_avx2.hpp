// AVX2 QConv / FC emitter (spec §4.1, §4.2, §4.5): exact s32 dot products of u8 level indices with
// s8 weight codes, then the canonical fp32 epilogue of jit/requant_fold (epilogue_scalar), bit for bit.
//
// Kernel (ConvArgs, one image): for oh in [oh_begin, oh_end), for oc block in [ocb_begin, ocb_end),
// for ow tiles of `pixels`: accumulate over every tap and input channel, then the epilogue and the
// store. An oc block is ConvBlocking::oc_block() = oc_vecs*8 output channels; there are
// conv_oc_blocks() = ceil(OC / oc_block) blocks. Every channel of [0, out.c_stride) is written,
// channels >= OC as level 0 / +0.0f: the last block computes the vectors that fit in c_stride (it
// may be narrower than oc_block) and also zero-fills any channels of c_stride after it.
//
// Dot product (default, exact): the 4 input bytes of a channel quad are broadcast to every lane,
// split into the s16 pairs (x0,x2) and (x1,x3) (vpand 0x00FF / vpsrlw 8) and multiplied with
// prepacked s16 weight pairs by vpmaddwd; vpaddd accumulates in s32. Padded channels of a quad
// (C % 4) have zero weights. The window sum S (asymmetric weights, QConvConsts::has_n) is a
// separate pass with vpsadbw over the channel bytes; a byte mask keeps channels >= C out of S.
// Fast path (ConvBlocking::maddubs, spec §4.5): a weight group whose same-sign code pairs satisfy
// (L_a-1)*(|q_i|+|q_j|) <= 32767 is multiplied with vpmaddubsw (u8 x s8 pairs, which then cannot
// saturate), summed to s32 by vpmaddwd with (1,1), and accumulated; other groups use the exact form.
// The choice is made per group at pack time and read from the group header by the kernel.
//
// Packed weights (pack_conv_weights_avx2), 64-byte aligned: blocks b in [0, ceil(OC/oc_block)) of
// block_bytes each, every block a stream over taps k = kh*KW + kw. Exact form of a channel quad q:
//   [vec v < oc_vecs][half h][lane l < 8][2 x s16]
// half 0 holds (w[c0], w[c0+2]) and half 1 holds (w[c0+1], w[c0+3]) of channel o = b*B + v*8 + l,
// c0 = 4q; codes of channels >= C or outputs >= OC are 0. Without ConvBlocking::maddubs a tap is its
// ceil(C/4) quads in exact form: block_bytes = KH*KW*ceil(C/4)*oc_vecs*64.
// With maddubs, a tap is groups of up to 8 quads, each a 32-byte header (byte 0: 1 = vpmaddubsw form)
// then its quads, in exact form or in the vpmaddubsw form [vec][lane][4 x s8]; the flag is set only
// for groups that pass the §4.5 proof (see maddubs_safe). block_bytes allows every group exact.
// The same ConvBlocking must be passed to pack_conv_weights_avx2 and emit_conv_avx2.
//
// Range: |D| <= K*255*128 fits s32 while K = C*KH*KW <= kMaxConvK (65793); larger K throws
// Error(UnsupportedOp).
#pragma once
#include <memory>
#include <vector>

#include "emitters/kernels.hpp"
#include "jit/layout.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"

namespace qjit {

constexpr int64_t kMaxConvK = 65793; // K*255*128 <= 2^31-1

// The smallest halo the input of `g` needs, returned as a layout of the input (N, H, W, C,
// c_stride = round_up16(C), elem_bytes 1) with the halo fields set:
//   halo_t >= PT, halo_l >= PL,
//   halo_b >= max(0, (OH-1)*SH - PT + (KH-1)*DH - (H-1)),
//   halo_r >= max(0, (OW-1)*SW - PL + (KW-1)*DW - (W-1)).
// The kernel reads every tap of every output pixel without bounds checks, so the halo (all c_stride
// channels of it) must hold zeros. The memory planner may use larger halos and c_stride.
ActLayout required_input_halo(const ConvGeom& g);

// Number of oc blocks (the range ConvArgs::ocb_* indexes): ceil(out.C / oc_block).
int64_t conv_oc_blocks(const ActLayout& out, const ConvBlocking& b);

// Every blocking choose_conv_blocking_avx2 may return (pixels*oc_vecs <= 12 accumulators, 4 ymm
// for operands): oc_vecs in 1..4, pixels in 1..12/oc_vecs, maddubs off and on.
std::vector<ConvBlocking> conv_blockings_avx2();
// Picks oc_vecs for the least padding waste per useful op, pixels for the fewest tiles, and maddubs
// when at least half of the weight groups pass the §4.5 proof (needs d.w.q).
ConvBlocking choose_conv_blocking_avx2(const QConvDesc& d, const QConvConsts& c);

PackedWeights pack_conv_weights_avx2(const QConvDesc& d, const ConvBlocking& b);

// With ConvBlocking::maddubs: how many weight groups (oc block x tap x up to 8 channel quads) pass
// the §4.5 no-saturation proof and take vpmaddubsw.
struct ConvMaddubsGroups {
    int64_t fast = 0, total = 0;
};
ConvMaddubsGroups conv_maddubs_groups_avx2(const QConvDesc& d, const ConvBlocking& b);

// Validates layouts (shapes, c_stride % 16 == 0, the halo of required_input_halo, elem_bytes 4 for
// EpilogueMode::Float and 1 otherwise) and K; throws Error(InvalidArgument / UnsupportedOp / JitFailure).
std::unique_ptr<JitKernel> emit_conv_avx2(const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                          const ActLayout& out, const ConvBlocking& b);

} // namespace qjit
