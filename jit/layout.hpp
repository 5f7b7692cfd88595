// Memory layouts of activation tensors inside qjit.
// Quantized activations: u8 level index, NHWC, channel stride padded (>= C, multiple of 16), and a
// zero halo of rows/columns around each image so that convolution padding taps read k = 0.
// The halo and padded channels are zero-filled once when the buffer is created; producers write the
// interior only (padded channels of QConv outputs are written as 0 by the epilogue).
#pragma once
#include <cstdint>

namespace qjit {

struct ActLayout {
    int64_t N = 1, H = 1, W = 1, C = 1;
    int64_t c_stride = 16;                       // elements between pixels
    int64_t halo_t = 0, halo_l = 0, halo_b = 0, halo_r = 0;
    int64_t elem_bytes = 1;                      // 1 (u8) or 4 (f32 QConv outputs)

    int64_t row_stride() const { return (W + halo_l + halo_r) * c_stride; } // elements
    int64_t image_stride() const { return (H + halo_t + halo_b) * row_stride(); }
    int64_t elements() const { return N * image_stride(); }
    int64_t bytes() const { return elements() * elem_bytes; }
    // Element offset of (n, h, w, 0); h and w may reach into the halo (negative or >= H/W).
    int64_t offset(int64_t n, int64_t h, int64_t w) const {
        return n * image_stride() + (h + halo_t) * row_stride() + (w + halo_l) * c_stride;
    }
};

inline int64_t round_up16(int64_t v) { return (v + 15) / 16 * 16; }

// An input of an elementwise kernel: its layout and which of its dimensions have size 1 and stretch
// to the output's (numpy broadcast; bc_c: one value per pixel for every output channel).
struct BroadcastOperand {
    ActLayout l;
    bool bc_n = false, bc_h = false, bc_w = false, bc_c = false;
    // Element offset of output coordinate (n, h, w, 0) in this operand.
    int64_t offset(int64_t n, int64_t h, int64_t w) const {
        return l.offset(bc_n ? 0 : n, bc_h ? 0 : h, bc_w ? 0 : w);
    }
};

} // namespace qjit
