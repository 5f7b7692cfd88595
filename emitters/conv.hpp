// QConv / FC emitter for every ISA level (spec §4.1, §4.2, §4.5): exact s32 dot products of u8
// level indices with s8 weight codes, then the canonical fp32 epilogue of jit/requant_fold
// (epilogue_scalar), bit for bit. One template over IsaTraits (emitters/isa_traits.hpp) generates
// the avx2, avx2_vnni (ymm), avx512_core and avx512_core_vnni (zmm) kernels; ConvBlocking::isa says
// which, ConvBlocking::lanes must be isa_lanes(isa) (8 or 16).
//
// Kernel (ConvArgs, one image): for oh in [oh_begin, oh_end), for oc block in [ocb_begin, ocb_end),
// for ow tiles of `pixels`: accumulate over every tap and input channel, then the epilogue and the
// store. An oc block is ConvBlocking::oc_block() = oc_vecs*lanes output channels; there are
// conv_oc_blocks() = ceil(OC / oc_block) blocks. Every channel of [0, out.c_stride) is written,
// channels >= OC as level 0 / +0.0f: the last block computes the vectors that fit in c_stride (it
// may be narrower than oc_block) and also zero-fills any channels of c_stride after it.
//
// Dot product, per channel quad (4 input channels; padded channels of a quad have zero weights):
//  * VNNI levels: the 4 input bytes are broadcast to every lane (vpbroadcastd) and vpdpbusd
//    (u8 activations x s8 weights, exact, never vpdpbusds) accumulates into s32. avx2_vnni uses the
//    VEX (AVX-VNNI) form, avx512_core_vnni the EVEX zmm form. With more than one pixel per tile the
//    oc_vecs weight vectors of the quad are loaded into registers once and used by every pixel.
//  * avx2 / avx512_core (exact widening): the broadcast bytes are split into the s16 pairs (x0,x2)
//    and (x1,x3) (and 0x00FF / vpsrlw 8) and multiplied with prepacked s16 weight pairs by vpmaddwd.
//    Fast path (ConvBlocking::maddubs, spec §4.5): the plan of emitters/conv_maddubs.hpp decides per
//    (oc vector, tap, quad) at load time, from the weights, whether vpmaddubsw (+ vpmaddwd by ones)
//    provably cannot saturate, under one of three byte pairings (a vpshufb of the broadcast quad);
//    the kernel walks each block's units grouped by pattern, the others take the exact form.
// The window sum S (asymmetric weights, QConvConsts::has_n) is a separate pass with vpsadbw over the
// channel bytes; channels >= C are kept out by a byte mask (avx2 levels) or a zero-masking opmask
// load (AVX-512 levels).
// Epilogue: cvtdq2ps; t = E; [t = fma(fS, N', t)]; a = fma(a, M', t); then Levels: vmaxps(a, 0)
// (NaN -> 0), vminps(a, L-1), vcvtps2dq (RNE: the preamble's MXCSR, or {rn-sae} on AVX-512),
// integer bounds, pack (vpackusdw/vpackuswb, or vpmovusdb on AVX-512) and store; Threshold: fp32
// bounds, compare (into an opmask on AVX-512); Float: fp32 bounds, store.
//
// Packed weights (pack_conv_weights), 64-byte aligned: blocks b in [0, ceil(OC/oc_block)) of
// block_bytes each, every block a stream over taps k = kh*KW + kw; L = lanes, V = oc_vecs, o = b*V*L
// + v*L + l, c0 = 4q; codes of channels >= C or outputs >= OC are 0.
//  * VNNI levels, 4-byte K groups: [block][kh][kw][channel quad q][vec v][lane l][4 x s8]
//    (w[c0], w[c0+1], w[c0+2], w[c0+3]): block_bytes = KH*KW*ceil(C/4)*V*L*4.
//  * avx2 / avx512_core, exact form of a quad: [vec v][half h][lane l][2 x s16], half 0 holding
//    (w[c0], w[c0+2]) and half 1 (w[c0+1], w[c0+3]): block_bytes = KH*KW*ceil(C/4)*V*L*8.
//  * With maddubs: an offset table, then blocks of their own length in the layout of
//    emitters/conv_maddubs.hpp (counts per pattern, unit table, per-unit weights in the fast or
//    exact form).
// The same ConvBlocking must be passed to pack_conv_weights and emit_conv.
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

// Every blocking choose_conv_blocking(isa, ...) may return for `isa` (each passes conv_blocking_fits),
// maddubs off and on for avx2 / avx512_core.
std::vector<ConvBlocking> conv_blockings(Isa isa);
// True when `b` is a blocking emit_conv accepts: lanes = isa_lanes(b.isa), no maddubs on the VNNI
// levels, and the register budget (R = 16 ymm or 32 zmm): exact levels pixels*oc_vecs <= R-4 with
// oc_vecs <= 4; VNNI levels oc_vecs <= 8 for one pixel, else oc_vecs <= 4, pixels*oc_vecs + oc_vecs
// + 1 <= R (accumulators, the quad's weight vectors and the broadcast input) and pixels*oc_vecs <= R-3.
bool conv_blocking_fits(const ConvBlocking& b);
// Picks oc_vecs for the least padding waste per useful op, pixels for the fewest tiles, and (avx2,
// avx512_core, needs d.w.q) the vpmaddubsw plan when its op count beats the plain exact stream.
ConvBlocking choose_conv_blocking(Isa isa, const QConvDesc& d, const QConvConsts& c);

PackedWeights pack_conv_weights(const QConvDesc& d, const ConvBlocking& b);

// With ConvBlocking::maddubs: how many (oc vector, tap, quad) instruction groups take vpmaddubsw
// (fast, all-zero groups included) of all of them.
struct ConvMaddubsGroups {
    int64_t fast = 0, total = 0;
};
ConvMaddubsGroups conv_maddubs_groups(const QConvDesc& d, const ConvBlocking& b);

// Validates layouts (shapes, c_stride % 16 == 0, the halo of required_input_halo, elem_bytes 4 for
// EpilogueMode::Float and 1 otherwise), the blocking and K; throws Error(InvalidArgument /
// UnsupportedOp / JitFailure). The kernel name ends in "__" + to_string(b.isa).
std::unique_ptr<JitKernel> emit_conv(const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                     const ActLayout& out, const ConvBlocking& b);

// The avx2 level under its original names (the AVX2-only emitters and tests use them).
inline std::vector<ConvBlocking> conv_blockings_avx2() { return conv_blockings(Isa::avx2); }
inline ConvBlocking choose_conv_blocking_avx2(const QConvDesc& d, const QConvConsts& c) {
    return choose_conv_blocking(Isa::avx2, d, c);
}
inline PackedWeights pack_conv_weights_avx2(const QConvDesc& d, const ConvBlocking& b) { return pack_conv_weights(d, b); }
inline ConvMaddubsGroups conv_maddubs_groups_avx2(const QConvDesc& d, const ConvBlocking& b) {
    return conv_maddubs_groups(d, b);
}
inline std::unique_ptr<JitKernel> emit_conv_avx2(const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                                 const ActLayout& out, const ConvBlocking& b) {
    return emit_conv(d, c, in, out, b);
}

} // namespace qjit
