#include "emitters/conv_avx2.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "emitters/generator.hpp"
#include "qjit/error.hpp"

namespace qjit {

using namespace Xbyak;
using namespace Xbyak::util;

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

const std::string& node_of(const QConvDesc& d) {
    static const std::string unnamed = "<qconv>";
    return d.fused_nodes.empty() ? unnamed : d.fused_nodes.front();
}

int disp32(int64_t v, const QConvDesc& d) {
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        throw Error(ErrorCode::UnsupportedOp, node_of(d), "conv layout offset does not fit a 32-bit displacement");
    return static_cast<int>(v);
}

bool is_fc(const ConvGeom& g) {
    const bool no_pad = g.PT == 0 && g.PL == 0 && g.PB == 0 && g.PR == 0;
    const bool pointwise_rows = g.H == 1 && g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1;
    const bool full_image = g.KH == g.H && g.KW == g.W && g.OH == 1 && g.OW == 1;
    return no_pad && (pointwise_rows || full_image);
}

// The packed weight stream (see conv_avx2.hpp), shared by the packer and the emitter.
constexpr int64_t kGroupQuads = 8;   // channel quads per weight group of the vpmaddubsw path
constexpr int64_t kGroupHeader = 32; // bytes before each group: byte 0 = 1 for vpmaddubsw

struct WeightLayout {
    int64_t B, V, CQ, khw, n_groups, block_bytes;
    bool maddubs;
    WeightLayout(const ConvGeom& g, const ConvBlocking& b)
        : B(b.oc_block()), V(b.oc_vecs), CQ(ceil_div(g.C, 4)), khw(g.KH * g.KW),
          n_groups(ceil_div(ceil_div(g.C, 4), kGroupQuads)), maddubs(b.maddubs) {
        block_bytes = khw * (CQ * V * 64 + (maddubs ? n_groups * kGroupHeader : 0));
    }
    int64_t group_quads(int64_t j) const { return std::min(kGroupQuads, CQ - j * kGroupQuads); }
};

// Spec §4.5: vpmaddubsw adds two u8 x s8 products in saturating s16. A pair of codes of the same
// sign may saturate unless (L_a - 1) * (|q_i| + |q_j|) <= 32767; pairs of opposite sign (or with a
// zero) never do. The pairs are channels (4q, 4q+1) and (4q+2, 4q+3) of every output channel.
bool maddubs_safe(const QConvDesc& d, const WeightLayout& w, int64_t blk, int64_t tap, int64_t group) {
    const ConvGeom& g = d.g;
    const int64_t amax = d.in.levels - 1;
    for (int64_t o = blk * w.B; o < std::min(g.OC, (blk + 1) * w.B); ++o)
        for (int64_t c = group * kGroupQuads * 4; c < std::min(g.C, (group + 1) * kGroupQuads * 4); c += 2) {
            const int64_t qi = d.w.q[static_cast<size_t>((o * g.C + c) * w.khw + tap)];
            const int64_t qj = c + 1 < g.C ? d.w.q[static_cast<size_t>((o * g.C + c + 1) * w.khw + tap)] : 0;
            if (((qi > 0 && qj > 0) || (qi < 0 && qj < 0)) && amax * (std::abs(qi) + std::abs(qj)) > 32767)
                return false;
        }
    return true;
}

std::string kernel_name(const QConvDesc& d, const QConvConsts& c, const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    std::string n = is_fc(g) ? "fc" : "conv";
    n += c.mode == EpilogueMode::Float ? "_u8s8_f32" : "_u8s8_u8";
    if (!is_fc(g)) {
        n += "_k" + std::to_string(g.KH) + "x" + std::to_string(g.KW) + "s" + std::to_string(g.SH);
        if (g.SW != g.SH) n += "x" + std::to_string(g.SW);
        if (g.DH != 1 || g.DW != 1) n += "d" + std::to_string(g.DH) + (g.DW != g.DH ? "x" + std::to_string(g.DW) : "");
    }
    if (c.has_n) n += "_zp";
    bool ss = false;
    for (const PostOp& op : d.post) {
        if (op.kind == PostOp::Clamp)
            n += op.lo == 0.0f && std::isinf(op.hi) && op.hi > 0 ? "_relu" : "_clamp";
        else if (op.kind != PostOp::Bias && !ss) {
            n += "_ss";
            ss = true;
        }
    }
    if (c.mode == EpilogueMode::Threshold) n += "_thr";
    return n + "_" + std::to_string(b.pixels) + "x" + std::to_string(b.oc_block()) + (b.maddubs ? "_ubs" : "") + "__avx2";
}

void validate(const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
              const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    auto bad = [&](const std::string& what) { throw Error(ErrorCode::InvalidArgument, node_of(d), what); };
    if (b.lanes != 8 || b.oc_vecs < 1 || b.pixels < 1 || b.pixels * b.oc_vecs > 12)
        bad("AVX2 conv blocking needs lanes 8 and pixels*oc_vecs <= 12");
    if (g.C < 1 || g.OC < 1 || g.KH < 1 || g.KW < 1 || g.OH < 1 || g.OW < 1 || g.SH < 1 || g.SW < 1 ||
        g.DH < 1 || g.DW < 1 || g.PT < 0 || g.PL < 0 || g.PB < 0 || g.PR < 0)
        bad("degenerate conv geometry " + g.str());
    if (g.K() > kMaxConvK)
        throw Error(ErrorCode::UnsupportedOp, node_of(d),
                    "reduction K = " + std::to_string(g.K()) + " > 65793 may overflow the s32 accumulator");
    if (in.H != g.H || in.W != g.W || in.C != g.C || in.elem_bytes != 1)
        bad("input layout does not match the conv input");
    if (out.H != g.OH || out.W != g.OW || out.C != g.OC)
        bad("output layout does not match the conv output");
    if (out.elem_bytes != (c.mode == EpilogueMode::Float ? 4 : 1))
        bad("output element size does not match the epilogue mode");
    if (in.c_stride % 16 != 0 || in.c_stride < g.C || out.c_stride % 16 != 0 || out.c_stride < g.OC)
        bad("c_stride must be a multiple of 16 and cover the channels");
    const ActLayout need = required_input_halo(g);
    if (in.halo_t < need.halo_t || in.halo_l < need.halo_l || in.halo_b < need.halo_b || in.halo_r < need.halo_r)
        bad("input halo too small for " + g.str());
    if (c.oc != g.OC || c.oc_pad < g.OC || static_cast<int64_t>(c.m.size()) != c.oc_pad ||
        static_cast<int64_t>(c.row_class.size()) != g.OH || static_cast<int64_t>(c.col_class.size()) != g.OW)
        bad("folded constants do not match the conv");
}

// Generates the kernel; see conv_avx2.hpp for the algorithm. Registers:
//   rdi args | rbx pool base | r8 input row (tap 0,0 of pixel ow=0) | r9 output of (row, block)
//   r10 input of the tile | r11 inner loop counter | r12 per-channel constants of the block
//   r13 E row of the block | r14 weights of the block | r15 ow of the tile | rax tap pointer
//   rdx weight pointer | rsi output of the tile | rcx kh counter | rbp kw counter
//   ymm0..11 accumulators (pixel-major) | ymm12..15 operands (ymm15: byte mask, then zero)
class ConvEmitter {
public:
    ConvEmitter(const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
                const ConvBlocking& b)
        : d_(d), c_(c), g_(d.g), in_(in), out_(out), P_(b.pixels), V_(b.oc_vecs), B_(b.oc_block()),
          wl_(d.g, b) {
        CQ_ = ceil_div(g_.C, 4);
        wstride_ = V_ * 64;
        wblock_ = wl_.block_bytes;
        nb_o_ = conv_oc_blocks(out, b);
        eb_ = out.elem_bytes;
        ocpe_ = nb_o_ * B_;
        // Integer bounds that can change a level: k_lo > 0, or k_hi < L-1 in a channel whose
        // constants are not all zero (an all-zero channel yields level 0 whatever its bounds).
        for (int64_t o = 0; c_.mode == EpilogueMode::Levels && o < g_.OC; ++o) {
            const size_t ou = static_cast<size_t>(o);
            bool zero = c_.m[ou] == 0.0f && c_.n[ou] == 0.0f;
            for (int64_t p = 0; zero && p < c_.n_row_classes * c_.n_col_classes; ++p)
                zero = c_.e[static_cast<size_t>(p * c_.oc_pad + o)] == 0.0f;
            if (c_.k_lo[ou] > 0) use_klo_ = true;
            if (c_.k_hi[ou] < static_cast<int32_t>(c_.v_max) && !zero) use_khi_ = true;
        }
        // Block kinds: every block but the last is full; the last computes the vectors that fit in
        // out.c_stride and writes level 0 / +0.0f to any channels of c_stride beyond the block.
        if (nb_o_ > 1) kinds_.push_back(Kind{V_, 0, nb_o_ - 1});
        const int64_t last_first = (nb_o_ - 1) * B_;
        const int64_t last_vecs = std::min<int64_t>(V_, (out.c_stride - last_first) / 8);
        kinds_.push_back(Kind{last_vecs, out.c_stride - last_first - last_vecs * 8, nb_o_});
    }

    size_t size_hint() const { return 16384 + static_cast<size_t>(kinds_.size()) * 24576 + pool_estimate(); }

    void operator()(Generator& gen) {
        G_ = &gen;
        build_pool();
        emit_body();
    }

private:
    struct Kind {
        int64_t vecs;          // accumulator vectors per pixel
        int64_t zero_channels; // channels after them (up to c_stride) written as 0
        int64_t end;           // blocks [previous kind's end, end)
    };

    static constexpr int kSlotS = 0, kSlotOh = 48, kSlotOcb = 56, kSlotDstRow = 64, kSlotERow = 72, kScratch = 80;

    const Reg64 r_args = rdi, r_pool = rbx, r_src_row = r8, r_outblk = r9, r_in_tile = r10, r_cnt = r11,
                r_cblk = r12, r_eblk = r13, r_wblk = r14, r_ow = r15, r_in = rax, r_w = rdx, r_out = rsi,
                r_kh = rcx, r_kw = rbp;

    Generator& G() { return *G_; }
    int d32(int64_t v) const { return disp32(v, d_); }
    Ymm acc(int64_t p, int64_t v, int64_t vn) const { return Ymm(static_cast<int>(p * vn + v)); }

    size_t pool_estimate() const {
        const int64_t vecs = 8 + c_.n_row_classes * c_.n_col_classes;
        return static_cast<size_t>(vecs * ocpe_ * 4 + (g_.OH + g_.OW) * 4 + 512);
    }

    // Per-channel vector padded to ocpe_ entries (`pad` beyond the folded oc_pad entries).
    template <class T> std::vector<T> padded(const std::vector<T>& v, size_t offset, T pad) const {
        std::vector<T> r(static_cast<size_t>(ocpe_), pad);
        const size_t n = std::min(static_cast<size_t>(c_.oc_pad), r.size());
        for (size_t i = 0; i < n; ++i) r[i] = v[offset + i];
        return r;
    }

    void build_pool() {
        Generator& g = G();
        // The per-channel vectors are addressed as [r12 + off], r12 = pool + ocb*B*4: keep them first.
        off_m_ = g.pool_f32(padded(c_.m, 0, 0.0f));
        if (c_.has_n) off_n_ = g.pool_f32(padded(c_.n, 0, 0.0f));
        if (use_klo_) off_klo_ = g.pool_i32(padded(c_.k_lo, 0, 0));
        if (use_khi_) off_khi_ = g.pool_i32(padded(c_.k_hi, 0, 0));
        if (c_.mode != EpilogueMode::Levels && c_.has_bounds) {
            off_ylo_ = g.pool_f32(padded(c_.y_lo, 0, 0.0f));
            off_yhi_ = g.pool_f32(padded(c_.y_hi, 0, 0.0f));
        }
        if (c_.mode == EpilogueMode::Threshold)
            off_thr_ = g.pool_f32(padded(c_.threshold, 0, std::numeric_limits<float>::infinity()));
        const int64_t n_pat = c_.n_row_classes * c_.n_col_classes;
        for (int64_t p = 0; p < n_pat; ++p) {
            const int off = g.pool_f32(padded(c_.e, static_cast<size_t>(p * c_.oc_pad), 0.0f));
            if (p == 0) off_e_ = off;
        }
        off_vmax_ = g.pool_f32(std::vector<float>(8, c_.v_max));
        off_lm1_ = g.pool_i32(std::vector<int32_t>(8, c_.out_levels - 1));
        off_lowbytes_ = g.pool_i32(std::vector<int32_t>(8, 0x00FF00FF));
        if (wl_.maddubs) off_ones_ = g.pool_i32(std::vector<int32_t>(8, 0x00010001));
        std::vector<uint8_t> smask(32, 0); // channels of the last, partial chunk of the window sum
        for (int64_t i = 0; i < g_.C % 32; ++i) smask[static_cast<size_t>(i)] = 0xFF;
        off_smask_ = g.pool_u8(smask);
        const int64_t pat_bytes = ocpe_ * 4;
        if (c_.n_row_classes > 1) {
            std::vector<int32_t> t(static_cast<size_t>(g_.OH));
            for (int64_t i = 0; i < g_.OH; ++i)
                t[static_cast<size_t>(i)] = static_cast<int32_t>(c_.row_class[static_cast<size_t>(i)] * c_.n_col_classes * pat_bytes);
            off_rowtab_ = g.pool_i32(t);
        }
        if (c_.n_col_classes > 1) {
            std::vector<int32_t> t(static_cast<size_t>(g_.OW));
            for (int64_t i = 0; i < g_.OW; ++i)
                t[static_cast<size_t>(i)] = static_cast<int32_t>(c_.col_class[static_cast<size_t>(i)] * pat_bytes);
            off_coltab_ = g.pool_i32(t);
        }
    }

    void emit_body() {
        Generator& g = G();
        g.preamble({rbx, rbp, r12, r13, r14, r15}, kScratch);
        g.load_pool_base(r_pool);
        Label l_oh, l_done, l_ocb, l_ocb_next, l_ocb_done;
        g.mov(rax, g.qword[r_args + offsetof(ConvArgs, oh_begin)]);
        g.mov(g.qword[rsp + kSlotOh], rax);
        g.L(l_oh);
        g.mov(rax, g.qword[rsp + kSlotOh]);
        g.cmp(rax, g.qword[r_args + offsetof(ConvArgs, oh_end)]);
        g.jge(l_done, g.T_NEAR);
        // r8 = src + (oh*SH - PT)*rs_in - PL*cs_in: the tap (0,0) of output pixel (oh, 0).
        g.imul(rcx, rax, d32(g_.SH * in_.row_stride()));
        g.mov(r_src_row, g.qword[r_args + offsetof(ConvArgs, src)]);
        g.lea(r_src_row, g.ptr[r_src_row + rcx + d32(-g_.PT * in_.row_stride() - g_.PL * in_.c_stride)]);
        g.imul(rcx, rax, d32(out_.row_stride() * eb_));
        g.add(rcx, g.qword[r_args + offsetof(ConvArgs, dst)]);
        g.mov(g.qword[rsp + kSlotDstRow], rcx);
        if (off_rowtab_ >= 0) {
            g.movsxd(rcx, g.dword[r_pool + rax * 4 + off_rowtab_]);
            g.mov(g.qword[rsp + kSlotERow], rcx);
        }
        g.mov(rax, g.qword[r_args + offsetof(ConvArgs, ocb_begin)]);
        g.mov(g.qword[rsp + kSlotOcb], rax);

        g.L(l_ocb);
        g.mov(rax, g.qword[rsp + kSlotOcb]);
        g.cmp(rax, g.qword[r_args + offsetof(ConvArgs, ocb_end)]);
        g.jge(l_ocb_done, g.T_NEAR);
        g.imul(rcx, rax, d32(B_ * 4));
        g.lea(r_cblk, g.ptr[r_pool + rcx]);
        g.lea(r_eblk, g.ptr[r_cblk + off_e_]);
        if (off_rowtab_ >= 0) g.add(r_eblk, g.qword[rsp + kSlotERow]);
        g.imul(rcx, rax, d32(B_ * eb_));
        g.mov(r_outblk, g.qword[rsp + kSlotDstRow]);
        g.add(r_outblk, rcx);
        g.imul(rcx, rax, d32(wblock_));
        g.mov(r_wblk, g.qword[r_args + offsetof(ConvArgs, wei)]);
        g.add(r_wblk, rcx);
        std::vector<Label> l_kind(kinds_.size());
        for (size_t i = 0; i + 1 < kinds_.size(); ++i) {
            g.cmp(rax, d32(kinds_[i].end));
            g.jl(l_kind[i], g.T_NEAR);
        }
        for (size_t i = kinds_.size(); i-- > 0;) { // the last kind falls through
            g.L(l_kind[i]);
            emit_row_block(kinds_[i]);
            g.jmp(l_ocb_next, g.T_NEAR);
        }
        g.L(l_ocb_next);
        g.inc(g.qword[rsp + kSlotOcb]);
        g.jmp(l_ocb, g.T_NEAR);

        g.L(l_ocb_done);
        g.inc(g.qword[rsp + kSlotOh]);
        g.jmp(l_oh, g.T_NEAR);
        g.L(l_done);
        g.postamble();
    }

    // All ow tiles of one (row, block).
    void emit_row_block(const Kind& k) {
        Generator& g = G();
        const int64_t px_out = out_.c_stride * eb_;
        zero_channels_ = k.zero_channels;
        const int64_t n_full = g_.OW / P_, tail = g_.OW % P_;
        g.mov(r_in_tile, r_src_row);
        g.mov(r_out, r_outblk);
        g.xor_(r_ow, r_ow);
        if (n_full > 0) {
            Label l_tile;
            g.L(l_tile);
            emit_tile(P_, k.vecs);
            if (n_full > 1 || tail > 0) {
                g.add(r_in_tile, d32(P_ * g_.SW * in_.c_stride));
                g.add(r_out, d32(P_ * px_out));
                g.add(r_ow, P_);
            }
            if (n_full > 1) {
                g.cmp(r_ow, d32(n_full * P_));
                g.jl(l_tile, g.T_NEAR);
            }
        }
        if (tail > 0) emit_tile(tail, k.vecs);
    }

    void emit_tile(int64_t pn, int64_t vn) {
        if (c_.has_n) emit_window_sum(pn);
        emit_dot(pn, vn);
        emit_epilogue(pn, vn);
    }

    // Emits `body(disp)` for every tap (kh, kw); rax points at tap (0,0) of pixel 0 and the tap is at
    // rax + disp. `units` = unrolled size of one body, to decide how much of the tap loops to unroll.
    template <class Body> void for_each_tap(int64_t units, Body&& body) {
        Generator& g = G();
        const int64_t col = g_.DW * in_.c_stride, row = g_.DH * in_.row_stride();
        const bool unroll_kw = g_.KW * units <= 16;
        const bool unroll_kh = unroll_kw && g_.KH * g_.KW * units <= 16;
        g.mov(r_in, r_in_tile);
        auto kw_part = [&](int64_t disp) {
            if (g_.KW > 1 && !unroll_kw) {
                Label l;
                g.mov(r_kw, g_.KW);
                g.L(l);
                body(disp);
                g.add(r_in, d32(col));
                g.dec(r_kw);
                g.jnz(l, g.T_NEAR);
                g.sub(r_in, d32(g_.KW * col));
            } else {
                for (int64_t kw = 0; kw < g_.KW; ++kw) body(disp + kw * col);
            }
        };
        if (g_.KH > 1 && !unroll_kh) {
            Label l;
            g.mov(r_kh, g_.KH);
            g.L(l);
            kw_part(0);
            g.add(r_in, d32(row));
            g.dec(r_kh);
            g.jnz(l, g.T_NEAR);
        } else {
            for (int64_t kh = 0; kh < g_.KH; ++kh) kw_part(kh * row);
        }
    }

    // Emits step(off, j) for j in [0, n), the step's operand at rax + off: fully unrolled when
    // n <= max_unroll (off = j*stride), else a loop of `unroll` steps per iteration that moves rax by
    // unroll*stride (and calls advance(unroll) for the caller's other pointers), a remainder, and rax
    // restored. Returns the number of trailing steps whose advance the caller still owes.
    template <class Step, class Advance>
    int64_t for_each_step(int64_t n, int64_t stride, Step&& step, Advance&& advance, int64_t max_unroll = 8,
                          int64_t unroll = 4) {
        Generator& g = G();
        if (n <= max_unroll) {
            for (int64_t j = 0; j < n; ++j) step(j * stride, j);
            return n;
        }
        const int64_t iters = n / unroll, rem = n % unroll;
        Label l;
        g.mov(r_cnt, iters);
        g.L(l);
        for (int64_t j = 0; j < unroll; ++j) step(j * stride, j);
        g.add(r_in, d32(unroll * stride));
        advance(unroll);
        g.dec(r_cnt);
        g.jnz(l, g.T_NEAR);
        for (int64_t j = 0; j < rem; ++j) step(j * stride, j);
        g.sub(r_in, d32(iters * unroll * stride));
        return rem;
    }

    // Window sum S of each pixel, as fp32 in the scratch slots: vpsadbw over the channel bytes.
    void emit_window_sum(int64_t pn) {
        Generator& g = G();
        const Ymm zero = ymm15, t = ymm14;
        g.vpxor(zero, zero, zero);
        for (int64_t p = 0; p < pn; ++p) g.vpxor(Ymm(static_cast<int>(p)), Ymm(static_cast<int>(p)), Ymm(static_cast<int>(p)));
        const int64_t n_plain = g_.C / 32;
        const int64_t rem = round_up16(g_.C) - n_plain * 32; // 0, 16 or 32 bytes
        const int64_t pix = g_.SW * in_.c_stride;
        auto chunk = [&](int64_t disp, int64_t bytes, bool masked) {
            for (int64_t p = 0; p < pn; ++p) {
                const Ymm s(static_cast<int>(p));
                const Address a = g.ptr[r_in + d32(disp + p * pix)];
                if (bytes == 32) {
                    g.vmovdqu(t, a);
                    if (masked) g.vpand(t, t, g.ptr[r_pool + off_smask_]);
                    g.vpsadbw(t, t, zero);
                } else {
                    g.vmovdqu(Xmm(t.getIdx()), a);
                    if (masked) g.vpand(Xmm(t.getIdx()), Xmm(t.getIdx()), g.ptr[r_pool + off_smask_]);
                    g.vpsadbw(Xmm(t.getIdx()), Xmm(t.getIdx()), Xmm(zero.getIdx()));
                }
                g.vpaddq(s, s, t);
            }
        };
        const int64_t units = std::min<int64_t>(n_plain, 8) + (rem > 0);
        for_each_tap(units, [&](int64_t disp) {
            for_each_step(n_plain, 32, [&](int64_t off, int64_t) { chunk(disp + off, 32, false); }, [](int64_t) {});
            if (rem > 0) chunk(disp + n_plain * 32, rem, g_.C < n_plain * 32 + rem);
        });
        for (int64_t p = 0; p < pn; ++p) {
            const Xmm s(static_cast<int>(p)), x(t.getIdx());
            g.vextracti128(x, Ymm(s.getIdx()), 1);
            g.vpaddq(s, s, x);
            g.vpshufd(x, s, 0x4E);
            g.vpaddq(s, s, x);
            g.vcvtdq2ps(s, s);
            g.vmovss(g.dword[rsp + kSlotS + p * 4], s);
        }
    }

    void emit_dot(int64_t pn, int64_t vn) {
        Generator& g = G();
        const Ymm mask = ymm15, xb = ymm14, xa = ymm13, t = ymm12;
        for (int64_t i = 0; i < pn * vn; ++i) g.vpxor(Ymm(static_cast<int>(i)), Ymm(static_cast<int>(i)), Ymm(static_cast<int>(i)));
        g.vmovdqa(mask, g.ptr[r_pool + off_lowbytes_]);
        g.mov(r_w, r_wblk);
        const int64_t pix = g_.SW * in_.c_stride;
        auto quad = [&](int64_t in_disp, int64_t w_disp) {
            for (int64_t p = 0; p < pn; ++p) {
                g.vpbroadcastd(xb, g.ptr[r_in + d32(in_disp + p * pix)]);
                g.vpand(xa, xb, mask);
                g.vpsrlw(xb, xb, 8);
                for (int64_t v = 0; v < vn; ++v) {
                    g.vpmaddwd(t, xa, g.ptr[r_w + d32(w_disp + v * 64)]);
                    g.vpaddd(acc(p, v, vn), acc(p, v, vn), t);
                    g.vpmaddwd(t, xb, g.ptr[r_w + d32(w_disp + v * 64 + 32)]);
                    g.vpaddd(acc(p, v, vn), acc(p, v, vn), t);
                }
            }
        };
        if (wl_.maddubs) {
            emit_dot_groups(pn, vn, quad);
            return;
        }
        for_each_tap(std::min<int64_t>(CQ_, 8), [&](int64_t disp) {
            const int64_t owed = for_each_step(
                CQ_, 4, [&](int64_t off, int64_t j) { quad(disp + off, j * wstride_); },
                [&](int64_t n) { g.add(r_w, d32(n * wstride_)); });
            if (owed > 0) g.add(r_w, d32(owed * wstride_));
        });
    }

    // The reduction with per-group forms: every group of up to 8 channel quads of a tap starts with
    // a header whose flag selects vpmaddubsw (+ vpmaddwd by ones) or the exact vpmaddwd form.
    template <class ExactQuad> void emit_dot_groups(int64_t pn, int64_t vn, ExactQuad&& exact_quad) {
        Generator& g = G();
        const Ymm xb = ymm14, ones = ymm13, t = ymm12;
        const int64_t pix = g_.SW * in_.c_stride;
        auto fast_quad = [&](int64_t in_disp, int64_t w_disp) {
            for (int64_t p = 0; p < pn; ++p) {
                g.vpbroadcastd(xb, g.ptr[r_in + d32(in_disp + p * pix)]);
                for (int64_t v = 0; v < vn; ++v) {
                    g.vpmaddubsw(t, xb, g.ptr[r_w + d32(w_disp + v * 32)]); // u8 x s8 pairs, proven exact
                    g.vpmaddwd(t, t, ones);
                    g.vpaddd(acc(p, v, vn), acc(p, v, vn), t);
                }
            }
        };
        auto group = [&](int64_t disp, int64_t nq) {
            Label fast, join;
            g.add(r_w, kGroupHeader);
            g.cmp(g.byte[r_w - kGroupHeader], 0);
            g.jne(fast, g.T_NEAR);
            for (int64_t q = 0; q < nq; ++q) exact_quad(disp + q * 4, q * wstride_);
            g.add(r_w, d32(nq * wstride_));
            g.jmp(join, g.T_NEAR);
            g.L(fast);
            g.vmovdqa(ones, g.ptr[r_pool + off_ones_]);
            for (int64_t q = 0; q < nq; ++q) fast_quad(disp + q * 4, q * V_ * 32);
            g.add(r_w, d32(nq * V_ * 32));
            g.L(join);
        };
        for_each_tap(std::min<int64_t>(CQ_, kGroupQuads), [&](int64_t disp) {
            const int64_t full = CQ_ / kGroupQuads, rem = CQ_ % kGroupQuads;
            for_each_step(
                full, kGroupQuads * 4, [&](int64_t off, int64_t) { group(disp + off, kGroupQuads); }, [](int64_t) {},
                1, 1);
            if (rem > 0) group(disp + full * kGroupQuads * 4, rem);
        });
    }

    void emit_epilogue(int64_t pn, int64_t vn) {
        Generator& g = G();
        const Ymm zero = ymm15, fs = ymm14, t = ymm13;
        const bool levels = c_.mode == EpilogueMode::Levels;
        if (levels) g.vpxor(zero, zero, zero);
        for (int64_t p = 0; p < pn; ++p) {
            if (off_coltab_ >= 0) g.movsxd(r_in, g.dword[r_pool + r_ow * 4 + d32(off_coltab_ + p * 4)]);
            auto e_addr = [&](int64_t v) {
                return off_coltab_ >= 0 ? g.ptr[r_eblk + r_in + d32(v * 32)] : g.ptr[r_eblk + d32(v * 32)];
            };
            if (c_.has_n) g.vbroadcastss(fs, g.dword[rsp + kSlotS + p * 4]);
            for (int64_t v = 0; v < vn; ++v) {
                const Ymm a = acc(p, v, vn);
                const int cv = d32(v * 32);
                g.vcvtdq2ps(a, a);
                g.vmovups(t, e_addr(v));
                if (c_.has_n) g.vfmadd231ps(t, fs, g.ptr[r_cblk + off_n_ + cv]); // fma(fS, N, E)
                g.vfmadd132ps(a, t, g.ptr[r_cblk + off_m_ + cv]);                // fma(f, M, acc)
                if (levels) {
                    g.vmaxps(a, a, zero); // NaN -> 0
                    g.vminps(a, a, g.ptr[r_pool + off_vmax_]);
                    g.vcvtps2dq(a, a); // RNE (MXCSR set by the preamble)
                    if (use_klo_) g.vpmaxsd(a, a, g.ptr[r_cblk + off_klo_ + cv]);
                    if (use_khi_) g.vpminsd(a, a, g.ptr[r_cblk + off_khi_ + cv]);
                    continue;
                }
                if (c_.has_bounds) {
                    g.vmaxps(a, a, g.ptr[r_cblk + off_ylo_ + cv]);
                    g.vminps(a, a, g.ptr[r_cblk + off_yhi_ + cv]);
                }
                if (c_.mode == EpilogueMode::Threshold) {
                    g.vcmpps(a, a, g.ptr[r_cblk + off_thr_ + cv], 0x1E); // GT_OQ: NaN -> false
                    g.vpand(a, a, g.ptr[r_pool + off_lm1_]);
                } else {
                    g.vmovups(g.ptr[r_out + d32((p * out_.c_stride + v * 8) * 4)], a);
                }
            }
            if (c_.mode != EpilogueMode::Float) store_levels(p, vn);
            if (zero_channels_ > 0) store_zeros(p, vn);
        }
    }

    // Packs the s32 levels (in [0, 255]) of pixel p to bytes and stores them in channel order.
    void store_levels(int64_t p, int64_t vn) {
        Generator& g = G();
        const Ymm t = ymm13, u = ymm14;
        const Xmm tx(t.getIdx()), ux(u.getIdx());
        int64_t v = 0;
        for (; v + 1 < vn; v += 2) {
            g.vpackusdw(t, acc(p, v, vn), acc(p, v + 1, vn)); // words: a0-3 b0-3 | a4-7 b4-7
            g.vextracti128(ux, t, 1);
            g.vpackuswb(tx, tx, ux);  // bytes: a0-3 b0-3 a4-7 b4-7
            g.vpshufd(tx, tx, 0xD8);  // a0-7 b0-7
            g.vmovdqu(g.ptr[r_out + d32(p * out_.c_stride + v * 8)], tx);
        }
        if (v < vn) {
            const Ymm a = acc(p, v, vn);
            g.vextracti128(ux, a, 1);
            g.vpackusdw(tx, Xmm(a.getIdx()), ux);
            g.vpackuswb(tx, tx, tx);
            g.vmovq(g.ptr[r_out + d32(p * out_.c_stride + v * 8)], tx);
        }
    }

    // Level 0 / +0.0f for the channels of pixel p after the block's vn vectors.
    void store_zeros(int64_t p, int64_t vn) {
        Generator& g = G();
        const Ymm z = ymm13;
        g.vpxor(z, z, z);
        const int64_t base = (p * out_.c_stride + vn * 8) * eb_, bytes = zero_channels_ * eb_;
        int64_t o = 0;
        for (; o + 32 <= bytes; o += 32) g.vmovdqu(g.ptr[r_out + d32(base + o)], z);
        if (o + 16 <= bytes) g.vmovdqu(g.ptr[r_out + d32(base + o)], Xmm(z.getIdx())), o += 16;
        if (o + 8 <= bytes) g.vmovq(g.ptr[r_out + d32(base + o)], Xmm(z.getIdx()));
    }

    const QConvDesc& d_;
    const QConvConsts& c_;
    const ConvGeom& g_;
    const ActLayout in_, out_;
    const int64_t P_, V_, B_;
    const WeightLayout wl_;
    int64_t CQ_ = 0, wstride_ = 0, wblock_ = 0, nb_o_ = 0, eb_ = 1, ocpe_ = 0;
    bool use_klo_ = false, use_khi_ = false;
    int64_t zero_channels_ = 0; // of the row block being emitted
    std::vector<Kind> kinds_;
    Generator* G_ = nullptr;
    int off_m_ = -1, off_n_ = -1, off_klo_ = -1, off_khi_ = -1, off_ylo_ = -1, off_yhi_ = -1, off_thr_ = -1,
        off_e_ = -1, off_vmax_ = -1, off_lm1_ = -1, off_lowbytes_ = -1, off_smask_ = -1, off_rowtab_ = -1,
        off_coltab_ = -1, off_ones_ = -1;
};

} // namespace

ActLayout required_input_halo(const ConvGeom& g) {
    ActLayout l;
    l.N = g.N;
    l.H = g.H;
    l.W = g.W;
    l.C = g.C;
    l.c_stride = round_up16(g.C);
    l.elem_bytes = 1;
    l.halo_t = g.PT;
    l.halo_l = g.PL;
    l.halo_b = std::max<int64_t>(0, (g.OH - 1) * g.SH - g.PT + (g.KH - 1) * g.DH - (g.H - 1));
    l.halo_r = std::max<int64_t>(0, (g.OW - 1) * g.SW - g.PL + (g.KW - 1) * g.DW - (g.W - 1));
    return l;
}

int64_t conv_oc_blocks(const ActLayout& out, const ConvBlocking& b) { return ceil_div(out.C, b.oc_block()); }

std::vector<ConvBlocking> conv_blockings_avx2() {
    std::vector<ConvBlocking> r;
    for (bool maddubs : {false, true})
        for (int v = 1; v <= 4; ++v)
            for (int p = 1; p * v <= 12; ++p) r.push_back(ConvBlocking{p, v, 8, maddubs});
    return r;
}

ConvBlocking choose_conv_blocking_avx2(const QConvDesc& d, const QConvConsts&) {
    const ConvGeom& g = d.g;
    // Output-channel vectors: the best fraction of useful work per channel quad, which is
    // (real / padded channels) * 4V / (2 + 4V): per pixel a quad costs 2 operand ops + 4 per vector.
    int best_v = 1;
    double best_eff = 0.0;
    for (int v = 1; v <= 4; ++v) {
        const double padded = static_cast<double>(ceil_div(g.OC, 8 * v) * 8 * v);
        const double eff = static_cast<double>(g.OC) / padded * (4.0 * v) / (2.0 + 4.0 * v);
        if (eff > best_eff) best_eff = eff, best_v = v;
    }
    // Pixels: as many as the 12 accumulators allow, then fewer if that removes tiles.
    const int max_p = static_cast<int>(std::min<int64_t>(12 / best_v, g.OW));
    int best_p = max_p;
    for (int p = max_p; p >= std::max(1, max_p / 2); --p)
        if (ceil_div(g.OW, p) < ceil_div(g.OW, best_p)) best_p = p;
    // The vpmaddubsw path gains about 25% in the groups that may take it and costs nothing
    // measurable in the others; take it when at least half of the groups pass the proof.
    ConvBlocking b{best_p, best_v, 8, true};
    if (d.w.q.size() != static_cast<size_t>(g.OC * g.K())) {
        b.maddubs = false;
        return b;
    }
    const ConvMaddubsGroups mg = conv_maddubs_groups_avx2(d, b);
    b.maddubs = 2 * mg.fast >= mg.total && mg.fast > 0;
    return b;
}

ConvMaddubsGroups conv_maddubs_groups_avx2(const QConvDesc& d, const ConvBlocking& b) {
    const WeightLayout w(d.g, b);
    ConvMaddubsGroups r;
    for (int64_t blk = 0; blk < ceil_div(d.g.OC, w.B); ++blk)
        for (int64_t k = 0; k < w.khw; ++k)
            for (int64_t j = 0; j < w.n_groups; ++j) {
                ++r.total;
                if (maddubs_safe(d, w, blk, k, j)) ++r.fast;
            }
    return r;
}

PackedWeights pack_conv_weights_avx2(const QConvDesc& d, const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    const WeightLayout w(g, b);
    const int64_t nb = ceil_div(g.OC, w.B);
    const size_t bytes = static_cast<size_t>(nb * w.block_bytes);
    auto* raw = static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>((bytes + 63) / 64 * 64, 64)));
    if (raw == nullptr) throw Error(ErrorCode::Internal, node_of(d), "out of memory packing weights");
    PackedWeights pw;
    pw.data = std::shared_ptr<uint8_t>(raw, [](uint8_t* p) { std::free(p); });
    pw.bytes = bytes;
    std::memset(raw, 0, bytes);
    auto code = [&](int64_t o, int64_t c, int64_t k) -> int8_t {
        if (o >= g.OC || c >= g.C) return 0;
        return d.w.q[static_cast<size_t>((o * g.C + c) * w.khw + k)];
    };
    // Exact form of quads [q0, q0 + nq): per quad and vector, (w[c0], w[c0+2]) then (w[c0+1], w[c0+3])
    // as s16 pairs for the 8 lanes.
    auto put_exact = [&](uint8_t* at, int64_t blk, int64_t k, int64_t q0, int64_t nq) {
        auto* out = reinterpret_cast<int16_t*>(at);
        size_t i = 0;
        for (int64_t q = q0; q < q0 + nq; ++q)
            for (int64_t v = 0; v < w.V; ++v)
                for (int64_t h = 0; h < 2; ++h)
                    for (int64_t l = 0; l < 8; ++l) {
                        const int64_t o = blk * w.B + v * 8 + l, c0 = 4 * q + h;
                        out[i++] = code(o, c0, k);
                        out[i++] = code(o, c0 + 2, k);
                    }
        return at + nq * w.V * 64;
    };
    // vpmaddubsw form: per quad and vector, the 4 codes of each lane as s8.
    auto put_fast = [&](uint8_t* at, int64_t blk, int64_t k, int64_t q0, int64_t nq) {
        for (int64_t q = q0; q < q0 + nq; ++q)
            for (int64_t v = 0; v < w.V; ++v)
                for (int64_t l = 0; l < 8; ++l)
                    for (int64_t j = 0; j < 4; ++j) *at++ = static_cast<uint8_t>(code(blk * w.B + v * 8 + l, 4 * q + j, k));
        return at;
    };
    for (int64_t blk = 0; blk < nb; ++blk) {
        uint8_t* at = raw + blk * w.block_bytes;
        for (int64_t k = 0; k < w.khw; ++k) {
            if (!w.maddubs) {
                at = put_exact(at, blk, k, 0, w.CQ);
                continue;
            }
            for (int64_t j = 0; j < w.n_groups; ++j) {
                const bool fast = maddubs_safe(d, w, blk, k, j);
                at[0] = fast ? 1 : 0;
                at += kGroupHeader;
                at = fast ? put_fast(at, blk, k, j * kGroupQuads, w.group_quads(j))
                          : put_exact(at, blk, k, j * kGroupQuads, w.group_quads(j));
            }
        }
    }
    return pw;
}

std::unique_ptr<JitKernel> emit_conv_avx2(const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                          const ActLayout& out, const ConvBlocking& b) {
    validate(d, c, in, out, b);
    ConvEmitter e(d, c, in, out, b);
    auto k = build_kernel(kernel_name(d, c, b), e.size_hint(), [&](Generator& g) { e(g); });
    k->constants = c.constant_count();
    return k;
}

} // namespace qjit
