// What an emitter template needs to know about its ISA level, and the handful of vector operations
// whose encoding differs between the VEX (ymm, 16 registers) and EVEX (zmm, 32 registers) levels.
// Internal header (Xbyak types).
//
// One emitter source serves every level: write it as `template <Isa I>` over `IsaTraits<I>` and call
// `VecOps<I>` where an instruction has no form valid on both (vpxor vs vpxord, vpand vs vpandd,
// vmovdqu vs vmovdqu32, vextracti128 vs vextracti64x4/32x4). Everything else (vpaddd, vpmaddwd,
// vpsadbw, vfmadd231ps, vcvtps2dq, vmaxps, ...) is spelled the same for Ymm and Zmm; Xbyak picks VEX
// for ymm0-15 and EVEX for zmm / register 16-31 operands. Rules kept by every level:
//   * avx2, avx2_vnni: VEX only (the instruction audit rejects any EVEX byte); avx2_vnni's vpdpbusd
//     is the VEX (AVX-VNNI) form, passed Xbyak::VexEncoding explicitly.
//   * avx512_core, avx512_core_vnni: zmm, opmask tails, {rn-sae} on vcvtps2dq, embedded broadcast of
//     scalar pool constants; never the VEX vpdpbusd (Ice/Tiger Lake lack AVX-VNNI).
//   * never vpdpbusds (saturating), vrcp*/vrsqrt* (spec §4.5).
#pragma once
#include <string>
#include <type_traits>

#include <xbyak/xbyak.h>

#include "emitters/generator.hpp"
#include "qjit/error.hpp"
#include "qjit/qjit.hpp"

namespace qjit {

template <Isa I> struct IsaTraits;

template <> struct IsaTraits<Isa::avx2> {
    using Vmm = Xbyak::Ymm;
    static constexpr int lanes = 8, vlen = 32, n_vregs = 16;
    static constexpr bool evex = false, vnni = false;
};
template <> struct IsaTraits<Isa::avx2_vnni> {
    using Vmm = Xbyak::Ymm;
    static constexpr int lanes = 8, vlen = 32, n_vregs = 16;
    static constexpr bool evex = false, vnni = true;
};
template <> struct IsaTraits<Isa::avx512_core> {
    using Vmm = Xbyak::Zmm;
    static constexpr int lanes = 16, vlen = 64, n_vregs = 32;
    static constexpr bool evex = true, vnni = false;
};
template <> struct IsaTraits<Isa::avx512_core_vnni> {
    using Vmm = Xbyak::Zmm;
    static constexpr int lanes = 16, vlen = 64, n_vregs = 32;
    static constexpr bool evex = true, vnni = true;
};

// Calls f(std::integral_constant<Isa, I>{}) for the level `isa` (one of the four the emitters
// generate); any other throws Error(InvalidArgument) at `node`. Each emitter's entry point dispatches
// its `template <Isa I>` builder through this.
template <class F> auto dispatch_isa(Isa isa, const std::string& node, const char* emitter, F&& f) {
    switch (isa) {
    case Isa::avx2: return f(std::integral_constant<Isa, Isa::avx2>{});
    case Isa::avx2_vnni: return f(std::integral_constant<Isa, Isa::avx2_vnni>{});
    case Isa::avx512_core: return f(std::integral_constant<Isa, Isa::avx512_core>{});
    case Isa::avx512_core_vnni: return f(std::integral_constant<Isa, Isa::avx512_core_vnni>{});
    default: break;
    }
    throw Error(ErrorCode::InvalidArgument, node, std::string(emitter) + " emitter needs a concrete ISA level, not " +
                                                      to_string(isa));
}

// f32 / s32 lanes per vector of level `isa` (8 or 16).
constexpr int isa_lanes(Isa isa) { return isa == Isa::avx512_core || isa == Isa::avx512_core_vnni ? 16 : 8; }

template <Isa I> struct VecOps {
    using T = IsaTraits<I>;
    using Vmm = typename T::Vmm;

    static void zero(Generator& g, const Vmm& v) {
        if constexpr (T::evex) g.vpxord(v, v, v);
        else g.vpxor(v, v, v);
    }
    static void vand(Generator& g, const Vmm& d, const Vmm& a, const Xbyak::Operand& b) {
        if constexpr (T::evex) g.vpandd(d, a, b);
        else g.vpand(d, a, b);
    }
    // Unaligned integer load / store of a whole vector.
    static void loadu(Generator& g, const Vmm& v, const Xbyak::Address& a) {
        if constexpr (T::evex) g.vmovdqu32(v, a);
        else g.vmovdqu(v, a);
    }
    static void storeu(Generator& g, const Xbyak::Address& a, const Vmm& v) {
        if constexpr (T::evex) g.vmovdqu32(a, v);
        else g.vmovdqu(a, v);
    }
    // Stores `bytes` (a multiple of 8; of 16 on EVEX levels) zero bytes at `at` + [0, bytes) with the
    // zeroed register z (any index).
    static void store_zeros(Generator& g, const Xbyak::RegExp& at, int64_t bytes, const Vmm& z) {
        const int idx = z.getIdx();
        int64_t o = 0;
        if constexpr (T::evex) {
            for (; o + 64 <= bytes; o += 64) g.vmovdqu32(g.ptr[at + static_cast<int>(o)], Xbyak::Zmm(idx));
            if (o + 32 <= bytes) g.vmovdqu32(g.ptr[at + static_cast<int>(o)], Xbyak::Ymm(idx)), o += 32;
            if (o + 16 <= bytes) g.vmovdqu32(g.ptr[at + static_cast<int>(o)], Xbyak::Xmm(idx)), o += 16;
            if (o + 8 <= bytes) g.vmovq(g.ptr[at + static_cast<int>(o)], Xbyak::Xmm(idx));
        } else {
            for (; o + 32 <= bytes; o += 32) g.vmovdqu(g.ptr[at + static_cast<int>(o)], Xbyak::Ymm(idx));
            if (o + 16 <= bytes) g.vmovdqu(g.ptr[at + static_cast<int>(o)], Xbyak::Xmm(idx)), o += 16;
            if (o + 8 <= bytes) g.vmovq(g.ptr[at + static_cast<int>(o)], Xbyak::Xmm(idx));
        }
    }
    // Adds the 64-bit lanes of s (a vector of qword sums) into the low qword of Xmm(s); t is scratch.
    static void hadd_q(Generator& g, const Vmm& s, const Vmm& t) {
        const Xbyak::Xmm sx(s.getIdx()), tx(t.getIdx());
        if constexpr (T::evex) {
            const Xbyak::Ymm sy(s.getIdx()), ty(t.getIdx());
            g.vextracti64x4(ty, s, 1);
            g.vpaddq(sy, sy, ty);
            g.vextracti32x4(tx, sy, 1);
        } else {
            g.vextracti128(tx, s, 1);
        }
        g.vpaddq(sx, sx, tx);
        g.vpshufd(tx, sx, 0x4E);
        g.vpaddq(sx, sx, tx);
    }
    // f32 -> s32 with round to nearest even: {rn-sae} on EVEX levels, else the preamble's MXCSR.
    static void cvt_rne(Generator& g, const Vmm& d, const Vmm& s) {
        if constexpr (T::evex) g.vcvtps2dq(d, s | Xbyak::util::T_rn_sae);
        else g.vcvtps2dq(d, s);
    }
};

} // namespace qjit
