// A second encoder for the instruction forms qjit's emitters use: each form is encoded by Xbyak (as
// the emitters do) and by asmjit (libasmjit-dev, tests only), and the bytes must agree. Where the two
// could legitimately choose different encodings (VEX vs EVEX for the same mnemonic), the form is
// pinned on both sides (Xbyak VexEncoding / asmjit vex(); zmm or masks force EVEX). Each pair is also
// decoded with Zydis to check the ISA set the form belongs to.
#include <gtest/gtest.h>

#include <asmjit/x86.h>
#include <xbyak/xbyak.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "emitters/disasm.hpp"

namespace {

using XGen = Xbyak::CodeGenerator;
namespace aj = asmjit;
namespace ax = asmjit::x86;

std::vector<uint8_t> xbyak_bytes(const std::function<void(XGen&)>& f) {
    XGen g(4096);
    f(g);
    return std::vector<uint8_t>(g.getCode(), g.getCode() + g.getSize());
}

std::vector<uint8_t> asmjit_bytes(const std::function<void(ax::Assembler&)>& f) {
    aj::Environment env(aj::Arch::kX64);
    aj::CodeHolder code;
    code.init(env);
    ax::Assembler a(&code);
    f(a);
    const aj::CodeBuffer& b = code.textSection()->buffer();
    return std::vector<uint8_t>(b.data(), b.data() + b.size());
}

std::string hex(const std::vector<uint8_t>& v) {
    std::string s;
    char b[4];
    for (uint8_t x : v) std::snprintf(b, sizeof(b), "%02x", x), s += b;
    return s;
}

struct Form {
    const char* what;
    const char* isa_set; // Zydis ISA set the encoding must decode to
    std::function<void(XGen&)> xbyak;
    std::function<void(ax::Assembler&)> asmjit;
};

TEST(EncodingCrossCheck, XbyakAndAsmjitAgreeOnEveryFormTheEmittersUse) {
    using namespace Xbyak::util;
    const std::vector<Form> forms = {
        // VNNI dot products: VEX (AVX-VNNI) for avx2_vnni, EVEX for avx512_core_vnni.
        {"vpdpbusd ymm VEX", "AVX_VNNI", [](XGen& g) { g.vpdpbusd(ymm1, ymm15, ymm12, Xbyak::VexEncoding); },
         [](ax::Assembler& a) { a.vex().vpdpbusd(ax::ymm1, ax::ymm15, ax::ymm12); }},
        {"vpdpbusd ymm VEX mem", "AVX_VNNI",
         [](XGen& g) { g.vpdpbusd(ymm3, ymm15, g.ptr[rdx + 0x40], Xbyak::VexEncoding); },
         [](ax::Assembler& a) { a.vex().vpdpbusd(ax::ymm3, ax::ymm15, ax::ymmword_ptr(ax::rdx, 0x40)); }},
        {"vpdpbusd zmm EVEX", "AVX512_VNNI_512", [](XGen& g) { g.vpdpbusd(zmm0, zmm31, zmm30); },
         [](ax::Assembler& a) { a.vpdpbusd(ax::zmm0, ax::zmm31, ax::zmm30); }},
        {"vpdpbusd zmm EVEX mem disp8*64", "AVX512_VNNI_512", [](XGen& g) { g.vpdpbusd(zmm5, zmm31, g.ptr[rdx + 0x80]); },
         [](ax::Assembler& a) { a.vpdpbusd(ax::zmm5, ax::zmm31, ax::zmmword_ptr(ax::rdx, 0x80)); }},
        {"vpdpbusd zmm EVEX mem disp32", "AVX512_VNNI_512", [](XGen& g) { g.vpdpbusd(zmm5, zmm31, g.ptr[rdx + 0x1234]); },
         [](ax::Assembler& a) { a.vpdpbusd(ax::zmm5, ax::zmm31, ax::zmmword_ptr(ax::rdx, 0x1234)); }},
        // Exact widening and the vpmaddubsw fast path.
        {"vpmaddwd ymm mem", "AVX2", [](XGen& g) { g.vpmaddwd(ymm12, ymm13, g.ptr[rdx + 0x20]); },
         [](ax::Assembler& a) { a.vpmaddwd(ax::ymm12, ax::ymm13, ax::ymmword_ptr(ax::rdx, 0x20)); }},
        {"vpmaddwd zmm mem", "AVX512BW_512", [](XGen& g) { g.vpmaddwd(zmm28, zmm29, g.ptr[rdx + 0x40]); },
         [](ax::Assembler& a) { a.vpmaddwd(ax::zmm28, ax::zmm29, ax::zmmword_ptr(ax::rdx, 0x40)); }},
        {"vpmaddubsw ymm mem", "AVX2", [](XGen& g) { g.vpmaddubsw(ymm12, ymm14, g.ptr[rdx + 0x60]); },
         [](ax::Assembler& a) { a.vpmaddubsw(ax::ymm12, ax::ymm14, ax::ymmword_ptr(ax::rdx, 0x60)); }},
        {"vpmaddubsw zmm mem", "AVX512BW_512", [](XGen& g) { g.vpmaddubsw(zmm28, zmm30, g.ptr[rdx + 0xC0]); },
         [](ax::Assembler& a) { a.vpmaddubsw(ax::zmm28, ax::zmm30, ax::zmmword_ptr(ax::rdx, 0xC0)); }},
        {"vpbroadcastd zmm m32", "AVX512F_512", [](XGen& g) { g.vpbroadcastd(zmm31, g.dword[rax + 0x10]); },
         [](ax::Assembler& a) { a.vpbroadcastd(ax::zmm31, ax::dword_ptr(ax::rax, 0x10)); }},
        {"vpbroadcastd ymm m32", "AVX2", [](XGen& g) { g.vpbroadcastd(ymm14, g.dword[rax + 0x10]); },
         [](ax::Assembler& a) { a.vpbroadcastd(ax::ymm14, ax::dword_ptr(ax::rax, 0x10)); }},
        {"vpsadbw zmm", "AVX512BW_512", [](XGen& g) { g.vpsadbw(zmm30, zmm30, zmm31); },
         [](ax::Assembler& a) { a.vpsadbw(ax::zmm30, ax::zmm30, ax::zmm31); }},
        // Epilogue.
        {"vfmadd231ps zmm mem", "AVX512F_512", [](XGen& g) { g.vfmadd231ps(zmm29, zmm30, g.ptr[r12 + 0x100]); },
         [](ax::Assembler& a) { a.vfmadd231ps(ax::zmm29, ax::zmm30, ax::zmmword_ptr(ax::r12, 0x100)); }},
        {"vfmadd231ps ymm mem", "FMA", [](XGen& g) { g.vfmadd231ps(ymm13, ymm14, g.ptr[r12 + 0x100]); },
         [](ax::Assembler& a) { a.vfmadd231ps(ax::ymm13, ax::ymm14, ax::ymmword_ptr(ax::r12, 0x100)); }},
        {"vfmadd132ps zmm mem", "AVX512F_512", [](XGen& g) { g.vfmadd132ps(zmm3, zmm29, g.ptr[r12 + 0x40]); },
         [](ax::Assembler& a) { a.vfmadd132ps(ax::zmm3, ax::zmm29, ax::zmmword_ptr(ax::r12, 0x40)); }},
        {"vmaxps zmm zero", "AVX512F_512", [](XGen& g) { g.vmaxps(zmm3, zmm3, zmm31); },
         [](ax::Assembler& a) { a.vmaxps(ax::zmm3, ax::zmm3, ax::zmm31); }},
        {"vminps zmm m32{1to16}", "AVX512F_512", [](XGen& g) { g.vminps(zmm3, zmm3, g.ptr_b[rbx + 0x200]); },
         [](ax::Assembler& a) { a.vminps(ax::zmm3, ax::zmm3, ax::dword_ptr(ax::rbx, 0x200)._1to16()); }},
        {"vcvtps2dq zmm {rn-sae}", "AVX512F_512", [](XGen& g) { g.vcvtps2dq(zmm3, zmm3 | T_rn_sae); },
         [](ax::Assembler& a) { a.rn_sae().vcvtps2dq(ax::zmm3, ax::zmm3); }},
        {"vcvtps2dq ymm", "AVX", [](XGen& g) { g.vcvtps2dq(ymm3, ymm3); },
         [](ax::Assembler& a) { a.vcvtps2dq(ax::ymm3, ax::ymm3); }},
        {"vpmaxsd zmm mem", "AVX512F_512", [](XGen& g) { g.vpmaxsd(zmm3, zmm3, g.ptr[r12 + 0x80]); },
         [](ax::Assembler& a) { a.vpmaxsd(ax::zmm3, ax::zmm3, ax::zmmword_ptr(ax::r12, 0x80)); }},
        {"vpmovusdb mem, zmm", "AVX512F_512", [](XGen& g) { g.vpmovusdb(g.ptr[rsi + 0x30], zmm3); },
         [](ax::Assembler& a) { a.vpmovusdb(ax::xmmword_ptr(ax::rsi, 0x30), ax::zmm3); }},
        {"vpmovusdb mem{k3}, zmm", "AVX512F_512", [](XGen& g) { g.vpmovusdb(g.ptr[rdx + 0x10] | k3, zmm1); },
         [](ax::Assembler& a) { a.k(ax::k3).vpmovusdb(ax::xmmword_ptr(ax::rdx, 0x10), ax::zmm1); }},
        {"vcmpps k1, zmm, mem, GT_OQ", "AVX512F_512", [](XGen& g) { g.vcmpps(k1, zmm3, g.ptr[r12 + 0x40], 0x1E); },
         [](ax::Assembler& a) { a.vcmpps(ax::k1, ax::zmm3, ax::zmmword_ptr(ax::r12, 0x40), 0x1E); }},
        {"vpbroadcastd zmm{k1}{z}, m32", "AVX512F_512", [](XGen& g) { g.vpbroadcastd(zmm3 | k1 | T_z, g.dword[rbx + 8]); },
         [](ax::Assembler& a) { a.k(ax::k1).z().vpbroadcastd(ax::zmm3, ax::dword_ptr(ax::rbx, 8)); }},
        // Masked loads / stores (opmask tails).
        {"vmovdqu8 zmm{k2}{z}, mem", "AVX512BW_512", [](XGen& g) { g.vmovdqu8(zmm30 | k2 | T_z, g.ptr[rax + 0x40]); },
         [](ax::Assembler& a) { a.k(ax::k2).z().vmovdqu8(ax::zmm30, ax::zmmword_ptr(ax::rax, 0x40)); }},
        {"vmovups zmm{k3}{z}, mem", "AVX512F_512", [](XGen& g) { g.vmovups(zmm0 | k3 | T_z, g.ptr[rax + 0x40]); },
         [](ax::Assembler& a) { a.k(ax::k3).z().vmovups(ax::zmm0, ax::zmmword_ptr(ax::rax, 0x40)); }},
        {"vmovups mem{k3}, zmm", "AVX512F_512", [](XGen& g) { g.vmovups(g.ptr[rax + 0x40] | k3, zmm0); },
         [](ax::Assembler& a) { a.k(ax::k3).vmovups(ax::zmmword_ptr(ax::rax, 0x40), ax::zmm0); }},
        {"vpmovzxbd zmm{k3}{z}, mem", "AVX512F_512", [](XGen& g) { g.vpmovzxbd(zmm0 | k3 | T_z, g.ptr[rdx + 0x10]); },
         [](ax::Assembler& a) { a.k(ax::k3).z().vpmovzxbd(ax::zmm0, ax::xmmword_ptr(ax::rdx, 0x10)); }},
        {"vmaskmovps ymm, ymm, mem", "AVX", [](XGen& g) { g.vmaskmovps(ymm0, ymm3, g.ptr[rax + 0x20]); },
         [](ax::Assembler& a) { a.vmaskmovps(ax::ymm0, ax::ymm3, ax::ymmword_ptr(ax::rax, 0x20)); }},
        // the float FakeQuantize kernel's rounding (RNE) and division forms
        {"vroundps ymm, ymm, 0", "AVX", [](XGen& g) { g.vroundps(ymm3, ymm12, 0); },
         [](ax::Assembler& a) { a.vroundps(ax::ymm3, ax::ymm12, 0); }},
        {"vrndscaleps zmm, zmm, 0", "AVX512F_512", [](XGen& g) { g.vrndscaleps(zmm3, zmm12, 0); },
         [](ax::Assembler& a) { a.vrndscaleps(ax::zmm3, ax::zmm12, 0); }},
        {"vdivps zmm", "AVX512F_512", [](XGen& g) { g.vdivps(zmm3, zmm3, zmm9); },
         [](ax::Assembler& a) { a.vdivps(ax::zmm3, ax::zmm3, ax::zmm9); }},
        {"vbroadcastss ymm, m32 [r10 + disp]", "AVX", [](XGen& g) { g.vbroadcastss(ymm6, g.dword[r10 + 0x40]); },
         [](ax::Assembler& a) { a.vbroadcastss(ax::ymm6, ax::dword_ptr(ax::r10, 0x40)); }},
        // the exponential of the Sigmoid / Softmax kernels (double lanes)
        {"vroundpd ymm, ymm, 0", "AVX", [](XGen& g) { g.vroundpd(ymm7, ymm7, 0); },
         [](ax::Assembler& a) { a.vroundpd(ax::ymm7, ax::ymm7, 0); }},
        {"vcmppd ymm, ymm, mem, GT_OQ", "AVX", [](XGen& g) { g.vcmppd(ymm12, ymm1, g.ptr[rip + 0x40], 0x1E); },
         [](ax::Assembler& a) { a.vcmppd(ax::ymm12, ax::ymm1, ax::ymmword_ptr(ax::rip, 0x40), 0x1E); }},
        {"vcvtpd2dq xmm, ymm", "AVX", [](XGen& g) { g.vcvtpd2dq(xmm10, ymm7); },
         [](ax::Assembler& a) { a.vcvtpd2dq(ax::xmm10, ax::ymm7); }},
        {"vpmovzxdq ymm, xmm", "AVX2", [](XGen& g) { g.vpmovzxdq(ymm10, xmm10); },
         [](ax::Assembler& a) { a.vpmovzxdq(ax::ymm10, ax::xmm10); }},
        {"vblendvpd ymm, ymm, mem, ymm", "AVX", [](XGen& g) { g.vblendvpd(ymm2, ymm2, g.ptr[rax + 0x20], ymm12); },
         [](ax::Assembler& a) { a.vblendvpd(ax::ymm2, ax::ymm2, ax::ymmword_ptr(ax::rax, 0x20), ax::ymm12); }},
        {"vcvtps2pd ymm, mem", "AVX", [](XGen& g) { g.vcvtps2pd(ymm1, g.ptr[r8 + r9 * 4]); },
         [](ax::Assembler& a) { a.vcvtps2pd(ax::ymm1, ax::xmmword_ptr(ax::r8, ax::r9, 2)); }},
        {"vcvtpd2ps xmm, ymm", "AVX", [](XGen& g) { g.vcvtpd2ps(xmm3, ymm3); },
         [](ax::Assembler& a) { a.vcvtpd2ps(ax::xmm3, ax::ymm3); }},
        {"vmaskmovps mem, xmm, xmm", "AVX", [](XGen& g) { g.vmaskmovps(g.ptr[r11], xmm5, xmm2); },
         [](ax::Assembler& a) { a.vmaskmovps(ax::xmmword_ptr(ax::r11), ax::xmm5, ax::xmm2); }},
        {"kmovq k2, mem", "AVX512BW_KOP", [](XGen& g) { g.kmovq(k2, g.ptr[rbx + 0x40]); },
         [](ax::Assembler& a) { a.kmovq(ax::k2, ax::qword_ptr(ax::rbx, 0x40)); }},
        {"kmovw k3, mem", "AVX512F_KOP", [](XGen& g) { g.kmovw(k3, g.word[rbx + 0x40]); },
         [](ax::Assembler& a) { a.kmovw(ax::k3, ax::word_ptr(ax::rbx, 0x40)); }},
        // VEX / EVEX logic forms that must differ by level.
        {"vpxord zmm", "AVX512F_512", [](XGen& g) { g.vpxord(zmm31, zmm31, zmm31); },
         [](ax::Assembler& a) { a.vpxord(ax::zmm31, ax::zmm31, ax::zmm31); }},
        {"vpandd zmm", "AVX512F_512", [](XGen& g) { g.vpandd(zmm29, zmm30, zmm31); },
         [](ax::Assembler& a) { a.vpandd(ax::zmm29, ax::zmm30, ax::zmm31); }},
        {"vextracti64x4 ymm, zmm, 1", "AVX512F_512", [](XGen& g) { g.vextracti64x4(ymm30, zmm3, 1); },
         [](ax::Assembler& a) { a.vextracti64x4(ax::ymm30, ax::zmm3, 1); }},
        {"vpackusdw ymm", "AVX2", [](XGen& g) { g.vpackusdw(ymm13, ymm0, ymm1); },
         [](ax::Assembler& a) { a.vpackusdw(ax::ymm13, ax::ymm0, ax::ymm1); }},
        // Grouped conv (emitters/group_conv): gathers, the VNNI window-sum pattern, the mask reset.
        {"vpgatherdd ymm, [rax+ymm14+disp], ymm15", "AVX2GATHER",
         [](XGen& g) { g.vpgatherdd(ymm12, g.ptr[rax + ymm14 + 0x21], ymm15); },
         [](ax::Assembler& a) { a.vpgatherdd(ax::ymm12, ax::ptr(ax::rax, ax::ymm14, 0, 0x21), ax::ymm15); }},
        {"vpgatherdd zmm{k2}, [rax+zmm2+disp]", "AVX512F_512",
         [](XGen& g) { g.vpgatherdd(zmm0 | k2, g.ptr[rax + zmm2 + 0x21]); },
         [](ax::Assembler& a) { a.k(ax::k2).vpgatherdd(ax::zmm0, ax::ptr(ax::rax, ax::zmm2, 0, 0x21)); }},
        {"kxnorw k2, k2, k2", "AVX512F_KOP", [](XGen& g) { g.kxnorw(k2, k2, k2); },
         [](ax::Assembler& a) { a.kxnorw(ax::k2, ax::k2, ax::k2); }},
        {"vpdpbusd zmm, zmm, m32{1to16}", "AVX512_VNNI_512", [](XGen& g) { g.vpdpbusd(zmm9, zmm0, g.ptr_b[rbx + 0x40]); },
         [](ax::Assembler& a) { a.vpdpbusd(ax::zmm9, ax::zmm0, ax::dword_ptr(ax::rbx, 0x40)._1to16()); }},
        {"vpandd zmm, zmm, m32{1to16}", "AVX512F_512", [](XGen& g) { g.vpandd(zmm0, zmm0, g.ptr_b[rbx + 0x40]); },
         [](ax::Assembler& a) { a.vpandd(ax::zmm0, ax::zmm0, ax::dword_ptr(ax::rbx, 0x40)._1to16()); }},
        {"vpmovzxbd zmm, mem", "AVX512F_512", [](XGen& g) { g.vpmovzxbd(zmm0, g.ptr[rax + 0x30]); },
         [](ax::Assembler& a) { a.vpmovzxbd(ax::zmm0, ax::xmmword_ptr(ax::rax, 0x30)); }},
        {"vpaddd zmm", "AVX512F_512", [](XGen& g) { g.vpaddd(zmm9, zmm9, zmm1); },
         [](ax::Assembler& a) { a.vpaddd(ax::zmm9, ax::zmm9, ax::zmm1); }},
        // Depthwise row-pair form (emitters/group_conv): two rows' bytes interleaved, widened to words.
        {"vmovdqu xmm, m128", "AVX", [](XGen& g) { g.vmovdqu(xmm12, g.ptr[rax + 0x20]); },
         [](ax::Assembler& a) { a.vmovdqu(ax::xmm12, ax::xmmword_ptr(ax::rax, 0x20)); }},
        {"vmovq xmm, m64", "AVX", [](XGen& g) { g.vmovq(xmm13, g.ptr[rax + 0xE40]); },
         [](ax::Assembler& a) { a.vmovq(ax::xmm13, ax::qword_ptr(ax::rax, 0xE40)); }},
        {"vpunpcklbw xmm, xmm, m128", "AVX", [](XGen& g) { g.vpunpcklbw(xmm14, xmm12, g.ptr[rax + 0xE40]); },
         [](ax::Assembler& a) { a.vpunpcklbw(ax::xmm14, ax::xmm12, ax::xmmword_ptr(ax::rax, 0xE40)); }},
        {"vpunpckhbw xmm, xmm, m128", "AVX", [](XGen& g) { g.vpunpckhbw(xmm0, xmm0, g.ptr[rax + 0x10]); },
         [](ax::Assembler& a) { a.vpunpckhbw(ax::xmm0, ax::xmm0, ax::xmmword_ptr(ax::rax, 0x10)); }},
        {"vpunpcklbw xmm, xmm, xmm", "AVX", [](XGen& g) { g.vpunpcklbw(xmm14, xmm12, xmm13); },
         [](ax::Assembler& a) { a.vpunpcklbw(ax::xmm14, ax::xmm12, ax::xmm13); }},
        {"vpmovzxbw ymm, xmm", "AVX2", [](XGen& g) { g.vpmovzxbw(ymm14, xmm14); },
         [](ax::Assembler& a) { a.vpmovzxbw(ax::ymm14, ax::xmm14); }},
        {"vinserti128 ymm, ymm, xmm, 1", "AVX2", [](XGen& g) { g.vinserti128(ymm4, ymm4, xmm0, 1); },
         [](ax::Assembler& a) { a.vinserti128(ax::ymm4, ax::ymm4, ax::xmm0, 1); }},
        {"vpermq ymm, m256, imm", "AVX2", [](XGen& g) { g.vpermq(ymm0, g.ptr[rax + 0xE40], 0xD8); },
         [](ax::Assembler& a) { a.vpermq(ax::ymm0, ax::ymmword_ptr(ax::rax, 0xE40), 0xD8); }},
        {"vpunpcklbw ymm, ymm, ymm", "AVX2", [](XGen& g) { g.vpunpcklbw(ymm4, ymm0, ymm1); },
         [](ax::Assembler& a) { a.vpunpcklbw(ax::ymm4, ax::ymm0, ax::ymm1); }},
        {"vpunpckhbw ymm, ymm, ymm", "AVX2", [](XGen& g) { g.vpunpckhbw(ymm5, ymm0, ymm1); },
         [](ax::Assembler& a) { a.vpunpckhbw(ax::ymm5, ax::ymm0, ax::ymm1); }},
        {"vpmovzxbw zmm, ymm", "AVX512BW_512", [](XGen& g) { g.vpmovzxbw(zmm5, ymm5); },
         [](ax::Assembler& a) { a.vpmovzxbw(ax::zmm5, ax::ymm5); }},
        // Pooling (emitters/pool): byte max under opmasks, byte stores, s32 sums.
        {"vpmaxub zmm{k2}, zmm, mem", "AVX512BW_512", [](XGen& g) { g.vpmaxub(zmm3 | k2, zmm3, g.ptr[rax + 0x80]); },
         [](ax::Assembler& a) { a.k(ax::k2).vpmaxub(ax::zmm3, ax::zmm3, ax::zmmword_ptr(ax::rax, 0x80)); }},
        {"vpmaxub ymm, ymm, mem", "AVX2", [](XGen& g) { g.vpmaxub(ymm3, ymm3, g.ptr[rax + 0x20]); },
         [](ax::Assembler& a) { a.vpmaxub(ax::ymm3, ax::ymm3, ax::ymmword_ptr(ax::rax, 0x20)); }},
        {"vmovdqu8 mem{k3}, zmm", "AVX512BW_512", [](XGen& g) { g.vmovdqu8(g.ptr[r14 + 0x40] | k3, zmm3); },
         [](ax::Assembler& a) { a.k(ax::k3).vmovdqu8(ax::zmmword_ptr(ax::r14, 0x40), ax::zmm3); }},
        {"vmovdqu8 zmm, mem", "AVX512BW_512", [](XGen& g) { g.vmovdqu8(zmm3, g.ptr[rax + 0x40]); },
         [](ax::Assembler& a) { a.vmovdqu8(ax::zmm3, ax::zmmword_ptr(ax::rax, 0x40)); }},
        {"vpmovzxwd ymm, xmm", "AVX2", [](XGen& g) { g.vpmovzxwd(ymm6, xmm0); },
         [](ax::Assembler& a) { a.vpmovzxwd(ax::ymm6, ax::xmm0); }},
        // Eltwise / concat (emitters/eltwise): broadcasts, whole-vector moves.
        {"vbroadcastss zmm, m32", "AVX512F_512", [](XGen& g) { g.vbroadcastss(zmm14, g.dword[rbx + 0x40]); },
         [](ax::Assembler& a) { a.vbroadcastss(ax::zmm14, ax::dword_ptr(ax::rbx, 0x40)); }},
        {"vpbroadcastd zmm, xmm", "AVX512F_512", [](XGen& g) { g.vpbroadcastd(zmm13, xmm13); },
         [](ax::Assembler& a) { a.vpbroadcastd(ax::zmm13, ax::xmm13); }},
        {"vmovdqu32 zmm, mem", "AVX512F_512", [](XGen& g) { g.vmovdqu32(zmm1, g.ptr[rsi + r10 + 0x40]); },
         [](ax::Assembler& a) { a.vmovdqu32(ax::zmm1, ax::zmmword_ptr(ax::rsi, ax::r10, 0, 0x40)); }},
        {"vmovdqu32 mem, zmm", "AVX512F_512", [](XGen& g) { g.vmovdqu32(g.ptr[rdx + r10 + 0x40], zmm1); },
         [](ax::Assembler& a) { a.vmovdqu32(ax::zmmword_ptr(ax::rdx, ax::r10, 0, 0x40), ax::zmm1); }},
        {"vmovdqu8 zmm{k1}{z}, mem", "AVX512BW_512", [](XGen& g) { g.vmovdqu8(zmm0 | k1 | T_z, g.ptr[rsi + 0x40]); },
         [](ax::Assembler& a) { a.k(ax::k1).z().vmovdqu8(ax::zmm0, ax::zmmword_ptr(ax::rsi, 0x40)); }},
        {"kmovq k1, [rip+disp]", "AVX512BW_KOP", [](XGen& g) { g.kmovq(k1, g.ptr[rip + 0x100]); },
         [](ax::Assembler& a) { a.kmovq(ax::k1, ax::qword_ptr(ax::rip, 0x100)); }},
        // fp32 GEMM / pool kernels (emitters/fp32_gemm, fp32_pool): products, sums, the max blend.
        {"vmulps ymm", "AVX", [](XGen& g) { g.vmulps(ymm11, ymm8, ymm10); },
         [](ax::Assembler& a) { a.vmulps(ax::ymm11, ax::ymm8, ax::ymm10); }},
        {"vaddps ymm", "AVX", [](XGen& g) { g.vaddps(ymm7, ymm7, ymm11); },
         [](ax::Assembler& a) { a.vaddps(ax::ymm7, ax::ymm7, ax::ymm11); }},
        {"vmulps zmm", "AVX512F_512", [](XGen& g) { g.vmulps(zmm11, zmm10, zmm9); },
         [](ax::Assembler& a) { a.vmulps(ax::zmm11, ax::zmm10, ax::zmm9); }},
        {"vaddps zmm", "AVX512F_512", [](XGen& g) { g.vaddps(zmm7, zmm7, zmm11); },
         [](ax::Assembler& a) { a.vaddps(ax::zmm7, ax::zmm7, ax::zmm11); }},
        {"vbroadcastss ymm, m32 [base+index*2]", "AVX", [](XGen& g) { g.vbroadcastss(ymm10, g.dword[r8 + r12 * 2]); },
         [](ax::Assembler& a) { a.vbroadcastss(ax::ymm10, ax::dword_ptr(ax::r8, ax::r12, 1)); }},
        {"vbroadcastss zmm, m32 [base+index]", "AVX512F_512", [](XGen& g) { g.vbroadcastss(zmm10, g.dword[r8 + r11]); },
         [](ax::Assembler& a) { a.vbroadcastss(ax::zmm10, ax::dword_ptr(ax::r8, ax::r11)); }},
        {"vmovups mem [rbp+index*2+disp], ymm", "AVX", [](XGen& g) { g.vmovups(g.ptr[rbp + r14 * 2 + 0x20], ymm3); },
         [](ax::Assembler& a) { a.vmovups(ax::ymmword_ptr(ax::rbp, ax::r14, 1, 0x20), ax::ymm3); }},
        {"vmaskmovps mem, ymm, ymm", "AVX", [](XGen& g) { g.vmaskmovps(g.ptr[rbp + r15], ymm12, ymm6); },
         [](ax::Assembler& a) { a.vmaskmovps(ax::ymmword_ptr(ax::rbp, ax::r15), ax::ymm12, ax::ymm6); }},
        // The plan loop's stream prefetch and its shuffle with the perm control held in a register.
        {"prefetcht0 mem", "SSE_PREFETCH", [](XGen& g) { g.prefetcht0(g.ptr[rdx + 0x800]); },
         [](ax::Assembler& a) { a.prefetcht0(ax::byte_ptr(ax::rdx, 0x800)); }},
        {"vpshufb ymm, ymm, ymm", "AVX2", [](XGen& g) { g.vpshufb(ymm15, ymm15, ymm14); },
         [](ax::Assembler& a) { a.vpshufb(ax::ymm15, ax::ymm15, ax::ymm14); }},
        {"vcmpps ymm, ymm, ymm, NLE_UQ", "AVX", [](XGen& g) { g.vcmpps(ymm2, ymm1, ymm0, 0x06); },
         [](ax::Assembler& a) { a.vcmpps(ax::ymm2, ax::ymm1, ax::ymm0, 0x06); }},
        {"vblendvps ymm", "AVX", [](XGen& g) { g.vblendvps(ymm0, ymm0, ymm1, ymm2); },
         [](ax::Assembler& a) { a.vblendvps(ax::ymm0, ax::ymm0, ax::ymm1, ax::ymm2); }},
        {"vandps ymm", "AVX", [](XGen& g) { g.vandps(ymm2, ymm2, ymm3); },
         [](ax::Assembler& a) { a.vandps(ax::ymm2, ax::ymm2, ax::ymm3); }},
        {"vcmpps k2{k3}, zmm, zmm, NLE_UQ", "AVX512F_512", [](XGen& g) { g.vcmpps(k2 | k3, zmm1, zmm0, 0x06); },
         [](ax::Assembler& a) { a.k(ax::k3).vcmpps(ax::k2, ax::zmm1, ax::zmm0, 0x06); }},
        {"vmovaps zmm{k2}, zmm", "AVX512F_512", [](XGen& g) { g.vmovaps(zmm0 | k2, zmm1); },
         [](ax::Assembler& a) { a.k(ax::k2).vmovaps(ax::zmm0, ax::zmm1); }},
        {"vdivps ymm, ymm, mem", "AVX", [](XGen& g) { g.vdivps(ymm0, ymm0, g.ptr[rax + rcx]); },
         [](ax::Assembler& a) { a.vdivps(ax::ymm0, ax::ymm0, ax::ymmword_ptr(ax::rax, ax::rcx)); }},
        {"vdivps zmm, zmm, mem", "AVX512F_512", [](XGen& g) { g.vdivps(zmm0, zmm0, g.ptr[rax + rcx]); },
         [](ax::Assembler& a) { a.vdivps(ax::zmm0, ax::zmm0, ax::zmmword_ptr(ax::rax, ax::rcx)); }},
    };
    int agreed = 0;
    for (const Form& f : forms) {
        const std::vector<uint8_t> x = xbyak_bytes(f.xbyak), a = asmjit_bytes(f.asmjit);
        EXPECT_EQ(hex(x), hex(a)) << f.what << ": Xbyak and asmjit disagree";
        std::vector<qjit::DecodedInsn> d;
        std::string err;
        ASSERT_TRUE(qjit::disassemble(x.data(), x.size(), &d, &err)) << f.what << ": " << err;
        ASSERT_EQ(d.size(), 1u) << f.what;
        EXPECT_EQ(d[0].isa_set, f.isa_set) << f.what << ": " << d[0].text;
        EXPECT_NE(d[0].mnemonic, "vpdpbusds") << f.what;
        if (x == a) ++agreed;
    }
    std::printf("[encoding] %d of %zu instruction forms: Xbyak == asmjit byte for byte\n", agreed, forms.size());
}

} // namespace
