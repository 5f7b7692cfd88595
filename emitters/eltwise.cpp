#include "emitters/eltwise.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "qjit/error.hpp"

namespace qjit {

using namespace Xbyak;
using namespace Xbyak::util;

namespace {

int64_t round_up8(int64_t v) { return (v + 7) / 8 * 8; }

int disp32(int64_t v, const std::string& node) {
    if (v < std::numeric_limits<int32_t>::min() / 2 || v > std::numeric_limits<int32_t>::max() / 2)
        throw Error(ErrorCode::UnsupportedOp, node, "layout offset does not fit a 32-bit displacement");
    return static_cast<int>(v);
}

bool has_broadcast(const BroadcastOperand& b) { return b.bc_h || b.bc_w || b.bc_c; }

std::string eltwise_name(Isa isa, const EltwiseConsts& c, const BroadcastOperand& in0, const BroadcastOperand* in1,
                         const std::vector<PostOp>& post) {
    std::string n;
    switch (c.kind) {
    case QEltwiseDesc::Add: n = "eltwise_add_u8u8"; break;
    case QEltwiseDesc::Mul: n = "eltwise_mul_u8u8"; break;
    case QEltwiseDesc::Affine: n = "requant_u8"; break;
    }
    n += c.mode == EpilogueMode::Float ? "_f32" : "_u8";
    if (has_broadcast(in0)) n += in0.bc_c ? "_bc0c" : "_bc0p";
    if (in1 && has_broadcast(*in1)) n += in1->bc_c ? "_bc1c" : "_bc1p";
    bool ss = false, relu = false, clamp = false;
    for (const PostOp& op : post) {
        if (op.kind == PostOp::Clamp)
            (op.lo == 0.0f && op.hi == std::numeric_limits<float>::infinity() ? relu : clamp) = true;
        else
            ss = true;
    }
    if (ss) n += "_ss";
    if (relu) n += "_relu";
    if (clamp) n += "_clamp";
    if (c.mode == EpilogueMode::Threshold) n += "_thr";
    return n + "_" + std::to_string(isa_lanes(isa)) + "c__" + to_string(isa);
}

// Registers: rdi args | rbx pool | r8 / r9 input rows | r10 output row | r11 h | rax / rdx input
// pixels | rsi output pixel | rcx w counter | r12 channel offset (channel loop) | r13 channel loop
// counter | r14 scratch. V15 zero | V14 L-1 | V13 / V12 the broadcast level of a bc_c input
// | V(3j), V(3j+1), V(3j+2): operands and accumulator of channel vector j (j < 4). EVEX: k2 the
// last vector's 8-lane tail, k1 the Threshold compare.
template <Isa I> class EltwiseEmitter {
    using Tr = IsaTraits<I>;
    using Vmm = typename Tr::Vmm;
    static constexpr int kL = Tr::lanes;

public:
    EltwiseEmitter(const EltwiseConsts& c, const BroadcastOperand& in0, const BroadcastOperand* in1,
                   const ActLayout& out, const std::string& node)
        : c_(c), in0_(in0), in1_(in1 ? *in1 : in0), binary_(in1 != nullptr), out_(out), node_(node) {
        nvec_ = (round_up8(c_.c) + kL - 1) / kL;
        masked_tail_ = round_up8(c_.c) % kL != 0; // EVEX: 8 channels in the last vector
        eb_ = out_.elem_bytes;
        for (int64_t ch = 0; ch < c_.c && c_.mode == EpilogueMode::Levels; ++ch) {
            const size_t cu = static_cast<size_t>(ch);
            if (c_.k_lo[cu] > 0) use_klo_ = true;
            if (c_.k_hi[cu] < c_.out_levels - 1) use_khi_ = true;
        }
        need_k0_ = c_.has_a0 || c_.has_p;
        need_k1_ = binary_ && (c_.has_a1 || c_.has_p);
    }

    size_t size_hint() const { return 8192 + static_cast<size_t>(std::min<int64_t>(nvec_, 8)) * 256 + pool_bytes(); }

    void operator()(Generator& g) {
        G_ = &g;
        build_pool();
        emit_body();
    }

private:
    const Reg64 r_args = rdi, r_pool = rbx, r_row0 = r8, r_row1 = r9, r_rowo = r10, r_h = r11, r_p0 = rax,
                r_p1 = rdx, r_po = rsi, r_w = rcx, r_c = r12, r_cnt = r13, r_tmp = r14;
    const Vmm y_zero{15}, y_vmax{14}, y_bc0{13}, y_bc1{12};

    Generator& G() { return *G_; }
    int d32(int64_t v) const { return disp32(v, node_); }

    size_t pool_bytes() const { return static_cast<size_t>(c_.c_pad) * 4 * 11 + 320; }

    void build_pool() {
        Generator& g = G();
        off_e_ = g.pool_f32(c_.e);
        if (c_.has_a0) off_a0_ = g.pool_f32(c_.a0);
        if (c_.has_a1) off_a1_ = g.pool_f32(c_.a1);
        if (c_.has_p) off_p_ = g.pool_f32(c_.p);
        if (use_klo_) off_klo_ = g.pool_i32(c_.k_lo);
        if (use_khi_) off_khi_ = g.pool_i32(c_.k_hi);
        if (!c_.k_off.empty()) off_koff_ = g.pool_i32(c_.k_off);
        if (c_.v_min != 0.0f) off_vmin_ = g.pool_f32(std::vector<float>(8, c_.v_min));
        if (c_.mode != EpilogueMode::Levels && c_.has_bounds) {
            off_ylo_ = g.pool_f32(c_.y_lo);
            off_yhi_ = g.pool_f32(c_.y_hi);
        }
        if (c_.mode == EpilogueMode::Threshold) off_thr_ = g.pool_f32(c_.threshold);
        off_vmax_ = g.pool_f32(std::vector<float>(8, c_.v_max));
        off_lm1_ = g.pool_i32(std::vector<int32_t>(8, c_.out_levels - 1));
        if (masked_tail_) off_tail_ = g.pool_u8({0xFF, 0x00});
    }

    void emit_body() {
        Generator& g = G();
        g.preamble({rbx, r12, r13, r14}, 0);
        g.load_pool_base(r_pool);
        if (c_.mode == EpilogueMode::Levels) {
            VecOps<I>::zero(g, y_zero);
            g.vbroadcastss(y_vmax, g.dword[r_pool + off_vmax_]);
        }
        if (masked_tail_) g.kmovw(k2, g.word[r_pool + off_tail_]);
        Label l_h, l_done;
        g.mov(r_h, g.qword[r_args + offsetof(EltwiseArgs, h_begin)]);
        g.L(l_h);
        g.cmp(r_h, g.qword[r_args + offsetof(EltwiseArgs, h_end)]);
        g.jge(l_done, g.T_NEAR);
        row_pointer(r_row0, offsetof(EltwiseArgs, src0), in0_.bc_h ? 0 : in0_.l.row_stride());
        if (binary_) row_pointer(r_row1, offsetof(EltwiseArgs, src1), in1_.bc_h ? 0 : in1_.l.row_stride());
        row_pointer(r_rowo, offsetof(EltwiseArgs, dst), out_.row_stride() * eb_);
        g.mov(r_p0, r_row0);
        if (binary_) g.mov(r_p1, r_row1);
        g.mov(r_po, r_rowo);
        Label l_w;
        g.mov(r_w, out_.W);
        g.L(l_w);
        emit_pixel();
        if (!in0_.bc_w) g.add(r_p0, d32(in0_.l.c_stride));
        if (binary_ && !in1_.bc_w) g.add(r_p1, d32(in1_.l.c_stride));
        g.add(r_po, d32(out_.c_stride * eb_));
        g.dec(r_w);
        g.jnz(l_w, g.T_NEAR);
        g.inc(r_h);
        g.jmp(l_h, g.T_NEAR);
        g.L(l_done);
        g.postamble();
    }

    // r = args[field] + h * stride
    void row_pointer(const Reg64& r, size_t field, int64_t stride) {
        Generator& g = G();
        g.mov(r, g.qword[r_args + field]);
        if (stride == 0) return;
        g.imul(r_tmp, r_h, d32(stride));
        g.add(r, r_tmp);
    }

    // One output pixel: the broadcast levels of bc_c inputs, then every channel vector.
    void emit_pixel() {
        Generator& g = G();
        if (need_k0_ && in0_.bc_c) broadcast_level(y_bc0, r_p0);
        if (need_k1_ && in1_.bc_c) broadcast_level(y_bc1, r_p1);
        if (nvec_ <= 8) {
            for (int64_t v = 0; v < nvec_; v += 4)
                vectors(std::min<int64_t>(4, nvec_ - v), v * kL, false, v + 4 >= nvec_);
            return;
        }
        // Blocks of 4 full vectors in a loop, then the rest (the masked tail vector included).
        const int64_t nblk = (nvec_ - (masked_tail_ ? 1 : 0)) / 4, rem = nvec_ - 4 * nblk;
        Label l;
        g.xor_(r_c, r_c);
        g.mov(r_cnt, nblk);
        g.L(l);
        vectors(4, 0, true, false);
        g.add(r_c, 4 * kL);
        g.dec(r_cnt);
        g.jnz(l, g.T_NEAR);
        if (rem) vectors(rem, 0, true, true);
    }

    // ---- the ISA-specific part ---------------------------------------------------------------
    void broadcast_level(const Vmm& y, const Reg64& p) {
        Generator& g = G();
        g.movzx(r_tmp.cvt32(), g.byte[p]);
        g.vmovd(Xmm(y.getIdx()), r_tmp.cvt32());
        g.vpbroadcastd(y, Xmm(y.getIdx()));
        g.vcvtdq2ps(y, y);
    }

    // Address of element `ch` (+ r12 when indexed) of a vector with `scale`-byte elements at base + disp.
    Address at(const Reg64& base, int scale, int64_t disp, bool idx) {
        Generator& g = G();
        return idx ? g.ptr[base + r_c * scale + d32(disp)] : g.ptr[base + d32(disp)];
    }

    // Channel vectors [0, n) starting at channel ch0 (+ r12 when idx); `last`: they end the pixel
    // (the last one is the masked tail when masked_tail_).
    void vectors(int64_t n, int64_t ch0, bool idx, bool last) {
        Generator& g = G();
        for (int64_t j = 0; j < n; ++j) {
            const int64_t ch = ch0 + j * kL;
            const bool masked = Tr::evex && masked_tail_ && last && j == n - 1;
            const Vmm a(static_cast<int>(3 * j)), b(static_cast<int>(3 * j + 1)), t(static_cast<int>(3 * j + 2));
            Vmm f0 = a, f1 = b;
            if (need_k0_) {
                if (in0_.bc_c) f0 = y_bc0;
                else load_levels(a, at(r_p0, 1, ch, idx), masked);
            }
            if (need_k1_) {
                if (in1_.bc_c) f1 = y_bc1;
                else load_levels(b, at(r_p1, 1, ch, idx), masked);
            }
            g.vmovups(t, at(r_pool, 4, off_e_ + ch * 4, idx));
            if (c_.has_a1) g.vfmadd231ps(t, f1, at(r_pool, 4, off_a1_ + ch * 4, idx)); // fma(f(k1), A1, E)
            if (c_.has_a0) g.vfmadd231ps(t, f0, at(r_pool, 4, off_a0_ + ch * 4, idx)); // fma(f(k0), A0, .)
            if (c_.has_p) {
                g.vmulps(a, f0, f1); // exact: k0*k1 <= 255^2
                g.vfmadd231ps(t, a, at(r_pool, 4, off_p_ + ch * 4, idx));
            }
            tail(t, b, ch, idx, masked);
        }
    }

    void load_levels(const Vmm& y, const Address& a, bool masked) {
        Generator& g = G();
        if constexpr (Tr::evex) {
            if (masked) g.vpmovzxbd(y | k2 | T_z, a);
            else g.vpmovzxbd(y, a);
        } else {
            g.vpmovzxbd(y, a);
        }
        g.vcvtdq2ps(y, y);
    }

    // Epilogue tail and store of the accumulator t (scratch s) of channels [ch, ch + lanes).
    void tail(const Vmm& t, const Vmm& s, int64_t ch, bool idx, bool masked) {
        Generator& g = G();
        if (c_.mode == EpilogueMode::Levels) {
            // A broadcast pool constant (VEX: the entry is 8 copies; EVEX: {1toN}).
            auto bcast = [&](int off) { return Tr::evex ? g.ptr_b[r_pool + off] : g.ptr[r_pool + off]; };
            if (off_vmin_ >= 0) g.vmaxps(t, t, bcast(off_vmin_)); // NaN -> v_min
            else g.vmaxps(t, t, y_zero);                          // NaN -> 0
            g.vminps(t, t, y_vmax);
            VecOps<I>::cvt_rne(g, t, t); // RNE: MXCSR set by the preamble, {rn-sae} on EVEX
            if (off_koff_ >= 0) { // ONNX rounding (spec §2.5): + off, then [0, L-1]
                g.vpaddd(t, t, at(r_pool, 4, off_koff_ + ch * 4, idx));
                g.vpmaxsd(t, t, y_zero);
                g.vpminsd(t, t, bcast(off_lm1_));
            }
            if (use_klo_) g.vpmaxsd(t, t, at(r_pool, 4, off_klo_ + ch * 4, idx));
            if (use_khi_) g.vpminsd(t, t, at(r_pool, 4, off_khi_ + ch * 4, idx));
            store_levels(t, s, ch, idx, masked);
            return;
        }
        if (c_.has_bounds) {
            g.vmaxps(t, t, at(r_pool, 4, off_ylo_ + ch * 4, idx)); // NaN -> lo
            g.vminps(t, t, at(r_pool, 4, off_yhi_ + ch * 4, idx));
        }
        if (c_.mode == EpilogueMode::Threshold) {
            if constexpr (Tr::evex) {
                g.vcmpps(k1, t, at(r_pool, 4, off_thr_ + ch * 4, idx), 0x1E); // GT_OQ: NaN -> false
                g.vpbroadcastd(t | k1 | T_z, g.dword[r_pool + off_lm1_]);
            } else {
                g.vcmpps(t, t, at(r_pool, 4, off_thr_ + ch * 4, idx), 0x1E); // GT_OQ: NaN -> false
                g.vpand(t, t, g.ptr[r_pool + off_lm1_]);
            }
            store_levels(t, s, ch, idx, masked);
            return;
        }
        if constexpr (Tr::evex) {
            if (masked) {
                g.vmovups(at(r_po, 4, ch * 4, idx) | k2, t);
                return;
            }
        }
        g.vmovups(at(r_po, 4, ch * 4, idx), t);
    }

    // lanes s32 levels in [0, 255] -> lanes bytes (8 under k2 when masked).
    void store_levels(const Vmm& t, const Vmm& s, int64_t ch, bool idx, bool masked) {
        Generator& g = G();
        if constexpr (Tr::evex) {
            (void)s;
            if (masked) g.vpmovusdb(at(r_po, 1, ch, idx) | k2, t);
            else g.vpmovusdb(at(r_po, 1, ch, idx), t);
        } else {
            (void)masked;
            const Xmm tx(t.getIdx()), sx(s.getIdx());
            g.vextracti128(sx, t, 1);
            g.vpackusdw(tx, tx, sx);
            g.vpackuswb(tx, tx, tx);
            g.vmovq(at(r_po, 1, ch, idx), tx);
        }
    }

    const EltwiseConsts& c_;
    const BroadcastOperand in0_, in1_;
    const bool binary_;
    const ActLayout out_;
    const std::string node_;
    int64_t nvec_ = 1, eb_ = 1;
    bool masked_tail_ = false;
    bool use_klo_ = false, use_khi_ = false, need_k0_ = false, need_k1_ = false;
    Generator* G_ = nullptr;
    int off_koff_ = -1, off_vmin_ = -1;
    int off_e_ = -1, off_a0_ = -1, off_a1_ = -1, off_p_ = -1, off_klo_ = -1, off_khi_ = -1, off_ylo_ = -1,
        off_yhi_ = -1, off_thr_ = -1, off_vmax_ = -1, off_lm1_ = -1, off_tail_ = -1;
};

void validate_eltwise(const EltwiseConsts& c, const BroadcastOperand& in0, const BroadcastOperand* in1,
                      const ActLayout& out, const std::string& node) {
    auto bad = [&](const std::string& m) { throw Error(ErrorCode::InvalidArgument, node, m); };
    if ((c.kind == QEltwiseDesc::Affine) != (in1 == nullptr)) bad("input count does not match the eltwise kind");
    if (out.C != c.c || out.N < 1 || out.H < 1 || out.W < 1) bad("output layout does not match the constants");
    if (out.elem_bytes != (c.mode == EpilogueMode::Float ? 4 : 1)) bad("output element size does not match the mode");
    if (out.c_stride < round_up8(c.c)) bad("output c_stride does not cover round_up(C, 8)");
    if (static_cast<int64_t>(c.e.size()) < round_up16(c.c)) bad("constants are not padded to round_up(C, 16)");
    for (const BroadcastOperand* b : {&in0, in1}) {
        if (!b) continue;
        const ActLayout& l = b->l;
        if (l.elem_bytes != 1) bad("inputs must be u8 layouts");
        if ((b->bc_n ? l.N != 1 : l.N != out.N) || (b->bc_h ? l.H != 1 : l.H != out.H) ||
            (b->bc_w ? l.W != 1 : l.W != out.W) || (b->bc_c ? l.C != 1 : l.C != out.C))
            bad("input layout does not broadcast to the output as its flags say");
        if (!b->bc_c && l.c_stride < round_up8(c.c)) bad("input c_stride does not cover round_up(C, 8)");
        if (l.c_stride < 1) bad("input c_stride < 1");
    }
    const int64_t limit = std::numeric_limits<int32_t>::max() / 2;
    if (out.row_stride() * out.elem_bytes > limit || in0.l.row_stride() > limit || (in1 && in1->l.row_stride() > limit))
        bad("image rows too large for 32-bit displacements");
}

// Copy kernel of one Concat input. Registers: rdi args | r8 h | rsi / rdx rows | rax / rcx pixels |
// r9 w counter | r10 scratch / offset | r11 block counter | V0-V3 data | (EVEX) k1 the byte tail.
template <Isa I> class ConcatCopyEmitter {
    using Tr = IsaTraits<I>;
    using Vmm = typename Tr::Vmm;
    static constexpr int kV = Tr::vlen;

public:
    ConcatCopyEmitter(const ActLayout& src, const ActLayout& dst) : s_(src), d_(dst) {}

    size_t size_hint() const { return 4096 + static_cast<size_t>(std::min<int64_t>(s_.C, 4096)) / 8; }

    void operator()(Generator& g) {
        G_ = &g;
        const int64_t n = s_.C == s_.c_stride && d_.c_stride == s_.c_stride ? s_.W * s_.C : s_.C;
        if constexpr (Tr::evex) {
            const int64_t t = n % kV; // bytes after the whole vectors: one masked move
            if (t) {
                const uint64_t m = (uint64_t{1} << t) - 1;
                std::vector<uint8_t> b(8);
                for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(m >> (8 * i));
                off_tail_ = g.pool_u8(b);
            }
        }
        g.preamble({}, 0);
        if constexpr (Tr::evex) {
            if (off_tail_ >= 0) g.kmovq(k1, g.pool(off_tail_));
        }
        Label l_h, l_done;
        g.mov(r8, g.qword[rdi + offsetof(ConcatCopyArgs, h_begin)]);
        g.L(l_h);
        g.cmp(r8, g.qword[rdi + offsetof(ConcatCopyArgs, h_end)]);
        g.jge(l_done, g.T_NEAR);
        g.mov(rsi, g.qword[rdi + offsetof(ConcatCopyArgs, src)]);
        g.imul(r10, r8, disp(s_.row_stride()));
        g.add(rsi, r10);
        g.mov(rdx, g.qword[rdi + offsetof(ConcatCopyArgs, dst)]);
        g.imul(r10, r8, disp(d_.row_stride()));
        g.add(rdx, r10);
        if (s_.C == s_.c_stride && d_.c_stride == s_.c_stride) {
            copy(rsi, rdx, s_.W * s_.C); // whole rows
        } else {
            Label l_w;
            g.mov(rax, rsi);
            g.mov(rcx, rdx);
            g.mov(r9, s_.W);
            g.L(l_w);
            copy(rax, rcx, s_.C);
            g.add(rax, disp(s_.c_stride));
            g.add(rcx, disp(d_.c_stride));
            g.dec(r9);
            g.jnz(l_w, g.T_NEAR);
        }
        g.inc(r8);
        g.jmp(l_h, g.T_NEAR);
        g.L(l_done);
        g.postamble();
    }

private:
    int disp(int64_t v) const { return disp32(v, "<concat>"); }

    // Exactly n bytes from [src] to [dst]: 4-vector blocks in a loop when long, then whole vectors,
    // then the rest: one masked vmovdqu8 (EVEX) or 16/8/4/2/1-byte moves.
    void copy(const Reg64& src, const Reg64& dst, int64_t n) {
        Generator& g = *G_;
        int64_t done = 0;
        if (n >= 16 * kV) {
            const int64_t blocks = n / (4 * kV);
            Label l;
            g.xor_(r10, r10);
            g.mov(r11, blocks);
            g.L(l);
            for (int i = 0; i < 4; ++i) VecOps<I>::loadu(g, Vmm(i), g.ptr[src + r10 + i * kV]);
            for (int i = 0; i < 4; ++i) VecOps<I>::storeu(g, g.ptr[dst + r10 + i * kV], Vmm(i));
            g.add(r10, 4 * kV);
            g.dec(r11);
            g.jnz(l, g.T_NEAR);
            done = blocks * 4 * kV;
        }
        for (; n - done >= kV; done += kV) {
            VecOps<I>::loadu(g, Vmm(0), g.ptr[src + disp(done)]);
            VecOps<I>::storeu(g, g.ptr[dst + disp(done)], Vmm(0));
        }
        if constexpr (Tr::evex) {
            if (n - done > 0) {
                g.vmovdqu8(Vmm(0) | k1 | T_z, g.ptr[src + disp(done)]);
                g.vmovdqu8(g.ptr[dst + disp(done)] | k1, Vmm(0));
            }
            return;
        }
        if (n - done >= 16) {
            g.vmovdqu(xmm0, g.ptr[src + disp(done)]);
            g.vmovdqu(g.ptr[dst + disp(done)], xmm0);
            done += 16;
        }
        if (n - done >= 8) {
            g.mov(r10, g.qword[src + disp(done)]);
            g.mov(g.qword[dst + disp(done)], r10);
            done += 8;
        }
        if (n - done >= 4) {
            g.mov(r10d, g.dword[src + disp(done)]);
            g.mov(g.dword[dst + disp(done)], r10d);
            done += 4;
        }
        if (n - done >= 2) {
            g.mov(r10w, g.word[src + disp(done)]);
            g.mov(g.word[dst + disp(done)], r10w);
            done += 2;
        }
        if (n - done >= 1) {
            g.mov(r10b, g.byte[src + disp(done)]);
            g.mov(g.byte[dst + disp(done)], r10b);
        }
    }

    const ActLayout s_, d_;
    Generator* G_ = nullptr;
    int off_tail_ = -1;
};

template <Isa I>
std::unique_ptr<JitKernel> build_qeltwise(const QEltwiseDesc& d, const EltwiseConsts& c, const BroadcastOperand& in0,
                                          const BroadcastOperand* in1, const ActLayout& out, const std::string& node) {
    EltwiseEmitter<I> e(c, in0, in1, out, node);
    auto k = build_kernel(eltwise_name(I, c, in0, in1, d.post), e.size_hint(), [&](Generator& g) { e(g); });
    k->constants = c.constant_count();
    return k;
}

template <Isa I> std::unique_ptr<JitKernel> build_concat_copy(const ActLayout& src, const ActLayout& dst) {
    ConcatCopyEmitter<I> e(src, dst);
    const std::string name = "concat_copy_u8_c" + std::to_string(src.C) + "__" + to_string(I);
    auto k = build_kernel(name, e.size_hint(), [&](Generator& g) { e(g); });
    k->constants = 0;
    return k;
}

} // namespace

std::unique_ptr<JitKernel> emit_qeltwise(Isa isa, const QEltwiseDesc& d, const EltwiseConsts& c,
                                         const BroadcastOperand& in0, const BroadcastOperand* in1, const ActLayout& out) {
    const std::string node = d.fused_nodes.empty() ? "<qeltwise>" : d.fused_nodes.front();
    validate_eltwise(c, in0, in1, out, node);
    return dispatch_isa(isa, node, "eltwise",
                        [&](auto i) { return build_qeltwise<decltype(i)::value>(d, c, in0, in1, out, node); });
}

std::unique_ptr<JitKernel> emit_concat_copy(Isa isa, const ActLayout& src, const ActLayout& dst) {
    if (src.elem_bytes != 1 || dst.elem_bytes != 1 || src.C < 1 || src.W < 1 || src.H < 1 ||
        src.c_stride < src.C || dst.c_stride < src.C)
        throw Error(ErrorCode::InvalidArgument, "<concat>", "bad u8 layouts for a concat copy");
    return dispatch_isa(isa, "<concat>", "concat copy",
                        [&](auto i) { return build_concat_copy<decltype(i)::value>(src, dst); });
}

} // namespace qjit
