#include "emitters/epilogue.hpp"

#include <vector>

#include "qjit/error.hpp"

namespace qjit {

using namespace Xbyak;

template <Isa I>
Epilogue<I>::Epilogue(Generator& g, const Form& form, float v_max, int out_levels, const Reg64& pool_base)
    : form_(form), base_idx_(pool_base.getIdx()) {
    if (form.mode == EpilogueMode::Levels) off_vmax_ = g.pool_f32(std::vector<float>(8, v_max));
    if (form.mode == EpilogueMode::Levels && form.v_min != 0.0f) off_vmin_ = g.pool_f32(std::vector<float>(8, form.v_min));
    if (form.mode == EpilogueMode::Threshold || (form.mode == EpilogueMode::Levels && form.k_off)) off_lm1_ = g.pool_i32(std::vector<int32_t>(8, out_levels - 1));
}

// A pool constant as a whole vector (VEX: the entry is 8 copies) or an embedded broadcast (EVEX).
template <Isa I> Address Epilogue<I>::bcast(Generator& g, int off) const {
    if constexpr (IsaTraits<I>::evex) return g.ptr_b[Reg64(base_idx_) + off];
    else return g.ptr[Reg64(base_idx_) + off];
}

template <Isa I> void Epilogue<I>::prepare(Generator& g, const Vmm& zero) const {
    if (form_.mode == EpilogueMode::Levels) VecOps<I>::zero(g, zero);
}

template <Isa I>
void Epilogue<I>::apply(Generator& g, const Vmm& a, const Vmm& fs, const Operands& op, const Vmm& zero,
                        const Vmm& t) const {
    auto need = [](const std::optional<Address>& x) -> const Address& {
        if (!x) throw Error(ErrorCode::Internal, "<epilogue>", "an operand the epilogue form uses is missing");
        return *x;
    };
    g.vcvtdq2ps(a, a);
    g.vmovups(t, op.e);
    if (form_.has_n) g.vfmadd231ps(t, fs, need(op.n)); // t = fma(fS, N, E)
    g.vfmadd132ps(a, t, op.m);                         // a = fma(f, M, t)
    if (form_.mode == EpilogueMode::Levels) {
        if (off_vmin_ >= 0) g.vmaxps(a, a, bcast(g, off_vmin_)); // NaN -> v_min (second source)
        else g.vmaxps(a, a, zero);                                 // NaN -> 0
        g.vminps(a, a, bcast(g, off_vmax_));
        VecOps<I>::cvt_rne(g, a, a);
        if (form_.k_off) {
            g.vpaddd(a, a, need(op.k_off));
            g.vpmaxsd(a, a, zero);
            g.vpminsd(a, a, bcast(g, off_lm1_));
        }
        if (form_.k_lo) g.vpmaxsd(a, a, need(op.k_lo));
        if (form_.k_hi) g.vpminsd(a, a, need(op.k_hi));
        return;
    }
    if (form_.y_bounds) {
        g.vmaxps(a, a, need(op.y_lo));
        g.vminps(a, a, need(op.y_hi));
    }
    if (form_.mode == EpilogueMode::Threshold) {
        if constexpr (IsaTraits<I>::evex) {
            g.vcmpps(Xbyak::util::k1, a, need(op.threshold), 0x1E); // GT_OQ: NaN -> false
            g.vpbroadcastd(a | Xbyak::util::k1 | Xbyak::util::T_z, g.ptr[Reg64(base_idx_) + off_lm1_]);
        } else {
            g.vcmpps(a, a, need(op.threshold), 0x1E); // GT_OQ: NaN -> false
            g.vpand(a, a, bcast(g, off_lm1_));
        }
    }
}

template <Isa I>
void store_levels(Generator& g, const typename IsaTraits<I>::Vmm* v, int n, const RegExp& base, int disp,
                  const typename IsaTraits<I>::Vmm& t, const typename IsaTraits<I>::Vmm& u) {
    constexpr int L = IsaTraits<I>::lanes;
    if constexpr (IsaTraits<I>::evex) {
        (void)t, (void)u;
        for (int i = 0; i < n; ++i) g.vpmovusdb(g.ptr[base + disp + i * L], v[i]); // levels are in [0, 255]
    } else {
        const Xmm tx(t.getIdx()), ux(u.getIdx());
        int i = 0;
        for (; i + 1 < n; i += 2) {
            g.vpackusdw(t, v[i], v[i + 1]); // words: a0-3 b0-3 | a4-7 b4-7
            g.vextracti128(ux, t, 1);
            g.vpackuswb(tx, tx, ux);        // bytes: a0-3 b0-3 a4-7 b4-7
            g.vpshufd(tx, tx, 0xD8);        // a0-7 b0-7
            g.vmovdqu(g.ptr[base + disp + i * L], tx);
        }
        if (i < n) {
            g.vextracti128(ux, v[i], 1);
            g.vpackusdw(tx, Xmm(v[i].getIdx()), ux);
            g.vpackuswb(tx, tx, tx);
            g.vmovq(g.ptr[base + disp + i * L], tx);
        }
    }
}

template <Isa I>
void store_zeros(Generator& g, const RegExp& base, int disp, int64_t bytes, const typename IsaTraits<I>::Vmm& z) {
    if (bytes <= 0) return;
    VecOps<I>::zero(g, z);
    VecOps<I>::store_zeros(g, base + disp, bytes, z);
}

#define QJIT_EPILOGUE_AT(I)                                                                                    \
    template class Epilogue<I>;                                                                                \
    template void store_levels<I>(Generator&, const IsaTraits<I>::Vmm*, int, const RegExp&, int,               \
                                  const IsaTraits<I>::Vmm&, const IsaTraits<I>::Vmm&);                         \
    template void store_zeros<I>(Generator&, const RegExp&, int, int64_t, const IsaTraits<I>::Vmm&);
QJIT_EPILOGUE_AT(Isa::avx2)
QJIT_EPILOGUE_AT(Isa::avx2_vnni)
QJIT_EPILOGUE_AT(Isa::avx512_core)
QJIT_EPILOGUE_AT(Isa::avx512_core_vnni)
#undef QJIT_EPILOGUE_AT

} // namespace qjit
