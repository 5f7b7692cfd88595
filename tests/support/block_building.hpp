// Graph-building helpers shared by the block tests (test_mobilenet_block, test_concat_conv_block):
// random normal data, scalar and per-channel FakeQuantizes, per-output-channel quantized weights,
// a per-channel bias. Public builder API only.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "qjit/graph.hpp"

namespace qjit::tsupport {

using Rng = std::mt19937_64;

std::vector<float> normal(Rng& r, int64_t n, float sigma);
NodeRef scalar(Graph& g, const std::string& name, float v);
// FakeQuantize with scalar ranges [lo, hi] in and out.
NodeRef fq(Graph& g, const std::string& name, NodeRef x, float lo, float hi, int64_t L);
// Per-channel FakeQuantize on axis 1: [lo[c], hi[c]].
NodeRef fq_pc(Graph& g, const std::string& name, NodeRef x, const std::vector<float>& lo, const std::vector<float>& hi,
              int64_t L);
// Weights with a per-output-channel FakeQuantize: symmetric grid, or shifted (asymmetric) when asym.
// `shape` is OIHW or [G, O/G, I/G, KH, KW]; the range shape has 1s after the output axes.
NodeRef weights(Graph& g, const std::string& name, const Shape& shape, int L, bool asym, Rng& r);
// x + a per-channel constant [1, C, 1, 1] of N(0, 0.2).
NodeRef bias(Graph& g, const std::string& name, NodeRef x, int64_t C, Rng& r);

} // namespace qjit::tsupport
