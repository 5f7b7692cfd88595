// The quantized emitters' AVX-512 (and AVX-512 VNNI) code, run on emulated CPUs in Bochs, compared
// byte for byte with Oracle B (runtime/qconv_ref.*). One disk image per suite holds every kernel of
// the suite (position-independent code bytes copied in), its inputs and poisoned outputs; the guest
// (boot.asm) also checks callee-saved registers and the MXCSR each call leaves. See README.md here.
//   tigerlake (AVX512F/BW/VL/DQ + AVX512_VNNI): conv / FC / full-image conv (every epilogue mode,
//     asymmetric weights, oc / ow / channel tails, strides, dilations, pads, extreme codes, split
//     calls) for avx512_core_vnni and avx512_core, quantize / dequantize (zmm, every W tail).
//     A second image: grouped conv, MaxPool, AvgPool, eltwise and concat-copy kernels (emu_cases.*)
//     for avx512_core_vnni and avx2_vnni (the VEX kernels without a dot product run on tigerlake).
//   corei7_skylake_x (AVX-512, no VNNI): the avx512_core code of every emitter again — a single
//     vpdpbusd would #UD — and controls: an avx512_core_vnni conv and grouped-conv kernel there must
//     fault with #UD (vector 6).
//   avx2_vnni: no Bochs 2.7 model has AVX-VNNI (the VEX vpdpbusd #UDs on tigerlake, checked below);
//     its conv and grouped-conv kernels run natively where the host has AVX-VNNI (*/avx2_vnni).
// A missing emulator, BIOS or boot image fails these tests with the reason (never a silent pass).
#include <gtest/gtest.h>
#include <xbyak/xbyak.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <functional>
#include <cmath>
#include <cstdio>
#include <limits>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "emitters/conv.hpp"
#include "emitters/conv_maddubs.hpp"
#include "emitters/isa_traits.hpp"
#include "emitters/quantize.hpp"
#include "runtime/qconv_ref.hpp"
#include "tests/emu/emu_cases.hpp"
#include "tests/emu/emu_image.hpp"
#include "tests/support/emitter_testing.hpp"

namespace qjit::test {
namespace {

using emu::EmuImage;
using emu::Ref;

std::string boot_bin() { return QJIT_EMU_BOOT; }
std::string work_dir() {
    const std::string d = QJIT_EMU_DIR;
    mkdir(d.c_str(), 0755);
    return d;
}

::testing::AssertionResult emulator_ready() {
    if (const std::string why = emu::bochs_missing_reason(); !why.empty()) return ::testing::AssertionFailure() << why;
    struct stat st {};
    if (boot_bin().empty() || stat(boot_bin().c_str(), &st) != 0)
        return ::testing::AssertionFailure() << "boot image '" << boot_bin()
                                             << "' missing: nasm is required (bash scripts/setup.sh installs it)";
    return ::testing::AssertionSuccess();
}

template <class T> std::vector<uint8_t> bytes_of(const T& v) {
    std::vector<uint8_t> b(sizeof(T));
    std::memcpy(b.data(), &v, sizeof(T));
    return b;
}

// ---- conv cases ------------------------------------------------------------------------------

ConvGeom geom(int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t S = 1, int64_t D = 1,
              int64_t P = 0) {
    return conv_geom(C, H, W, OC, KH, KW, S, D, P);
}

// Every kind of conv case the native suite sweeps, at sizes the emulator runs in seconds.
std::vector<ConvCase> conv_cases(Isa isa, uint64_t base) {
    std::vector<ConvCase> v;
    uint64_t i = 0;
    auto add = [&](ConvCase c) {
        c.isa = isa;
        v.push_back(c);
        ++i;
    };
    for (auto out : {ConvCase::Out::Levels, ConvCase::Out::Threshold, ConvCase::Out::Float})
        for (bool asym : {false, true})
            for (bool ol : {false, true})
                for (bool per_oc : {false, true}) {
                    ConvCase c;
                    c.g = geom(8, 6, 7, 20, 3, 3, 1, 1, 1);
                    c.out = out, c.asym_w = asym, c.act_ol = ol, c.per_oc_out = per_oc, c.const_ch = asym;
                    add(c);
                }
    for (int mask = 0; mask < 16; ++mask)
        for (auto out : {ConvCase::Out::Levels, ConvCase::Out::Threshold, ConvCase::Out::Float}) {
            ConvCase c = vary_conv_case(geom(6, 5, 5, 19, 3, 3, 1, 1, 1), case_seed(base, i));
            c.out = out, c.bias = mask & 1, c.relu = mask & 2, c.clamp = mask & 4, c.scale_shift = mask & 8;
            add(c);
        }
    for (int la : {2, 16, 255, 256}) {
        ConvCase c = vary_conv_case(geom(5, 5, 6, 12, 3, 3, 1, 1, 1), case_seed(base, i));
        c.in_levels = la, c.out_levels = la == 256 ? 3 : 256;
        add(c);
    }
    for (int64_t oc = 1; oc <= 35; ++oc) // output-channel tails of every block width
        add(vary_conv_case(geom(oc % 2 ? 3 : 17, 4, 5, oc, 3, 3, 1, 1, 1), case_seed(base, i)));
    for (int64_t C : {1, 2, 3, 5, 17, 63, 64, 65, 130}) // channel tails (window-sum opmask, quads)
        for (auto k : {std::pair<int64_t, int64_t>{1, 1}, {3, 3}}) {
            ConvGeom g = geom(C, 5, 6, 24, k.first, k.second);
            g.PT = g.PB = k.first / 2, g.PL = g.PR = k.second / 2;
            ConvCase c = vary_conv_case(with_output(g), case_seed(base, i));
            c.asym_w = true;
            add(c);
        }
    for (int64_t s = 1; s <= 3; ++s)
        for (int64_t d = 1; d <= 2; ++d)
            for (int64_t p : {0, 1, 3}) {
                const ConvGeom g = geom(7, 9, 10, 13, 3, 3, s, d, p);
                if (g.OH >= 1 && g.OW >= 1 && covered_fraction(g) >= 0.5) add(vary_conv_case(g, case_seed(base, i)));
            }
    for (int64_t ow = 1; ow <= 31; ow += 3) { // ow tails against the pixel tile
        ConvCase c = vary_conv_case(geom(4, 3, ow + 2, 16, 3, 3), case_seed(base, i));
        add(c);
    }
    for (const ConvBlocking& b : conv_blockings(isa)) { // every blocking the chooser may return
        ConvCase c = vary_conv_case(i % 2 ? geom(9, 3, 13, 37, 3, 3, 1, 1, 1) : geom(33, 1, 5, 24, 1, 1),
                                    case_seed(base, i));
        c.blocking = b;
        c.maddubs = b.maddubs;
        add(c);
    }
    // The vpmaddubsw plan (avx2 / avx512_core; conv_maddubs.hpp): realistic weights mix the three
    // perms, fast and exact vectors and zero units, for each oc_vecs.
    for (int v = 1; v <= kMaddubsMaxVecs; ++v)
        for (int shape = 0; shape < 3; ++shape) add(maddubs_plan_case(isa, v, shape, case_seed(base, i)));
    // Segment split (spec §8.2): 2..8 runs of channels with their own step, asymmetric weights.
    for (int segs = 2; segs <= 8; segs += 2)
        for (int shape = 0; shape < 2; ++shape) add(segment_split_case(segs, shape, case_seed(base, i)));
    for (auto mkn : {std::array<int64_t, 3>{1, 100, 64}, {1, 2048, 100}, {3, 17, 10}, {8, 300, 40}, {13, 64, 33}}) {
        ConvCase c = vary_conv_case(geom(mkn[1], 1, mkn[0], mkn[2], 1, 1), case_seed(base, i)); // FC
        add(c);
    }
    for (auto s : {std::pair<int64_t, int64_t>{64, 7}, {3, 4}, {130, 3}}) { // full-image conv (FC after flatten)
        ConvCase c = vary_conv_case(geom(s.first, s.second, s.second, 50, s.second, s.second), case_seed(base, i));
        c.g.N = 2;
        add(c);
    }
    for (auto out : {ConvCase::Out::Levels, ConvCase::Out::Float}) // largest |D| of K
        for (auto s : {std::pair<int64_t, int64_t>{64, 3}, {2048, 1}}) {
            ConvCase c;
            c.g = geom(s.first, s.second, s.second + 1, 9, s.second, s.second);
            c.extreme = true, c.asym_w = true, c.out = out;
            add(c);
        }
    std::mt19937_64 r(base);
    for (int k = 0; k < 60; ++k) { // random shapes
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
        g.PT = static_cast<int64_t>(r() % 3), g.PB = static_cast<int64_t>(r() % 3);
        g.PL = static_cast<int64_t>(r() % 3), g.PR = static_cast<int64_t>(r() % 3);
        g.H = 1 + static_cast<int64_t>(r() % 10);
        g.W = 1 + static_cast<int64_t>(r() % 16);
        g = with_output(g);
        if (g.OH < 1 || g.OW < 1 || covered_fraction(g) < 0.5) {
            --k;
            continue;
        }
        add(vary_conv_case(g, case_seed(base, i)));
    }
    return v;
}

struct EmuConv {
    std::unique_ptr<PreparedConv> p;
    Ref dst;
    std::vector<size_t> calls;
};

void add_conv(EmuImage& img, std::unique_ptr<PreparedConv> p, std::vector<EmuConv>* out) {
    EmuConv e;
    const Ref code = img.add_input(p->kernel->code(), p->kernel->code_size());
    const Ref w = img.add_input(p->weights.data.get(), p->weights.bytes);
    const Ref src = img.add_input(p->src.data(), p->src.size());
    e.dst = img.add_output(p->expected.size(), 0xA5);
    for (const ConvCall& c : p->calls) {
        ConvArgs a{};
        a.oh_begin = c.oh_begin, a.oh_end = c.oh_end, a.ocb_begin = c.ocb_begin, a.ocb_end = c.ocb_end;
        const Ref args = img.add_args(bytes_of(a), {{offsetof(ConvArgs, src), src.plus(static_cast<uint64_t>(c.src_off))},
                                                    {offsetof(ConvArgs, dst), e.dst.plus(static_cast<uint64_t>(c.dst_off))},
                                                    {offsetof(ConvArgs, wei), w}});
        e.calls.push_back(img.add_call(code, args));
    }
    e.p = std::move(p);
    out->push_back(std::move(e));
}

// ---- quantize / dequantize cases -------------------------------------------------------------

struct EmuQuant {
    bool quantize = true;
    std::string name, what;
    std::vector<uint8_t> expected; // u8 layout (quantize) or f32 NCHW bytes (dequantize)
    Ref dst;
    std::vector<size_t> calls;
};

ActQuant draw_quant(std::mt19937_64& r, int64_t C, int levels, bool pc) {
    ActQuant q;
    q.levels = levels;
    q.channels = pc ? C : 1;
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    for (int64_t c = 0; c < (pc ? C : 1); ++c) {
        float a = u(r), b = u(r);
        if (r() % 4 == 0) { // power-of-two step: exact half-grid ties
            const float s = std::ldexp(1.0f, static_cast<int>(r() % 6) - 6);
            a = 0.0f, b = s * static_cast<float>(levels - 1);
        }
        if (a == b) b += 1.0f;
        q.il.v.push_back(std::min(a, b));
        q.ih.v.push_back(std::max(a, b));
        q.ol.v.push_back(std::min(a, b));
        q.oh.v.push_back(std::max(a, b));
    }
    return q;
}

void add_quant_cases(EmuImage& img, Isa isa, uint64_t base, std::vector<EmuQuant>* out) {
    std::mt19937_64 r(base);
    static const int kLevels[] = {2, 3, 16, 255, 256};
    const int lanes = isa_lanes(quantize_isa(isa));
    for (int64_t W = 1; W <= 2 * lanes + 3; ++W)
        for (int64_t C : {1, 3, 17})
            for (bool quantize : {true, false}) {
                const int levels = kLevels[r() % 5];
                const bool pc = r() % 2;
                ActQuant q = draw_quant(r, C, levels, pc);
                ActLayout l;
                l.H = 1 + static_cast<int64_t>(r() % 3), l.W = W, l.C = C;
                l.c_stride = C == 1 && r() % 2 ? 1 : round_up16(C);
                l.halo_t = l.halo_l = l.halo_b = l.halo_r = static_cast<int64_t>(r() % 2);
                const size_t n = static_cast<size_t>(C * l.H * W);
                EmuQuant e;
                e.quantize = quantize;
                e.what = "W=" + std::to_string(W) + " C=" + std::to_string(C) + " H=" + std::to_string(l.H) +
                         " L=" + std::to_string(levels) + " cs=" + std::to_string(l.c_stride) + (pc ? " pc" : "");
                std::unique_ptr<JitKernel> k;
                Ref src;
                if (quantize) {
                    std::vector<float> x(n);
                    const float lo = q.il.v[0], hi = q.ih.v[0];
                    std::uniform_real_distribution<float> u(lo - 0.3f * (hi - lo), hi + 0.3f * (hi - lo));
                    for (float& v : x) v = u(r);
                    x[0] = std::numeric_limits<float>::quiet_NaN();
                    if (n > 2) x[n / 2] = lo, x[n - 1] = hi;
                    e.expected.assign(static_cast<size_t>(l.bytes()), 0xA5);
                    ref::quantize(q, x.data(), e.expected.data(), l);
                    k = emit_quantize(isa, q, l);
                    src = img.add_input(x.data(), n * 4);
                    e.dst = img.add_output(e.expected.size(), 0xA5);
                } else {
                    std::vector<uint8_t> s(static_cast<size_t>(l.bytes()), 0);
                    for (int64_t h = 0; h < l.H; ++h)
                        for (int64_t w = 0; w < W; ++w)
                            for (int64_t c = 0; c < C; ++c)
                                s[static_cast<size_t>(l.offset(0, h, w) + c)] = static_cast<uint8_t>(r() % static_cast<uint64_t>(levels));
                    std::vector<float> y(n, std::numeric_limits<float>::quiet_NaN());
                    ref::dequantize(q, s.data(), l, y.data());
                    e.expected.resize(n * 4);
                    std::memcpy(e.expected.data(), y.data(), n * 4);
                    k = emit_dequantize(isa, q, l);
                    src = img.add_input(s.data(), s.size());
                    e.dst = img.add_output(n * 4, 0xFF);
                }
                e.name = k->name;
                const Ref code = img.add_input(k->code(), k->code_size());
                for (int64_t c = 0; c < C;) { // channel sub-ranges
                    const int64_t end = std::min<int64_t>(C, c + 1 + static_cast<int64_t>(r() % 3));
                    std::vector<uint8_t> a;
                    size_t f_src, f_dst;
                    Ref s_ref = src, d_ref = e.dst;
                    if (quantize) {
                        QuantizeArgs qa{};
                        qa.c_begin = c, qa.c_end = end;
                        a = bytes_of(qa);
                        f_src = offsetof(QuantizeArgs, src), f_dst = offsetof(QuantizeArgs, dst);
                        d_ref = e.dst.plus(static_cast<uint64_t>(l.offset(0, 0, 0)));
                    } else {
                        DequantizeArgs da{};
                        da.c_begin = c, da.c_end = end;
                        a = bytes_of(da);
                        f_src = offsetof(DequantizeArgs, src), f_dst = offsetof(DequantizeArgs, dst);
                        s_ref = src.plus(static_cast<uint64_t>(l.offset(0, 0, 0)));
                    }
                    e.calls.push_back(img.add_call(code, img.add_args(a, {{f_src, s_ref}, {f_dst, d_ref}})));
                    c = end;
                }
                out->push_back(std::move(e));
            }
}

// ---- one suite = one image -------------------------------------------------------------------

struct Suite {
    EmuImage img;
    std::vector<EmuConv> convs;
    std::vector<EmuQuant> quants;
    std::vector<EmuCheck> others; // grouped conv, pooling, eltwise, concat (emu_cases.*)
    int64_t kernels = 0;
};

void build_conv_suite(Suite& s, Isa isa, uint64_t base) {
    for (const ConvCase& c : conv_cases(isa, base)) {
        auto p = std::make_unique<PreparedConv>();
        const ::testing::AssertionResult ok = prepare_conv_case(c, base, s.kernels, p.get());
        ASSERT_TRUE(ok);
        ++s.kernels;
        add_conv(s.img, std::move(p), &s.convs);
    }
}

// Runs the image on `cpu` and checks every output byte, call record and the clean finish.
void run_and_check(Suite& s, const std::string& cpu, const std::string& tag) {
    ASSERT_TRUE(emulator_ready());
    const std::string path = work_dir() + "/" + tag + ".img";
    s.img.write(boot_bin(), path);
    const emu::RunReport r = s.img.run(path, cpu, 240);
    std::printf("[emu] %s on %s: %lld kernels, %zu calls, payload %.1f MiB, %.2f s in Bochs, status %d, %llu calls done,"
                " guest xcr0 0x%llx\n",
                tag.c_str(), cpu.c_str(), static_cast<long long>(s.kernels), s.img.calls(),
                static_cast<double>(s.img.payload_bytes()) / (1 << 20), r.seconds, r.status,
                static_cast<unsigned long long>(r.tests_done), static_cast<unsigned long long>(r.xcr0));
    ASSERT_TRUE(r.ran) << r.error << "\n--- Bochs output ---\n" << r.log.substr(0, 4000);
    std::string where;
    for (const EmuCheck& e : s.others) // the kernel the fault is in, when it is one of emu_cases'
        if (r.status == 2 && r.fault_rip >= s.img.guest_address(e.code) &&
            r.fault_rip < s.img.guest_address(e.code) + e.code_bytes)
            where = " (" + e.kernel + " +0x" + std::to_string(r.fault_rip - s.img.guest_address(e.code)) + ")";
    ASSERT_EQ(r.status, 3) << "guest fault: vector " << r.fault_vector << " error " << r.fault_error << " rip 0x"
                           << std::hex << r.fault_rip << std::dec << where << " in call " << r.fault_test
                           << "\n--- Bochs output ---\n" << r.log.substr(0, 4000);
    ASSERT_EQ(r.tests_done, s.img.calls());
    for (size_t i = 0; i < s.img.calls(); ++i) {
        const emu::CallResult c = s.img.result(i);
        EXPECT_TRUE(c.done) << "call " << i;
        EXPECT_EQ(c.preserved, emu::CallResult::kAllPreserved) << "call " << i << ": callee-saved registers clobbered";
        EXPECT_EQ(c.mxcsr_after, EmuImage::kHostileMxcsr) << "call " << i << ": MXCSR not restored";
    }
    int64_t conv_bytes = 0;
    for (const EmuConv& e : s.convs) {
        const std::vector<uint8_t> got = s.img.output(e.dst, e.p->expected.size());
        EXPECT_TRUE(check_conv_output(*e.p, got)) << "[" << cpu << "]";
        conv_bytes += static_cast<int64_t>(got.size());
    }
    int64_t q_bytes = 0;
    for (const EmuQuant& q : s.quants) {
        const std::vector<uint8_t> got = s.img.output(q.dst, q.expected.size());
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < got.size(); ++i)
            if (got[i] != q.expected[i] && bad++ == 0) first = i;
        EXPECT_TRUE(got.size() == q.expected.size() && bad == 0)
            << q.name << " [" << cpu << "] " << q.what << ": " << bad << " bytes differ, first at " << first;
        q_bytes += static_cast<int64_t>(got.size());
    }
    int64_t o_bytes = 0;
    for (const EmuCheck& e : s.others) {
        const std::vector<uint8_t> got = s.img.output(e.dst, e.bytes);
        EXPECT_TRUE(e.check(got)) << "[" << cpu << "]";
        o_bytes += static_cast<int64_t>(got.size());
    }
    std::printf("[emu] %s: %zu conv cases (%lld output bytes), %zu quantize/dequantize cases (%lld bytes) and %zu "
                "grouped-conv/pool/eltwise/concat cases (%lld bytes) equal Oracle B\n",
                tag.c_str(), s.convs.size(), static_cast<long long>(conv_bytes), s.quants.size(),
                static_cast<long long>(q_bytes), s.others.size(), static_cast<long long>(o_bytes));
}

TEST(EmuTigerlake, Avx512CoreVnniAndAvx512CoreKernelsEqualOracleB) {
    ASSERT_TRUE(emulator_ready());
    Suite s;
    const uint64_t base = base_seed(101);
    build_conv_suite(s, Isa::avx512_core_vnni, base);
    build_conv_suite(s, Isa::avx512_core, base + 1);
    add_quant_cases(s.img, Isa::avx512_core, base + 2, &s.quants);
    s.kernels += static_cast<int64_t>(s.quants.size());
    run_and_check(s, "tigerlake", "tigerlake_avx512");
}

// Grouped conv, MaxPool, AvgPool, eltwise and concat copy: avx512_core_vnni (zmm, opmask tails,
// EVEX vpdpbusd quads) and avx2_vnni (VEX; grouped conv excluded: its VEX vpdpbusd has no Bochs model).
TEST(EmuTigerlake, WindowEltwiseConcatKernelsEqualOracleB) {
    ASSERT_TRUE(emulator_ready());
    Suite s;
    const uint64_t base = base_seed(301);
    s.kernels += add_emitter_cases(s.img, Isa::avx512_core_vnni, base, EmuCaseSet{}, &s.others);
    EmuCaseSet vex;
    vex.group_conv = false;
    s.kernels += add_emitter_cases(s.img, Isa::avx2_vnni, base + 100, vex, &s.others);
    run_and_check(s, "tigerlake", "tigerlake_window_eltwise");
}

TEST(EmuSkylakeX, Avx512CoreCodeNeverExecutesVpdpbusd) {
    ASSERT_TRUE(emulator_ready());
    Suite s;
    const uint64_t base = base_seed(201);
    build_conv_suite(s, Isa::avx512_core, base);
    add_quant_cases(s.img, Isa::avx512_core, base + 2, &s.quants);
    s.kernels += static_cast<int64_t>(s.quants.size());
    s.kernels += add_emitter_cases(s.img, Isa::avx512_core, base + 3, EmuCaseSet{}, &s.others);
    run_and_check(s, "corei7_skylake_x", "skylakex_avx512_core");
}

// The harness itself: a kernel that clobbers rbx and r12, one that leaves MXCSR at RNE, and one
// that writes half of its output must each be caught (canaries, MXCSR record, poison), while a
// well-behaved one passes — otherwise a green suite would prove less than it claims.
TEST(EmuHarness, CatchesClobberedRegistersMxcsrAndUnwrittenBytes) {
    ASSERT_TRUE(emulator_ready());
    using namespace Xbyak::util;
    auto code = [](const std::function<void(Xbyak::CodeGenerator&)>& body) {
        auto g = std::make_shared<Xbyak::CodeGenerator>(4096);
        body(*g);
        return g;
    };
    auto fill = [](Xbyak::CodeGenerator& g, int bytes) { // dst = [rdi]; bytes of 0x11
        g.mov(rax, g.ptr[rdi]);
        for (int i = 0; i < bytes; i += 4) g.mov(g.dword[rax + i], 0x11111111);
    };
    const auto good = code([&](Xbyak::CodeGenerator& g) { fill(g, 64); g.ret(); });
    const auto clobber = code([&](Xbyak::CodeGenerator& g) {
        fill(g, 64);
        g.xor_(ebx, ebx);
        g.xor_(r12d, r12d);
        g.ret();
    });
    const auto mxcsr = code([&](Xbyak::CodeGenerator& g) {
        fill(g, 64);
        g.push(rax);
        g.mov(g.dword[rsp], 0x1F80);
        g.ldmxcsr(g.ptr[rsp]);
        g.pop(rax);
        g.ret();
    });
    const auto half = code([&](Xbyak::CodeGenerator& g) { fill(g, 32); g.ret(); });
    EmuImage img;
    std::vector<Ref> dst;
    for (const auto& k : {good, clobber, mxcsr, half}) {
        const Ref c = img.add_input(k->getCode(), k->getSize());
        dst.push_back(img.add_output(64, 0xA5));
        img.add_call(c, img.add_args(std::vector<uint8_t>(8, 0), {{0, dst.back()}}));
    }
    const std::string path = work_dir() + "/harness_selfcheck.img";
    img.write(boot_bin(), path);
    const emu::RunReport r = img.run(path, "tigerlake", 60);
    ASSERT_TRUE(r.ran) << r.error << "\n" << r.log.substr(0, 4000);
    ASSERT_EQ(r.status, 3);
    const std::vector<uint8_t> ones(64, 0x11);
    EXPECT_EQ(img.result(0).preserved, emu::CallResult::kAllPreserved);
    EXPECT_EQ(img.result(0).mxcsr_after, EmuImage::kHostileMxcsr);
    EXPECT_EQ(img.output(dst[0], 64), ones);
    EXPECT_EQ(img.result(1).preserved, emu::CallResult::kAllPreserved & ~(1u | 4u)) << "rbx and r12 clobbered";
    EXPECT_EQ(img.result(2).mxcsr_after, 0x1F80u) << "MXCSR left at RNE";
    const std::vector<uint8_t> h = img.output(dst[3], 64);
    ASSERT_EQ(h.size(), 64u);
    EXPECT_TRUE(std::all_of(h.begin(), h.begin() + 32, [](uint8_t b) { return b == 0x11; }));
    EXPECT_TRUE(std::all_of(h.begin() + 32, h.end(), [](uint8_t b) { return b == 0xA5; })) << "poison must show";
    for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(img.result(i).done) << i;
}

// Runs one conv kernel of level `isa` on `cpu`; returns the report.
emu::RunReport run_single(Isa isa, const std::string& cpu, const std::string& tag) {
    Suite s;
    ConvCase c;
    c.g = geom(16, 4, 6, 32, 3, 3, 1, 1, 1);
    c.isa = isa;
    auto p = std::make_unique<PreparedConv>();
    EXPECT_TRUE(prepare_conv_case(c, 7, 0, p.get()));
    add_conv(s.img, std::move(p), &s.convs);
    const std::string path = work_dir() + "/" + tag + ".img";
    s.img.write(boot_bin(), path);
    return s.img.run(path, cpu, 60);
}

// The negative tests above only mean something if the emulator enforces the model's CPUID: the
// same kind of kernel with vpdpbusd must raise #UD on corei7_skylake_x.
TEST(EmuSkylakeX, ControlVnniKernelRaisesInvalidOpcode) {
    ASSERT_TRUE(emulator_ready());
    const emu::RunReport r = run_single(Isa::avx512_core_vnni, "corei7_skylake_x", "skylakex_control");
    ASSERT_TRUE(r.ran) << r.error << "\n" << r.log.substr(0, 4000);
    EXPECT_EQ(r.status, 2) << "expected a fault";
    EXPECT_EQ(r.fault_vector, 6u) << "expected #UD";
    EXPECT_EQ(r.fault_test, 0u);
    // The same for the grouped conv: its avx512_core_vnni kernel (EVEX vpdpbusd) must #UD there.
    Suite g;
    add_group_conv_control(g.img, &g.others);
    const std::string path = work_dir() + "/skylakex_control_group_conv.img";
    g.img.write(boot_bin(), path);
    const emu::RunReport rg = g.img.run(path, "corei7_skylake_x", 60);
    ASSERT_TRUE(rg.ran) << rg.error << "\n" << rg.log.substr(0, 4000);
    EXPECT_EQ(rg.status, 2) << "expected a fault";
    EXPECT_EQ(rg.fault_vector, 6u) << "expected #UD";
    EXPECT_EQ(rg.fault_test, 0u);
}

// Bochs 2.7 has no CPU model with AVX-VNNI (Alder Lake and later): the VEX vpdpbusd of avx2_vnni
// raises #UD even on tigerlake. This records that fact (so the README's claim stays checked); the
// avx2_vnni kernels are verified natively where the host has AVX-VNNI.
TEST(EmuTigerlake, Avx2VnniIsNotEmulated) {
    ASSERT_TRUE(emulator_ready());
    const emu::RunReport r = run_single(Isa::avx2_vnni, "tigerlake", "tigerlake_avx2_vnni_probe");
    ASSERT_TRUE(r.ran) << r.error << "\n" << r.log.substr(0, 4000);
    if (r.status == 3) {
        std::printf("[emu] this Bochs runs AVX-VNNI on tigerlake: avx2_vnni could join the emulated suite\n");
        SUCCEED();
    } else {
        EXPECT_EQ(r.fault_vector, 6u) << "a fault other than #UD";
        std::printf("[emu] avx2_vnni (VEX vpdpbusd) raises #UD on Bochs tigerlake: covered by native runs only%s\n",
                    host_runs(Isa::avx2_vnni) ? " (this host has AVX-VNNI: test_conv_emitter runs them)"
                                              : " (this host lacks AVX-VNNI: NOT verified here)");
    }
}

} // namespace
} // namespace qjit::test
