#include "tests/support/fp32_values.hpp"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace qjit::test {

float float_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

const std::vector<float>& special_floats() {
    static const std::vector<float> v = {
        float_bits(0x7fc00000), float_bits(0xffc00000), float_bits(0x7fc12345), float_bits(0x7f800001) /* sNaN */,
        float_bits(0xff812345), INFINITY, -INFINITY, 0.f, -0.f, float_bits(0x00000001), float_bits(0x80000001),
        float_bits(0x007fffff), float_bits(0x807fffff), float_bits(0x00400000), FLT_MIN, -FLT_MIN, FLT_MAX,
        -FLT_MAX, 1.f, -1.f, 3.f, -3.f, 6.f, -6.f, 0.5f, -0.5f, 2.5f, 1e-30f, -1e-30f, 1e30f, -1e30f};
    return v;
}

std::vector<float> random_floats(std::mt19937_64& rng, int64_t n) {
    std::uniform_real_distribution<float> u(-8.f, 8.f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) {
        const uint64_t r = rng() % 4;
        x = r == 0   ? special_floats()[rng() % special_floats().size()]
            : r == 1 ? float_bits(static_cast<uint32_t>(rng()))
                     : u(rng);
    }
    return v;
}

std::string first_bit_difference(const Tensor& want, const std::vector<float>& got) {
    for (size_t i = 0; i < got.size(); ++i) {
        uint32_t a, b;
        std::memcpy(&a, want.data<float>() + i, 4);
        std::memcpy(&b, &got[i], 4);
        if (a != b) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "element %zu: ref 0x%08x, jit 0x%08x", i, a, b);
            return buf;
        }
    }
    return "";
}

} // namespace qjit::test
