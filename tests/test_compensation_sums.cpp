// The vectorized zero-point compensation sums (jit/compensation_sums) against the scalar definition, byte for
// byte: random codes, scales, zero points (integral and not) and activation offsets, channel counts and tap
// counts with odd values and tails of the 8-position transpose and of the channel chunks, 8 to 32 rows.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "jit/compensation_sums.hpp"

namespace {

struct Sums {
    std::vector<double> scalar, avx2;
};

// zw_mode 0: zero points mixed (0, integral, fractional); 1: all +-0.0 (symmetric weights, the case the
// vectorized path computes without the subtraction).
Sums run_both(std::mt19937& rng, int64_t nrow, int64_t Cg, int64_t khw, int zw_mode) {
    std::uniform_int_distribution<int> code(-128, 127);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::uniform_int_distribution<int> kind(0, 3);
    const int64_t kk = Cg * khw;
    std::vector<std::vector<int8_t>> rows(static_cast<size_t>(nrow));
    const int8_t* row[32];
    double sw[32], zw[32];
    for (int64_t b = 0; b < nrow; ++b) {
        // Rows start at a random offset (0..15 bytes) into their buffer, so no alignment is assumed.
        std::vector<int8_t>& r = rows[static_cast<size_t>(b)];
        const size_t off = static_cast<size_t>(code(rng) & 15);
        r.resize(off + static_cast<size_t>(kk)); // ends where the row ends: a read past it is a bug (ASan)
        for (int64_t p = 0; p < kk; ++p) r[off + static_cast<size_t>(p)] = static_cast<int8_t>(code(rng));
        row[b] = r.data() + off;
        sw[b] = std::ldexp(std::abs(nd(rng)) + 0.01, -7);
        const int z = kind(rng);
        if (zw_mode == 1)
            zw[b] = z == 0 ? -0.0 : 0.0;
        else
            zw[b] = z == 0 ? 0.0 : z == 1 ? static_cast<double>(code(rng)) : nd(rng) * 3.0;
    }
    std::vector<double> ol(static_cast<size_t>(Cg));
    for (auto& a : ol) {
        const int z = kind(rng);
        a = z == 0 ? 0.0 : z == 1 ? -0.0 : nd(rng) * 0.37;
    }
    Sums s{std::vector<double>(static_cast<size_t>(nrow * khw), 1.0),
           std::vector<double>(static_cast<size_t>(nrow * khw), 2.0)};
    qjit::compensation_sums_scalar(nrow, row, sw, zw, ol.data(), Cg, khw, s.scalar.data());
    qjit::compensation_sums_avx2(nrow, row, sw, zw, ol.data(), Cg, khw, s.avx2.data());
    return s;
}

TEST(CompensationSums, Avx2EqualsScalarBitForBit) {
    if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "no AVX2";
    std::mt19937 rng(7);
    const int64_t cgs[] = {1, 2, 3, 7, 8, 9, 15, 17, 31, 64, 255, 256, 257, 300, 1031, 2048};
    const int64_t khws[] = {1, 2, 3, 4, 5, 9, 25, 49, 257, 300};
    int cases = 0;
    for (int64_t Cg : cgs)
        for (int64_t khw : khws) {
            if (Cg * khw > 300000) continue;
            const int64_t nrow = 8 * (1 + cases % 4);
            const Sums s = run_both(rng, nrow, Cg, khw, cases % 3 == 0 ? 1 : 0);
            ASSERT_EQ(0, std::memcmp(s.scalar.data(), s.avx2.data(), s.scalar.size() * sizeof(double)))
                << "case " << cases << " rows " << nrow << " Cg " << Cg << " khw " << khw;
            ++cases;
        }
    std::uniform_int_distribution<int64_t> cg(1, 600), kw(1, 30);
    for (int i = 0; i < 200; ++i) {
        const int64_t Cg = cg(rng), khw = kw(rng);
        const int64_t nrow = 8 * (1 + i % 4);
        const Sums s = run_both(rng, nrow, Cg, khw, cases % 3 == 0 ? 1 : 0);
        ASSERT_EQ(0, std::memcmp(s.scalar.data(), s.avx2.data(), s.scalar.size() * sizeof(double)))
            << "case " << cases << " rows " << nrow << " Cg " << Cg << " khw " << khw;
        ++cases;
    }
    EXPECT_GT(cases, 300);
}

} // namespace
