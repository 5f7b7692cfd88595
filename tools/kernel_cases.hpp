// Single-layer QConv descriptions for kernel benchmarks: realistic weights (per-channel symmetric,
// quantized from normally distributed floats), u8 source, u8 destination, optional zero points.
#pragma once
#include <cstdint>
#include <string>

#include "jit/quant_params.hpp"

namespace qjit::zoo {

struct KernelCase {
    std::string name;
    int64_t n = 1, c = 64, h = 56, w = 56, oc = 64, k = 3, stride = 1, pad = 1;
    int64_t groups = 1;     // GroupConvolution; depthwise: groups = c = oc
    bool fc = false;        // FC: h = 1, w = M rows, c = K, k = 1
    bool zero_points = false; // source ol != 0 (compensation) and destination il != 0
    int64_t real_macs() const; // padded taps excluded
};

QConvDesc make_qconv_case(const KernelCase& kc, uint64_t seed = 1);

} // namespace qjit::zoo
