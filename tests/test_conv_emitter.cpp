// QConv emitter vs Oracle B (ref::qconv), byte for byte over the whole output buffer (halo and
// padded channels included), for every ISA level the host runs (avx2, avx2_vnni, avx512_core,
// avx512_core_vnni; a level the host lacks is skipped with a message — tests/emu runs those in
// Bochs). Each case is drawn from a seed; a failure prints the case, the seed and a one-line
// reproducer (QJIT_TEST_SEED=<seed> ... --gtest_filter=...).
#include <gtest/gtest.h>

#include <random>

#include "emitters/conv.hpp"
#include "emitters/conv_maddubs.hpp"
#include "emitters/isa_traits.hpp"
#include "jit/requant_fold.hpp"
#include "qjit/error.hpp"
#include "tests/support/emitter_testing.hpp"

namespace qjit::test {
namespace {

ConvGeom geom(int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t S = 1, int64_t D = 1,
              int64_t P = 0) {
    return conv_geom(C, H, W, OC, KH, KW, S, D, P);
}

// Draws every option a sweep does not pin (output mode, levels, weights, post-ops, layout extras,
// call splitting, MXCSR) from `seed`.
ConvCase vary(ConvGeom g, uint64_t seed) { return vary_conv_case(g, seed); }

bool vnni(Isa isa) { return isa == Isa::avx2_vnni || isa == Isa::avx512_core_vnni; }

// Every test runs once per ISA level; SetUp skips the levels the host cannot execute.
class ConvEmitter : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
    ::testing::AssertionResult run(ConvCase c, uint64_t base, uint64_t index, ConvRunInfo* info = nullptr) const {
        c.isa = GetParam();
        return run_conv_case(c, base, index, info);
    }
};

TEST_P(ConvEmitter, EveryOutputModeAndOption) {
    const uint64_t base = base_seed(11);
    uint64_t i = 0;
    for (auto out : {ConvCase::Out::Levels, ConvCase::Out::Threshold, ConvCase::Out::Float})
        for (bool asym : {false, true})
            for (bool ol : {false, true})
                for (bool per_oc : {false, true}) {
                    ConvCase c;
                    c.g = geom(8, 6, 7, 20, 3, 3, 1, 1, 1);
                    c.out = out;
                    c.asym_w = asym;
                    c.act_ol = ol;
                    c.per_oc_out = per_oc;
                    c.const_ch = asym;
                    EXPECT_TRUE(run(c, base, i++));
                }
}

TEST_P(ConvEmitter, LevelsOfInputAndOutput) {
    const uint64_t base = base_seed(12);
    uint64_t i = 0;
    for (int la : {2, 3, 16, 255, 256})
        for (int lo : {2, 3, 16, 255, 256}) {
            ConvCase c = vary(geom(5, 5, 6, 12, 3, 3, 1, 1, 1), case_seed(base, i));
            c.in_levels = la;
            c.out_levels = lo;
            EXPECT_TRUE(run(c, base, i++));
        }
}

TEST_P(ConvEmitter, PostOps) {
    const uint64_t base = base_seed(13);
    uint64_t i = 0;
    for (int mask = 0; mask < 16; ++mask)
        for (auto out : {ConvCase::Out::Levels, ConvCase::Out::Threshold, ConvCase::Out::Float}) {
            ConvCase c = vary(geom(6, 5, 5, 19, 3, 3, 1, 1, 1), case_seed(base, i));
            c.out = out;
            c.bias = mask & 1;
            c.relu = mask & 2;
            c.clamp = mask & 4;
            c.scale_shift = mask & 8;
            EXPECT_TRUE(run(c, base, i++));
        }
}

// A destination zero point under a fused ReLU: every channel's k_lo is the level of 0, and the
// emitter folds it into the clamp before rounding (fold_uniform_klo); a per-channel next FQ, channel
// counts that leave padded lanes and ONNX offsets keep the integer clamp. Oracle B either way.
TEST_P(ConvEmitter, ReluUnderAnOutputZeroPoint) {
    const uint64_t base = base_seed(30);
    uint64_t i = 0;
    int folded = 0, kept = 0;
    for (int64_t oc : {8, 16, 20, 32, 64})
        for (bool per_oc : {false, true})
            for (int lo : {256, 16})
                for (bool maddubs : {false, true}) {
                    ConvCase c = vary(geom(16, 5, 7, oc, 3, 3, 1, 1, 1), case_seed(base, i));
                    c.out = ConvCase::Out::Levels;
                    c.relu = true;
                    c.out_below_zero = true;
                    c.per_oc_out = per_oc;
                    c.out_levels = lo;
                    c.maddubs = maddubs && !vnni(GetParam());
                    c.isa = GetParam();
                    PreparedConv p;
                    ASSERT_TRUE(prepare_conv_case(c, base, i, &p));
                    bool drop = false;
                    fold_uniform_klo(fold_qconv(p.d), p.d.g.OC, isa_lanes(c.isa), &drop);
                    (drop ? folded : kept) += 1;
                    EXPECT_TRUE(run(c, base, i++));
                }
    EXPECT_GT(folded, 0);
    EXPECT_GT(kept, 0);
}

TEST_P(ConvEmitter, OutputChannelTails) {
    const uint64_t base = base_seed(14);
    uint64_t i = 0;
    for (int64_t oc = 1; oc <= 33; ++oc)
        for (int64_t C : {3, 17}) {
            ConvCase c = vary(geom(C, 5, 6, oc, 3, 3, 1, 1, 1), case_seed(base, i));
            EXPECT_TRUE(run(c, base, i++));
            for (int v = 1; v <= 4; ++v) { // every block width, full and partial last blocks
                c.blocking = ConvBlocking{12 / v > 3 ? 3 : 12 / v, v, 8};
                EXPECT_TRUE(run(c, base, i++));
            }
        }
}

TEST_P(ConvEmitter, ChannelsAndKernelSizes) {
    const uint64_t base = base_seed(15);
    uint64_t i = 0;
    for (int64_t C : {1, 2, 3, 5, 8, 17, 64})
        for (auto k : {std::pair<int64_t, int64_t>{1, 1}, {3, 3}, {5, 5}, {1, 7}}) {
            ConvGeom g = geom(C, 7, 9, 24, k.first, k.second);
            g.PT = g.PB = k.first / 2;
            g.PL = g.PR = k.second / 2;
            EXPECT_TRUE(run(vary(with_output(g), case_seed(base, i)), base, i));
            ++i;
        }
}

TEST_P(ConvEmitter, StridesDilationsPads) {
    const uint64_t base = base_seed(16);
    uint64_t i = 0;
    for (int64_t s = 1; s <= 3; ++s)
        for (int64_t d = 1; d <= 2; ++d)
            for (int64_t p : {0, 1, 3, 4}) { // pads up to and beyond the kernel
                ConvGeom g = geom(7, 9, 10, 13, 3, 3, s, d, p);
                if (g.OH < 1 || g.OW < 1) continue;
                EXPECT_TRUE(run(vary(g, case_seed(base, i)), base, i));
                ++i;
            }
}

TEST_P(ConvEmitter, AsymmetricPadsAndShapes) {
    const uint64_t base = base_seed(17);
    std::mt19937_64 r(base);
    for (uint64_t i = 0; i < 40; ++i) {
        ConvGeom g;
        g.C = 1 + static_cast<int64_t>(r() % 20);
        g.OC = 1 + static_cast<int64_t>(r() % 40);
        g.KH = 1 + static_cast<int64_t>(r() % 5);
        g.KW = 1 + static_cast<int64_t>(r() % 5);
        g.SH = 1 + static_cast<int64_t>(r() % 3);
        g.SW = 1 + static_cast<int64_t>(r() % 3);
        g.DH = 1 + static_cast<int64_t>(r() % 2);
        g.DW = 1 + static_cast<int64_t>(r() % 2);
        g.PT = static_cast<int64_t>(r() % 6);
        g.PB = static_cast<int64_t>(r() % 6);
        g.PL = static_cast<int64_t>(r() % 6);
        g.PR = static_cast<int64_t>(r() % 6);
        g.H = 1 + static_cast<int64_t>(r() % 12);
        g.W = 1 + static_cast<int64_t>(r() % 14);
        g = with_output(g);
        if (g.OH < 1 || g.OW < 1 || covered_fraction(g) < 0.5) {
            --i;
            continue;
        }
        EXPECT_TRUE(run(vary(g, case_seed(base, i)), base, i));
    }
}

TEST_P(ConvEmitter, OutputWidthTailsVsPixelTile) {
    const uint64_t base = base_seed(18);
    uint64_t i = 0;
    const int max_acc = isa_lanes(GetParam()) == 16 ? 26 : 12;
    for (int v : {1, 2})
        for (int p = 1; p * v <= max_acc; ++p)
            for (int64_t ow = 1; ow <= 2 * p + 1; ++ow) {
                ConvCase c = vary(geom(4, 3, ow + 2, 8 * v, 3, 3), case_seed(base, i));
                c.blocking = ConvBlocking{p, v, 8};
                EXPECT_TRUE(run(c, base, i++));
            }
}

TEST_P(ConvEmitter, EveryBlockingChooseCanReturn) {
    const uint64_t base = base_seed(19);
    uint64_t i = 0;
    const std::vector<ConvBlocking> all = conv_blockings(GetParam());
    // Long lists (the 32-register levels) take one of the shapes per blocking, in turn.
    const int per = all.size() > 60 ? 1 : 3;
    for (const ConvBlocking& b : all)
        for (int k = 0; k < per; ++k) {
            const int shape = per == 1 ? static_cast<int>(i % 3) : k;
            const ConvGeom g = shape == 0   ? geom(9, 6, 13, 37, 3, 3, 1, 1, 1)
                               : shape == 1 ? geom(16, 7, 7, 64, 3, 3, 2, 1, 1)
                                            : geom(33, 1, 5, 24, 1, 1);
            ConvCase c = vary(g, case_seed(base, i));
            c.blocking = b;
            c.maddubs = b.maddubs;
            EXPECT_TRUE(run(c, base, i++));
        }
}

TEST_P(ConvEmitter, ChooseBlockingStaysInTheList) {
    const Isa isa = GetParam();
    const auto all = conv_blockings(isa);
    int with_maddubs = 0, without = 0;
    for (int64_t oc : {1, 8, 9, 16, 24, 40, 64, 1000})
        for (int64_t ow : {1, 2, 3, 5, 6, 7, 14, 56}) {
            QConvDesc d;
            d.g = geom(8, 3, ow, oc, 1, 1);
            d.in.levels = oc % 2 ? 16 : 256; // with small codes: maddubs on (L_a = 16) and off
            d.w.q.assign(static_cast<size_t>(d.g.OC * d.g.K()), static_cast<int8_t>(ow % 3 == 0 ? 100 : 3));
            const ConvBlocking b = choose_conv_blocking(isa, d, QConvConsts{});
            EXPECT_TRUE(conv_blocking_fits(b));
            EXPECT_EQ(b.isa, isa);
            EXPECT_EQ(b.lanes, isa_lanes(isa));
            EXPECT_LE(b.pixels, ow);
            EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const ConvBlocking& x) {
                return x.pixels == b.pixels && x.oc_vecs == b.oc_vecs && x.lanes == b.lanes && x.maddubs == b.maddubs;
            }));
            (b.maddubs ? with_maddubs : without)++;
            // Every group unsafe: never the plan; every group safe: the plan where its op count wins
            // (not for a lone pixel, whose unit table walk is not shared).
            if (vnni(isa) || (d.in.levels == 256 && ow % 3 == 0)) {
                EXPECT_FALSE(b.maddubs) << "oc " << oc << " ow " << ow;
            }
            if (!vnni(isa) && ow >= 6 && (d.in.levels == 16 || ow % 3 != 0)) {
                EXPECT_TRUE(b.maddubs) << "oc " << oc << " ow " << ow;
            }
        }
    if (!vnni(isa)) {
        EXPECT_GT(with_maddubs, 0);
    }
    EXPECT_GT(without, 0);
}

// Segment split (spec §8.2): a Conv reading a Concat of tensors with different activation steps
// sums D_i (and S_i) per run of channels and nests the fma steps in the fixed order; every blocking
// family, segment count 2..8, boundaries off the 4-channel quads, asymmetric weights.
TEST_P(ConvEmitter, SegmentSplit) {
    const uint64_t base = base_seed(29);
    uint64_t i = 0;
    for (int segs = 2; segs <= 8; ++segs)
        for (int shape = 0; shape < 3; ++shape) {
            const ConvCase c = segment_split_case(segs, shape, case_seed(base, i));
            ConvRunInfo info;
            EXPECT_TRUE(run(c, base, i++, &info));
            EXPECT_NE(info.kernel.find("_seg"), std::string::npos) << info.kernel;
        }
}

TEST(ConvFold, MoreThanEightSegmentsIsUnsupported) {
    QConvDesc d;
    d.g = geom(9, 3, 3, 4, 1, 1);
    d.in.levels = 256;
    d.in.channels = 9;
    for (int c = 0; c < 9; ++c) {
        d.in.ol.v.push_back(0.0f);
        d.in.oh.v.push_back(static_cast<float>(c + 1));
    }
    d.in.il = d.in.ol;
    d.in.ih = d.in.oh;
    EXPECT_EQ(conv_segments(d).size(), 10u);
    try {
        fold_qconv(d);
        ADD_FAILURE() << "9 segments folded";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::UnsupportedOp);
        EXPECT_NE(std::string(e.what()).find("at most 8 segments"), std::string::npos) << e.what();
    }
}

TEST_P(ConvEmitter, FullyConnected) {
    const uint64_t base = base_seed(20);
    uint64_t i = 0;
    for (int64_t m : {1, 3, 8, 13})
        for (int64_t k : {17, 100, 2048})
            for (int64_t n : {10, 64, 1000}) {
                if (k * n * m > 8'000'000) continue;
                ConvCase c = vary(geom(k, 1, m, n, 1, 1), case_seed(base, i));
                EXPECT_TRUE(run(c, base, i++));
            }
}

TEST_P(ConvEmitter, FullImageConvIsFcAfterFlatten) {
    const uint64_t base = base_seed(21);
    uint64_t i = 0;
    for (auto s : {std::pair<int64_t, int64_t>{64, 7}, {32, 5}, {3, 4}, {130, 3}}) {
        ConvCase c = vary(geom(s.first, s.second, s.second, 100, s.second, s.second), case_seed(base, i));
        c.g.N = 2;
        EXPECT_TRUE(run(c, base, i++));
    }
}

TEST_P(ConvEmitter, BatchOfTwo) {
    const uint64_t base = base_seed(22);
    for (uint64_t i = 0; i < 6; ++i) {
        ConvGeom g = geom(5 + 4 * static_cast<int64_t>(i), 6, 5, 17 + 5 * static_cast<int64_t>(i), 3, 3, 1 + i % 2, 1, 1);
        g.N = 2;
        EXPECT_TRUE(run(vary(g, case_seed(base, i)), base, i));
    }
}

TEST_P(ConvEmitter, HostileCallerMxcsr) {
    const uint64_t base = base_seed(23);
    for (uint64_t i = 0; i < 6; ++i) {
        ConvCase c = vary(geom(8, 5, 6, 16, 3, 3, 1, 1, 1), case_seed(base, i));
        c.hostile_mxcsr = true;
        c.out = i % 2 ? ConvCase::Out::Float : ConvCase::Out::Levels;
        EXPECT_TRUE(run(c, base, i));
    }
}

// All inputs at L_a-1 and weight codes at -128/-127/127: the largest |D| for K; with K = 65793
// (the documented limit) |D| reaches 2^31 - 127.
TEST_P(ConvEmitter, ExtremeCodesUpToTheKLimit) {
    const uint64_t base = base_seed(24);
    uint64_t i = 0;
    for (auto s : {std::pair<int64_t, int64_t>{64, 3}, {2048, 1}, {kMaxConvK, 1}, {7310, 3}})
        for (auto out : {ConvCase::Out::Levels, ConvCase::Out::Float}) {
            ConvCase c;
            c.g = geom(s.first, s.second, s.second + 1, 9, s.second, s.second);
            c.extreme = true;
            c.asym_w = i % 2 == 1;
            c.out = out;
            EXPECT_TRUE(run(c, base, i++));
        }
}

TEST(ConvEmitterAvx2, RejectsOverflowingKAndSmallHalo) {
    QConvDesc d;
    d.g = geom(7311, 3, 3, 8, 3, 3); // K = 65799 > 65793
    d.w.q.assign(static_cast<size_t>(d.g.OC * d.g.K()), 1);
    d.w.s_w.assign(8, 0.01);
    d.w.z_w.assign(8, 0.0);
    d.w.n_dropped.assign(8, 0.0);
    d.w.const_channel.assign(8, 0);
    d.w.w_c.assign(8, 0.0);
    d.in.ol.v = {0.0f};
    d.in.oh.v = {1.0f};
    d.in.il = d.in.ol;
    d.in.ih = d.in.oh;
    d.out.il.v = {-1.0f};
    d.out.ih.v = {1.0f};
    d.out.ol.v = {0.0f};
    d.out.oh.v = {1.0f};
    const QConvConsts c = fold_qconv(d);
    ActLayout in = required_input_halo(d.g), out;
    out.H = d.g.OH, out.W = d.g.OW, out.C = d.g.OC;
    try {
        emit_conv_avx2(d, c, in, out, ConvBlocking{});
        ADD_FAILURE() << "K > 65793 accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::UnsupportedOp);
    }
    d.g = geom(7, 3, 3, 8, 3, 3, 1, 1, 1);
    d.w.q.assign(static_cast<size_t>(d.g.OC * d.g.K()), 1);
    const QConvConsts c2 = fold_qconv(d);
    in = required_input_halo(d.g);
    in.halo_r = 0; // needs 1
    out.H = d.g.OH, out.W = d.g.OW;
    EXPECT_THROW(emit_conv_avx2(d, c2, in, out, ConvBlocking{}), Error);
}

// The vpmaddubsw fast path (spec §4.5): groups that pass the no-saturation proof take it, the others
// the exact form, in one kernel; every mix must equal Oracle B. L_a = 16 makes every group safe,
// wide weights at L_a = 256 almost none, small weights with rare outliers a mix.
TEST_P(ConvEmitter, MaddubsFastPathPerGroup) {
    if (vnni(GetParam())) GTEST_SKIP() << "VNNI levels use vpdpbusd (exact) and have no vpmaddubsw path";
    const uint64_t base = base_seed(26);
    uint64_t i = 0;
    int64_t fast = 0, exact = 0, mixed_kernels = 0;
    for (int la : {2, 16, 129, 256})
        for (bool small : {false, true})
            for (int shape = 0; shape < 4; ++shape) {
                const ConvGeom g = shape == 0   ? geom(64, 6, 9, 40, 3, 3, 1, 1, 1)
                                   : shape == 1 ? geom(300, 1, 3, 24, 1, 1)  // FC: groups along C
                                   : shape == 2 ? geom(5, 7, 7, 17, 3, 3, 2, 1, 1)
                                                : geom(40, 5, 5, 33, 5, 5, 1, 1, 2);
                ConvCase c = vary(g, case_seed(base, i));
                c.in_levels = la;
                c.small_weights = small;
                c.maddubs = true;
                ConvRunInfo info;
                EXPECT_TRUE(run(c, base, i++, &info));
                EXPECT_NE(info.kernel.find("_ubs"), std::string::npos) << info.kernel;
                fast += info.fast_groups;
                exact += info.total_groups - info.fast_groups;
                if (info.fast_groups > 0 && info.fast_groups < info.total_groups) ++mixed_kernels;
                if (la <= 128 && !small) {
                    EXPECT_EQ(info.fast_groups, info.total_groups) << "(L_a-1)*256 <= 32767";
                }
            }
    EXPECT_GT(fast, 0);
    EXPECT_GT(exact, 0);
    EXPECT_GT(mixed_kernels, 0) << "no kernel mixed both forms";
}

// Realistic weights (per-channel symmetric codes of normal floats, some all-zero quads) at L_a = 256:
// the plan mixes every form -- the three perms, units with fast and exact vectors, all-exact units,
// dropped zero units -- over every oc_vecs, and each kernel equals Oracle B.
TEST_P(ConvEmitter, MaddubsPlanMixesPermsAndForms) {
    if (vnni(GetParam())) GTEST_SKIP() << "VNNI levels use vpdpbusd (exact) and have no vpmaddubsw path";
    const uint64_t base = base_seed(28);
    uint64_t i = 0;
    int64_t perm[3] = {0, 0, 0}, mixed = 0, exact = 0;
    for (int v = 1; v <= kMaddubsMaxVecs; ++v)
        for (int shape = 0; shape < 3; ++shape) {
            const ConvCase c = maddubs_plan_case(GetParam(), v, shape, case_seed(base, i));
            ConvRunInfo info;
            EXPECT_TRUE(run(c, base, i++, &info));
            for (int k = 0; k < 3; ++k) perm[k] += info.perm_units[k];
            mixed += info.mixed_units;
            exact += info.exact_units;
        }
    EXPECT_GT(perm[0], 0);
    EXPECT_GT(perm[1], 0);
    EXPECT_GT(perm[2], 0);
    EXPECT_GT(mixed, 0);
    EXPECT_GT(exact, 0);
}

// All codes at the extremes with k = L_a-1: the pairs the fast path would saturate on must take the
// exact form (the saturation detector of spec §5.5).
TEST_P(ConvEmitter, MaddubsNeverSaturates) {
    if (vnni(GetParam())) GTEST_SKIP() << "VNNI levels use vpdpbusd (exact) and have no vpmaddubsw path";
    const uint64_t base = base_seed(27);
    uint64_t i = 0;
    for (int la : {129, 130, 256})
        for (auto s : {std::pair<int64_t, int64_t>{64, 3}, {2048, 1}}) {
            ConvCase c;
            c.g = geom(s.first, s.second, s.second + 2, 24, s.second, s.second);
            c.extreme = true;
            c.in_levels = la;
            c.maddubs = true;
            ConvRunInfo info;
            EXPECT_TRUE(run(c, base, i++, &info));
            if (la == 256) {
                EXPECT_EQ(info.fast_groups, 0);
            }
        }
}

TEST_P(ConvEmitter, RandomFuzz) {
    const uint64_t base = base_seed(25);
    std::mt19937_64 r(base);
    for (uint64_t i = 0; i < 400; ++i) {
        ConvGeom g;
        g.N = 1 + static_cast<int64_t>(r() % 2);
        g.C = 1 + static_cast<int64_t>(r() % 40);
        g.OC = 1 + static_cast<int64_t>(r() % 50);
        g.KH = 1 + static_cast<int64_t>(r() % 4);
        g.KW = 1 + static_cast<int64_t>(r() % 4);
        g.SH = 1 + static_cast<int64_t>(r() % 2);
        g.SW = 1 + static_cast<int64_t>(r() % 2);
        g.DH = 1 + static_cast<int64_t>(r() % 2);
        g.DW = 1 + static_cast<int64_t>(r() % 2);
        g.PT = static_cast<int64_t>(r() % 3);
        g.PB = static_cast<int64_t>(r() % 3);
        g.PL = static_cast<int64_t>(r() % 3);
        g.PR = static_cast<int64_t>(r() % 3);
        g.H = 1 + static_cast<int64_t>(r() % 10);
        g.W = 1 + static_cast<int64_t>(r() % 16);
        g = with_output(g);
        if (g.OH < 1 || g.OW < 1 || covered_fraction(g) < 0.5) {
            --i;
            continue;
        }
        ConvCase c = vary(g, case_seed(base, i));
        if (r() % 3 == 0) {
            const auto all = conv_blockings(GetParam());
            c.blocking = all[r() % all.size()];
        }
        EXPECT_TRUE(run(c, base, i));
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, ConvEmitter, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
