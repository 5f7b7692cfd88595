// Helpers shared by the grouped-conv and pooling testers (group_pool_testing.cpp, pool_testing.cpp):
// random draws, input filling, a next FakeQuantize fitted to the exact outputs, mismatch reports,
// the distinct-value guard and the kernel call lists. Internal to tests/support.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "jit/layout.hpp"
#include "jit/quant_params.hpp"
#include "tests/support/group_pool_testing.hpp"

namespace qjit::test::wt {

using Rng = std::mt19937_64;

double uni(Rng& r, double lo, double hi);
int64_t uni_int(Rng& r, int64_t lo, int64_t hi);
float percentile(std::vector<float> v, double p);
std::vector<float> distinct_sorted(const std::vector<float>& v);
// A next FakeQuantize (per tensor or per channel) fitted to the values y[c] it will see.
// below_zero: the range starts below 0 (an output zero point; under a ReLU, k_lo > 0).
ActQuant fit_next_fq(const std::vector<std::vector<float>>& y, bool per_channel, bool threshold, int levels, Rng& r,
                     bool below_zero = false);
// Gives a Levels next FakeQuantize ONNX rounding (spec §2.5): [il, ih] widened to contain 0, scale
// (ih - il)/(L-1) and offset RNE(-il/scale) clamped to [0, L-1], per channel.
void use_onnx_rounding(ActQuant& a);
std::string describe_mismatch(const ActLayout& l, const std::vector<uint8_t>& jit, const std::vector<uint8_t>& ref);
size_t distinct_outputs(const ActLayout& l, int64_t N, int64_t OH, int64_t OW, int64_t C, const std::vector<uint8_t>& b);
// Levels k = (L-1) * u^skew (u uniform); garbage in the padded channels when asked.
void fill_input(std::vector<uint8_t>& src, const ActLayout& in, int levels, bool extreme, bool garbage, Rng& r,
                double skew = 1.0);
// Every image, its rows in one call or random pieces, each over oc blocks [0, nb) (nb = 0: pooling).
std::vector<WindowCall> make_calls(const ActLayout& in, const ActLayout& out, int64_t OH, int64_t nb, bool split, Rng& r);

} // namespace qjit::test::wt
