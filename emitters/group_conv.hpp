// AVX2 grouped convolution emitter (QConv with ConvGeom::groups > 1): depthwise and general
// GroupConvolution (spec §3 GroupConv row, §4.1, §4.2), exact against Oracle B (ref::qconv with the
// epilogue of jit/requant_fold).
//
// Output channels live in vector lanes (8 per ymm), NHWC: a tile is `pixels` output pixels x
// `oc_vecs` vectors of one output-channel block (ConvBlocking::oc_block() = oc_vecs*8 channels).
// For every tap (kh, kw) and input channel j of the group, the input level of each lane's own
// input channel c(o) = (o / OCg)*Cg + j is widened u8 -> s32 and multiplied by the lane's weight
// code (packed as s32 with the code in the low word: vpmaddwd is an exact 16x16 -> 32 product),
// accumulated exactly in s32; the window sum S (asymmetric weights) is the same loads added up per
// lane. Then the shared epilogue (emitters/epilogue_avx2).
//   * depthwise with multiplier 1 (Cg = OCg = 1): the lanes read consecutive channels, one
//     vpmovzxbd per tap and vector;
//   * any other grouping (channel multiplier, several channels per group): vpgatherdd of each
//     lane's channel byte (per-lane offsets c(o) - j in the constant pool, j a displacement), & 0xFF.
//     The dword loads read up to 3 bytes past the last channel: required_group_conv_input_halo asks
//     for one extra halo column so that they stay inside the buffer.
// Border patterns of E use the row/column class tables of fold_qconv, like the dense conv.
//
// Kernel arguments: ConvArgs (rows [oh_begin, oh_end), oc blocks [ocb_begin, ocb_end) of one image);
// blocks are ceil(OC / oc_block); the last block also writes level 0 / +0.0f to the channels of
// out.c_stride after round_up(OC, oc_block). Every block computes oc_vecs vectors, so oc_block must
// divide 16 (oc_vecs 1 or 2) and c_stride is never exceeded. The ISA-specific parts are the load
// forms and the register type; an AVX-512 twin uses zmm with the same packing at 16 lanes.
//
// Packed weights (pack_group_conv_weights_avx2), 64-byte aligned: per block b, for each tap
// k = kh*KW + kw, for each j < Cg, oc_vecs x 8 lanes of s32 codes of channel o = b*oc_block + v*8 + l
// (0 for o >= OC): block_bytes = KH*KW*Cg*oc_vecs*32.
#pragma once
#include <memory>
#include <vector>

#include "emitters/kernels.hpp"
#include "jit/layout.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"

namespace qjit {

constexpr int64_t kMaxGroupConvK = 65793; // Cg*KH*KW*255*128 <= 2^31-1

// True when the emitter takes d: groups > 1 dividing C and OC, K = Cg*KH*KW <= kMaxGroupConvK.
bool group_conv_avx2_supports(const QConvDesc& d);

// The smallest input halo (as in required_input_halo of conv_avx2.hpp), plus one right column for
// the gather form (Cg > 1 or OCg > 1).
ActLayout required_group_conv_input_halo(const ConvGeom& g);

// Every blocking the emitter accepts: oc_vecs in {1, 2}, pixels*oc_vecs*(1 + S accumulators) <= 12.
std::vector<ConvBlocking> group_conv_blockings_avx2(const QConvConsts& c);
// oc_vecs 2 when OC >= 16, then the most pixels (up to OW) the accumulators allow, fewer if that
// removes no tile.
ConvBlocking choose_group_conv_blocking_avx2(const QConvDesc& d, const QConvConsts& c);

PackedWeights pack_group_conv_weights_avx2(const QConvDesc& d, const ConvBlocking& b);

// Validates the description, layouts (shapes, c_stride % 16 == 0, required halo, elem_bytes 4 for
// EpilogueMode::Float else 1) and blocking; throws Error(InvalidArgument / UnsupportedOp).
std::unique_ptr<JitKernel> emit_group_conv_avx2(const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                                const ActLayout& out, const ConvBlocking& b);

} // namespace qjit
