// MaxPool / AvgPool emitters at every ISA level the host runs (value-parameterized; the others run
// in tests/emu) vs Oracle B (ref::maxpool_levels, ref::qavgpool), byte for byte
// over the whole output buffer: channel tails, kernel sizes, strides, pads up to the kernel, ceil
// mode, exclude_pad, global pooling (16- and 32-bit window sums), per-channel input parameters,
// every output mode. A failure prints the case, the seed and a one-line reproducer.
#include <gtest/gtest.h>

#include <random>

#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "isa/isa.hpp"
#include "emitters/pool.hpp"
#include "jit/pool_fold.hpp"
#include "qjit/error.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/group_pool_testing.hpp"
#include "tests/support/x86_audit.hpp"

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

PoolCase vary(const PoolCase& c, uint64_t seed) { return vary_pool_case(c, seed); }

// Every test runs once per ISA level; SetUp skips the levels the host cannot execute.
class PoolEmitter : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
    ::testing::AssertionResult run(PoolCase c, uint64_t base, uint64_t i, std::string* k = nullptr) {
        c.isa = GetParam();
        return test::run_pool_case(c, base, i, k);
    }
};
// Code generation only (validation, instruction audit): every level on every host.
class PoolCode : public ::testing::TestWithParam<Isa> {};

TEST_P(PoolEmitter, ChannelTails) {
    const uint64_t base = base_seed(61);
    uint64_t i = 0;
    for (bool avg : {false, true})
        for (int64_t C = 1; C <= 130; C += (C < 34 ? 1 : C < 70 ? 5 : 29)) {
            PoolCase c = vary(pool(avg, C, 7, 8, 3, 2, 1), case_seed(base, i));
            EXPECT_TRUE(run(c, base, i++));
        }
}

TEST_P(PoolEmitter, KernelsStridesPadsCeil) {
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
                        EXPECT_TRUE(run(c, base, i++));
                    }
}

TEST_P(PoolEmitter, AsymmetricShapesRandom) {
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
        EXPECT_TRUE(run(c, base, i));
    }
}

// Global pooling (kernel = H x W): window sums up to 255*H*W, in u16 lanes while <= 65535 and in
// s32 lanes beyond; windows large enough that the tap loops do not unroll.
TEST_P(PoolEmitter, GlobalPooling) {
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
                EXPECT_TRUE(run(c, base, i++, &k));
                if (avg && !isa_includes(GetParam(), Isa::avx512_core)) { // EVEX levels always sum in s32
                    EXPECT_NE(k.find(hw.first * hw.second * (la - 1) <= 65535 ? "_sum16" : "_sum32"), std::string::npos)
                        << k;
                }
            }
}

TEST_P(PoolEmitter, EveryAvgPoolModeAndOption) {
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
                        EXPECT_TRUE(run(c, base, i++));
                    }
}

// ONNX rounding of the next quantizer (spec §2.5): offsets added in int32 after the RNE conversion.
TEST_P(PoolEmitter, AvgPoolOnnxRoundingOffsets) {
    const uint64_t base = base_seed(69);
    uint64_t i = 0;
    for (bool excl : {false, true})
        for (bool pci : {false, true})
            for (bool pco : {false, true}) {
                PoolCase c = pool(true, 37, 7, 9, 3, 2, 1, false);
                c.exclude_pad = excl;
                c.per_channel_in = pci;
                c.per_channel_out = pco;
                c.onnx_out = true;
                EXPECT_TRUE(run(c, base, i++));
            }
}

TEST_P(PoolEmitter, HostileMxcsrAndSplitCalls) {
    const uint64_t base = base_seed(66);
    for (uint64_t i = 0; i < 8; ++i) {
        PoolCase c = vary(pool(i % 2 == 1, 33, 8, 9, 3, 2, 1, i % 4 < 2), case_seed(base, i));
        c.N = 2;
        c.hostile_mxcsr = true;
        c.split_calls = true;
        EXPECT_TRUE(run(c, base, i));
    }
}

// Position independent, no calls, the spec §4.5 instruction rules, fully decodable (x86_audit).
TEST_P(PoolCode, InstructionAudit) {
    const Isa isa = GetParam();
    const bool avx512 = isa_includes(isa, Isa::avx512_core);
    auto check = [&](const JitKernel& k) {
        const ZAudit z = expect_clean_kernel(k, isa);
        EXPECT_EQ(z.count("vpdpbusd"), 0) << k.name << ": pooling has no dot product";
        if (avx512) return;
        const auto* gk = dynamic_cast<const GeneratedKernel*>(&k);
        ASSERT_NE(gk, nullptr);
        const CodeAudit a = audit_code(k.code(), gk->text_bytes()); // the VEX whitelist decoder too
        EXPECT_EQ(a.error, "") << k.name;
        EXPECT_EQ(a.imm64, 0) << k.name;
        EXPECT_EQ(a.absolute_mem, 0) << k.name;
        EXPECT_EQ(a.calls, 0) << k.name;
    };
    for (int64_t C : {5, 32, 48, 100}) {
        PoolCase c = pool(false, C, 9, 9, 3, 2, 1);
        const ConvGeom g = c.geometry();
        ActLayout out;
        out.H = g.OH, out.W = g.OW, out.C = g.C, out.c_stride = round_up16(g.C);
        const auto mk = emit_maxpool(isa, g, required_pool_input_halo(g), out, "p");
        check(*mk);
        EXPECT_GT(zydis_audit(*mk, isa).count("vpmaxub"), 0) << mk->name;
        for (int la : {2, 256})
            for (int mode = 0; mode < 3; ++mode) {
                const bool float_out = mode == 1;
                QAvgPoolDesc d;
                d.g = g;
                d.in.levels = la;
                d.in.ol.v = {-0.5f};
                d.in.oh.v = {1.0f};
                d.in.il = d.in.ol;
                d.in.ih = d.in.oh;
                d.out_levels = !float_out;
                d.out.il.v = {-1.0f};
                d.out.ih.v = {mode == 2 ? -1.0f : 1.0f}; // mode 2: a threshold (il == ih)
                d.out.ol.v = {0.0f};
                d.out.oh.v = {1.0f};
                if (la == 256) d.g.KH = d.g.KW = 17, d.g.H = d.g.W = 17, d.g.PT = d.g.PL = d.g.PB = d.g.PR = 0,
                               d.g.OH = d.g.OW = 1; // a window sum beyond 16 bits
                const AvgPoolConsts k = fold_avgpool(d);
                ActLayout o2;
                o2.H = d.g.OH, o2.W = d.g.OW, o2.C = d.g.C, o2.elem_bytes = float_out ? 4 : 1;
                o2.c_stride = round_up16(d.g.C);
                const auto kern = emit_avgpool(isa, d, k, required_pool_input_halo(d.g), o2);
                check(*kern);
                const ZAudit a = zydis_audit(*kern, isa);
                EXPECT_GT(a.count("vfmadd132ps"), 0) << kern->name;
                EXPECT_EQ(a.count("vcvtps2dq") > 0, !float_out && k.mode == EpilogueMode::Levels) << kern->name;
                if (k.mode == EpilogueMode::Threshold) {
                    EXPECT_GT(a.count("vcmpps"), 0) << kern->name;
                }
                if (avx512 && !float_out) {
                    EXPECT_GT(a.count("vpmovusdb"), 0) << kern->name;
                }
            }
    }
}

TEST_P(PoolCode, RejectsSmallHalo) {
    PoolCase c = pool(false, 8, 5, 5, 3, 1, 1);
    const ConvGeom g = c.geometry();
    ActLayout in = required_pool_input_halo(g), out;
    out.H = g.OH, out.W = g.OW, out.C = g.C;
    in.halo_b = 0;
    EXPECT_THROW(emit_maxpool(GetParam(), g, in, out, "p"), Error);
}

INSTANTIATE_TEST_SUITE_P(Isa, PoolEmitter, ::testing::ValuesIn(test_isas()), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, PoolCode, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
