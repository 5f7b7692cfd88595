// Test inputs for the fp32 kernels: special values (NaN payloads, +-inf, -0, subnormals, FLT_MAX),
// random bit patterns and plain values, and the first bit-level difference of two float buffers.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "qjit/tensor.hpp"

namespace qjit::test {

float float_bits(uint32_t u);
const std::vector<float>& special_floats();
// n values: a quarter specials, a quarter random bit patterns, the rest uniform in [-8, 8].
std::vector<float> random_floats(std::mt19937_64& rng, int64_t n);
// "" when want (f32) and got hold the same bits, else the first differing element.
std::string first_bit_difference(const Tensor& want, const std::vector<float>& got);

} // namespace qjit::test
