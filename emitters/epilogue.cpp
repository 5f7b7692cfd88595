#include "emitters/epilogue_avx2.hpp"

#include <vector>

#include "qjit/error.hpp"

namespace qjit {

using namespace Xbyak;

EpilogueAvx2::EpilogueAvx2(Generator& g, const Form& form, float v_max, int out_levels) : form_(form) {
    if (form.mode == EpilogueMode::Levels) off_vmax_ = g.pool_f32(std::vector<float>(8, v_max));
    if (form.mode == EpilogueMode::Threshold) off_lm1_ = g.pool_i32(std::vector<int32_t>(8, out_levels - 1));
}

void EpilogueAvx2::prepare(Generator& g, const Ymm& zero) const {
    if (form_.mode == EpilogueMode::Levels) g.vpxor(zero, zero, zero);
}

void EpilogueAvx2::apply(Generator& g, const Ymm& a, const Ymm& fs, const Operands& op, const Ymm& zero,
                         const Ymm& t) const {
    auto need = [](const std::optional<Address>& x) -> const Address& {
        if (!x) throw Error(ErrorCode::Internal, "<epilogue_avx2>", "an operand the epilogue form uses is missing");
        return *x;
    };
    g.vcvtdq2ps(a, a);
    g.vmovups(t, op.e);
    if (form_.has_n) g.vfmadd231ps(t, fs, need(op.n)); // t = fma(fS, N, E)
    g.vfmadd132ps(a, t, op.m);                         // a = fma(f, M, t)
    if (form_.mode == EpilogueMode::Levels) {
        g.vmaxps(a, a, zero); // NaN -> 0 (second source)
        g.vminps(a, a, g.pool(off_vmax_));
        g.vcvtps2dq(a, a); // RNE under the preamble's MXCSR
        if (form_.k_lo) g.vpmaxsd(a, a, need(op.k_lo));
        if (form_.k_hi) g.vpminsd(a, a, need(op.k_hi));
        return;
    }
    if (form_.y_bounds) {
        g.vmaxps(a, a, need(op.y_lo));
        g.vminps(a, a, need(op.y_hi));
    }
    if (form_.mode == EpilogueMode::Threshold) {
        g.vcmpps(a, a, need(op.threshold), 0x1E); // GT_OQ: NaN -> false
        g.vpand(a, a, g.pool(off_lm1_));
    }
}

void store_levels_avx2(Generator& g, const Ymm* v, int n, const RegExp& base, int disp, const Ymm& t, const Ymm& u) {
    const Xmm tx(t.getIdx()), ux(u.getIdx());
    int i = 0;
    for (; i + 1 < n; i += 2) {
        g.vpackusdw(t, v[i], v[i + 1]); // words: a0-3 b0-3 | a4-7 b4-7
        g.vextracti128(ux, t, 1);
        g.vpackuswb(tx, tx, ux);        // bytes: a0-3 b0-3 a4-7 b4-7
        g.vpshufd(tx, tx, 0xD8);        // a0-7 b0-7
        g.vmovdqu(g.ptr[base + disp + i * 8], tx);
    }
    if (i < n) {
        g.vextracti128(ux, v[i], 1);
        g.vpackusdw(tx, Xmm(v[i].getIdx()), ux);
        g.vpackuswb(tx, tx, tx);
        g.vmovq(g.ptr[base + disp + i * 8], tx);
    }
}

void store_zeros_avx2(Generator& g, const RegExp& base, int disp, int64_t bytes, const Ymm& z) {
    if (bytes <= 0) return;
    g.vpxor(z, z, z);
    int64_t o = 0;
    for (; o + 32 <= bytes; o += 32) g.vmovdqu(g.ptr[base + disp + static_cast<int>(o)], z);
    if (o + 16 <= bytes) g.vmovdqu(g.ptr[base + disp + static_cast<int>(o)], Xmm(z.getIdx())), o += 16;
    if (o + 8 <= bytes) g.vmovq(g.ptr[base + disp + static_cast<int>(o)], Xmm(z.getIdx()));
}

} // namespace qjit
