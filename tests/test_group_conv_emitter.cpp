// Grouped QConv emitter (depthwise, channel multiplier, general groups) vs Oracle B (ref::qconv),
// byte for byte over the whole output buffer, at every ISA level the host runs (the suites are
// value-parameterized over the level; the others are skipped natively and run in tests/emu). Each
// case is drawn from a seed; a failure prints the case, the seed and a one-line reproducer
// (QJIT_TEST_SEED=<seed> ... --gtest_filter=...).
#include <gtest/gtest.h>

#include <random>

#include "emitters/group_conv.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "isa/isa.hpp"
#include "jit/requant_fold.hpp"
#include "qjit/error.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/group_pool_testing.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

ConvGeom geom(int64_t C, int64_t groups, int64_t OC, int64_t H, int64_t W, int64_t K, int64_t S = 1, int64_t D = 1,
              int64_t P = 0) {
    ConvGeom g;
    g.C = C, g.groups = groups, g.OC = OC, g.H = H, g.W = W, g.KH = g.KW = K, g.SH = g.SW = S, g.DH = g.DW = D;
    g.PT = g.PL = g.PB = g.PR = P;
    return with_output(g);
}

ConvGeom depthwise(int64_t C, int64_t H, int64_t W, int64_t K, int64_t S = 1, int64_t D = 1, int64_t P = 0) {
    return geom(C, C, C, H, W, K, S, D, P);
}

GroupConvCase vary(const ConvGeom& g, uint64_t seed) { return vary_group_conv_case(g, seed); }

// Every test runs once per ISA level; SetUp skips the levels the host cannot execute.
class GroupConvEmitter : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
    ::testing::AssertionResult run(GroupConvCase c, uint64_t base, uint64_t i, std::string* k = nullptr) {
        c.isa = GetParam();
        if (c.blocking) c.blocking->isa = c.isa, c.blocking->lanes = isa_lanes(c.isa);
        return test::run_group_conv_case(c, base, i, k);
    }
};
// Code generation only (validation, instruction audit): every level on every host.
class GroupConvCode : public ::testing::TestWithParam<Isa> {};

TEST_P(GroupConvEmitter, DepthwiseChannelTails) {
    const uint64_t base = base_seed(41);
    uint64_t i = 0;
    for (int64_t C = 2; C <= 35; ++C) // C = 1 is groups = 1: the dense conv emitter's; 16-lane tails too
        for (int64_t s : {1, 2}) {
            GroupConvCase c = vary(depthwise(C, 6, 7, 3, s, 1, 1), case_seed(base, i));
            std::string k;
            EXPECT_TRUE(run(c, base, i++, &k));
            EXPECT_EQ(k.rfind("dwconv_", 0), 0u) << k;
            EXPECT_EQ(k.find("_gather"), std::string::npos) << k;
        }
}

TEST_P(GroupConvEmitter, EveryOutputModeAndOption) {
    const uint64_t base = base_seed(42);
    uint64_t i = 0;
    for (auto out : {GroupConvCase::Out::Levels, GroupConvCase::Out::Threshold, GroupConvCase::Out::Float})
        for (bool asym : {false, true})
            for (bool ol : {false, true})
                for (bool pcs : {false, true})
                    for (bool per_oc : {false, true}) {
                        GroupConvCase c;
                        c.g = depthwise(20, 6, 7, 3, 1, 1, 1);
                        c.out = out;
                        c.asym_w = asym;
                        c.const_ch = asym;
                        c.act_ol = ol;
                        c.per_channel_scale = pcs;
                        c.per_oc_out = per_oc;
                        EXPECT_TRUE(run(c, base, i++));
                    }
}

// ONNX rounding of the next quantizer (spec §2.5): offsets added in int32 after the RNE conversion.
TEST_P(GroupConvEmitter, OnnxRoundingOffsets) {
    const uint64_t base = base_seed(149);
    uint64_t i = 0;
    for (int mask = 0; mask < 8; ++mask)
        for (const ConvGeom& g : {depthwise(20, 6, 7, 3, 1, 1, 1), geom(12, 4, 24, 4, 9, 3, 1, 1, 1)}) {
            GroupConvCase c = vary(g, case_seed(base, i));
            c.out = GroupConvCase::Out::Levels;
            c.onnx_out = true;
            c.per_oc_out = mask & 1;
            c.relu = mask & 2;
            c.asym_w = c.const_ch = mask & 4;
            EXPECT_TRUE(run(c, base, i++));
        }
}

TEST_P(GroupConvEmitter, PostOps) {
    const uint64_t base = base_seed(43);
    uint64_t i = 0;
    for (int mask = 0; mask < 16; ++mask)
        for (auto out : {GroupConvCase::Out::Levels, GroupConvCase::Out::Threshold, GroupConvCase::Out::Float}) {
            GroupConvCase c = vary(depthwise(19, 5, 6, 3, 1, 1, 1), case_seed(base, i));
            c.out = out;
            c.bias = mask & 1;
            c.relu = mask & 2;
            c.clamp = mask & 4;
            c.scale_shift = mask & 8;
            EXPECT_TRUE(run(c, base, i++));
        }
}

// A destination zero point under a fused ReLU (k_lo > 0 in every channel: folded into the clamp
// before rounding when uniform, fold_uniform_klo), per tensor and per channel, with and without
// ONNX offsets, channel counts with and without padded lanes.
TEST_P(GroupConvEmitter, ReluUnderAnOutputZeroPoint) {
    const uint64_t base = base_seed(52);
    uint64_t i = 0;
    for (int64_t C : {16, 19, 32})
        for (bool per_oc : {false, true})
            for (bool onnx : {false, true}) {
                GroupConvCase c = vary(depthwise(C, 6, 7, 3, 1, 1, 1), case_seed(base, i));
                c.out = GroupConvCase::Out::Levels;
                c.relu = true;
                c.out_below_zero = true;
                c.per_oc_out = per_oc;
                c.onnx_out = onnx;
                EXPECT_TRUE(run(c, base, i++));
            }
}

TEST_P(GroupConvEmitter, KernelSizesStridesDilationsPads) {
    const uint64_t base = base_seed(44);
    uint64_t i = 0;
    for (int64_t k : {1, 2, 3, 5, 7})
        for (int64_t s = 1; s <= 3; ++s)
            for (int64_t d = 1; d <= 3; ++d)
                for (int64_t p : {int64_t{0}, int64_t{1}, k / 2, k, k + 1}) { // pads up to and beyond the kernel
                    const ConvGeom g = depthwise(13, 9, 11, k, s, d, p);
                    if (g.OH < 1 || g.OW < 1) continue;
                    EXPECT_TRUE(run(vary(g, case_seed(base, i)), base, i));
                    ++i;
                }
}

TEST_P(GroupConvEmitter, AsymmetricPadsAndShapes) {
    const uint64_t base = base_seed(45);
    std::mt19937_64 r(base);
    for (uint64_t i = 0; i < 60; ++i) {
        ConvGeom g;
        g.groups = 1 + static_cast<int64_t>(r() % 24);
        g.C = g.groups;
        g.OC = g.groups;
        g.KH = 1 + static_cast<int64_t>(r() % 5);
        g.KW = 1 + static_cast<int64_t>(r() % 5);
        g.SH = 1 + static_cast<int64_t>(r() % 3);
        g.SW = 1 + static_cast<int64_t>(r() % 3);
        g.DH = 1 + static_cast<int64_t>(r() % 3);
        g.DW = 1 + static_cast<int64_t>(r() % 3);
        g.PT = static_cast<int64_t>(r() % 6);
        g.PB = static_cast<int64_t>(r() % 6);
        g.PL = static_cast<int64_t>(r() % 6);
        g.PR = static_cast<int64_t>(r() % 6);
        g.H = 1 + static_cast<int64_t>(r() % 12);
        g.W = 1 + static_cast<int64_t>(r() % 14);
        g.N = 1 + static_cast<int64_t>(r() % 2);
        g = with_output(g);
        if (g.groups < 2 || g.OH < 1 || g.OW < 1) {
            --i;
            continue;
        }
        EXPECT_TRUE(run(vary(g, case_seed(base, i)), base, i));
    }
}

// Channel multiplier (OCg > 1) and several input channels per group (Cg > 1): the gather form.
TEST_P(GroupConvEmitter, MultiplierAndGeneralGroups) {
    const uint64_t base = base_seed(46);
    uint64_t i = 0;
    for (int64_t cg : {1, 2, 3, 4, 8, 9, 17})
        for (int64_t ocg : {1, 2, 3, 5, 8, 16})
            for (int64_t groups : {2, 3, 5}) {
                if (cg == 1 && ocg == 1) continue;
                const ConvGeom g = geom(cg * groups, groups, ocg * groups, 5, 6, 3, 1 + i % 2, 1, 1);
                std::string k;
                EXPECT_TRUE(run(vary(g, case_seed(base, i)), base, i, &k));
                EXPECT_NE(k.find("_gather"), std::string::npos) << k;
                ++i;
            }
}

// Depthwise row-pair form (kernel rows paired per vpmaddwd / vpdpbusd, input columns reused across
// the tile's pixels): odd and even KH (the unrolled pairs and the runtime pair loop past 4 pairs, a
// lone last row), KW up to the form's limit 16 and past it (the per-tap form), channel tails of one
// and two vectors, strides, dilations, asymmetric pads, asymmetric weights, small and full level
// counts, the extreme codes.
TEST_P(GroupConvEmitter, DepthwiseRowPairForm) {
    const uint64_t base = base_seed(51);
    uint64_t i = 0;
    for (int64_t kh : {1, 2, 3, 4, 9, 10, 11})
        for (int64_t kw : {1, 3, 16, 17})
            for (int64_t C : {5, 16, 40}) {
                ConvGeom g;
                g.C = g.groups = g.OC = C;
                g.KH = kh, g.KW = kw;
                g.SH = 1 + static_cast<int64_t>(i % 2), g.SW = 1 + static_cast<int64_t>(i / 2 % 2);
                g.DH = 1 + static_cast<int64_t>(i / 3 % 2), g.DW = 1 + static_cast<int64_t>(i / 5 % 2);
                g.PT = static_cast<int64_t>(i % 3), g.PB = kh / 2, g.PL = kw / 2, g.PR = static_cast<int64_t>(i % 2);
                g.H = kh * g.DH + 3, g.W = kw * g.DW + 4;
                g = with_output(g);
                GroupConvCase c = vary(g, case_seed(base, i));
                c.asym_w = i % 2 == 1;
                c.in_levels = i % 3 == 0 ? 256 : i % 3 == 1 ? 3 : 16;
                c.extreme = i % 7 == 3;
                std::string k;
                EXPECT_TRUE(run(c, base, i++, &k));
                EXPECT_EQ(k.rfind("dwconv_", 0), 0u) << k;
            }
}

TEST_P(GroupConvEmitter, EveryBlocking) {
    const uint64_t base = base_seed(47);
    uint64_t i = 0;
    for (bool asym : {false, true})
        for (int shape = 0; shape < 3; ++shape) {
            const ConvGeom g = shape == 0   ? depthwise(37, 6, 13, 3, 1, 1, 1)
                               : shape == 1 ? depthwise(64, 7, 7, 3, 2, 1, 1)
                                            : geom(12, 4, 24, 5, 9, 3, 1, 2, 2);
            GroupConvCase probe = vary(g, case_seed(base, 1000 + i));
            probe.asym_w = asym;
            probe.const_ch = false;
            QConvConsts c;
            c.has_n = asym; // the blockings depend only on whether S accumulators are needed
            for (const ConvBlocking& b : group_conv_blockings(GetParam(), c)) {
                GroupConvCase cc = probe;
                cc.blocking = b;
                EXPECT_TRUE(run(cc, base, i++));
            }
        }
}

TEST_P(GroupConvEmitter, BatchSplitCallsAndHostileMxcsr) {
    const uint64_t base = base_seed(48);
    for (uint64_t i = 0; i < 8; ++i) {
        ConvGeom g = i % 2 ? depthwise(24, 6, 5, 3, 1, 1, 1) : geom(12, 3, 6, 6, 5, 3, 1, 1, 1);
        g.N = 2;
        GroupConvCase c = vary(g, case_seed(base, i));
        c.split_calls = true;
        c.hostile_mxcsr = true;
        c.out = i % 3 == 0 ? GroupConvCase::Out::Float : GroupConvCase::Out::Levels;
        EXPECT_TRUE(run(c, base, i));
    }
}

// All inputs at L_a-1 and codes at -128/-127/127: the largest |D|; a general group conv with K close
// to the s32 limit (Cg*KH*KW = 65772).
TEST_P(GroupConvEmitter, ExtremeCodesUpToTheKLimit) {
    const uint64_t base = base_seed(49);
    uint64_t i = 0;
    for (auto s : {std::pair<int64_t, int64_t>{1, 7}, {7308, 3}})
        for (auto out : {GroupConvCase::Out::Levels, GroupConvCase::Out::Float}) {
            GroupConvCase c;
            c.g = geom(s.first * 2, 2, 4, s.second, s.second + 1, s.second);
            c.extreme = true;
            c.asym_w = i % 2 == 1;
            c.out = out;
            EXPECT_TRUE(run(c, base, i++));
        }
}

TEST_P(GroupConvCode, RejectsBadBlockingAndSmallHalo) {
    GroupConvCase c;
    c.g = depthwise(8, 5, 5, 3, 1, 1, 1);
    QConvDesc d;
    d.g = c.g;
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
    const QConvConsts k = fold_qconv(d);
    ActLayout in = required_group_conv_input_halo(d.g), out;
    out.H = d.g.OH, out.W = d.g.OW, out.C = d.g.OC;
    const Isa isa = GetParam();
    const int L = isa_lanes(isa), R = L == 16 ? 24 : 12;
    EXPECT_THROW(emit_group_conv(isa, d, k, in, out, ConvBlocking{4, 4, L, false, isa}), Error); // oc_vecs 4
    EXPECT_THROW(emit_group_conv(isa, d, k, in, out, ConvBlocking{R + 1, 1, L, false, isa}), Error); // accumulators
    EXPECT_THROW(emit_group_conv(isa, d, k, in, out, ConvBlocking{4, 1, 24 - L, false, isa}), Error); // lanes
    const Isa other = isa == Isa::avx2 ? Isa::avx512_core : Isa::avx2;
    EXPECT_THROW(emit_group_conv(isa, d, k, in, out, ConvBlocking{4, 1, L, false, other}), Error); // packed for another level
    EXPECT_NO_THROW(emit_group_conv(isa, d, k, in, out, ConvBlocking{4, 1, L, false, isa}));
    in.halo_r = 0;
    EXPECT_THROW(emit_group_conv(isa, d, k, in, out, ConvBlocking{4, 1, L, false, isa}), Error);
    EXPECT_FALSE(group_conv_supports(QConvDesc{})); // groups == 1 is the dense emitter's
}

// The generated code is position independent, never calls out, keeps the spec §4.5 instruction
// rules and decodes completely under the whitelist decoder of tests/support/x86_audit.
TEST_P(GroupConvCode, InstructionAudit) {
    for (bool gather : {false, true})
        for (bool float_out : {false, true})
            for (bool asym : {false, true}) {
                QConvDesc d;
                d.g = gather ? geom(12, 4, 8, 6, 7, 3, 1, 1, 1) : depthwise(24, 6, 7, 3, 1, 1, 1);
                const int64_t oc = d.g.OC;
                d.w.q.assign(static_cast<size_t>(oc * d.g.K()), 3);
                d.w.s_w.assign(static_cast<size_t>(oc), 0.01);
                d.w.z_w.assign(static_cast<size_t>(oc), asym ? 1.5 : 0.0);
                d.w.n_dropped.assign(static_cast<size_t>(oc), 0.0);
                d.w.const_channel.assign(static_cast<size_t>(oc), 0);
                d.w.w_c.assign(static_cast<size_t>(oc), 0.0);
                d.in.ol.v = {-0.5f};
                d.in.oh.v = {1.0f};
                d.in.il = d.in.ol;
                d.in.ih = d.in.oh;
                d.out_levels = !float_out;
                d.out.il.v = {-1.0f};
                d.out.ih.v = {1.0f};
                d.out.ol.v = {0.0f};
                d.out.oh.v = {1.0f};
                const QConvConsts c = fold_qconv(d);
                ActLayout in = required_group_conv_input_halo(d.g), out;
                out.H = d.g.OH, out.W = d.g.OW, out.C = d.g.OC, out.elem_bytes = float_out ? 4 : 1;
                out.c_stride = round_up16(d.g.OC);
                const Isa isa = GetParam();
                const bool vnni = isa == Isa::avx2_vnni || isa == Isa::avx512_core_vnni;
                const bool avx512 = isa == Isa::avx512_core || isa == Isa::avx512_core_vnni;
                for (const ConvBlocking& b : group_conv_blockings(isa, c)) {
                    const auto k = emit_group_conv(isa, d, c, in, out, b);
                    const ZAudit a = expect_clean_kernel(*k, isa);
                    EXPECT_EQ(a.count("vpmaddwd") > 0, !vnni) << k->name;
                    EXPECT_EQ(a.count("vpdpbusd") > 0, vnni) << k->name;
                    EXPECT_EQ(a.count("vpgatherdd") > 0, gather) << k->name;
                    EXPECT_EQ(a.count("vpunpcklbw") > 0, !gather) << k->name << ": the depthwise row-pair form";
                    EXPECT_EQ(a.count("vcvtps2dq") > 0, !float_out) << k->name;
                    EXPECT_GT(a.count("vfmadd132ps"), 0) << k->name;
                    EXPECT_EQ(a.count("vfmadd231ps") > 0, asym) << k->name << ": the N*S term";
                    if (avx512 && !float_out) {
                        EXPECT_GT(a.count("vpmovusdb"), 0) << k->name;
                    }
                    // The VEX levels also pass the whitelist decoder (instruction forms, no host address).
                    const CodeAudit w = audit_code(k->code(), dynamic_cast<const GeneratedKernel*>(k.get())->text_bytes());
                    if (!avx512) {
                        EXPECT_EQ(w.error, "") << k->name;
                        EXPECT_EQ(w.imm64 + w.absolute_mem + w.calls, 0) << k->name;
                        EXPECT_GT(w.rip_relative, 0) << k->name;
                    }
                    if (HasFailure()) return;
                }
            }
}

TEST_P(GroupConvEmitter, RandomFuzz) {
    const uint64_t base = base_seed(50);
    std::mt19937_64 r(base);
    for (uint64_t i = 0; i < 300; ++i) {
        ConvGeom g;
        g.N = 1 + static_cast<int64_t>(r() % 2);
        g.groups = 2 + static_cast<int64_t>(r() % 20);
        const int kind = static_cast<int>(r() % 4);
        const int64_t cg = kind < 2 ? 1 : 1 + static_cast<int64_t>(r() % 6);
        const int64_t ocg = kind == 0 ? 1 : 1 + static_cast<int64_t>(r() % 4);
        g.C = g.groups * cg;
        g.OC = g.groups * ocg;
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
        if (g.OH < 1 || g.OW < 1) {
            --i;
            continue;
        }
        GroupConvCase c = vary(g, case_seed(base, i));
        if (r() % 3 == 0) {
            QConvConsts k;
            k.has_n = c.asym_w || c.const_ch;
            const auto all = group_conv_blockings(GetParam(), k);
            c.blocking = all[r() % all.size()];
        }
        EXPECT_TRUE(run(c, base, i));
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, GroupConvEmitter, ::testing::ValuesIn(test_isas()), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, GroupConvCode, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
