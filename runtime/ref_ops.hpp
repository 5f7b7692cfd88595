// Plain float reference implementations of the float graph ops (spec §1, §4.6). Used by Oracle A,
// by Oracle B's fp32 regions and by the runtime's fp32 fallback. Simple loops in a fixed order;
// the whole project builds with -ffp-contract=off, so every fp operation here rounds on its own.
// Every function takes and returns f32 tensors (row-major, NCHW for 4-D).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qjit/graph.hpp"
#include "qjit/tensor.hpp"

namespace qjit::ref {

// numpy broadcast of two shapes (right-aligned; a dim of 1 stretches). Throws
// Error(ShapeMismatch, node, ...) when they are incompatible.
std::vector<int64_t> broadcast_shape(const Shape& a, const Shape& b, const std::string& node = "<broadcast>");

// Maps a flat index of the output shape `out` to the flat index of an input of shape `in` that
// numpy-broadcasts into it (in's rank <= out's rank; each in dim is 1 or equals out's dim).
class BroadcastIndex {
public:
    BroadcastIndex(const Shape& in, const Shape& out);
    int64_t operator()(int64_t out_flat) const;
    bool identity() const { return identity_; } // in == out: the mapping is the identity

private:
    std::vector<int64_t> out_dims_;   // output dims
    std::vector<int64_t> in_strides_; // input strides aligned to out's rank; 0 on broadcast dims
    bool identity_ = false;
};

// FakeQuantize: each of the four ranges numpy-broadcasts to x independently; every element goes
// through qjit::fq::fake_quantize (spec §1.1). Each range is read at its own offset (OpenVINO's
// reference reads out_high at out_low's offset in one loop; this does not, spec §1.3).
// With `scale` and `offset` (both or neither) the level index follows ONNX QuantizeLinear (spec §2.5,
// qjit::fq::onnx_fake_quantize); they broadcast like the ranges.
Tensor fake_quantize(const Tensor& x, const Tensor& il, const Tensor& ih, const Tensor& ol, const Tensor& oh,
                     int levels, const Tensor* scale = nullptr, const Tensor* offset = nullptr);

// 2-D convolution, NCHW data and OIHW weights, no bias. Each output starts from 0 and adds
// x*w for c, kh, kw in that nesting order. fp64 = false: fp32 accumulator, one rounding per
// product and per add. fp64 = true: products and sums in double, rounded to fp32 once at the end.
// Padded taps are skipped (they are real zeros and contribute nothing, spec §4.1).
// Both operands NaN (fp32): the product is x's NaN and the sum the accumulator's (x86 returns the
// first source's; compilers order commutative operands either way), as in MatMul.
Tensor conv2d(const Tensor& x, const Tensor& w, const ConvParams& p, bool fp64 = false);

// OpenVINO GroupConvolution: NCHW data, weights [G, O/G, I/G, KH, KW]; output channel o = g*O/G + m
// reads input channels g*I/G .. g*I/G + I/G - 1. Same summation order and fp64 option as conv2d
// (input channel of the group, kh, kw).
Tensor group_conv2d(const Tensor& x, const Tensor& w, const ConvParams& p, bool fp64 = false);

// 2-D pooling of NCHW data with qjit's PoolParams semantics (include/qjit/graph.hpp). The output
// size follows p.rounding; windows are clipped to the input (every window holds an input element).
// max_pool2d: the largest valid element (the first of equal ones), or the first NaN in row-major
// window order if any valid element is NaN (padding never wins).
Tensor max_pool2d(const Tensor& x, const PoolParams& p);
// avg_pool2d: the valid elements summed from 0 in row-major window order (fp32, or fp64 rounded
// once), then divided once by the count of PoolParams. Two NaNs: the sum's NaN (conv2d's rule).
Tensor avg_pool2d(const Tensor& x, const PoolParams& p, bool fp64 = false);
// The count an AvgPool output divides by, along one axis: window elements in [0, in) with
// exclude_pad, else in [-pad_begin, in + pad_end). The 2-D count is the product of both axes.
int64_t pool_axis_count(int64_t out, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end, int64_t in,
                        bool exclude_pad);
// Output size of one pooling axis.
int64_t pool_axis_out(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end, RoundingType r);

// numpy matmul over the last two dims (after the optional transposes), batch dims broadcast.
// Each output sums a[..,m,k]*b[..,k,n] for k = 0..K-1 from 0, in fp32 or (fp64) in double.
// fp32: acc = acc + a * b with the conv2d two-NaN rule (a's NaN, then the accumulator's).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, bool fp64 = false);

// Elementwise with numpy broadcasting.
Tensor add(const Tensor& a, const Tensor& b);
Tensor multiply(const Tensor& a, const Tensor& b);

// max(x, 0): negatives and -0.0 give +0.0; NaN stays NaN (Oracle A propagates NaN; tests exclude
// NaN elements from A comparisons, spec §8.5).
Tensor relu(const Tensor& x);

// min(max(x, lo), hi) with lo <= hi; NaN stays NaN.
Tensor clamp(const Tensor& x, float lo, float hi);

// Same data, new shape (already resolved: no -1 or 0 entries); element counts must match.
Tensor reshape(const Tensor& x, const Shape& shape);

// numpy concatenate along `axis` (0..rank-1): inputs of one element type (any: f32, or u8 level
// tensors in Oracle B) and equal shapes outside `axis`. A copy; no arithmetic.
Tensor concat(const std::vector<const Tensor*>& inputs, int64_t axis);

} // namespace qjit::ref
