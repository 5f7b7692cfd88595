// Grouped convolution emitter (QConv with ConvGeom::groups > 1): depthwise and general
// GroupConvolution (spec §3 GroupConv row, §4.1, §4.2), exact against Oracle B (ref::qconv with the
// epilogue of jit/requant_fold). One template over IsaTraits serves every level: avx2 / avx2_vnni
// (ymm, 8 lanes, VEX) and avx512_core / avx512_core_vnni (zmm, 16 lanes, EVEX, opmask gathers,
// embedded broadcast, {rn-sae}).
//
// Output channels live in vector lanes, NHWC: a tile is `pixels` output pixels x `oc_vecs` vectors
// of one output-channel block (ConvBlocking::oc_block() = oc_vecs*lanes channels).
// Depthwise with multiplier 1 (Cg = OCg = 1) and KW <= 16 takes the row-pair form: kernel rows go in
// pairs (2r, 2r+1) (a lone last row when KH is odd); for each input column the tile's pixels read,
// the two rows' bytes of the vector's channels are interleaved (vpunpckl/hbw) and widened to words
// (vpmovzxbw), so each lane holds the dword (level a, level b); the column is built once per row
// pair and multiplied into every (pixel, kw) that reads it: vpmaddwd + vpaddd (avx2, avx512_core)
// or vpdpbusd (VNNI levels: bytes (a, 0, b, 0)) against the codes packed as s16 pairs
// (w[2r][kw], w[2r+1][kw]) (EVEX, two vectors: vpermq-reordered 32-byte rows, one interleave per
// 16 channels); a lone last row pairs its own taps (kw, kw+1) the same way across columns
// (an odd KW's last tap as (0, w) with its left neighbour; KW = 1: vpmovzxbd and (w, 0)); S adds
// (1, 1) / (0, 1) pairs. Exact in s32
// (|a*wa + b*wb| <= 2*255*128). Up to 4 row pairs are unrolled, more run in a loop.
// Otherwise, for every tap (kh, kw) the lanes read the input levels of their own input channels
// c(o) = (o / OCg)*Cg + j:
//   * depthwise with multiplier 1 and KW > 16: consecutive channels, one vpmovzxbd per tap and
//     vector;
//   * any other grouping: vpgatherdd of each lane's dword at c(o) + j (per-lane offsets c(o) in the
//     constant pool, j a displacement). The dword loads read up to 3 bytes past a group:
//     required_group_conv_input_halo asks for one extra halo column so that they stay in the buffer.
// The products, exact in s32:
//   * avx2 / avx512_core: the level (gather & 0xFF) times the lane's code packed as s32 with the code
//     in the low word: vpmaddwd + vpaddd, one input channel j per step;
//   * avx2_vnni / avx512_core_vnni: vpdpbusd of the gathered dword (4 consecutive channels j..j+3 of
//     the lane's group) with the lane's 4 s8 codes of j..j+3 (0 past Cg): one instruction per quad of
//     input channels, no masking; the contiguous form multiplies (k, 0, 0, 0) by (code, 0, 0, 0).
// The window sum S (asymmetric weights) adds the same levels per lane (VNNI gathers: vpdpbusd with
// a (1,1,1,1) / partial-quad pattern). Then the shared epilogue (emitters/epilogue). Border patterns
// of E use the row/column class tables of fold_qconv, like the dense conv. Loops: emitters/window_loops.
//
// Kernel arguments: ConvArgs (rows [oh_begin, oh_end), oc blocks [ocb_begin, ocb_end) of one image);
// blocks are ceil(OC / oc_block). The last block computes only the vectors holding channels < OC and
// writes level 0 / +0.0f to the rest of out.c_stride, so c_stride (a multiple of 16) is never exceeded.
//
// Packed weights (pack_group_conv_weights), 64-byte aligned. Row-pair form: per block b, for each
// row group r < ceil(KH/2), each slot kw < KW, oc_vecs x lanes dwords of two s16 codes: rows (2r, 2r+1)
// at kw; the lone row: taps (2kw, 2kw+1), (0, w[KW-1]) for an odd KW, 0 past them (KW = 1: (w, 0));
// block_bytes = ceil(KH/2)*KW*oc_vecs*lanes*4. Otherwise: per block b, for each tap
// k = kh*KW + kw, for each step s (input channel j = s; VNNI: quad j = 4s..4s+3), oc_vecs x lanes
// dwords of channel o = b*oc_block + v*lanes + l (0 for o >= OC): the s32 code (vpmaddwd form) or 4 s8
// codes (VNNI form). block_bytes = KH*KW*steps*oc_vecs*lanes*4.
#pragma once
#include <memory>
#include <vector>

#include "emitters/kernels.hpp"
#include "jit/layout.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"
#include "qjit/qjit.hpp"

namespace qjit {

constexpr int64_t kMaxGroupConvK = 65793; // Cg*KH*KW*255*128 <= 2^31-1

// True when the emitter takes d: groups > 1 dividing C and OC, K = Cg*KH*KW <= kMaxGroupConvK.
bool group_conv_supports(const QConvDesc& d);

// The smallest input halo (as in required_input_halo of conv.hpp), plus one right column for the
// gather form (Cg > 1 or OCg > 1).
ActLayout required_group_conv_input_halo(const ConvGeom& g);

// Every blocking the emitter accepts at level isa: lanes of isa, oc_vecs in {1, 2},
// pixels*oc_vecs*(1 + S accumulators) <= 12 (VEX levels) / 24 (EVEX levels).
std::vector<ConvBlocking> group_conv_blockings(Isa isa, const QConvConsts& c);
// oc_vecs 2 when OC >= 2*lanes, then the most pixels (up to OW) the accumulators allow, fewer if
// that removes no tile.
ConvBlocking choose_group_conv_blocking(Isa isa, const QConvDesc& d, const QConvConsts& c);

// Packs for b.isa (b.lanes, and the VNNI quad form on the VNNI levels).
PackedWeights pack_group_conv_weights(const QConvDesc& d, const ConvBlocking& b);

// Validates the description, layouts (shapes, c_stride % 16 == 0, required halo, elem_bytes 4 for
// EpilogueMode::Float else 1) and blocking (b.isa == isa); throws Error(InvalidArgument / UnsupportedOp).
std::unique_ptr<JitKernel> emit_group_conv(Isa isa, const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                           const ActLayout& out, const ConvBlocking& b);

} // namespace qjit
