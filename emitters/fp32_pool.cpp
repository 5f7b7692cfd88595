#include "emitters/fp32_pool.hpp"

#include <vector>

#include "emitters/fp32_stream.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "qjit/error.hpp"

namespace qjit {

std::string fp32_pool_kernel_name(bool max, Isa isa) {
    return std::string(max ? "fp32_maxpool__" : "fp32_avgpool__") + to_string(isa);
}

namespace {

using namespace Xbyak;
using namespace Xbyak::util;

constexpr uint8_t kNleUq = 0x06, kOrdQ = 0x07;

// Registers: rdi args, rcx column byte offset, rsi columns left, r8 row cursor, r10 rows left,
// r11 ldb, rdx c, rax div / scratch. v0 result, v1 row, v2-v3 compare masks (VEX), v5 tail mask
// (VEX; k1 on EVEX).
template <Isa I> class Fp32PoolEmitter {
    using T = IsaTraits<I>;
    using Vmm = typename T::Vmm;

public:
    explicit Fp32PoolEmitter(bool max) : max_(max) {}

    void operator()(Generator& g) const {
        g.preamble({});
        g.mov(r11, g.ptr[rdi + 40]);
        g.mov(rcx, g.ptr[rdi + 32]);
        g.and_(ecx, T::lanes - 1);
        emit_tail_mask<I>(g, 5, rax);
        Label full, tail, done;
        g.mov(rsi, g.ptr[rdi + 32]);
        g.xor_(ecx, ecx);
        g.L(full);
        g.cmp(rsi, T::lanes);
        g.jl(tail, CodeGenerator::T_NEAR);
        column(g, false);
        g.add(rcx, T::vlen);
        g.sub(rsi, T::lanes);
        g.jmp(full, CodeGenerator::T_NEAR);
        g.L(tail);
        g.test(rsi, rsi);
        g.jz(done, CodeGenerator::T_NEAR);
        column(g, true);
        g.L(done);
        g.postamble();
    }

private:
    static Vmm v(int i) { return Vmm(i); }

    void column(Generator& g, bool masked) const {
        Label rows, store;
        g.mov(r8, g.ptr[rdi]);
        g.add(r8, rcx);
        g.mov(r10, g.ptr[rdi + 24]);
        if (max_) {
            g.vmovups(v(0), g.ptr[r8]); // k >= 1 (every window has a tap)
            g.add(r8, r11);
            g.dec(r10);
        } else {
            VecOps<I>::zero(g, v(0));
        }
        g.test(r10, r10);
        g.jz(store, CodeGenerator::T_NEAR);
        g.L(rows);
        g.vmovups(v(1), g.ptr[r8]);
        if (!max_) {
            g.vaddps(v(0), v(0), v(1));
        } else if constexpr (T::evex) {
            g.vcmpps(k3, v(0), v(0), kOrdQ);
            g.vcmpps(k2 | k3, v(1), v(0), kNleUq);
            g.vmovaps(v(0) | k2, v(1));
        } else {
            g.vcmpps(v(2), v(1), v(0), kNleUq);
            g.vcmpps(v(3), v(0), v(0), kOrdQ);
            g.vandps(v(2), v(2), v(3));
            g.vblendvps(v(0), v(0), v(1), v(2));
        }
        g.add(r8, r11);
        g.dec(r10);
        g.jnz(rows, CodeGenerator::T_NEAR);
        g.L(store);
        if (!max_) {
            g.mov(rax, g.ptr[rdi + 8]);
            g.vdivps(v(0), v(0), g.ptr[rax + rcx]);
        }
        g.mov(rdx, g.ptr[rdi + 16]);
        const Address at = g.ptr[rdx + rcx];
        if (!masked) g.vmovups(at, v(0));
        else if constexpr (T::evex) g.vmovups(at | k1, v(0));
        else g.vmaskmovps(at, v(5), v(0));
    }

    bool max_;
};

template <Isa I> std::unique_ptr<JitKernel> build(bool max) {
    const Fp32PoolEmitter<I> e(max);
    auto k = build_kernel(fp32_pool_kernel_name(max, I), 4096, [&](Generator& g) { e(g); });
    k->constants = 0;
    return k;
}

} // namespace

std::unique_ptr<JitKernel> emit_fp32_pool(Isa isa, bool max) {
    return dispatch_isa(isa, "<fp32_pool>", "fp32 pool", [&](auto i) { return build<decltype(i)::value>(max); });
}

} // namespace qjit
