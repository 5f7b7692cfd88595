// Pooling emitters on u8 level indices (NHWC, channels in lanes), exact against Oracle B
// (runtime/pool_ref), one template over IsaTraits for every ISA level (avx2 and avx2_vnni: ymm, VEX;
// avx512_core and avx512_core_vnni: zmm, opmask tails; pooling has no dot product, so the VNNI levels
// run the code of the vector level they include, under their own kernel name):
//
// MaxPool (spec §3 MaxPool row, s >= 0): vpmaxub over every tap of the window, 32 channels per ymm
// (64 per zmm).
// The taps in the zero halo are read as k = 0: since every window holds at least one valid tap
// (the builder refuses the others) and 0 is the smallest level, max(valid taps, 0) = max(valid
// taps), i.e. exactly the "padding is skipped" (-inf) semantics without per-border code. Channels
// >= C of the last chunk are masked to 0 (the input's padded channels may hold anything): vpand with
// a pool mask on VEX levels; on EVEX levels the last chunk (16, 32, 48 or 64 bytes) is loaded with a
// zeroing opmask of the channels < C and stored with an opmask of its bytes.
//
// AvgPool (spec §4.2 AvgPool form): the exact window sum S per channel over every tap (the halo adds
// 0); VEX levels: in u16 lanes (vpmovzxbw + vpaddw) when KH*KW*(L_a-1) <= 65535, else in s32 lanes
// (vpmovzxbd + vpaddd); EVEX levels: s32 lanes, one zmm per pixel and 16 channels. Then the shared
// epilogue (emitters/epilogue) with M and E per (border pattern, channel) from jit/pool_fold, 16
// channels per step.
//
// Both compute rows [oh_begin, oh_end) of one image (PoolArgs) for every channel of out.c_stride
// (channels >= C: level 0 / +0.0f). Kernel names end in __<isa>.
#pragma once
#include <memory>
#include <string>

#include "emitters/kernels.hpp"
#include "jit/layout.hpp"
#include "qjit/qjit.hpp"
#include "jit/pool_fold.hpp"
#include "jit/quant_params.hpp"

namespace qjit {

// The smallest input halo of a pooling geometry g (a pool_geometry): the window taps of every
// output, padding and ceil-mode overhang included, must lie inside the buffer and read 0.
ActLayout required_pool_input_halo(const ConvGeom& g);

// MaxPool of u8 level indices; `node` names errors. Validates layouts (elem_bytes 1, c_stride % 16
// == 0, halo); throws Error(InvalidArgument).
// isa: the target level (Isa::native is not accepted).
std::unique_ptr<JitKernel> emit_maxpool(Isa isa, const ConvGeom& g, const ActLayout& in, const ActLayout& out,
                                        const std::string& node);

// Fused AvgPool; out.elem_bytes 4 for EpilogueMode::Float, else 1.
std::unique_ptr<JitKernel> emit_avgpool(Isa isa, const QAvgPoolDesc& d, const AvgPoolConsts& c, const ActLayout& in,
                                        const ActLayout& out);

} // namespace qjit
