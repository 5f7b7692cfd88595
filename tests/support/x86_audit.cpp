#include "tests/support/x86_audit.hpp"

#include <cstdio>

#include <gtest/gtest.h>

#include "emitters/disasm.hpp"
#include "emitters/generator.hpp"

namespace qjit::test {
namespace {

struct Reader {
    const uint8_t* p;
    size_t n, i = 0;
    bool ok = true;
    uint8_t next() {
        if (i >= n) {
            ok = false;
            return 0;
        }
        return p[i++];
    }
    void skip(size_t k) {
        if (i + k > n) ok = false;
        i += k;
    }
};

// ModRM (+ SIB + displacement).
void modrm(Reader& r, CodeAudit& a) {
    const uint8_t m = r.next();
    const int mod = m >> 6, rm = m & 7;
    if (mod == 3) return;
    int disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
    if (rm == 4) {
        const uint8_t sib = r.next();
        if (mod == 0 && (sib & 7) == 5) {
            disp = 4;
            ++a.absolute_mem;
        }
    } else if (mod == 0 && rm == 5) {
        disp = 4;
        ++a.rip_relative;
    }
    r.skip(static_cast<size_t>(disp));
}

std::string vex_name(int map, int pp, int op, bool w) {
    struct N {
        int map, pp, op;
        const char* name;
    };
    static const N names[] = {
        {1, 1, 0xF5, "vpmaddwd"},   {2, 1, 0x04, "vpmaddubsw"}, {2, 1, 0x50, "vpdpbusd"},  {2, 1, 0x51, "vpdpbusds"},
        {1, 0, 0x53, "vrcpps"},     {1, 2, 0x53, "vrcpss"},     {1, 0, 0x52, "vrsqrtps"},  {1, 2, 0x52, "vrsqrtss"},
        {1, 1, 0x5B, "vcvtps2dq"},  {1, 0, 0x5B, "vcvtdq2ps"},  {1, 2, 0x5B, "vcvttps2dq"}, {1, 0, 0x5E, "vdivps"},
        {1, 0, 0x59, "vmulps"},     {1, 0, 0x5C, "vsubps"},     {1, 0, 0x58, "vaddps"},    {1, 0, 0x5F, "vmaxps"},
        {1, 0, 0x5D, "vminps"},     {1, 1, 0xFE, "vpaddd"},     {1, 0, 0xAE, "vldmxcsr/vstmxcsr"},
        {1, 0, 0x77, "vzeroupper"}, {2, 1, 0x98, "vfmadd132ps"}, {2, 1, 0xA8, "vfmadd213ps"}, {2, 1, 0xB8, "vfmadd231ps"},
        {1, 1, 0xF6, "vpsadbw"},    {2, 1, 0x3D, "vpmaxsd"},    {2, 1, 0x39, "vpminsd"},
    };
    for (const N& n : names)
        if (n.map == map && n.pp == pp && n.op == op) {
            return map == 2 && w ? std::string(n.name) + "/w1" : std::string(n.name);
        }
    char buf[32];
    std::snprintf(buf, sizeof buf, "vex.%d.%d.%02X", map, pp, op);
    return buf;
}

// One instruction; returns false (with a.error set) on anything outside the known forms.
bool decode_one(Reader& r, CodeAudit& a) {
    const size_t start = r.i;
    auto fail = [&](const char* what) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "%s at offset %zu (byte %02X)", what, start, r.p[start]);
        a.error = buf;
        return false;
    };
    uint8_t b = r.next();
    bool opsize = false;
    while (b == 0x66) {
        opsize = true;
        b = r.next();
    }
    if (b == 0xC4 || b == 0xC5) {
        int map = 1, pp, w = 0;
        if (b == 0xC5) {
            pp = r.next() & 3;
        } else {
            map = r.next() & 0x1F;
            const uint8_t b2 = r.next();
            w = b2 >> 7;
            pp = b2 & 3;
        }
        if (map < 1 || map > 3) return fail("unknown VEX map");
        const int op = r.next();
        if (!(map == 1 && op == 0x77)) modrm(r, a);
        const bool imm8 = map == 3 || (map == 1 && ((op >= 0x70 && op <= 0x73) || op == 0xC2 || op == 0xC4 ||
                                                    op == 0xC5 || op == 0xC6));
        if (imm8) r.skip(1);
        ++a.vex[vex_name(map, pp, op, w != 0)];
        return r.ok || fail("truncated VEX instruction");
    }
    uint8_t rex = 0;
    if ((b & 0xF0) == 0x40) {
        rex = b;
        b = r.next();
    }
    const bool rex_w = rex & 8;
    const int imm_z = opsize ? 2 : 4;
    if (b < 0x40 && (b & 7) < 4) { // add/or/adc/sbb/and/sub/xor/cmp r/m forms
        modrm(r, a);
    } else if (b < 0x40 && (b & 7) == 4) { // op al, imm8
        r.skip(1);
    } else if (b < 0x40 && (b & 7) == 5) { // op (e/r)ax, imm32
        r.skip(static_cast<size_t>(imm_z));
    } else if (b >= 0x50 && b <= 0x5F) { // push/pop
    } else if (b == 0x63 || b == 0x85 || b == 0x84 || (b >= 0x88 && b <= 0x8B) || b == 0x8D) {
        modrm(r, a);
    } else if (b == 0x69) {
        modrm(r, a);
        r.skip(static_cast<size_t>(imm_z));
    } else if (b == 0x6B || b == 0x80 || b == 0x83) {
        modrm(r, a);
        r.skip(1);
    } else if (b == 0x81 || b == 0xC7) {
        modrm(r, a);
        r.skip(static_cast<size_t>(imm_z));
    } else if (b >= 0x70 && b <= 0x7F) {
        r.skip(1);
    } else if (b == 0x90 || b == 0xC3) {
    } else if (b >= 0xB8 && b <= 0xBF) {
        if (rex_w) ++a.imm64;
        r.skip(rex_w ? 8 : 4);
    } else if (b == 0xE9) {
        r.skip(4);
    } else if (b == 0xEB) {
        r.skip(1);
    } else if (b == 0xE8) {
        ++a.calls;
        r.skip(4);
    } else if (b == 0xFF) {
        const int reg = (r.i < r.n ? r.p[r.i] >> 3 : 0) & 7;
        if (reg >= 2 && reg <= 5) ++a.calls; // indirect call / jmp
        modrm(r, a);
    } else if (b == 0x0F) {
        const uint8_t op = r.next();
        if (op >= 0x80 && op <= 0x8F) r.skip(4);
        else if (op == 0x18 || op == 0x1F || op == 0xAF || op == 0xB6 || op == 0xB7 || op == 0xBE || op == 0xBF || (op & 0xF0) == 0x40)
            modrm(r, a);
        else
            return fail("unknown 0F opcode");
    } else {
        return fail("unknown opcode");
    }
    return r.ok || fail("truncated instruction");
}

} // namespace

CodeAudit audit_code(const uint8_t* code, size_t size) {
    CodeAudit a;
    Reader r{code, size};
    while (r.i < size) {
        if (!decode_one(r, a)) return a;
        ++a.instructions;
    }
    return a;
}

namespace {
bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
} // namespace

bool zydis_isa_set_allowed(Isa isa, const std::string& set) {
    static const char* const kBase[] = {"I86", "I186", "I286REAL", "I386", "I486", "I486REAL", "PPRO", "CMOV", "LONGMODE",
                                        "PENTIUMREAL", "FAT_NOP"};
    for (const char* b : kBase)
        if (set == b) return true;
    // SSE_PREFETCH: prefetcht0 (SSE, present on every level qjit targets; a hint, never faults).
    if (set == "AVX" || set == "AVX2" || set == "AVX2GATHER" || set == "FMA" || set == "SSE_PREFETCH") return true;
    if (set == "AVX_VNNI") return isa == Isa::avx2_vnni;
    const bool avx512 = isa == Isa::avx512_core || isa == Isa::avx512_core_vnni;
    if (starts_with(set, "AVX512F_") || starts_with(set, "AVX512BW_") || starts_with(set, "AVX512DQ_") ||
        starts_with(set, "AVX512VL_") || set == "AVX512F_KOP" || set == "AVX512BW_KOP" || set == "AVX512DQ_KOP")
        return avx512;
    if (starts_with(set, "AVX512_VNNI_")) return isa == Isa::avx512_core_vnni;
    return false;
}

ZAudit zydis_audit(const JitKernel& k, Isa isa) {
    ZAudit a;
    const auto* g = dynamic_cast<const GeneratedKernel*>(&k);
    std::vector<DecodedInsn> ins;
    std::string err;
    if (!g || !disassemble(k.code(), g->text_bytes(), &ins, &err)) {
        a.violations.push_back(k.name + ": " + err);
        return a;
    }
    for (const DecodedInsn& d : ins) {
        ++a.total;
        ++a.mnemonics[d.mnemonic];
        a.evex += d.evex;
        a.vex += d.vex;
        if (!zydis_isa_set_allowed(isa, d.isa_set))
            a.violations.push_back(k.name + " +0x" + std::to_string(d.offset) + ": " + d.text + " is " + d.isa_set +
                                   ", outside " + to_string(isa));
        if (d.evex && (isa == Isa::avx2 || isa == Isa::avx2_vnni))
            a.violations.push_back(k.name + ": EVEX instruction in VEX-only code: " + d.text);
    }
    return a;
}

ZAudit expect_clean_kernel(const JitKernel& k, Isa isa) {
    const ZAudit a = zydis_audit(k, isa);
    for (const std::string& v : a.violations) ADD_FAILURE() << v;
    for (const char* banned : {"vpdpbusds", "vrcpps", "vrcp14ps", "vrsqrtps", "vrsqrt14ps", "vcvttps2dq"})
        EXPECT_EQ(a.count(banned), 0) << k.name << " contains " << banned;
    EXPECT_EQ(a.count("vldmxcsr") + a.count("vstmxcsr"), 3) << k.name << ": MXCSR save, load, restore";
    EXPECT_EQ(a.count("vzeroupper"), 1) << k.name;
    const bool avx512 = isa == Isa::avx512_core || isa == Isa::avx512_core_vnni;
    EXPECT_EQ(a.evex > 0, avx512) << k.name;
    const std::string tail = std::string("__") + to_string(isa);
    EXPECT_TRUE(k.name.size() > tail.size() && k.name.compare(k.name.size() - tail.size(), tail.size(), tail) == 0)
        << k.name << " does not end in " << tail;
    return a;
}

} // namespace qjit::test
