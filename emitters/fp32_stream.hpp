// The element loop shared by the fp32 stream kernels (fp32_eltwise, fp32_fake_quantize): whole
// vectors while the count in rcx holds at least one, then one masked vector for the rest. Internal
// header (Xbyak types).
//
// Registers it owns: rcx (count, consumed), rax and r9 (scratch of the tail mask), k1 on EVEX levels,
// vector `mask` on VEX levels (the tail's lane mask for vmaskmovps).
#pragma once
#include <cstdint>
#include <vector>

#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"

namespace qjit {

template <Isa I> struct Fp32Stream {
    using T = IsaTraits<I>;
    using Vmm = typename T::Vmm;

    explicit Fp32Stream(int mask) : mask_(mask) {}

    // Reserves the VEX tail-mask table in the pool; call once before emit().
    void prepare(Generator& g) {
        if constexpr (!T::evex) {
            std::vector<int32_t> t(16, 0);
            for (int i = 0; i < 8; ++i) t[static_cast<size_t>(i)] = -1;
            table_ = g.pool_i32(t);
        }
    }

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
        if constexpr (T::evex) {
            g.mov(eax, 1);
            g.shl(eax, cl);
            g.dec(eax);
            g.kmovw(k1, eax);
        } else {
            // lanes i < n: the table's dwords [8 - n, 16 - n)
            g.load_pool_base(rax);
            g.mov(r9, rcx);
            g.neg(r9);
            g.vmovups(Vmm(mask_), g.ptr[rax + r9 * 4 + (table_ + 32)]);
        }
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
    int table_ = -1;
};

} // namespace qjit
