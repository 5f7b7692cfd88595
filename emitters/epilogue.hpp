// The canonical fp32 epilogue of spec §4.2 on 8-lane AVX2 vectors, shared by the emitters: it is
// epilogue_scalar (jit/requant_fold) and avgpool_epilogue_scalar (jit/pool_fold) instruction for
// instruction, so an emitter that feeds it the exact integer sums and the folded constants equals
// Oracle B bit for bit. Internal header (Xbyak types).
//
// Per vector of 8 output channels (a holds the s32 dot product D, fs the fp32 window sum S):
//   a = cvt(D); t = E; [t = fma(fS, N, t)]; a = fma(a, M, t)
//   Levels:    a = min(max(a, 0), L-1) (NaN -> 0); a = cvtps2dq(a) (RNE: the preamble's MXCSR);
//              [a = max(a, k_lo)]; [a = min(a, k_hi)]                     -> s32 levels
//   Threshold: [a = min(max(a, y_lo), y_hi)]; a = (a > il) ? L-1 : 0      -> s32 levels
//   Float:     [a = min(max(a, y_lo), y_hi)]                              -> f32 y
// The caller supplies the operand addresses (constant-pool vectors of its own layout), so the same
// code serves per-channel M (conv) and per-pattern M (AvgPool). An AVX-512 twin needs only the
// register type and the masked compare of the Threshold form changed.
#pragma once
#include <cstdint>
#include <optional>

#include "emitters/generator.hpp"
#include "jit/requant_fold.hpp"

namespace qjit {

class EpilogueAvx2 {
public:
    struct Form {
        EpilogueMode mode = EpilogueMode::Levels;
        bool has_n = false;            // the fma(fS, N, E) term (asymmetric weights)
        bool k_lo = false, k_hi = false; // Levels: integer bounds after rounding
        bool y_bounds = false;         // Threshold / Float: fp32 bounds
    };
    // Operand addresses of one vector; the optional ones must be set when the Form uses them.
    struct Operands {
        Operands(const Xbyak::Address& m_, const Xbyak::Address& e_) : m(m_), e(e_) {}
        Xbyak::Address m, e;
        std::optional<Xbyak::Address> n, k_lo, k_hi, y_lo, y_hi, threshold;
    };

    EpilogueAvx2() = default;
    // Adds the broadcast constants every vector shares (L-1 as f32 and as s32) to g's pool.
    EpilogueAvx2(Generator& g, const Form& form, float v_max, int out_levels);

    const Form& form() const { return form_; }
    bool stores_levels() const { return form_.mode != EpilogueMode::Float; }

    // Zeroes `zero` when the form needs it (Levels); call once before a run of apply().
    void prepare(Generator& g, const Xbyak::Ymm& zero) const;
    // a: s32 D in, result out (s32 levels or f32 y). fs: the fp32 S broadcast or per lane (read only
    // when has_n). t: scratch. zero: as set by prepare(). None of them may alias each other.
    void apply(Generator& g, const Xbyak::Ymm& a, const Xbyak::Ymm& fs, const Operands& op, const Xbyak::Ymm& zero,
               const Xbyak::Ymm& t) const;

private:
    Form form_;
    int off_vmax_ = -1, off_lm1_ = -1;
};

// Packs `n` vectors of s32 levels in [0, 255] (channels 8i..8i+7 in vector i) to bytes and stores
// the 8n bytes in channel order at ptr[base + disp]. t and u are scratch (distinct from the vectors).
void store_levels_avx2(Generator& g, const Xbyak::Ymm* v, int n, const Xbyak::RegExp& base, int disp,
                       const Xbyak::Ymm& t, const Xbyak::Ymm& u);

// Writes `bytes` (a multiple of 8) zero bytes at ptr[base + disp]; z is a scratch register.
void store_zeros_avx2(Generator& g, const Xbyak::RegExp& base, int disp, int64_t bytes, const Xbyak::Ymm& z);

} // namespace qjit
