// The element loop shared by the fp32 stream kernels (fp32_eltwise, fp32_fake_quantize): whole
// vectors while the count in rcx holds at least one, then one masked vector for the rest. Internal
// header (Xbyak types).
//
// Registers it owns: rcx (count, consumed), rax (scratch of the tail mask), k1 on EVEX levels, vector
// `mask` on VEX levels (the tail's lane mask for vmaskmovps). Also the tail mask and the compare + blend
// the fp32 kernels share.
#pragma once
#include <cstdint>
#include <vector>

#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"

namespace qjit {

// k1 (EVEX levels) or vector register `mask` (VEX levels) <- lanes [0, rcx), for 0 <= rcx < lanes.
// Clobbers rcx, rax and `base` (the pool base on VEX levels).
template <Isa I> void emit_tail_mask(Generator& g, int mask, const Xbyak::Reg64& base) {
    using namespace Xbyak::util;
    if constexpr (IsaTraits<I>::evex) {
        g.mov(eax, 1);
        g.shl(eax, cl);
        g.dec(eax);
        g.kmovw(k1, eax);
    } else {
        std::vector<int32_t> t(16, 0);
        for (int i = 0; i < 8; ++i) t[static_cast<size_t>(i)] = -1;
        const int table = g.pool_i32(t);
        g.load_pool_base(base);
        g.neg(rcx); // lanes i < n: the table's dwords [8 - n, 16 - n)
        g.vmovups(Xbyak::Ymm(mask), g.ptr[base + rcx * 4 + (table + 32)]);
    }
}

// dst <- x pred y ? src : dst, lane by lane: vcmpps into k2 (EVEX levels) or vector register `tmp`
// (VEX levels), then a masked move or vblendvps. The reference's ternaries, NaN included.
template <Isa I, class Vmm>
void blend_where(Generator& g, const Vmm& dst, const Vmm& x, const Vmm& y, uint8_t pred, const Vmm& src, int tmp) {
    if constexpr (IsaTraits<I>::evex) {
        g.vcmpps(Xbyak::util::k2, x, y, pred);
        g.vmovaps(dst | Xbyak::util::k2, src);
    } else {
        g.vcmpps(Vmm(tmp), x, y, pred);
        g.vblendvps(dst, dst, src, Vmm(tmp));
    }
}

template <Isa I> struct Fp32Stream {
    using T = IsaTraits<I>;
    using Vmm = typename T::Vmm;

    explicit Fp32Stream(int mask) : mask_(mask) {}

    // body(tail) emits the load, compute and store of one vector (load()/store() below take the same
    // flag); advance() moves the pointers by one vector.
    template <class Body, class Advance> void emit(Generator& g, Body body, Advance advance) const {
        using Xbyak::CodeGenerator;
        using namespace Xbyak::util;
        Xbyak::Label loop, tail, done;
        g.L(loop);
        g.cmp(rcx, T::lanes);
        g.jl(tail, CodeGenerator::T_NEAR);
        body(false);
        advance();
        g.sub(rcx, T::lanes);
        g.jmp(loop, CodeGenerator::T_NEAR);

        g.L(tail);
        g.test(rcx, rcx);
        g.jz(done, CodeGenerator::T_NEAR);
        emit_tail_mask<I>(g, mask_, rax);
        body(true);
        g.L(done);
    }

    // dst <- the vector at a; on the tail, lanes past the count read as +0 and touch no memory.
    void load(Generator& g, const Vmm& dst, const Xbyak::Address& a, bool tail) const {
        if (!tail) g.vmovups(dst, a);
        else if constexpr (T::evex) g.vmovups(dst | Xbyak::util::k1 | Xbyak::util::T_z, a);
        else g.vmaskmovps(dst, Vmm(mask_), a);
    }
    void store(Generator& g, const Xbyak::Address& a, const Vmm& src, bool tail) const {
        if (!tail) g.vmovups(a, src);
        else if constexpr (T::evex) g.vmovups(a | Xbyak::util::k1, src);
        else g.vmaskmovps(a, Vmm(mask_), src);
    }

private:
    int mask_;
};

} // namespace qjit
