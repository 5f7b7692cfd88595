// Scalar definitions of the quantized elementwise kernels (Oracle B's building blocks): every element
// goes through eltwise_scalar of jit/eltwise_fold, so the JIT must equal these bit for bit. Also the
// u8 Concat copy.
#pragma once
#include <cstdint>

#include "jit/eltwise_fold.hpp"
#include "jit/layout.hpp"
#include "jit/quant_params.hpp"
#include "qjit/tensor.hpp"

namespace qjit::ref {

// QEltwise over buffers: output (n, h, w, ch) of `out` (N, H, W, C = c.c) reads in0 / in1 at their
// broadcast offsets (channel 0 when bc_c). Writes channels [0, c.c) of every pixel: u8 levels or f32
// (out.elem_bytes), and level 0 / +0.0f in channels [c.c, round_up(c.c, 8)) (what the vector kernels
// store there). in1 is ignored by Affine (may be null).
void qeltwise(const EltwiseConsts& c, const uint8_t* src0, const BroadcastOperand& in0, const uint8_t* src1,
              const BroadcastOperand* in1, void* dst, const ActLayout& out);

} // namespace qjit::ref

namespace qjit::oracle {

// One QEltwise node on logical u8 inputs (numpy broadcast to out_shape, equal ranks); returns a
// logical u8 or f32 tensor of shape out_shape.
Tensor qeltwise_logical(const QEltwiseDesc& d, const Tensor& k0, const Tensor* k1, const Shape& out_shape);

} // namespace qjit::oracle
