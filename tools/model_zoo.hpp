// Quantized models built in code with the public graph builder: the demo's bundled model, the
// chains the tests sweep, and the models the benchmarks time.
#pragma once
#include <cstdint>
#include <random>
#include <string>

#include "qjit/graph.hpp"

namespace qjit::zoo {

// Configuration of the spine chain:
// Parameter -> FQ -> Conv KxK (FQ weights per-channel, bias) -> Relu -> FQ -> Conv1x1 (FQ weights)
// -> FQ -> Reshape(flatten) -> MatMul (FQ weights) -> Result (fp32).
struct ChainConfig {
    int64_t n = 1, c = 3, h = 16, w = 16;
    int64_t c1 = 16, c2 = 24, classes = 10;
    int64_t k = 3, stride = 1, pad = 1, dilation = 1;
    int levels_in = 256, levels_act = 256, levels_w = 255;
    bool asym_weights = false;  // weight ranges off symmetry (z_w != 0)
    bool per_channel_out = false; // per-channel output ranges on the first conv's FQ
    uint64_t seed = 1;
    std::string str() const;
};

// Random configuration determined by `seed` (small shapes, every tail and edge the kernels have);
// the returned config's seed is `seed`, so random_chain_config(cfg.seed) reproduces it.
ChainConfig random_chain_config(uint64_t seed);

// Builds the chain; input_range is [lo, hi] of the input FakeQuantize.
Graph build_chain(const ChainConfig& cfg);

// Deterministic input for a model parameter of the given shape.
std::vector<float> random_input(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

} // namespace qjit::zoo
