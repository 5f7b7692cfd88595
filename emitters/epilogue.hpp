// The canonical fp32 epilogue of spec §4.2 on one vector of channels, shared by the grouped-conv and
// pooling emitters at every ISA level: it is epilogue_scalar (jit/requant_fold) and
// avgpool_epilogue_scalar (jit/pool_fold) instruction for instruction, so an emitter that feeds it
// the exact integer sums and the folded constants equals Oracle B bit for bit. Internal header.
//
// Per vector of IsaTraits<I>::lanes output channels (a holds the s32 dot product D, fs the fp32 S):
//   a = cvt(D); t = E; [t = fma(fS, N, t)]; a = fma(a, M, t)
//   Levels:    a = min(max(a, v_min), v_max) (NaN -> v_min; [0, L-1] unless ONNX offsets);
//              a = cvtps2dq(a) (RNE: MXCSR on VEX levels, {rn-sae} on EVEX levels);
//              [a = min(max(a + k_off, 0), L-1)] (ONNX rounding, spec §2.5);
//              [a = max(a, k_lo)]; [a = min(a, k_hi)]                          -> s32 levels
//   Threshold: [a = min(max(a, y_lo), y_hi)]; a = (a > il) ? L-1 : 0            -> s32 levels
//              (VEX: compare into a vector and vpand; EVEX: compare into k1, masked broadcast)
//   Float:     [a = min(max(a, y_lo), y_hi)]                                    -> f32 y
// The caller supplies the operand addresses (constant-pool vectors of its own layout), so the same
// code serves per-channel M (grouped conv) and per-pattern M (AvgPool). The two broadcast constants
// (L-1 as f32 / s32) are read through the pool base register given at construction (embedded
// broadcast on EVEX levels). EVEX levels clobber k1 in Threshold form.
#pragma once
#include <cstdint>
#include <optional>

#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "jit/requant_fold.hpp"

namespace qjit {

template <Isa I> class Epilogue {
public:
    using Vmm = typename IsaTraits<I>::Vmm;
    struct Form {
        EpilogueMode mode = EpilogueMode::Levels;
        bool has_n = false;              // the fma(fS, N, E) term (asymmetric weights)
        bool k_lo = false, k_hi = false; // Levels: integer bounds after rounding
        bool k_off = false;              // Levels: ONNX offsets added after rounding (QConvConsts::k_off)
        float v_min = 0.0f;              // Levels: lower fp32 clamp before rounding
        bool y_bounds = false;           // Threshold / Float: fp32 bounds
    };
    // Operand addresses of one vector; the optional ones must be set when the Form uses them.
    struct Operands {
        Operands(const Xbyak::Address& m_, const Xbyak::Address& e_) : m(m_), e(e_) {}
        Xbyak::Address m, e;
        std::optional<Xbyak::Address> n, k_lo, k_hi, k_off, y_lo, y_hi, threshold;
    };

    Epilogue() = default;
    // Adds the broadcast constants every vector shares (L-1 as f32 and as s32) to g's pool;
    // `pool_base` holds the pool's address (load_pool_base) whenever apply() runs.
    Epilogue(Generator& g, const Form& form, float v_max, int out_levels, const Xbyak::Reg64& pool_base);

    const Form& form() const { return form_; }
    bool stores_levels() const { return form_.mode != EpilogueMode::Float; }

    // Zeroes `zero` when the form needs it (Levels); call once before a run of apply().
    void prepare(Generator& g, const Vmm& zero) const;
    // a: s32 D in, result out (s32 levels or f32 y). fs: the fp32 S broadcast or per lane (read only
    // when has_n). t: scratch. zero: as set by prepare(). None of them may alias each other.
    void apply(Generator& g, const Vmm& a, const Vmm& fs, const Operands& op, const Vmm& zero, const Vmm& t) const;

private:
    Xbyak::Address bcast(Generator& g, int off) const;
    Form form_;
    int off_vmax_ = -1, off_vmin_ = -1, off_lm1_ = -1;
    int base_idx_ = 3; // rbx
};

// Packs `n` vectors of s32 levels in [0, 255] (channels lanes*i.. in vector i) to bytes and stores
// the lanes*n bytes in channel order at ptr[base + disp]. t and u are scratch (distinct from the
// vectors; unused on EVEX levels, which store each vector with vpmovusdb).
template <Isa I>
void store_levels(Generator& g, const typename IsaTraits<I>::Vmm* v, int n, const Xbyak::RegExp& base, int disp,
                  const typename IsaTraits<I>::Vmm& t, const typename IsaTraits<I>::Vmm& u);

// Writes `bytes` (a multiple of 8 on VEX levels, of 16 on EVEX levels) zero bytes at
// ptr[base + disp]; z is a scratch register.
template <Isa I>
void store_zeros(Generator& g, const Xbyak::RegExp& base, int disp, int64_t bytes, const typename IsaTraits<I>::Vmm& z);

} // namespace qjit
