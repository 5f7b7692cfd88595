// MaxPool / AvgPool AVX2 emitters vs Oracle B (ref::maxpool_levels, ref::qavgpool), byte for byte
// over the whole output buffer: channel tails, kernel sizes, strides, pads up to the kernel, ceil
// mode, exclude_pad, global pooling (16- and 32-bit window sums), per-channel input parameters,
// every output mode. A failure prints the case, the seed and a one-line reproducer.
#include <gtest/gtest.h>

#include <random>

#include "emitters/pool_avx2.hpp"
#include "qjit/error.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/group_pool_testing.hpp"

namespace qjit::test {
namespace {

PoolCase pool(bool avg, int64_t C, int64_t H, int64_t W, int64_t K, int64_t S, int64_t P, bool ceil = false) {
    PoolCase c;
    c.avg = avg;
    c.C = C, c.H = H, c.W = W, c.KH = c.KW = K, c.SH = c.SW = S;
    c.PT = c.PL = c.PB = c.PR = P;
    c.ceil = ceil;
    return c;
}

PoolCase vary(PoolCase c, uint64_t seed) {
    std::mt19937_64 r(seed ^ 0x9001ull);
    auto coin = [&](int pct) { return static_cast<int>(r() % 100) < pct; };
    static const int kLevels[] = {2, 3, 16, 255, 256};
    const int m = static_cast<int>(r() % 10);
    c.out = m < 6 ? PoolCase::Out::Levels : m < 8 ? PoolCase::Out::Threshold : PoolCase::Out::Float;
    c.in_levels = coin(60) ? 256 : kLevels[r() % 5];
    c.out_levels = coin(60) ? 256 : kLevels[r() % 5];
    c.per_channel_in = coin(50);
    c.per_channel_out = coin(40);
    c.exclude_pad = coin(50);
    c.garbage_pad = coin(30);
    c.extra_halo = coin(20) ? 1 : 0;
    c.extra_in_cs = coin(15) ? 16 : 0;
    c.extra_out_cs = coin(15) ? 16 : 0;
    c.split_calls = coin(30);
    c.hostile_mxcsr = coin(20);
    return c;
}

TEST(PoolEmitter, ChannelTails) {
    const uint64_t base = base_seed(61);
    uint64_t i = 0;
    for (bool avg : {false, true})
        for (int64_t C = 1; C <= 65; C += (C < 34 ? 1 : 7)) {
            PoolCase c = vary(pool(avg, C, 7, 8, 3, 2, 1), case_seed(base, i));
            EXPECT_TRUE(run_pool_case(c, base, i++));
        }
}

TEST(PoolEmitter, KernelsStridesPadsCeil) {
    const uint64_t base = base_seed(62);
    uint64_t i = 0;
    for (bool avg : {false, true})
        for (int64_t k : {1, 2, 3, 5})
            for (int64_t s = 1; s <= 3; ++s)
                for (int64_t p = 0; p <= k; ++p)
                    for (bool ceil : {false, true}) {
                        PoolCase c = vary(pool(avg, 19, 9, 10, k, s, p, ceil), case_seed(base, i));
                        if (!c.valid()) {
                            c.exclude_pad = false; // an AvgPool window in the padding is fine without exclude_pad
                            if (!c.valid()) continue;
                        }
                        EXPECT_TRUE(run_pool_case(c, base, i++));
                    }
}

TEST(PoolEmitter, AsymmetricShapesRandom) {
    const uint64_t base = base_seed(63);
    std::mt19937_64 r(base);
    for (uint64_t i = 0; i < 300; ++i) {
        PoolCase c;
        c.avg = r() % 2;
        c.N = 1 + static_cast<int64_t>(r() % 2);
        c.C = 1 + static_cast<int64_t>(r() % 40);
        c.H = 1 + static_cast<int64_t>(r() % 12);
        c.W = 1 + static_cast<int64_t>(r() % 14);
        c.KH = 1 + static_cast<int64_t>(r() % 5);
        c.KW = 1 + static_cast<int64_t>(r() % 5);
        c.SH = 1 + static_cast<int64_t>(r() % 3);
        c.SW = 1 + static_cast<int64_t>(r() % 3);
        c.PT = static_cast<int64_t>(r() % 4);
        c.PL = static_cast<int64_t>(r() % 4);
        c.PB = static_cast<int64_t>(r() % 4);
        c.PR = static_cast<int64_t>(r() % 4);
        c.ceil = r() % 2;
        c = vary(c, case_seed(base, i));
        if (!c.valid()) {
            --i;
            continue;
        }
        EXPECT_TRUE(run_pool_case(c, base, i));
    }
}

// Global pooling (kernel = H x W): window sums up to 255*H*W, in u16 lanes while <= 65535 and in
// s32 lanes beyond; windows large enough that the tap loops do not unroll.
TEST(PoolEmitter, GlobalPooling) {
    const uint64_t base = base_seed(64);
    uint64_t i = 0;
    for (bool avg : {true, false})
        for (auto hw : {std::pair<int64_t, int64_t>{7, 7}, {1, 1}, {16, 16}, {17, 16}, {1, 30}, {40, 33}})
            for (int la : {256, 16}) {
                PoolCase c = vary(pool(avg, 21, hw.first, hw.second, 1, 1, 0), case_seed(base, i));
                c.KH = hw.first, c.KW = hw.second;
                c.in_levels = la;
                c.N = 2;
                std::string k;
                EXPECT_TRUE(run_pool_case(c, base, i++, &k));
                if (avg)
                    EXPECT_NE(k.find(hw.first * hw.second * (la - 1) <= 65535 ? "_sum16" : "_sum32"), std::string::npos)
                        << k;
            }
}

TEST(PoolEmitter, EveryAvgPoolModeAndOption) {
    const uint64_t base = base_seed(65);
    uint64_t i = 0;
    for (auto out : {PoolCase::Out::Levels, PoolCase::Out::Threshold, PoolCase::Out::Float})
        for (bool excl : {false, true})
            for (bool pci : {false, true})
                for (bool pco : {false, true})
                    for (bool ceil : {false, true}) {
                        PoolCase c = pool(true, 24, 7, 9, 3, 2, 1, ceil);
                        c.out = out;
                        c.exclude_pad = excl;
                        c.per_channel_in = pci;
                        c.per_channel_out = pco;
                        EXPECT_TRUE(run_pool_case(c, base, i++));
                    }
}

TEST(PoolEmitter, HostileMxcsrAndSplitCalls) {
    const uint64_t base = base_seed(66);
    for (uint64_t i = 0; i < 8; ++i) {
        PoolCase c = vary(pool(i % 2 == 1, 33, 8, 9, 3, 2, 1, i % 4 < 2), case_seed(base, i));
        c.N = 2;
        c.hostile_mxcsr = true;
        c.split_calls = true;
        EXPECT_TRUE(run_pool_case(c, base, i));
    }
}

TEST(PoolEmitter, RejectsSmallHalo) {
    PoolCase c = pool(false, 8, 5, 5, 3, 1, 1);
    const ConvGeom g = c.geometry();
    ActLayout in = required_pool_input_halo(g), out;
    out.H = g.OH, out.W = g.OW, out.C = g.C;
    in.halo_b = 0;
    EXPECT_THROW(emit_maxpool_avx2(g, in, out, "p"), Error);
}

} // namespace
} // namespace qjit::test
