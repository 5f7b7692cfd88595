#include "emitters/fp32_fake_quantize.hpp"

#include "emitters/fp32_stream.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "qjit/error.hpp"

namespace qjit {

std::string fp32_fq_kernel_name(const Fp32FqDesc& d, Isa isa) {
    return "fp32_fq_L" + std::to_string(d.levels) + (d.mode == Fp32FqMode::Rows ? "_rows_p" : "_lanes_p") +
           std::to_string(d.il.size()) + "__" + to_string(isa);
}

namespace {

using namespace Xbyak;
using namespace Xbyak::util;

constexpr uint8_t kLeOq = 0x12, kGtOq = 0x1E; // vcmpps predicates

// The seven per-set constants, in pool order; v(kFirstParam + i) holds constant i.
enum Param { kLo, kHi, kIl, kD, kOl, kR, kOh, kParams };
constexpr int kFirstParam = 6;

// Registers: r8 src, rdx dst, rcx count, r10 pool base (Lanes: the sets of the current vector), r11 set
// offset, rax / r9 tail scratch (emitters/fp32_stream). v0 x, v2 result, v3 temporary, v4 compare mask
// (VEX), v5 tail mask (VEX), v6-v12 the constants above, v13 L - 1.
template <Isa I> class Fp32FqEmitter {
    using T = IsaTraits<I>;
    using Vmm = typename T::Vmm;

public:
    explicit Fp32FqEmitter(const Fp32FqDesc& d) : d_(d) {}

    void operator()(Generator& g) const {
        const size_t sets = d_.il.size();
        std::vector<float> c[kParams];
        for (auto& v : c) v.resize(sets);
        for (size_t s = 0; s < sets; ++s) {
            const float il = d_.il[s], ih = d_.ih[s], ol = d_.ol[s], oh = d_.oh[s];
            c[kLo][s] = il < ih ? il : ih; // the reference's choice, NaN included
            c[kHi][s] = il < ih ? ih : il;
            c[kIl][s] = il;
            c[kD][s] = ih - il;
            c[kOl][s] = ol;
            c[kR][s] = oh - ol;
            c[kOh][s] = oh;
        }
        int off[kParams];
        for (int i = 0; i < kParams; ++i) off[i] = g.pool_f32(c[i]);

        g.preamble({});
        g.mov(r8, g.ptr[rdi]);
        g.mov(rdx, g.ptr[rdi + 8]);
        g.mov(rcx, g.ptr[rdi + 16]);
        g.mov(r11, g.ptr[rdi + 24]);
        g.load_pool_base(r10);
        g.lea(r10, g.ptr[r10 + r11 * 4]); // the call's first set
        g.vbroadcastss(v(13), g.pool(g.pool_f32({static_cast<float>(d_.levels - 1)})));
        const bool rows = d_.mode == Fp32FqMode::Rows;
        if (rows)
            for (int i = 0; i < kParams; ++i) g.vbroadcastss(v(kFirstParam + i), g.dword[r10 + off[i]]);

        Fp32Stream<I> stream(5);
        stream.emit(
            g,
            [&](bool tail) {
                stream.load(g, v(0), g.ptr[r8], tail);
                if (!rows)
                    for (int i = 0; i < kParams; ++i) stream.load(g, v(kFirstParam + i), g.ptr[r10 + off[i]], tail);
                compute(g);
                stream.store(g, g.ptr[rdx], v(2), tail);
            },
            [&] {
                g.add(r8, T::vlen);
                g.add(rdx, T::vlen);
                if (!rows) g.add(r10, T::vlen);
            });
        g.postamble();
    }

    size_t size_hint() const { return 4096 + 7 * 4 * d_.il.size(); }

private:
    static Vmm v(int i) { return Vmm(i); }
    static Vmm p(Param i) { return Vmm(kFirstParam + i); }

    void select(Generator& g, const Vmm& dst, const Vmm& x, const Vmm& y, uint8_t pred, const Vmm& src) const {
        blend_where<I>(g, dst, x, y, pred, src, 4);
    }

    void compute(Generator& g) const {
        const Vmm x = v(0), r = v(2), t = v(3), lm1 = v(13);
        g.vsubps(t, x, p(kIl));
        g.vdivps(t, t, p(kD));
        g.vmulps(t, t, lm1);
        if constexpr (T::evex) g.vrndscaleps(t, t, 0); // RNE, the reference's nearbyint
        else g.vroundps(t, t, 0);
        g.vdivps(t, t, lm1);
        g.vmulps(t, t, p(kR));
        g.vaddps(r, t, p(kOl));
        select(g, r, x, p(kHi), kGtOq, p(kOh)); // x > hi -> oh
        select(g, r, x, p(kLo), kLeOq, p(kOl)); // x <= lo -> ol (the reference tests it first)
    }

    const Fp32FqDesc& d_;
};

template <Isa I> std::unique_ptr<JitKernel> build(const Fp32FqDesc& d) {
    const Fp32FqEmitter<I> e(d);
    auto k = build_kernel(fp32_fq_kernel_name(d, I), e.size_hint(), [&](Generator& g) { e(g); });
    k->constants = static_cast<int>(kParams * d.il.size());
    return k;
}

} // namespace

std::unique_ptr<JitKernel> emit_fp32_fake_quantize(Isa isa, const Fp32FqDesc& d) {
    const size_t n = d.il.size();
    if (n == 0 || d.ih.size() != n || d.ol.size() != n || d.oh.size() != n || d.levels < 2 || d.levels > 65536)
        throw Error(ErrorCode::Internal, "<fp32_fake_quantize>", "inconsistent parameter sets or levels");
    return dispatch_isa(isa, "<fp32_fake_quantize>", "fp32 FakeQuantize",
                        [&](auto i) { return build<decltype(i)::value>(d); });
}

} // namespace qjit
