// Scalar definitions of the quantized kernels (Oracle B's building blocks): exact integer sums and
// the canonical epilogue of jit/requant_fold. Every generated kernel must equal these bit for bit.
#pragma once
#include <cstdint>

#include "jit/layout.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"

namespace qjit::ref {

// QConv over all N images (grouped when d.g.groups > 1). src/dst are buffers laid out as `in` / `out` (out.elem_bytes selects
// u8 levels or f32). Padding taps are skipped (they hold k = 0 in the halo anyway). Writes every
// channel of [0, out.c_stride): padded channels get level 0 / +0.0f.
void qconv(const QConvDesc& d, const QConvConsts& c, const uint8_t* src, const ActLayout& in, void* dst,
           const ActLayout& out);

// Quantize f32 NCHW (N x C x H x W) into u8 levels laid out as `out` (spec §1.1 step 3, NaN -> 0).
void quantize(const ActQuant& q, const float* src, uint8_t* dst, const ActLayout& out);

// Dequantize u8 levels laid out as `in` into f32 NCHW: fl(fl(fl(k/(L-1))*fl(oh-ol))+ol).
void dequantize(const ActQuant& q, const uint8_t* src, const ActLayout& in, float* dst);

} // namespace qjit::ref
