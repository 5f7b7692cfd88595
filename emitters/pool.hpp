// AVX2 pooling emitters on u8 level indices (NHWC, channels in lanes), exact against Oracle B
// (runtime/pool_ref):
//
// MaxPool (spec §3 MaxPool row, s >= 0): vpmaxub over every tap of the window, 32 channels per ymm.
// The taps in the zero halo are read as k = 0: since every window holds at least one valid tap
// (the builder refuses the others) and 0 is the smallest level, max(valid taps, 0) = max(valid
// taps), i.e. exactly the "padding is skipped" (-inf) semantics without per-border code. Channels
// >= C of the last 32-byte chunk are masked to 0 (the input's padded channels may hold anything).
//
// AvgPool (spec §4.2 AvgPool form): the exact window sum S per channel over every tap (the halo adds
// 0), in u16 lanes (vpmovzxbw + vpaddw) when KH*KW*(L_a-1) <= 65535, else in s32 lanes (vpmovzxbd +
// vpaddd); then the shared epilogue (emitters/epilogue_avx2) with M and E per (border pattern,
// channel) from jit/pool_fold, 16 channels per step.
//
// Both compute rows [oh_begin, oh_end) of one image (PoolArgs) for every channel of out.c_stride
// (channels >= C: level 0 / +0.0f). ISA-specific parts: the widening loads, the lane count and the
// max/add instructions; an AVX-512 twin keeps the loop structure with zmm.
#pragma once
#include <memory>
#include <string>

#include "emitters/kernels.hpp"
#include "jit/layout.hpp"
#include "jit/pool_fold.hpp"
#include "jit/quant_params.hpp"

namespace qjit {

// The smallest input halo of a pooling geometry g (a pool_geometry): the window taps of every
// output, padding and ceil-mode overhang included, must lie inside the buffer and read 0.
ActLayout required_pool_input_halo(const ConvGeom& g);

// MaxPool of u8 level indices; `node` names errors. Validates layouts (elem_bytes 1, c_stride % 16
// == 0, halo); throws Error(InvalidArgument).
std::unique_ptr<JitKernel> emit_maxpool_avx2(const ConvGeom& g, const ActLayout& in, const ActLayout& out,
                                             const std::string& node);

// Fused AvgPool; out.elem_bytes 4 for EpilogueMode::Float, else 1.
std::unique_ptr<JitKernel> emit_avgpool_avx2(const QAvgPoolDesc& d, const AvgPoolConsts& c, const ActLayout& in,
                                             const ActLayout& out);

} // namespace qjit
