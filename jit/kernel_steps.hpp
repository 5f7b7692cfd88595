// Runtime steps that call generated kernels: how each kernel family splits its work into items
// and turns an item range into kernel calls.
#pragma once
#include <memory>

#include "emitters/kernels.hpp"
#include "runtime/plan.hpp"

namespace qjit {

// QConv: items are (image, output row, oc block) with the oc block innermost. A range is executed
// as whole rows where it can (one call per run of full rows of an image) and partial rows otherwise.
std::unique_ptr<rt::Step> make_qconv_step(std::shared_ptr<JitKernel> kernel, PackedWeights weights,
                                          const ConvGeom& g, const ConvBlocking& b, const ActLayout& in,
                                          const ActLayout& out, int in_slot, int out_slot);

// MaxPool / AvgPool (PoolArgs): items are (image, output row); a range becomes one call per image.
std::unique_ptr<rt::Step> make_pool_step(std::shared_ptr<JitKernel> kernel, const ActLayout& in, const ActLayout& out,
                                         int in_slot, int out_slot);

// Quantize / Dequantize: items are (image, channel). `plane` is H*W floats per channel in the f32
// tensor; `act` the activation layout as the kernel sees it.
std::unique_ptr<rt::Step> make_quantize_step(std::shared_ptr<JitKernel> kernel, const ActLayout& act,
                                             int64_t channels, int in_slot, int out_slot);
std::unique_ptr<rt::Step> make_dequantize_step(std::shared_ptr<JitKernel> kernel, const ActLayout& act,
                                               int64_t channels, int in_slot, int out_slot);

// QEltwise: items are (image, output row); a range becomes one call per image. Each input's source
// pointer is its layout's offset for the image it broadcasts from (in1 null for Affine).
std::unique_ptr<rt::Step> make_qeltwise_step(std::shared_ptr<JitKernel> kernel, const BroadcastOperand& in0,
                                             const BroadcastOperand* in1, const ActLayout& out, int in0_slot,
                                             int in1_slot, int out_slot);

// One input of a u8 Concat: its layout, slot, copy kernel and where its origin lands in the output
// (image, row, pixel and channel offsets in the output's NHWC view).
struct ConcatPiece {
    std::shared_ptr<JitKernel> kernel;
    ActLayout src;
    int src_slot = -1;
    int64_t n_off = 0, h_off = 0, w_off = 0, c_off = 0;
};
// u8 Concat: items are (piece, image, row) over all pieces; one call per (piece, image) run of rows.
std::unique_ptr<rt::Step> make_concat_step(std::vector<ConcatPiece> pieces, const ActLayout& out, int out_slot);

} // namespace qjit
