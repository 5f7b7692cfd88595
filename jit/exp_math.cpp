#include "jit/exp_math.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace qjit::fpm {

double exp_coefficient(int k) {
    double c = 1.0;
    for (int i = 2; i <= k; ++i) c /= static_cast<double>(i);
    return c;
}

double exp_fixed(double x) {
    if (std::isnan(x)) return x;
    if (x > kExpMax) return std::numeric_limits<double>::infinity();
    if (x < kExpMin) return 0.0;
    const double n = std::nearbyint(x * kLog2e);
    double r = x - n * kLn2Hi;
    r = r - n * kLn2Lo;
    double p = exp_coefficient(kExpDegree);
    for (int k = kExpDegree - 1; k >= 0; --k) p = p * r + exp_coefficient(k);
    const uint64_t bits = static_cast<uint64_t>(static_cast<int64_t>(n) + 1023) << 52;
    double scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

float sigmoid(float v) { return static_cast<float>(1.0 / (1.0 + exp_fixed(-static_cast<double>(v)))); }

} // namespace qjit::fpm
