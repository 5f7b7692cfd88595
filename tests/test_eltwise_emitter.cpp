// QEltwise and Concat-copy emitters, at every ISA level the host runs (value-parameterized; the
// others run in tests/emu), vs Oracle B's scalar definition (ref::qeltwise, i.e.
// eltwise_scalar of jit/eltwise_fold) at tolerance 0 over the whole output buffer (stray writes into
// halos or beyond round_up(C, 8) are caught too): every channel tail 1..33 and the channel loop
// (C > 64), numpy broadcast of either input along pixels / channels / images, per-tensor and
// per-channel params (negative and zero steps) on each side, x + x and x * x, Relu / Clamp /
// ScaleShift with negative and zero multipliers, u8 / threshold / f32 outputs, halos, padded
// c_stride with garbage, split calls and a hostile caller MXCSR.
// Reproduce a failure with the printed line: QJIT_TEST_SEED=<base> <binary> --gtest_filter=<test>.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "emitters/eltwise.hpp"
#include "jit/eltwise_fold.hpp"
#include "jit/fq_math.hpp"
#include "runtime/qeltwise_ref.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "isa/isa.hpp"
#include "tests/support/eltwise_testing.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

using Kind = QEltwiseDesc::Kind;
int64_t uni_int(Rng& r, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(r); }

// Every test runs once per ISA level; SetUp skips the levels the host cannot execute. run_case /
// run_valid_case below set the level of the case.
class EltwiseEmitter : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
    ::testing::AssertionResult run_case(EltCase ec, uint64_t base, uint64_t index, std::string* kernel = nullptr,
                                        bool* redraw = nullptr) {
        ec.isa = GetParam();
        return test::run_case(ec, base, index, kernel, redraw);
    }
    ::testing::AssertionResult run_valid_case(EltCase ec, uint64_t base, uint64_t& index, std::string* kernel = nullptr) {
        ec.isa = GetParam();
        return test::run_valid_case(ec, base, index, kernel);
    }
};
class ConcatCopyEmitter : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
};
// Code generation only (instruction audit): every level on every host.
class EltwiseCode : public ::testing::TestWithParam<Isa> {};

TEST_P(EltwiseEmitter, EveryChannelTailAndKindRandomFlags) {
    const uint64_t base = base_seed(7001);
    Rng r(base);
    uint64_t index = 0, redrawn = 0;
    for (int64_t C = 1; C <= 33; ++C)
        for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine})
            for (int rep = 0; rep < 3; ++rep)
                for (bool redraw = true; redraw;) {
                    redraw = false;
                    const EltCase ec = random_case(r, kind, C);
                    ASSERT_TRUE(run_case(ec, base, index++, nullptr, &redraw));
                    redrawn += redraw;
                }
    EXPECT_LT(redrawn * 5, index) << "too many degenerate random cases";
}

TEST_P(EltwiseEmitter, BroadcastShapes) {
    const uint64_t base = base_seed(7002);
    Rng r(base);
    uint64_t index = 0;
    for (int b = 0; b <= 6; ++b)
        for (int64_t C : {1, 3, 8, 9, 16, 17, 33, 70})
            for (Kind kind : {Kind::Add, Kind::Mul}) {
                EltCase ec;
                ec.kind = kind;
                ec.C = C;
                ec.N = 2;
                ec.H = 3;
                ec.W = 7;
                ec.bcast = static_cast<Bcast>(b);
                ec.pc0 = (C + b) % 2 == 0;
                ec.pc1 = (C + b) % 3 != 0;
                ec.per_ch_out = C % 2 == 1;
                ASSERT_TRUE(run_valid_case(ec, base, index));
            }
}

TEST_P(EltwiseEmitter, PerTensorAndPerChannelParamsOnEachSide) {
    const uint64_t base = base_seed(7003);
    uint64_t index = 0;
    for (Kind kind : {Kind::Add, Kind::Mul})
        for (int mask = 0; mask < 8; ++mask)
            for (int64_t C : {5, 24}) {
                EltCase ec;
                ec.kind = kind;
                ec.C = C;
                ec.pc0 = mask & 1;
                ec.pc1 = mask & 2;
                ec.per_ch_out = mask & 4;
                ec.L0 = mask % 3 == 0 ? 255 : 256;
                ec.L1 = mask % 2 == 0 ? 16 : 256;
                ASSERT_TRUE(run_valid_case(ec, base, index));
            }
}

TEST_P(EltwiseEmitter, SameTensorOnBothSides) {
    const uint64_t base = base_seed(7004);
    uint64_t index = 0;
    for (Kind kind : {Kind::Add, Kind::Mul})
        for (int64_t C : {1, 7, 16, 33})
            for (bool pc : {false, true})
                for (EltCase::Out out : {EltCase::Out::Levels, EltCase::Out::Float}) {
                    EltCase ec;
                    ec.kind = kind;
                    ec.C = C;
                    ec.same = true;
                    ec.pc0 = pc;
                    ec.out = out;
                    ASSERT_TRUE(run_valid_case(ec, base, index));
                }
}

TEST_P(EltwiseEmitter, ReluClampAndScaleShiftPostOps) {
    const uint64_t base = base_seed(7005);
    uint64_t index = 0;
    for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine})
        for (int mask = 0; mask < 8; ++mask)
            for (EltCase::Out out : {EltCase::Out::Levels, EltCase::Out::Float, EltCase::Out::Threshold}) {
                EltCase ec;
                ec.kind = kind;
                ec.C = 11;
                ec.H = 4;
                ec.W = 6;
                ec.relu = mask & 1;
                ec.clamp = mask & 2;
                ec.scale_shift = kind == Kind::Affine || (mask & 4);
                ec.pc0 = ec.pc1 = true;
                ec.out = out;
                ec.per_ch_out = mask % 3 == 0;
                ASSERT_TRUE(run_valid_case(ec, base, index));
            }
}

TEST_P(EltwiseEmitter, ScaleShiftNegativeAndZeroMultipliers) {
    // Affine with per-channel (negative, zero) and per-tensor negative multipliers; the zero channel
    // is a constant output (checked by the fold: A0' = 0 there).
    const uint64_t base = base_seed(7006);
    uint64_t index = 0;
    for (int64_t C : {1, 5, 8, 13, 40})
        for (bool relu : {false, true}) {
            EltCase ec;
            ec.kind = Kind::Affine;
            ec.C = C;
            ec.W = 9;
            ec.scale_shift = true;
            ec.relu = relu;
            ec.pc0 = C % 2 == 1;
            std::string name;
            ASSERT_TRUE(run_valid_case(ec, base, index, &name));
            EXPECT_NE(name.find("requant_u8_u8_ss"), std::string::npos) << name;
        }
}

TEST_P(EltwiseEmitter, ChannelLoopHalosStridesSplitsAndHostileMxcsr) {
    const uint64_t base = base_seed(7007);
    Rng r(base);
    uint64_t index = 0;
    for (int64_t C : {65, 96, 100, 161, 300})
        for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine}) {
            for (bool redraw = true; redraw;) {
                redraw = false;
                EltCase ec = random_case(r, kind, C);
                ec.halo = 2;
                ec.extra_cs = 32;
                ec.garbage_pad = true;
                ec.split = true;
                ec.hostile = true;
                ASSERT_TRUE(run_case(ec, base, index++, nullptr, &redraw));
            }
        }
}

TEST_P(EltwiseEmitter, KernelNamesFollowTheGrammar) {
    const uint64_t base = base_seed(7008);
    EltCase ec;
    ec.kind = Kind::Mul;
    ec.bcast = Bcast::Channel1;
    ec.relu = true;
    std::string name;
    ASSERT_TRUE(run_case(ec, base, 0, &name));
    const std::string tail = "_" + std::to_string(isa_lanes(GetParam())) + "c__" + to_string(GetParam());
    EXPECT_EQ(name, "eltwise_mul_u8u8_u8_bc1c_ss_relu" + tail);
    ec.kind = Kind::Add;
    ec.bcast = Bcast::Pixel1;
    ec.relu = false;
    ec.out = EltCase::Out::Float;
    ASSERT_TRUE(run_case(ec, base, 1, &name));
    EXPECT_EQ(name, "eltwise_add_u8u8_f32_bc1p" + tail);
}

// The generated code decodes completely under the audit's whitelist: no banned instruction (spec
// §4.5), no host address, no call, constants RIP-relative, MXCSR saved / set / restored.
TEST_P(EltwiseCode, InstructionAudit) {
    const Isa isa = GetParam();
    const bool avx512 = isa_includes(isa, Isa::avx512_core);
    auto check = [&](const JitKernel& k, bool pool) {
        const ZAudit z = expect_clean_kernel(k, isa);
        EXPECT_EQ(z.count("vpdpbusd"), 0) << k.name << ": no dot product here";
        if (avx512) return;
        const auto* gk = dynamic_cast<const GeneratedKernel*>(&k);
        ASSERT_NE(gk, nullptr);
        const CodeAudit a = audit_code(k.code(), gk->text_bytes()); // the VEX whitelist decoder too
        EXPECT_EQ(a.error, "") << k.name;
        EXPECT_EQ(a.imm64, 0) << k.name;
        EXPECT_EQ(a.absolute_mem, 0) << k.name;
        EXPECT_EQ(a.calls, 0) << k.name;
        if (pool) {
            EXPECT_GT(a.rip_relative, 0) << k.name;
        }
    };
    const uint64_t base = base_seed(7009);
    uint64_t index = 0;
    for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine})
        for (EltCase::Out out : {EltCase::Out::Levels, EltCase::Out::Float, EltCase::Out::Threshold})
            for (int64_t C : {3, 8, 70}) {
                EltCase ec;
                ec.kind = kind;
                ec.C = C;
                ec.out = out;
                ec.bcast = kind == Kind::Affine ? Bcast::None : Bcast::Both;
                ec.relu = true;
                ec.scale_shift = true;
                const EltSetupView s = elt_setup(ec, case_seed(base, index++));
                const EltwiseConsts c = fold_eltwise(s.d);
                const auto k = emit_qeltwise(isa, s.d, c, s.in0, kind == Kind::Affine ? nullptr : &s.in1, s.out);
                check(*k, true);
                const ZAudit z = zydis_audit(*k, isa);
                if (avx512 && c.mode != EpilogueMode::Float) {
                    EXPECT_GT(z.count("vpmovusdb"), 0) << k->name;
                }
                if (c.mode == EpilogueMode::Levels) {
                    EXPECT_GT(z.count("vcvtps2dq"), 0) << k->name;
                }
            }
    for (int64_t C : {1, 3, 16, 31, 600}) {
        ActLayout src, dst;
        src.H = 2, src.W = 3, src.C = C, src.c_stride = round_up16(C);
        dst = src;
        dst.C = C + 5, dst.c_stride = round_up16(C + 5);
        check(*emit_concat_copy(isa, src, dst), false);
        src.c_stride = dst.c_stride = dst.C = C; // whole rows
        check(*emit_concat_copy(isa, src, dst), false);
    }
}

// ---- the Concat copy kernel -------------------------------------------------------------------

TEST_P(ConcatCopyEmitter, CopiesExactlyTheBytesOfEachPixel) {
    const uint64_t base = base_seed(7010);
    Rng r(base);
    for (uint64_t index = 0; index < 60; ++index) {
        ActLayout src, dst;
        src.N = 1;
        src.H = uni_int(r, 1, 4);
        src.W = uni_int(r, 1, 9);
        src.C = index < 40 ? static_cast<int64_t>(index) + 1 : uni_int(r, 40, 1100);
        src.c_stride = round_up16(src.C) + (index % 3 == 0 ? 16 : 0);
        if (index % 5 == 0) src.c_stride = src.C; // contiguous rows when the destination agrees
        src.halo_t = src.halo_l = index % 2;
        const int64_t c_off = uni_int(r, 0, 20);
        dst.N = 1;
        dst.H = src.H + 2;
        dst.W = src.W + 1;
        dst.C = src.C + c_off + uni_int(r, 0, 20);
        dst.c_stride = index % 5 == 0 && c_off == 0 && dst.C == src.C ? src.C : round_up16(dst.C);
        dst.halo_b = 1;
        std::vector<uint8_t> s(static_cast<size_t>(src.bytes())), d(static_cast<size_t>(dst.bytes())), want;
        for (auto& b : s) b = static_cast<uint8_t>(r());
        for (auto& b : d) b = static_cast<uint8_t>(r());
        want = d;
        const int64_t h_off = 1, w_off = 1;
        for (int64_t h = 0; h < src.H; ++h)
            for (int64_t w = 0; w < src.W; ++w)
                std::memcpy(&want[static_cast<size_t>(dst.offset(0, h + h_off, w + w_off) + c_off)],
                            &s[static_cast<size_t>(src.offset(0, h, w))], static_cast<size_t>(src.C));
        const auto k = emit_concat_copy(GetParam(), src, dst);
        for (int64_t h = 0; h < src.H; ++h) {
            ConcatCopyArgs a{};
            a.src = s.data() + src.offset(0, 0, 0);
            a.dst = d.data() + dst.offset(0, h_off, w_off) + c_off;
            a.h_begin = h;
            a.h_end = h + 1;
            k->call(&a);
        }
        ASSERT_TRUE(d == want) << "C=" << src.C << " cs " << src.c_stride << "/" << dst.c_stride << " c_off=" << c_off
                               << " (" << k->name << ")\n  reproduce: " << reproducer(base);
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, EltwiseEmitter, ::testing::ValuesIn(test_isas()), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, ConcatCopyEmitter, ::testing::ValuesIn(test_isas()), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, EltwiseCode, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
