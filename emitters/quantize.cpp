#include "emitters/quantize.hpp"

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "isa/isa.hpp"
#include "qjit/error.hpp"

namespace qjit {

using namespace Xbyak;
using namespace Xbyak::util;

namespace {

void validate(const ActQuant& q, const ActLayout& l, const char* what) {
    auto bad = [&](const std::string& m) { throw Error(ErrorCode::InvalidArgument, what, m); };
    if (q.levels < 2 || q.levels > 256) throw Error(ErrorCode::InvalidLevels, what, "levels outside 2..256");
    if (l.elem_bytes != 1 || l.C < 1 || l.H < 1 || l.W < 1 || l.c_stride < l.C) bad("bad u8 layout");
    for (const ChannelVec* v : {&q.il, &q.ih, &q.ol, &q.oh})
        if (v->size() != 1 && static_cast<int64_t>(v->size()) != l.C) bad("per-channel range size is not C");
    for (const ChannelVec* v : {&q.onnx_scale, &q.onnx_off})
        if (q.onnx() && v->size() != 1 && static_cast<int64_t>(v->size()) != l.C) bad("per-channel ONNX scale / offset size is not C");
    const int64_t limit = std::numeric_limits<int32_t>::max() / 4;
    if (l.H * l.W > limit || l.row_stride() > limit) bad("image too large for 32-bit displacements");
}

// Per-pixel loop scaffolding shared by both kernels. Registers: rdi args | rbx pool | r8 channel |
// r9 f32 plane of the channel | r10 u8 channel base | r11 row counter | rax f32 row | rdx u8 row |
// rcx chunk counter | v0-v3 scratch | v8-v11 per-channel constants | v12 L-1 | v13 zero |
// (EVEX) k3 the W-tail mask, k1/k2 compares.
template <Isa I> class ElementwiseEmitter {
    using Tr = IsaTraits<I>;
    using Vmm = typename Tr::Vmm;
    static constexpr int kL = Tr::lanes;
    static Vmm v(int i) { return Vmm(i); }

public:
    ElementwiseEmitter(const ActQuant& q, const ActLayout& l, bool quantize) : q_(q), l_(l), quantize_(quantize) {}

    void operator()(Generator& g) {
        g_ = &g;
        build_pool();
        g.preamble({rbx}, 0);
        g.load_pool_base(rbx);
        const size_t c_begin = quantize_ ? offsetof(QuantizeArgs, c_begin) : offsetof(DequantizeArgs, c_begin);
        const size_t c_end = quantize_ ? offsetof(QuantizeArgs, c_end) : offsetof(DequantizeArgs, c_end);
        const size_t f32 = quantize_ ? offsetof(QuantizeArgs, src) : offsetof(DequantizeArgs, dst);
        const size_t u8 = quantize_ ? offsetof(QuantizeArgs, dst) : offsetof(DequantizeArgs, src);
        Label l_c, l_done;
        g.mov(r8, g.qword[rdi + c_begin]);
        g.cmp(r8, g.qword[rdi + c_end]);
        g.jge(l_done, g.T_NEAR);
        g.vbroadcastss(v(12), g.dword[rbx + off_lm1_]);
        VecOps<I>::zero(g, v(13));
        if constexpr (Tr::evex) {
            if (l_.W % kL) g.kmovw(k3, g.word[rbx + off_tail_mask_]);
        }
        g.L(l_c);
        g.vbroadcastss(v(8), g.dword[rbx + r8 * 4 + off_c0_]);
        g.vbroadcastss(v(9), g.dword[rbx + r8 * 4 + off_c1_]);
        if (quantize_) {
            g.vbroadcastss(v(10), g.dword[rbx + r8 * 4 + off_c2_]);
            g.vbroadcastss(v(11), g.dword[rbx + r8 * 4 + off_c3_]);
        }
        g.imul(r9, r8, static_cast<int>(l_.H * l_.W * 4));
        g.add(r9, g.qword[rdi + f32]);
        g.mov(r10, g.qword[rdi + u8]);
        g.add(r10, r8);
        g.mov(rax, r9);
        g.mov(rdx, r10);
        Label l_h;
        if (l_.H > 1) {
            g.mov(r11, l_.H);
            g.L(l_h);
        }
        emit_row();
        if (l_.H > 1) {
            g.add(rax, static_cast<int>(l_.W * 4));
            g.add(rdx, static_cast<int>(l_.row_stride()));
            g.dec(r11);
            g.jnz(l_h, g.T_NEAR);
        }
        g.inc(r8);
        g.cmp(r8, g.qword[rdi + c_end]);
        g.jl(l_c, g.T_NEAR);
        g.L(l_done);
        g.postamble();
    }

    size_t size_hint() const { return 8192 + static_cast<size_t>(l_.C) * 16 + 512; }

private:
    void build_pool() {
        Generator& g = *g_;
        const size_t C = static_cast<size_t>(l_.C);
        std::vector<float> c0(C), c1(C), c2(C), c3(C);
        std::vector<int32_t> off3(C, 0);
        for (size_t c = 0; c < C; ++c) {
            const float il = q_.il.at(static_cast<int64_t>(c)), ih = q_.ih.at(static_cast<int64_t>(c));
            const float ol = q_.ol.at(static_cast<int64_t>(c)), oh = q_.oh.at(static_cast<int64_t>(c));
            if (quantize_ && q_.onnx()) {
                const int32_t off = q_.offset(static_cast<int64_t>(c));
                c0[c] = q_.onnx_scale.at(static_cast<int64_t>(c));
                c1[c] = static_cast<float>(-off);
                c2[c] = static_cast<float>(q_.levels - 1 - off);
                off3[c] = off;
                any_off_ = any_off_ || off != 0;
            } else if (quantize_) {
                c0[c] = il;
                c1[c] = ih - il; // fl(ih - il), as §1.1 computes it
                c2[c] = il < ih ? il : ih;
                c3[c] = il < ih ? ih : il;
            } else {
                c0[c] = oh - ol; // fl(oh - ol)
                c1[c] = ol;
            }
        }
        off_c0_ = g.pool_f32(c0);
        off_c1_ = g.pool_f32(c1);
        if (quantize_) {
            off_c2_ = g.pool_f32(c2);
            off_c3_ = q_.onnx() ? g.pool_i32(off3) : g.pool_f32(c3);
        }
        off_lm1_ = g.pool_f32(std::vector<float>(1, static_cast<float>(q_.levels - 1)));
        if constexpr (Tr::evex) {
            const uint16_t m = static_cast<uint16_t>((1u << (l_.W % kL)) - 1);
            off_tail_mask_ = g.pool_u8({static_cast<uint8_t>(m & 0xFF), static_cast<uint8_t>(m >> 8)});
        } else {
            std::vector<int32_t> mask(8, 0);
            for (int64_t i = 0; i < l_.W % 8; ++i) mask[static_cast<size_t>(i)] = -1;
            off_tail_mask_ = g.pool_i32(mask);
        }
    }

    // One row of W pixels: chunks of L (a loop of 2 chunks per iteration when there are many),
    // then the tail. rax / rdx point at the row; restored at the end.
    void emit_row() {
        Generator& g = *g_;
        const int64_t nL = l_.W / kL, tail = l_.W % kL;
        const int64_t fs = kL * 4, us = kL * l_.c_stride; // bytes per chunk: f32, u8
        int64_t done = 0;
        if (nL > 4) {
            const int64_t iters = nL / 2;
            Label l;
            g.mov(rcx, iters);
            g.L(l);
            chunk(0, 0, kL);
            chunk(fs, us, kL);
            g.add(rax, static_cast<int>(2 * fs));
            g.add(rdx, static_cast<int>(2 * us));
            g.dec(rcx);
            g.jnz(l, g.T_NEAR);
            done = iters * 2;
            for (int64_t j = done; j < nL; ++j) chunk((j - done) * fs, (j - done) * us, kL);
            if (tail) chunk((nL - done) * fs, (nL - done) * us, tail);
            g.sub(rax, static_cast<int>(done * fs));
            g.sub(rdx, static_cast<int>(done * us));
            return;
        }
        for (int64_t j = 0; j < nL; ++j) chunk(j * fs, j * us, kL);
        if (tail) chunk(nL * fs, nL * us, tail);
    }

    // n pixels (L, or the tail) at f32 offset fo (bytes from rax) and u8 offset uo (from rdx).
    void chunk(int64_t fo, int64_t uo, int64_t n) {
        Generator& g = *g_;
        const int64_t cs = l_.c_stride;
        const Address f = g.ptr[rax + static_cast<int>(fo)];
        const bool full = n == kL;
        if (quantize_) {
            if constexpr (Tr::evex) {
                if (full) g.vmovups(v(0), f);
                else g.vmovups(v(0) | k3 | T_z, f);
            } else {
                if (full) g.vmovups(v(0), f);
                else g.vmovups(v(3), g.ptr[rbx + off_tail_mask_]), g.vmaskmovps(v(0), v(3), f);
            }
            if (q_.onnx()) {
                onnx_levels();
            } else {
                g.vsubps(v(1), v(0), v(8));  // a = x - il
                g.vdivps(v(1), v(1), v(9));  // a / d
                g.vmulps(v(1), v(1), v(12)); // u = (a/d) * (L-1)
            }
            if constexpr (Tr::evex) {
                if (!q_.onnx()) {
                    g.vcmpps(k1, v(0), v(10), 0x12); // x <= lo (LE_OQ)
                    g.vmovaps(v(1) | k1, v(13));     //   -> 0
                    g.vcmpps(k2, v(0), v(11), 0x1E); // x > hi (GT_OQ)
                    g.vmovaps(v(1) | k2, v(12));     //   -> L-1
                    g.vmaxps(v(1), v(1), v(13));     // NaN -> 0
                    VecOps<I>::cvt_rne(g, v(1), v(1));
                }
                if (cs == 1) {
                    if (full) g.vpmovusdb(g.ptr[rdx + static_cast<int>(uo)], v(1));
                    else g.vpmovusdb(g.ptr[rdx + static_cast<int>(uo)] | k3, v(1));
                    return;
                }
                g.vpmovusdb(xmm1, v(1));         // 16 levels
            } else {
                if (!q_.onnx()) {
                    g.vcmpps(v(2), v(0), v(10), 0x12);    // x <= lo (LE_OQ)
                    g.vandnps(v(1), v(2), v(1));          //   -> 0
                    g.vcmpps(v(2), v(0), v(11), 0x1E);    // x > hi (GT_OQ)
                    g.vblendvps(v(1), v(1), v(12), v(2)); //   -> L-1
                    g.vmaxps(v(1), v(1), v(13));          // NaN -> 0
                    g.vcvtps2dq(v(1), v(1));              // RNE
                }
                g.vextracti128(xmm2, ymm1, 1);
                g.vpackusdw(xmm1, xmm1, xmm2);
                g.vpackuswb(xmm1, xmm1, xmm1);       // 8 levels in the low qword
                if (cs == 1 && full) {
                    g.vmovq(g.ptr[rdx + static_cast<int>(uo)], xmm1);
                    return;
                }
            }
            for (int64_t i = 0; i < n; ++i)
                g.vpextrb(g.ptr[rdx + static_cast<int>(uo + i * cs)], xmm1, static_cast<uint8_t>(i));
            return;
        }
        if (cs == 1 && full) {
            if constexpr (Tr::evex) g.vpmovzxbd(v(0), g.ptr[rdx + static_cast<int>(uo)]);
            else g.vmovq(xmm0, g.ptr[rdx + static_cast<int>(uo)]), g.vpmovzxbd(v(0), xmm0);
        } else if (cs == 1 && Tr::evex) {
            g.vpmovzxbd(v(0) | k3 | T_z, g.ptr[rdx + static_cast<int>(uo)]);
        } else {
            g.vpxor(xmm0, xmm0, xmm0);
            for (int64_t i = 0; i < n; ++i)
                g.vpinsrb(xmm0, xmm0, g.ptr[rdx + static_cast<int>(uo + i * cs)], static_cast<uint8_t>(i));
            g.vpmovzxbd(v(0), xmm0);
        }
        g.vcvtdq2ps(v(0), v(0));
        g.vdivps(v(0), v(0), v(12)); // k / (L-1)
        g.vmulps(v(0), v(0), v(8));  // * (oh - ol)
        g.vaddps(v(0), v(0), v(9));  // + ol
        if (full) {
            g.vmovups(f, v(0));
        } else if constexpr (Tr::evex) {
            g.vmovups(f | k3, v(0));
        } else {
            g.vmovups(v(3), g.ptr[rbx + off_tail_mask_]), g.vmaskmovps(f, v(3), v(0));
        }
    }

    // ONNX rounding (spec §2.5) of x in v0 into s32 levels in v1: fl(x / s) (vdivps, never a
    // reciprocal), clamped to [-off, L-1-off] (NaN -> -off: second source), RNE, + off.
    void onnx_levels() {
        Generator& g = *g_;
        g.vdivps(v(1), v(0), v(8));
        g.vmaxps(v(1), v(1), v(9));
        g.vminps(v(1), v(1), v(10));
        VecOps<I>::cvt_rne(g, v(1), v(1));
        if (any_off_) g.vpaddd(v(1), v(1), v(11));
    }

    const ActQuant& q_;
    const ActLayout l_;
    const bool quantize_;
    Generator* g_ = nullptr;
    bool any_off_ = false;
    int off_c0_ = -1, off_c1_ = -1, off_c2_ = -1, off_c3_ = -1, off_lm1_ = -1, off_tail_mask_ = -1;
};

std::string tile_name(const ActLayout& l, int lanes) { return std::to_string(l.W < lanes ? l.W : lanes); }

template <Isa I> std::unique_ptr<GeneratedKernel> build(const ActQuant& q, const ActLayout& l, bool quantize) {
    ElementwiseEmitter<I> e(q, l, quantize);
    const std::string name = std::string(quantize ? "quantize_f32_u8" : "dequantize_u8_f32") + (q.per_channel() ? "_pc" : "") +
                             (quantize && q.onnx() ? "_onnx" : "") +
                             "_" + tile_name(l, IsaTraits<I>::lanes) + "__" + to_string(I);
    return build_kernel(name, e.size_hint(), [&](Generator& g) { e(g); });
}

std::unique_ptr<GeneratedKernel> build_any(Isa isa, const ActQuant& q, const ActLayout& l, bool quantize) {
    return quantize_isa(isa) == Isa::avx512_core ? build<Isa::avx512_core>(q, l, quantize)
                                                 : build<Isa::avx2>(q, l, quantize);
}

} // namespace

Isa quantize_isa(Isa isa) {
    return isa != Isa::native && isa_includes(isa, Isa::avx512_core) ? Isa::avx512_core : Isa::avx2;
}

std::unique_ptr<JitKernel> emit_quantize(Isa isa, const ActQuant& q, const ActLayout& out) {
    validate(q, out, "<quantize>");
    auto k = build_any(isa, q, out, true);
    k->constants = static_cast<int>(4 * (q.per_channel() ? out.C : 1));
    return k;
}

std::unique_ptr<JitKernel> emit_dequantize(Isa isa, const ActQuant& q, const ActLayout& in) {
    validate(q, in, "<dequantize>");
    auto k = build_any(isa, q, in, false);
    k->constants = static_cast<int>(2 * (q.per_channel() ? in.C : 1));
    return k;
}

} // namespace qjit
