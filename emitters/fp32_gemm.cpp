#include "emitters/fp32_gemm.hpp"

#include <vector>

#include "emitters/fp32_stream.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "qjit/error.hpp"

namespace qjit {

int fp32_gemm_lanes(Isa isa) { return isa_lanes(isa); }

std::string fp32_gemm_kernel_name(const Fp32GemmDesc& d, Isa isa) {
    return std::string("fp32_gemm_") + (d.a_first ? "ab" : "ba") + "__" + to_string(isa);
}

namespace {

using namespace Xbyak;
using namespace Xbyak::util;

constexpr int kRows = 4; // rows of A per register tile

// Registers: rdi args, rcx column byte offset, rsi columns left, rdx rows left, rax A row,
// rbp C row, r8 A cursor, r9 B cursor, r10 k left, r11 3*lda, r12 lda, r13 ldb, r14 ldc,
// r15 3*ldc, rbx scratch. Vectors: v0-v7 accumulators (row r, vector j: r*2+j), v8-v9 B,
// v10 broadcast A, v11 product, v12 tail mask (VEX; k1 on EVEX).
template <Isa I> class Fp32GemmEmitter {
    using T = IsaTraits<I>;
    using Vmm = typename T::Vmm;

public:
    explicit Fp32GemmEmitter(const Fp32GemmDesc& d) : d_(d) {}

    void operator()(Generator& g) const {
        g.preamble({rbx, rbp, r12, r13, r14, r15});
        g.mov(r12, g.ptr[rdi + 48]);
        g.mov(r13, g.ptr[rdi + 56]);
        g.mov(r14, g.ptr[rdi + 64]);
        g.lea(r11, g.ptr[r12 + r12 * 2]);
        g.lea(r15, g.ptr[r14 + r14 * 2]);
        tail_mask(g);
        Label v2, v1, tail, done;
        g.mov(rsi, g.ptr[rdi + 40]);
        g.xor_(ecx, ecx);
        g.L(v2);
        g.cmp(rsi, 2 * T::lanes);
        g.jl(v1, CodeGenerator::T_NEAR);
        rows(g, 2, false);
        g.add(rcx, 2 * T::vlen);
        g.sub(rsi, 2 * T::lanes);
        g.jmp(v2, CodeGenerator::T_NEAR);
        g.L(v1);
        g.cmp(rsi, T::lanes);
        g.jl(tail, CodeGenerator::T_NEAR);
        rows(g, 1, false);
        g.add(rcx, T::vlen);
        g.sub(rsi, T::lanes);
        g.L(tail);
        g.test(rsi, rsi);
        g.jz(done, CodeGenerator::T_NEAR);
        rows(g, 1, true);
        g.L(done);
        g.postamble();
    }

private:
    static Vmm v(int i) { return Vmm(i); }

    // Lanes [0, ncols mod lanes) of the last vector: v12 (VEX) or k1 (EVEX).
    void tail_mask(Generator& g) const {
        g.mov(rcx, g.ptr[rdi + 40]);
        g.and_(ecx, T::lanes - 1);
        emit_tail_mask<I>(g, 12, rbx);
    }

    // Every row of A for the column block at rcx: 4-row tiles, then single rows.
    void rows(Generator& g, int vecs, bool masked) const {
        Label r4, r1, end;
        g.mov(rdx, g.ptr[rdi + 24]);
        g.mov(rax, g.ptr[rdi]);
        g.mov(rbp, g.ptr[rdi + 16]);
        g.add(rbp, rcx);
        g.L(r4);
        g.cmp(rdx, kRows);
        g.jl(r1, CodeGenerator::T_NEAR);
        tile(g, kRows, vecs, masked);
        g.lea(rax, g.ptr[rax + r12 * 4]);
        g.lea(rbp, g.ptr[rbp + r14 * 4]);
        g.sub(rdx, kRows);
        g.jmp(r4, CodeGenerator::T_NEAR);
        g.L(r1);
        g.test(rdx, rdx);
        g.jz(end, CodeGenerator::T_NEAR);
        tile(g, 1, vecs, masked);
        g.add(rax, r12);
        g.add(rbp, r14);
        g.dec(rdx);
        g.jmp(r1, CodeGenerator::T_NEAR);
        g.L(end);
    }

    // rows x vecs outputs: acc = +0, then for k = 0..K-1: acc = acc + (a * b).
    void tile(Generator& g, int nrows, int vecs, bool masked) const {
        for (int r = 0; r < nrows; ++r)
            for (int j = 0; j < vecs; ++j) VecOps<I>::zero(g, v(r * 2 + j));
        Label kloop, store;
        g.mov(r8, rax);
        g.mov(r9, g.ptr[rdi + 8]);
        g.add(r9, rcx);
        g.mov(r10, g.ptr[rdi + 32]);
        g.test(r10, r10);
        g.jz(store, CodeGenerator::T_NEAR);
        g.L(kloop);
        for (int j = 0; j < vecs; ++j) g.vmovups(v(8 + j), g.ptr[r9 + j * T::vlen]);
        for (int r = 0; r < nrows; ++r) {
            g.vbroadcastss(v(10), a_elem(g, r));
            for (int j = 0; j < vecs; ++j) {
                if (d_.a_first) g.vmulps(v(11), v(10), v(8 + j));
                else g.vmulps(v(11), v(8 + j), v(10));
                g.vaddps(v(r * 2 + j), v(r * 2 + j), v(11));
            }
        }
        g.add(r8, 4);
        g.add(r9, r13);
        g.dec(r10);
        g.jnz(kloop, CodeGenerator::T_NEAR);
        g.L(store);
        for (int r = 0; r < nrows; ++r)
            for (int j = 0; j < vecs; ++j) {
                const Address at = c_row(g, r, j * T::vlen);
                if (!masked) g.vmovups(at, v(r * 2 + j));
                else if constexpr (T::evex) g.vmovups(at | k1, v(r * 2 + j));
                else g.vmaskmovps(at, v(12), v(r * 2 + j));
            }
    }

    static Address a_elem(Generator& g, int r) {
        switch (r) {
        case 0: return g.dword[r8];
        case 1: return g.dword[r8 + r12];
        case 2: return g.dword[r8 + r12 * 2];
        default: return g.dword[r8 + r11];
        }
    }
    static Address c_row(Generator& g, int r, int off) {
        switch (r) {
        case 0: return g.ptr[rbp + off];
        case 1: return g.ptr[rbp + r14 + off];
        case 2: return g.ptr[rbp + r14 * 2 + off];
        default: return g.ptr[rbp + r15 + off];
        }
    }

    Fp32GemmDesc d_;
};

template <Isa I> std::unique_ptr<JitKernel> build(const Fp32GemmDesc& d) {
    const Fp32GemmEmitter<I> e(d);
    auto k = build_kernel(fp32_gemm_kernel_name(d, I), 8192, [&](Generator& g) { e(g); });
    k->constants = 0;
    return k;
}

} // namespace

std::unique_ptr<JitKernel> emit_fp32_gemm(Isa isa, const Fp32GemmDesc& d) {
    return dispatch_isa(isa, "<fp32_gemm>", "fp32 gemm", [&](auto i) { return build<decltype(i)::value>(d); });
}

} // namespace qjit
