// The code-generation contract of every AVX2 kernel: ISA lattice and cap, W^X code pages, position
// independence (no host address in the code), and an instruction audit (spec §4.5: no vpdpbusds,
// no vrcpps / vrsqrtps; no FMA in Quantize/Dequantize; nothing outside the known instruction forms).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <vector>

#include "emitters/conv.hpp"
#include "emitters/disasm.hpp"
#include "emitters/fp32_gemm.hpp"
#include "emitters/fp32_pool.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "emitters/quantize.hpp"
#include "isa/isa.hpp"
#include "jit/requant_fold.hpp"
#include "runtime/qconv_ref.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

// A small asymmetric-weight conv with per-channel activation offsets: every epilogue feature.
struct SmallConv {
    QConvDesc d;
    QConvConsts c;
    ActLayout in, out;
    ConvBlocking b;
    PackedWeights w;
    std::vector<uint8_t> src;

    explicit SmallConv(bool float_out = false) {
        ConvGeom& g = d.g;
        g.C = 5, g.H = 6, g.W = 7, g.OC = 19, g.KH = g.KW = 3, g.PT = g.PL = g.PB = g.PR = 1;
        g.OH = 6, g.OW = 7;
        std::mt19937 r(7);
        d.w.q.resize(static_cast<size_t>(g.OC * g.K()));
        for (auto& q : d.w.q) q = static_cast<int8_t>(static_cast<int>(r() % 256) - 128);
        for (int64_t o = 0; o < g.OC; ++o) {
            d.w.s_w.push_back(0.01 + 0.001 * static_cast<double>(o));
            d.w.z_w.push_back(o % 2 ? 3.25 : 0.0);
            d.w.n_dropped.push_back(0.0);
            d.w.const_channel.push_back(0);
            d.w.w_c.push_back(0.0);
        }
        d.in.channels = g.C;
        for (int64_t ch = 0; ch < g.C; ++ch) {
            d.in.ol.v.push_back(-0.25f * static_cast<float>(ch));
            d.in.oh.v.push_back(-0.25f * static_cast<float>(ch) + 2.0f);
        }
        d.in.il = d.in.ol;
        d.in.ih = d.in.oh;
        d.out.il.v = {-4.0f};
        d.out.ih.v = {4.0f};
        d.out.ol.v = {0.0f};
        d.out.oh.v = {1.0f};
        d.out_levels = !float_out;
        c = fold_qconv(d);
        b = choose_conv_blocking_avx2(d, c);
        in = required_input_halo(g);
        out.H = g.OH, out.W = g.OW, out.C = g.OC, out.c_stride = 32, out.elem_bytes = float_out ? 4 : 1;
        w = pack_conv_weights_avx2(d, b);
        src.assign(static_cast<size_t>(in.bytes()), 0);
        for (int64_t h = 0; h < g.H; ++h)
            for (int64_t x = 0; x < g.W; ++x)
                for (int64_t ch = 0; ch < g.C; ++ch) src[static_cast<size_t>(in.offset(0, h, x) + ch)] = static_cast<uint8_t>(r());
    }
    std::vector<uint8_t> run(const void* entry) const {
        std::vector<uint8_t> dst(static_cast<size_t>(out.bytes()), 0xA5);
        ConvArgs a{src.data() + in.offset(0, 0, 0), dst.data() + out.offset(0, 0, 0) * out.elem_bytes, w.data.get(),
                   0, d.g.OH, 0, conv_oc_blocks(out, b)};
        reinterpret_cast<void (*)(const ConvArgs*)>(const_cast<void*>(entry))(&a);
        return dst;
    }
    std::vector<uint8_t> reference() const {
        std::vector<uint8_t> dst(static_cast<size_t>(out.bytes()), 0xA5);
        ref::qconv(d, c, src.data(), in, dst.data(), out);
        return dst;
    }
};

ActQuant per_channel_quant(int64_t C) {
    ActQuant q;
    q.levels = 256;
    q.channels = C;
    for (int64_t c = 0; c < C; ++c) {
        q.il.v.push_back(-1.0f - static_cast<float>(c));
        q.ih.v.push_back(1.0f + 0.5f * static_cast<float>(c));
    }
    q.ol = q.il;
    q.oh = q.ih;
    return q;
}

// Permissions ("r-xp", ...) of the mapping that holds `p`, from /proc/self/maps.
std::string page_perms(const void* p) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        uintptr_t lo = 0, hi = 0;
        char perms[8] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) == 3 && a >= lo && a < hi) return perms;
    }
    return "";
}

// Scoped QJIT_MAX_ISA (restored on exit).
class EnvCap {
public:
    explicit EnvCap(const char* v) {
        const char* old = std::getenv("QJIT_MAX_ISA");
        had_ = old != nullptr;
        if (had_) old_ = old;
        if (v) setenv("QJIT_MAX_ISA", v, 1);
        else unsetenv("QJIT_MAX_ISA");
    }
    ~EnvCap() {
        if (had_) setenv("QJIT_MAX_ISA", old_.c_str(), 1);
        else unsetenv("QJIT_MAX_ISA");
    }

private:
    bool had_ = false;
    std::string old_;
};

TEST(Isa, LatticeAndCap) {
    // Inclusion by features: a lattice with avx2_vnni beside the AVX-512 levels.
    EXPECT_TRUE(isa_includes(Isa::avx2_vnni, Isa::avx2));
    EXPECT_TRUE(isa_includes(Isa::avx512_core, Isa::avx2));
    EXPECT_TRUE(isa_includes(Isa::avx512_core_vnni, Isa::avx512_core));
    EXPECT_TRUE(isa_includes(Isa::avx512_core_vnni, Isa::avx2));
    EXPECT_TRUE(isa_includes(Isa::avx2, Isa::avx2));
    EXPECT_FALSE(isa_includes(Isa::avx512_core_vnni, Isa::avx2_vnni)) << "Ice Lake has AVX512_VNNI, not AVX-VNNI";
    EXPECT_FALSE(isa_includes(Isa::avx512_core, Isa::avx2_vnni));
    EXPECT_FALSE(isa_includes(Isa::avx2_vnni, Isa::avx512_core));
    EXPECT_FALSE(isa_includes(Isa::avx2, Isa::avx2_vnni));
    EXPECT_FALSE(isa_includes(Isa::avx512_core, Isa::avx512_core_vnni));
    EXPECT_THROW(isa_includes(Isa::native, Isa::avx2), Error);
    EXPECT_EQ(isa_meet(Isa::avx512_core_vnni, Isa::avx2_vnni), Isa::avx2);
    EXPECT_EQ(isa_meet(Isa::avx512_core_vnni, Isa::avx512_core), Isa::avx512_core);
    EXPECT_EQ(isa_meet(Isa::native, Isa::avx2_vnni), Isa::avx2_vnni);
    EXPECT_EQ(isa_meet(Isa::avx2_vnni, Isa::native), Isa::avx2_vnni);
    // Numeric order is the order of preference.
    EXPECT_LT(static_cast<int>(Isa::avx2), static_cast<int>(Isa::avx2_vnni));
    EXPECT_LT(static_cast<int>(Isa::avx2_vnni), static_cast<int>(Isa::avx512_core));
    EXPECT_LT(static_cast<int>(Isa::avx512_core), static_cast<int>(Isa::avx512_core_vnni));
    for (Isa i : all_isas()) EXPECT_EQ(parse_isa(to_string(i)), i);
    EXPECT_EQ(parse_isa("native"), Isa::native);
    EXPECT_FALSE(parse_isa("avx512"));

    {
        EnvCap cap(nullptr);
        const Isa host = max_isa_supported();
        EXPECT_TRUE(isa_supported(host));
        EXPECT_EQ(resolve_isa(Isa::native), host);
        EXPECT_EQ(resolve_isa(Isa::avx2), Isa::avx2);
        for (Isa want : all_isas()) {
            const Isa got = resolve_isa(want);
            EXPECT_TRUE(isa_supported(got)) << to_string(want) << " -> " << to_string(got); // never above the host
            EXPECT_TRUE(isa_includes(want, got)) << to_string(want) << " -> " << to_string(got);
            EXPECT_EQ(got == want, isa_supported(want)) << to_string(want);
            // Generating for the emulator: the request itself, whatever the host.
            EXPECT_EQ(resolve_isa(want, /*allow_unsupported=*/true), want);
        }
        std::printf("host: %s\n", describe_host_isa().c_str());
        EXPECT_NE(describe_host_isa().find("levels:"), std::string::npos);
    }
    {
        EnvCap cap("avx2");
        EXPECT_EQ(resolve_isa(Isa::native), Isa::avx2);
        EXPECT_EQ(resolve_isa(Isa::avx512_core_vnni), Isa::avx2);
        EXPECT_EQ(resolve_isa(Isa::avx512_core_vnni, true), Isa::avx2); // the cap holds for the emulator too
    }
    {
        EnvCap cap("avx2_vnni");
        EXPECT_EQ(resolve_isa(Isa::avx512_core_vnni, true), Isa::avx2); // meet of incomparable levels
        EXPECT_EQ(resolve_isa(Isa::avx2_vnni, true), Isa::avx2_vnni);
    }
    {
        EnvCap cap("avx512_core");
        EXPECT_EQ(resolve_isa(Isa::avx512_core_vnni, true), Isa::avx512_core);
        EXPECT_TRUE(isa_includes(Isa::avx512_core, resolve_isa(Isa::native)));
    }
    {
        EnvCap cap("avx512_core_vnni");
        EXPECT_EQ(resolve_isa(Isa::native), max_isa_supported() == Isa::avx2_vnni ? Isa::avx2 : max_isa_supported());
    }
    {
        EnvCap cap("sse2");
        try {
            resolve_isa(Isa::native);
            ADD_FAILURE() << "unknown QJIT_MAX_ISA accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
        }
    }
}

TEST(Generator, CodePagesAreNeverWritableAndExecutable) {
    const SmallConv s;
    const auto conv = emit_conv_avx2(s.d, s.c, s.in, s.out, s.b);
    const auto quant = emit_quantize_avx2(per_channel_quant(s.d.g.C), s.in);
    for (const JitKernel* k : {conv.get(), quant.get()}) {
        const std::string perms = page_perms(k->entry());
        EXPECT_EQ(perms.substr(0, 3), "r-x") << k->name << " code page is " << perms;
        EXPECT_EQ(page_perms(k->code() + k->code_size() - 1).substr(0, 3), "r-x") << k->name << " (constant pool)";
    }
    EXPECT_EQ(s.run(conv->entry()), s.reference());
}

TEST(Generator, XbyakErrorsBecomeJitFailure) {
    try {
        build_kernel("broken", 4096, [](Generator& g) {
            Xbyak::Label nowhere;
            g.jmp(nowhere, Xbyak::CodeGenerator::T_NEAR); // never defined
        });
        ADD_FAILURE() << "undefined label accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::JitFailure);
        EXPECT_EQ(e.node(), "broken");
    }
    // A kernel larger than the first buffer is regenerated in a larger one.
    const auto big = build_kernel("big", 4096, [](Generator& g) {
        g.preamble({});
        for (int i = 0; i < 5000; ++i) g.vpaddd(Xbyak::util::ymm0, Xbyak::util::ymm0, Xbyak::util::ymm1);
        g.postamble();
    });
    EXPECT_GT(big->code_size(), 5000u * 4);
}

// Copies a kernel's bytes to a fresh RX mapping, destroys the original (its pages are unmapped) and
// runs the copy: it only works if nothing in the code refers to where it was generated.
class MovedCode {
public:
    explicit MovedCode(const JitKernel& k) : size_(k.code_size()) {
        mem_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        EXPECT_NE(mem_, MAP_FAILED);
        std::memcpy(mem_, k.code(), size_);
        EXPECT_EQ(mprotect(mem_, size_, PROT_READ | PROT_EXEC), 0);
    }
    ~MovedCode() { munmap(mem_, size_); }
    const void* entry() const { return mem_; }

private:
    size_t size_;
    void* mem_;
};

TEST(Generator, KernelsArePositionIndependent) {
    for (bool float_out : {false, true}) {
        const SmallConv s(float_out);
        auto k = emit_conv_avx2(s.d, s.c, s.in, s.out, s.b);
        const MovedCode moved(*k);
        k.reset();
        EXPECT_EQ(s.run(moved.entry()), s.reference()) << "conv, float_out=" << float_out;
    }
    const ActQuant q = per_channel_quant(3);
    ActLayout l;
    l.H = 2, l.W = 13, l.C = 3, l.halo_l = 1;
    std::vector<float> x(static_cast<size_t>(l.C * l.H * l.W));
    for (size_t i = 0; i < x.size(); ++i) x[i] = -3.0f + 0.125f * static_cast<float>(i);
    std::vector<uint8_t> ref(static_cast<size_t>(l.bytes()), 0xA5), jit = ref;
    ref::quantize(q, x.data(), ref.data(), l);
    auto qk = emit_quantize_avx2(q, l);
    const MovedCode mq(*qk);
    qk.reset();
    QuantizeArgs qa{x.data(), jit.data() + l.offset(0, 0, 0), 0, l.C};
    reinterpret_cast<void (*)(const QuantizeArgs*)>(const_cast<void*>(mq.entry()))(&qa);
    EXPECT_EQ(jit, ref);
    std::vector<float> y_ref(x.size()), y_jit(x.size(), -1.0f);
    ref::dequantize(q, ref.data(), l, y_ref.data());
    auto dk = emit_dequantize_avx2(q, l);
    const MovedCode md(*dk);
    dk.reset();
    DequantizeArgs da{ref.data() + l.offset(0, 0, 0), y_jit.data(), 0, l.C};
    reinterpret_cast<void (*)(const DequantizeArgs*)>(const_cast<void*>(md.entry()))(&da);
    EXPECT_EQ(std::memcmp(y_ref.data(), y_jit.data(), y_ref.size() * 4), 0);
}

CodeAudit audit(const JitKernel& k) {
    const auto* g = dynamic_cast<const GeneratedKernel*>(&k);
    EXPECT_NE(g, nullptr);
    return audit_code(k.code(), g ? g->text_bytes() : 0);
}

void expect_clean(const JitKernel& k, const CodeAudit& a) {
    EXPECT_EQ(a.error, "") << k.name;
    EXPECT_GT(a.instructions, 10u) << k.name;
    for (const char* banned : {"vpdpbusds", "vrcpps", "vrcpss", "vrsqrtps", "vrsqrtss", "vcvttps2dq"})
        EXPECT_EQ(a.count(banned), 0) << k.name << " contains " << banned;
    EXPECT_EQ(a.imm64, 0) << k.name << ": 64-bit immediate";
    EXPECT_EQ(a.absolute_mem, 0) << k.name << ": absolute memory operand";
    EXPECT_EQ(a.calls, 0) << k.name << ": call / indirect jump";
    EXPECT_GT(a.rip_relative, 0) << k.name << ": constant pool not reached RIP-relative";
    EXPECT_EQ(a.count("vldmxcsr/vstmxcsr"), 3) << k.name << ": MXCSR save, load, restore";
    EXPECT_EQ(a.count("vzeroupper"), 1) << k.name;
}

TEST(Generator, InstructionAudit) {
    std::mt19937_64 r(base_seed(41));
    // Conv kernels of every output mode and blocking: exact integer dot product + FMA epilogue.
    for (bool float_out : {false, true}) {
        const SmallConv s(float_out);
        for (const ConvBlocking& b : conv_blockings_avx2()) {
            const auto k = emit_conv_avx2(s.d, s.c, s.in, s.out, b);
            const CodeAudit a = audit(*k);
            expect_clean(*k, a);
            EXPECT_GT(a.count("vpmaddwd"), 0) << k->name;
            EXPECT_EQ(a.count("vpmaddubsw") > 0, b.maddubs) << k->name;
            EXPECT_GT(a.count("vpsadbw"), 0) << k->name << ": window sum of the asymmetric weights";
            EXPECT_GT(a.count("vfmadd231ps"), 0) << k->name;
            EXPECT_GT(a.count("vfmadd132ps"), 0) << k->name;
            EXPECT_EQ(a.count("vcvtps2dq") > 0, !float_out) << k->name;
        }
    }
    // Quantize / Dequantize: §1.1 order, real division, no FMA.
    const ActQuant q = per_channel_quant(3);
    for (int64_t W : {1, 8, 13, 100}) {
        ActLayout l;
        l.W = W, l.H = 2, l.C = 3;
        const auto qk = emit_quantize_avx2(q, l);
        const auto dk = emit_dequantize_avx2(q, l);
        for (const JitKernel* k : {qk.get(), dk.get()}) {
            const CodeAudit a = audit(*k);
            expect_clean(*k, a);
            EXPECT_GT(a.count("vdivps"), 0) << k->name;
            for (const auto& [name, n] : a.vex) EXPECT_EQ(name.rfind("vfm", 0), std::string::npos) << k->name << ": " << name;
        }
    }
}

} // namespace
} // namespace qjit::test

// ---- the per-ISA audit with a real decoder (Zydis) -------------------------------------------

namespace qjit::test {
namespace {

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// The decoder and the ISA-set rules: tests/support/x86_audit (zydis_audit).
ZAudit zaudit(const JitKernel& k, Isa isa) { return zydis_audit(k, isa); }

class ZydisAudit : public ::testing::TestWithParam<Isa> {};

// Every conv kernel (every blocking, output mode, asymmetric weights) and the quantize kernels of a
// level, decoded with Zydis: each instruction's ISA set belongs to the level, no EVEX below AVX-512,
// no VNNI below the VNNI levels, vpdpbusd only in VNNI code (VEX on avx2_vnni, EVEX on
// avx512_core_vnni), never vpdpbusds / vrcp / vrsqrt / vcvttps2dq; the fp32 GEMM / pool kernels too.
TEST_P(ZydisAudit, EveryInstructionBelongsToTheTargetIsa) {
    ASSERT_TRUE(have_disassembler()) << "qjit was built without Zydis: install libzydis-dev (scripts/setup.sh)";
    const Isa isa = GetParam();
    const bool vnni = isa == Isa::avx2_vnni || isa == Isa::avx512_core_vnni;
    const bool avx512 = isa == Isa::avx512_core || isa == Isa::avx512_core_vnni;
    int kernels = 0;
    for (bool float_out : {false, true}) {
        SmallConv s(float_out);
        for (ConvBlocking b : conv_blockings(isa)) {
            const auto k = emit_conv(s.d, s.c, s.in, s.out, b);
            const ZAudit a = zaudit(*k, isa);
            ++kernels;
            for (const std::string& v : a.violations) ADD_FAILURE() << v;
            for (const char* banned : {"vpdpbusds", "vrcpps", "vrcp14ps", "vrsqrtps", "vrsqrt14ps", "vcvttps2dq"})
                EXPECT_EQ(a.count(banned), 0) << k->name << " contains " << banned;
            EXPECT_EQ(a.count("vpdpbusd") > 0, vnni) << k->name;
            EXPECT_EQ(a.count("vpmaddwd") > 0, !vnni) << k->name;
            EXPECT_EQ(a.count("vpmaddubsw") > 0, b.maddubs) << k->name;
            EXPECT_GT(a.count("vpsadbw"), 0) << k->name << ": window sum of the asymmetric weights";
            EXPECT_GT(a.count("vfmadd231ps") + a.count("vfmadd132ps"), 0) << k->name;
            EXPECT_EQ(a.count("vcvtps2dq") > 0, !float_out) << k->name;
            EXPECT_EQ(a.evex > 0, avx512) << k->name;
            if (avx512 && !float_out) {
                EXPECT_GT(a.count("vpmovusdb"), 0) << k->name;
            }
            EXPECT_EQ(k->name.substr(k->name.size() - std::string(to_string(isa)).size()), to_string(isa));
            if (HasFailure()) return;
        }
    }
    const ActQuant q = per_channel_quant(3);
    for (int64_t W : {1, 8, 13, 16, 37, 100}) {
        ActLayout l;
        l.W = W, l.H = 2, l.C = 3;
        for (const auto& k : {emit_quantize(isa, q, l), emit_dequantize(isa, q, l)}) {
            const ZAudit a = zaudit(*k, quantize_isa(isa));
            ++kernels;
            for (const std::string& v : a.violations) ADD_FAILURE() << v;
            EXPECT_EQ(a.count("vpdpbusd") + a.count("vpdpbusds"), 0) << k->name;
            EXPECT_GT(a.count("vdivps"), 0) << k->name;
            for (const auto& [m, n] : a.mnemonics) EXPECT_FALSE(starts_with(m, "vfm")) << k->name << ": " << m;
        }
    }
    // fp32 kernels of the float regions (GEMM of Conv / MatMul, pooling): plain AVX / AVX2 or
    // AVX512F arithmetic of the level, no FMA (one rounding per product and per sum), no VNNI.
    std::vector<std::unique_ptr<JitKernel>> fp32;
    for (bool flag : {false, true}) {
        Fp32GemmDesc d;
        d.a_first = flag;
        fp32.push_back(emit_fp32_gemm(isa, d));
        fp32.push_back(emit_fp32_pool(isa, flag));
    }
    for (const auto& k : fp32) {
        const ZAudit a = zaudit(*k, isa);
        ++kernels;
        for (const std::string& v : a.violations) ADD_FAILURE() << v;
        for (const auto& [m, n] : a.mnemonics) {
            EXPECT_FALSE(starts_with(m, "vfm") || starts_with(m, "vpdp") || starts_with(m, "vrcp")) << k->name << ": " << m;
        }
        EXPECT_EQ(a.evex > 0, avx512) << k->name;
    }
    std::printf("[audit] %s: %d kernels decoded, every instruction in the level's ISA sets\n", to_string(isa), kernels);
}

INSTANTIATE_TEST_SUITE_P(Isa, ZydisAudit, ::testing::ValuesIn(all_isas()), isa_param_name);

// QJIT_DUMP=DIR writes <name>.bin (every code byte) and <name>.s (the disassembly).
TEST(Dump, WritesBytesAndDisassembly) {
    ASSERT_TRUE(have_disassembler());
    char tmpl[] = "/tmp/qjit-dump-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    setenv("QJIT_DUMP", dir.c_str(), 1);
    const SmallConv s;
    ConvBlocking b{2, 1, 16, false, Isa::avx512_core_vnni};
    const auto k = emit_conv(s.d, s.c, s.in, s.out, b);
    unsetenv("QJIT_DUMP");
    std::ifstream bin(dir + "/" + k->name + ".bin", std::ios::binary);
    ASSERT_TRUE(bin) << dir;
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(bin)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.size(), k->code_size());
    EXPECT_EQ(std::memcmp(bytes.data(), k->code(), bytes.size()), 0);
    std::ifstream s_file(dir + "/" + k->name + ".s");
    const std::string text((std::istreambuf_iterator<char>(s_file)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("vpdpbusd zmm"), std::string::npos) << text.substr(0, 2000);
    EXPECT_NE(text.find("AVX512_VNNI_512"), std::string::npos);
    std::system(("rm -rf '" + dir + "'").c_str());
}

} // namespace
} // namespace qjit::test
