// Mapping between logical tensors (NCHW / row-major) and qjit's NHWC activation layouts.
// Canonical view of a logical shape: rank 4 [N,C,H,W] -> N,H,W,C; rank 3 [N,C,L] -> N,1,L,C;
// rank 2 [M,K] -> 1,1,M,K (rows are pixels, the last axis is the channel axis).
#pragma once
#include <cstdint>

#include "jit/layout.hpp"
#include "qjit/tensor.hpp"

namespace qjit::rt {

bool has_act_view(const Shape& s); // rank 2, 3 or 4
// Layout with the canonical view of `s`, channel stride padded to 16, no halo.
ActLayout act_layout_for(const Shape& s, int64_t elem_bytes = 1);
// Index of the channel axis in the logical shape (1, or the last axis for rank 2).
int channel_axis(const Shape& s);

// Copy a dense logical tensor into / out of an activation layout (elem is 1 or 4 bytes).
void logical_to_act(const void* src, const Shape& s, void* dst, const ActLayout& l);
void act_to_logical(const void* src, const ActLayout& l, const Shape& s, void* dst);

} // namespace qjit::rt
