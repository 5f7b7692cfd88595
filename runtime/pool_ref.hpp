// Scalar definitions of the quantized pooling kernels (Oracle B's building blocks): MaxPool on u8
// level indices and the fused AvgPool with the epilogue of jit/pool_fold. Every generated pooling
// kernel must equal these bit for bit.
#pragma once
#include <cstdint>

#include "jit/layout.hpp"
#include "jit/pool_fold.hpp"
#include "jit/quant_params.hpp"
#include "qjit/tensor.hpp"

namespace qjit::ref {

// MaxPool over level indices (spec §3 MaxPool row; valid for s > 0): each output is the largest k
// of the window's valid taps (padding never contributes). g is a pool_geometry. Writes every
// channel of [0, out.c_stride): padded channels get level 0.
void maxpool_levels(const ConvGeom& g, const uint8_t* src, const ActLayout& in, uint8_t* dst, const ActLayout& out);

// Fused AvgPool: exact window sum of the valid k, then avgpool_epilogue_scalar. out.elem_bytes 1
// (levels) or 4 (f32); writes every channel of [0, out.c_stride): padded channels get 0 / +0.0f.
void qavgpool(const QAvgPoolDesc& d, const AvgPoolConsts& c, const uint8_t* src, const ActLayout& in, void* dst,
              const ActLayout& out);

// The same on logical tensors (NCHW u8 levels in; u8 levels or f32 out of shape `out_shape`).
Tensor maxpool_levels_logical(const ConvGeom& g, const Tensor& k, const Shape& out_shape);
Tensor qavgpool_logical(const QAvgPoolDesc& d, const Tensor& k, const Shape& out_shape);

} // namespace qjit::ref
