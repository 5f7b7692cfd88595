// Edge cases of the FakeQuantize element formula (spec §1.1, §1.4, §5.2-3) in jit/fq_math: range
// ends and ±1 ulp, NaN/inf/-0, degenerate and inverted ranges, exact ties (RNE), and a check that
// the formula is evaluated one rounding at a time (no FMA contraction, spec §1.1 / §8.6).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "jit/fq_math.hpp"
#include "qjit/error.hpp"

namespace {

using qjit::fq::fake_quantize;
using qjit::fq::level_index;
using qjit::fq::level_value;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

float up(float f) { return std::nextafter(f, kInf); }
float down(float f) { return std::nextafter(f, -kInf); }

// §1.1 written out with every intermediate forced through a volatile fp32 variable, so each
// operation is rounded on its own whatever the compiler does.
float stepwise_fq(float x, float il, float ih, float ol, float oh, int levels) {
    const float lo = il < ih ? il : ih, hi = il < ih ? ih : il;
    if (x <= lo) return ol;
    if (x > hi) return oh;
    volatile float lm1 = static_cast<float>(levels - 1);
    volatile float a = x - il;
    volatile float d = ih - il;
    volatile float q = a / d;
    volatile float u = q * lm1;
    volatile float k = std::nearbyint(u);
    volatile float kn = k / lm1;
    volatile float r = oh - ol;
    volatile float t = kn * r;
    volatile float v = t + ol;
    return v;
}

// The same with the last two steps fused, as a contracting compiler would emit them.
float fused_fq(float x, float il, float ih, float ol, float oh, int levels) {
    const float lo = il < ih ? il : ih, hi = il < ih ? ih : il;
    if (x <= lo) return ol;
    if (x > hi) return oh;
    volatile float lm1 = static_cast<float>(levels - 1);
    volatile float a = x - il;
    volatile float d = ih - il;
    volatile float q = a / d;
    volatile float u = q * lm1;
    volatile float k = std::nearbyint(u);
    volatile float kn = k / lm1;
    volatile float r = oh - ol;
    return std::fma(static_cast<float>(kn), static_cast<float>(r), ol);
}

TEST(FqMath, XEqualToInputLowGivesOutputLow) {
    EXPECT_EQ(bits(fake_quantize(-1.0f, -1.0f, 2.0f, -0.7f, 0.9f, 256)), bits(-0.7f));
    EXPECT_EQ(bits(fake_quantize(0.25f, 0.25f, 0.5f, 3.0f, 5.0f, 2)), bits(3.0f));
    EXPECT_EQ(level_index(-1.0f, -1.0f, 2.0f, 256), 0);
}

TEST(FqMath, XEqualToInputHighGoesThroughTheFormula) {
    // x == ih fails `x > max` and takes step 3: k = L-1, value fl(fl(1 * fl(oh-ol)) + ol).
    // With these decimals that is one ulp below oh, unlike x > ih which returns oh exactly.
    const float il = -1.0f, ih = 2.0f, ol = -0.7f, oh = 0.9f;
    volatile float d = oh - ol;
    volatile float via_formula = d + ol;
    ASSERT_NE(bits(via_formula), bits(oh)) << "the chosen decimals no longer separate the two paths";
    EXPECT_EQ(bits(fake_quantize(ih, il, ih, ol, oh, 256)), bits(via_formula));
    EXPECT_EQ(level_index(ih, il, ih, 256), 255);
    EXPECT_EQ(bits(fake_quantize(up(ih), il, ih, ol, oh, 256)), bits(oh));
}

TEST(FqMath, OneUlpAroundTheRangeEnds) {
    const float il = -1.0f, ih = 2.0f, ol = -0.7f, oh = 0.9f;
    const int L = 256;
    // below il: branch 1
    EXPECT_EQ(bits(fake_quantize(down(il), il, ih, ol, oh, L)), bits(ol));
    EXPECT_EQ(level_index(down(il), il, ih, L), 0);
    // just above il: the formula, rounding to level 0, whose value is fl(0 + ol) = ol
    EXPECT_EQ(level_index(up(il), il, ih, L), 0);
    EXPECT_EQ(bits(fake_quantize(up(il), il, ih, ol, oh, L)), bits(ol));
    // just below ih: the formula, level L-1
    EXPECT_EQ(level_index(down(ih), il, ih, L), L - 1);
    EXPECT_EQ(bits(fake_quantize(down(ih), il, ih, ol, oh, L)), bits(level_value(L - 1, ol, oh, L)));
    // just above ih: branch 2, oh exactly
    EXPECT_EQ(level_index(up(ih), il, ih, L), L - 1);
    EXPECT_EQ(bits(fake_quantize(up(ih), il, ih, ol, oh, L)), bits(oh));
}

TEST(FqMath, NaNGivesNaNAndLevelZero) {
    EXPECT_TRUE(std::isnan(fake_quantize(kNaN, 0.0f, 1.0f, 0.0f, 1.0f, 256)));
    EXPECT_TRUE(std::isnan(fake_quantize(-kNaN, -1.0f, 1.0f, -1.0f, 1.0f, 2)));
    EXPECT_TRUE(std::isnan(fake_quantize(kNaN, 1.0f, -1.0f, 0.0f, 1.0f, 16))); // il > ih
    EXPECT_EQ(level_index(kNaN, 0.0f, 1.0f, 256), 0); // spec §8.5
    EXPECT_EQ(level_index(kNaN, 0.5f, 0.5f, 256), 0);
}

TEST(FqMath, InfinitiesTakeTheBranches) {
    EXPECT_EQ(bits(fake_quantize(kInf, -1.0f, 1.0f, 3.0f, 7.0f, 256)), bits(7.0f));
    EXPECT_EQ(bits(fake_quantize(-kInf, -1.0f, 1.0f, 3.0f, 7.0f, 256)), bits(3.0f));
    EXPECT_EQ(level_index(kInf, -1.0f, 1.0f, 256), 255);
    EXPECT_EQ(level_index(-kInf, -1.0f, 1.0f, 256), 0);
}

TEST(FqMath, NegativeZeroAtZeroInputLow) {
    // -0.0 <= +0.0 is true, so it takes branch 1 and returns ol bit for bit.
    EXPECT_EQ(bits(fake_quantize(-0.0f, 0.0f, 1.0f, 0.25f, 2.0f, 256)), bits(0.25f));
    EXPECT_EQ(bits(fake_quantize(+0.0f, 0.0f, 1.0f, 0.25f, 2.0f, 256)), bits(0.25f));
    EXPECT_EQ(bits(fake_quantize(-0.0f, 0.0f, 1.0f, -0.0f, 2.0f, 256)), bits(-0.0f));
    EXPECT_EQ(level_index(-0.0f, 0.0f, 1.0f, 256), 0);
}

TEST(FqMath, EqualInputRangeIsAStepWithoutDivision) {
    const float t = 0.5f;
    for (int L : {2, 3, 256}) {
        EXPECT_EQ(bits(fake_quantize(t, t, t, -2.0f, 4.0f, L)), bits(-2.0f)) << L;
        EXPECT_EQ(bits(fake_quantize(down(t), t, t, -2.0f, 4.0f, L)), bits(-2.0f)) << L;
        EXPECT_EQ(bits(fake_quantize(up(t), t, t, -2.0f, 4.0f, L)), bits(4.0f)) << L;
        EXPECT_EQ(bits(fake_quantize(1e30f, t, t, -2.0f, 4.0f, L)), bits(4.0f)) << L;
        EXPECT_EQ(level_index(t, t, t, L), 0);
        EXPECT_EQ(level_index(up(t), t, t, L), L - 1);
    }
    // L = 2 binarization with {0, 1} outputs
    EXPECT_EQ(fake_quantize(0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 2), 0.0f);
    EXPECT_EQ(fake_quantize(1e-30f, 0.0f, 0.0f, 0.0f, 1.0f, 2), 1.0f);
}

TEST(FqMath, InvertedInputRangeIsNonMonotone) {
    // il = 1 > ih = -1, L = 3: x <= -1 -> ol; (-1, 1] -> formula with k running from high to low;
    // x > 1 -> oh (spec §1.4).
    const float il = 1.0f, ih = -1.0f, ol = 10.0f, oh = 20.0f;
    const int L = 3;
    EXPECT_EQ(fake_quantize(-2.0f, il, ih, ol, oh, L), ol);
    EXPECT_EQ(fake_quantize(-1.0f, il, ih, ol, oh, L), ol);
    EXPECT_EQ(fake_quantize(-0.9f, il, ih, ol, oh, L), oh); // u = 1.9 -> k = 2
    EXPECT_EQ(level_index(-0.9f, il, ih, L), 2);
    EXPECT_EQ(fake_quantize(0.0f, il, ih, ol, oh, L), 15.0f); // u = 1 -> k = 1
    EXPECT_EQ(level_index(0.0f, il, ih, L), 1);
    EXPECT_EQ(fake_quantize(1.0f, il, ih, ol, oh, L), ol); // x == il: a = 0 -> k = 0
    EXPECT_EQ(level_index(1.0f, il, ih, L), 0);
    EXPECT_EQ(fake_quantize(1.5f, il, ih, ol, oh, L), oh);
    EXPECT_EQ(level_index(1.5f, il, ih, L), L - 1);
}

TEST(FqMath, OutputLowAboveOutputHigh) {
    const float il = 0.0f, ih = 1.0f, ol = 1.0f, oh = -1.0f;
    EXPECT_EQ(fake_quantize(-1.0f, il, ih, ol, oh, 3), 1.0f);
    EXPECT_EQ(fake_quantize(0.5f, il, ih, ol, oh, 3), 0.0f);
    EXPECT_EQ(fake_quantize(1.0f, il, ih, ol, oh, 3), -1.0f);
    EXPECT_EQ(fake_quantize(2.0f, il, ih, ol, oh, 3), -1.0f);
    EXPECT_EQ(level_index(0.5f, il, ih, 3), 1);
    EXPECT_EQ(level_value(1, ol, oh, 3), 0.0f);
}

// Ties built on purpose: with a power-of-two input span and L-1 a power of two, every step of
// u = fl(fl(fl(x-il)/fl(ih-il))*(L-1)) is exact, so u is exactly k + 0.5 and RNE must pick the even
// neighbour (round-half-away or +0.5 truncation would pick k+1 for every even k).
void check_ties(float il, float ih, int levels) {
    const float step = (ih - il) / static_cast<float>(levels - 1); // a power of two here
    for (int k = 0; k + 1 < levels; ++k) {
        const float x = il + (static_cast<float>(k) + 0.5f) * step;
        volatile float a = x - il, d = ih - il;
        volatile float q = a / d;
        volatile float u = q * static_cast<float>(levels - 1);
        ASSERT_EQ(u, static_cast<float>(k) + 0.5f) << "not an exact tie: L=" << levels << " k=" << k;
        const int even = (k % 2 == 0) ? k : k + 1;
        EXPECT_EQ(level_index(x, il, ih, levels), even) << "L=" << levels << " k=" << k;
        EXPECT_EQ(bits(fake_quantize(x, il, ih, -3.0f, 5.0f, levels)), bits(level_value(even, -3.0f, 5.0f, levels)))
            << "L=" << levels << " k=" << k;
    }
}

TEST(FqMath, ExactTiesRoundHalfToEven) {
    check_ties(-2.0f, 2.0f, 17);  // step 0.25
    check_ties(0.0f, 1.0f, 129);  // step 1/128
    check_ties(-8.0f, 8.0f, 3);   // step 8
    check_ties(0.5f, 4.5f, 5);    // step 1, il not a multiple of the span
    EXPECT_EQ(qjit::fq::round_rne(0.5f), 0);
    EXPECT_EQ(qjit::fq::round_rne(1.5f), 2);
    EXPECT_EQ(qjit::fq::round_rne(2.5f), 2);
    EXPECT_EQ(qjit::fq::round_rne(254.5f), 254);
}

TEST(FqMath, EachOperationRoundsOnItsOwn) {
    // Compares fq::fake_quantize with the volatile step-by-step version over random ranges and
    // inputs (uniform, grid points and half-grid points), bit for bit. The fused (FMA) variant is
    // counted too, to show the inputs are able to tell the two apart (spec §2.1: ~6% of grid points).
    std::mt19937 rng(20240611);
    std::uniform_real_distribution<float> u01(0.0f, 1.0f);
    auto dec2 = [](float v) { return std::round(v * 100.0f) / 100.0f; }; // two-decimal ranges
    int64_t checked = 0, fused_differs = 0;
    for (int trial = 0; trial < 2000; ++trial) {
        const int L = 2 + static_cast<int>(rng() % 255);
        const float il = dec2(-3.0f * u01(rng));
        const float ih = il + 0.01f + dec2(4.0f * u01(rng));
        const float ol = dec2(-2.0f * u01(rng) + 0.5f);
        const float oh = ol + 0.01f + dec2(3.0f * u01(rng));
        const float step = (ih - il) / static_cast<float>(L - 1);
        for (int i = 0; i < 64; ++i) {
            float x;
            switch (i % 3) {
            case 0: x = il - 0.1f * (ih - il) + 1.2f * (ih - il) * u01(rng); break;
            case 1: x = il + static_cast<float>(rng() % static_cast<unsigned>(L)) * step; break;
            default: x = il + (static_cast<float>(rng() % static_cast<unsigned>(L - 1)) + 0.5f) * step; break;
            }
            const float want = stepwise_fq(x, il, ih, ol, oh, L);
            ASSERT_EQ(bits(fake_quantize(x, il, ih, ol, oh, L)), bits(want))
                << "x=" << x << " il=" << il << " ih=" << ih << " ol=" << ol << " oh=" << oh << " L=" << L;
            fused_differs += bits(fused_fq(x, il, ih, ol, oh, L)) != bits(want);
            ++checked;
        }
    }
    EXPECT_GT(fused_differs, checked / 100) << "the inputs cannot detect FMA contraction";
}

TEST(FqMath, LevelValueIsTheStepwiseDequantize) {
    for (int L : {2, 15, 16, 255, 256})
        for (int k = 0; k < L; ++k) {
            volatile float kn = static_cast<float>(k) / static_cast<float>(L - 1);
            volatile float r = 0.9f - -0.7f;
            volatile float t = kn * r;
            volatile float v = t + -0.7f;
            ASSERT_EQ(bits(level_value(k, -0.7f, 0.9f, L)), bits(v)) << "L=" << L << " k=" << k;
        }
}

// The one-pass form used by the weight folding is both functions at once, bit for bit.
TEST(FqMath, FakeQuantizeAndLevelEqualsBothFunctions) {
    std::mt19937 r(11);
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    const float specials[] = {kNaN, kInf, -kInf, 0.0f, -0.0f, -1.0f, 1.0f, 2.5f, -2.5f};
    for (int i = 0; i < 20000; ++i) {
        const int L = 2 + static_cast<int>(r() % 255);
        float il = u(r), ih = u(r), ol = u(r), oh = u(r);
        if (i % 7 == 0) std::swap(il, ih);
        const float x = i % 50 == 0 ? specials[(i / 50) % 9] : i % 11 == 0 ? il : i % 13 == 0 ? ih : u(r);
        int k = -1;
        const float y = qjit::fq::fake_quantize_and_level(x, il, ih, ol, oh, L, &k);
        ASSERT_EQ(bits(y), bits(fake_quantize(x, il, ih, ol, oh, L))) << x << " " << il << " " << ih;
        ASSERT_EQ(k, level_index(x, il, ih, L)) << x << " " << il << " " << ih;
    }
}

TEST(FqMath, RequiresRoundToNearest) {
    EXPECT_NO_THROW(qjit::fq::require_round_to_nearest());
    ASSERT_EQ(std::fesetround(FE_UPWARD), 0);
    try {
        qjit::fq::require_round_to_nearest();
        ADD_FAILURE() << "no error under FE_UPWARD";
    } catch (const qjit::Error& e) {
        EXPECT_EQ(e.code(), qjit::ErrorCode::Internal);
    }
    std::fesetround(FE_TONEAREST);
}

} // namespace

// The batched form (AVX2 where available) gives the scalar form's bits: random ranges and inputs, plus
// the range ends, one ulp around them, exact ties, +-0, +-inf, NaN (quiet, signalling, payloads),
// subnormals and huge values, at every length so each tail and NaN group position is hit.
TEST(FqMath, BatchedFormEqualsTheScalarFormBitForBit) {
    std::mt19937 r(2027);
    std::uniform_real_distribution<float> u(-4.0f, 4.0f);
    const float inf = std::numeric_limits<float>::infinity();
    auto nan_with = [](uint32_t b) {
        float f;
        std::memcpy(&f, &b, 4);
        return f;
    };
    for (int trial = 0; trial < 400; ++trial) {
        float il = u(r), ih = u(r);
        if (!(il < ih)) std::swap(il, ih);
        if (il == ih) ih = il + 1.0f;
        const float ol = u(r), oh = trial % 7 == 0 ? ol : u(r);
        const int levels = trial % 3 == 0 ? 256 : 2 + static_cast<int>(r() % 255);
        const float step = (ih - il) / static_cast<float>(levels - 1);
        std::vector<float> x;
        for (int i = 0; i < 61; ++i) x.push_back(il + (ih - il) * static_cast<float>(r() % 10001) / 10000.0f);
        for (int i = 0; i < 8; ++i) x.push_back(il + step * (static_cast<float>(r() % static_cast<unsigned>(levels)) + 0.5f));
        for (float e : {il, ih}) {
            x.push_back(e);
            x.push_back(std::nextafter(e, -inf));
            x.push_back(std::nextafter(e, inf));
        }
        for (float v : {0.0f, -0.0f, inf, -inf, 1e-45f, -1e-45f, 1e-38f, 3e38f, -3e38f}) x.push_back(v);
        if (trial % 2) {
            x.push_back(nan_with(0x7FC00001u));
            x.push_back(nan_with(0xFF800123u)); // signalling, negative
            x.push_back(std::numeric_limits<float>::quiet_NaN());
        }
        std::shuffle(x.begin(), x.end(), r);
        for (size_t n : {x.size(), size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{16}, size_t{23}}) {
            n = std::min(n, x.size());
            std::vector<float> y(n, -1.0f);
            std::vector<int> k(n, -1);
            qjit::fq::fake_quantize_and_level_n(x.data(), static_cast<int64_t>(n), il, ih, ol, oh, levels, y.data(), k.data());
            for (size_t i = 0; i < n; ++i) {
                int k_ref = -1;
                const float y_ref = qjit::fq::fake_quantize_and_level(x[i], il, ih, ol, oh, levels, &k_ref);
                ASSERT_EQ(bits(y[i]), bits(y_ref)) << "x=" << x[i] << " il=" << il << " ih=" << ih << " L=" << levels;
                ASSERT_EQ(k[i], k_ref) << "x=" << x[i] << " il=" << il << " ih=" << ih << " L=" << levels;
            }
        }
    }
}
