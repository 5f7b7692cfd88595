// Plain float references of the float-only graph ops (Subtract, Sigmoid, HardSigmoid, HardSwish,
// LeakyRelu, Softmax, Transpose, Pad, Resize, Tile). Used by Oracle A, Oracle B's fp32 regions and
// the fp32 fallback through float_node_eval. f32 in, f32 out (Transpose, Pad and Tile copy any type).
#pragma once
#include <cstdint>
#include <vector>

#include "qjit/graph.hpp"
#include "qjit/tensor.hpp"

namespace qjit::ref {

Tensor subtract(const Tensor& a, const Tensor& b); // numpy broadcast
Tensor sigmoid(const Tensor& x);                   // 1 / (1 + exp(-x)), fp64 (jit/exp_math), one rounding
Tensor hard_sigmoid(const Tensor& x, float alpha, float beta);
Tensor hard_swish(const Tensor& x);
Tensor leaky_relu(const Tensor& x, float alpha);
// Along `axis`: exp(x - max) in fp64, summed in fp64, divided, rounded once to fp32.
Tensor softmax(const Tensor& x, int64_t axis);
Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm);
Tensor pad(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end, float value);
// NCHW, resizes H and W to out_shape[2], out_shape[3] (ONNX Resize semantics; linear clamps the
// source coordinate into the input like ONNX Runtime).
Tensor resize(const Tensor& x, const Shape& out_shape, const ResizeParams& p);
Tensor tile(const Tensor& x, const std::vector<int64_t>& repeats);

} // namespace qjit::ref
