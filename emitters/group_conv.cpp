#include "emitters/dwconv_avx2.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "emitters/epilogue_avx2.hpp"
#include "emitters/generator.hpp"
#include "qjit/error.hpp"

namespace qjit {

using namespace Xbyak;
using namespace Xbyak::util;

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

const std::string& node_of(const QConvDesc& d) {
    static const std::string unnamed = "<group_conv>";
    return d.fused_nodes.empty() ? unnamed : d.fused_nodes.front();
}

int disp32(int64_t v, const QConvDesc& d) {
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        throw Error(ErrorCode::UnsupportedOp, node_of(d), "group conv layout offset does not fit a 32-bit displacement");
    return static_cast<int>(v);
}

// Depthwise with multiplier 1: lane o reads input channel o (consecutive bytes).
bool contiguous(const ConvGeom& g) { return g.Cg() == 1 && g.OCg() == 1; }

bool has_s(const QConvConsts& c) { return c.has_n; }

std::string kernel_name(const QConvDesc& d, const QConvConsts& c, const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    std::string n = g.Cg() == 1 ? "dwconv" : "gconv";
    n += c.mode == EpilogueMode::Float ? "_u8s8_f32" : "_u8s8_u8";
    n += "_k" + std::to_string(g.KH) + "x" + std::to_string(g.KW) + "s" + std::to_string(g.SH);
    if (g.SW != g.SH) n += "x" + std::to_string(g.SW);
    if (g.DH != 1 || g.DW != 1) n += "d" + std::to_string(g.DH) + (g.DW != g.DH ? "x" + std::to_string(g.DW) : "");
    if (g.Cg() > 1) n += "_g" + std::to_string(g.groups);
    if (g.OCg() > 1) n += "_m" + std::to_string(g.OCg());
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
    return n + "_" + std::to_string(b.pixels) + "x" + std::to_string(b.oc_block()) + (contiguous(g) ? "" : "_gather") +
           "__avx2";
}

bool blocking_ok(const ConvBlocking& b, const QConvConsts& c) {
    return b.lanes == 8 && (b.oc_vecs == 1 || b.oc_vecs == 2) && b.pixels >= 1 && !b.maddubs &&
           b.pixels * b.oc_vecs * (has_s(c) ? 2 : 1) <= 12;
}

void validate(const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
              const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    auto bad = [&](const std::string& what) { throw Error(ErrorCode::InvalidArgument, node_of(d), what); };
    if (!blocking_ok(b, c)) bad("group conv blocking needs lanes 8, oc_vecs 1 or 2 and at most 12 accumulators");
    if (g.C < 1 || g.OC < 1 || g.groups < 2 || g.C % g.groups != 0 || g.OC % g.groups != 0 || g.KH < 1 ||
        g.KW < 1 || g.OH < 1 || g.OW < 1 || g.SH < 1 || g.SW < 1 || g.DH < 1 || g.DW < 1 || g.PT < 0 || g.PL < 0 ||
        g.PB < 0 || g.PR < 0)
        bad("degenerate group conv geometry " + g.str());
    if (g.K() > kMaxGroupConvK)
        throw Error(ErrorCode::UnsupportedOp, node_of(d),
                    "reduction K = " + std::to_string(g.K()) + " > 65793 may overflow the s32 accumulator");
    if (static_cast<int64_t>(d.w.q.size()) != g.OC * g.K()) bad("weight codes do not match the geometry");
    if (in.H != g.H || in.W != g.W || in.C != g.C || in.elem_bytes != 1) bad("input layout does not match the input");
    if (out.H != g.OH || out.W != g.OW || out.C != g.OC) bad("output layout does not match the output");
    if (out.elem_bytes != (c.mode == EpilogueMode::Float ? 4 : 1))
        bad("output element size does not match the epilogue mode");
    if (in.c_stride % 16 != 0 || in.c_stride < g.C || out.c_stride % 16 != 0 || out.c_stride < g.OC)
        bad("c_stride must be a multiple of 16 and cover the channels");
    const ActLayout need = required_group_conv_input_halo(g);
    if (in.halo_t < need.halo_t || in.halo_l < need.halo_l || in.halo_b < need.halo_b || in.halo_r < need.halo_r)
        bad("input halo too small for " + g.str());
    if (c.oc != g.OC || c.oc_pad < g.OC || static_cast<int64_t>(c.m.size()) != c.oc_pad ||
        static_cast<int64_t>(c.row_class.size()) != g.OH || static_cast<int64_t>(c.col_class.size()) != g.OW)
        bad("folded constants do not match the conv");
}

// Registers:
//   rdi args | rbx pool base | r8 input row (tap (0,0) of pixel ow = 0) | r9 output of (row, block)
//   r10 input of the tile | r11 channel loop counter | r12 per-channel constants of the block
//   r13 E row of the block | r14 weights of the block | r15 ow of the tile | rax tap pointer
//   rdx weight pointer | rsi output of the tile | rcx kh counter | rbp kw counter
//   ymm0.. accumulators D (pixel-major, then S when has_n) | ymm12 x | ymm13 t | ymm14 gather index
//   | ymm15 gather mask, then the epilogue's zero
class GroupConvEmitter {
public:
    GroupConvEmitter(const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
                     const ConvBlocking& b)
        : d_(d), c_(c), g_(d.g), in_(in), out_(out), P_(b.pixels), V_(b.oc_vecs), B_(b.oc_block()) {
        gather_ = !contiguous(g_);
        nb_ = ceil_div(g_.OC, B_);
        ocpe_ = nb_ * B_;
        eb_ = out.elem_bytes;
        wblock_ = g_.KH * g_.KW * g_.Cg() * V_ * 32;
        zero_tail_ = out.c_stride - ocpe_;
        for (int64_t o = 0; o < g_.OC && c_.mode == EpilogueMode::Levels; ++o) {
            const size_t ou = static_cast<size_t>(o);
            bool zero = c_.m[ou] == 0.0f && c_.n[ou] == 0.0f;
            for (int64_t p = 0; zero && p < c_.n_row_classes * c_.n_col_classes; ++p)
                zero = c_.e[static_cast<size_t>(p * c_.oc_pad + o)] == 0.0f;
            if (c_.k_lo[ou] > 0) use_klo_ = true;
            if (c_.k_hi[ou] < static_cast<int32_t>(c_.v_max) && !zero) use_khi_ = true;
        }
    }

    size_t size_hint() const {
        const int64_t units = g_.KH * g_.KW * std::min<int64_t>(g_.Cg(), 8);
        return static_cast<size_t>(16384 + 2 * units * P_ * V_ * 40 + pool_estimate());
    }

    void operator()(Generator& gen) {
        G_ = &gen;
        build_pool();
        emit_body();
    }

private:
    static constexpr int kSlotOh = 0, kSlotOcb = 8, kSlotDstRow = 16, kSlotERow = 24, kSlotBlkIn = 32, kScratch = 40;

    const Reg64 r_args = rdi, r_pool = rbx, r_src_row = r8, r_outblk = r9, r_in_tile = r10, r_cnt = r11,
                r_cblk = r12, r_eblk = r13, r_wblk = r14, r_ow = r15, r_in = rax, r_w = rdx, r_out = rsi,
                r_kh = rcx, r_kw = rbp;
    const Ymm y_x = ymm12, y_t = ymm13, y_idx = ymm14, y_mask = ymm15;

    Generator& G() { return *G_; }
    int d32(int64_t v) const { return disp32(v, d_); }
    Ymm acc(int64_t p, int64_t v, int64_t) const { return Ymm(static_cast<int>(p * V_ + v)); }
    Ymm sacc(int64_t p, int64_t v) const { return Ymm(static_cast<int>(P_ * V_ + p * V_ + v)); }

    size_t pool_estimate() const {
        const int64_t vecs = 10 + c_.n_row_classes * c_.n_col_classes;
        return static_cast<size_t>(vecs * ocpe_ * 4 + (g_.OH + g_.OW) * 4 + 1024);
    }

    template <class T> std::vector<T> padded(const std::vector<T>& v, size_t offset, T pad) const {
        std::vector<T> r(static_cast<size_t>(ocpe_), pad);
        const size_t n = std::min(static_cast<size_t>(c_.oc_pad), r.size());
        for (size_t i = 0; i < n; ++i) r[i] = v[offset + i];
        return r;
    }

    void build_pool() {
        Generator& g = G();
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
        if (gather_) {
            // Byte offset, within a pixel, of each lane's input channel for j = 0.
            std::vector<int32_t> idx(static_cast<size_t>(ocpe_), 0);
            for (int64_t o = 0; o < g_.OC; ++o) idx[static_cast<size_t>(o)] = static_cast<int32_t>(o / g_.OCg() * g_.Cg());
            off_idx_ = g.pool_i32(idx);
            off_lowbyte_ = g.pool_i32(std::vector<int32_t>(8, 0xFF));
        }
        EpilogueAvx2::Form f;
        f.mode = c_.mode;
        f.has_n = c_.has_n;
        f.k_lo = use_klo_;
        f.k_hi = use_khi_;
        f.y_bounds = c_.mode != EpilogueMode::Levels && c_.has_bounds;
        epi_ = EpilogueAvx2(g, f, c_.v_max, c_.out_levels);
        const int64_t pat_bytes = ocpe_ * 4;
        if (c_.n_row_classes > 1) {
            std::vector<int32_t> t(static_cast<size_t>(g_.OH));
            for (int64_t i = 0; i < g_.OH; ++i)
                t[static_cast<size_t>(i)] =
                    static_cast<int32_t>(c_.row_class[static_cast<size_t>(i)] * c_.n_col_classes * pat_bytes);
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
        // Contiguous form: the block's first input channel is its first output channel.
        if (gather_)
            g.mov(g.qword[rsp + kSlotBlkIn], 0);
        else {
            g.imul(rcx, rax, d32(B_));
            g.mov(g.qword[rsp + kSlotBlkIn], rcx);
        }
        if (zero_tail_ > 0) {
            Label l_last;
            g.cmp(rax, d32(nb_ - 1));
            g.je(l_last, g.T_NEAR);
            emit_row_block(0);
            g.jmp(l_ocb_next, g.T_NEAR);
            g.L(l_last);
            emit_row_block(zero_tail_);
        } else {
            emit_row_block(0);
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

    // All ow tiles of one (row, block); `zero_tail` channels after the block are written as 0.
    void emit_row_block(int64_t zero_tail) {
        Generator& g = G();
        const int64_t px_out = out_.c_stride * eb_;
        const int64_t n_full = g_.OW / P_, tail = g_.OW % P_;
        g.mov(r_in_tile, r_src_row);
        g.add(r_in_tile, g.qword[rsp + kSlotBlkIn]);
        g.mov(r_out, r_outblk);
        g.xor_(r_ow, r_ow);
        if (n_full > 0) {
            Label l_tile;
            g.L(l_tile);
            emit_tile(P_, zero_tail);
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
        if (tail > 0) emit_tile(tail, zero_tail);
    }

    void emit_tile(int64_t pn, int64_t zero_tail) {
        emit_dot(pn);
        emit_epilogue(pn, zero_tail);
    }

    // One (tap, j) unit for every pixel and vector: the lanes' input levels at rax + in_disp (+ the
    // lane's channel offset), times the weights at rdx + w_disp.
    void emit_unit(int64_t pn, int64_t in_disp, int64_t w_disp) {
        Generator& g = G();
        const int64_t pix = g_.SW * in_.c_stride;
        for (int64_t v = 0; v < V_; ++v) {
            if (gather_) g.vmovdqu(y_idx, g.ptr[r_cblk + d32(off_idx_ + v * 32)]);
            for (int64_t p = 0; p < pn; ++p) {
                if (gather_) {
                    g.vpcmpeqd(y_mask, y_mask, y_mask);
                    g.vpgatherdd(y_x, g.ptr[r_in + y_idx + d32(in_disp + p * pix)], y_mask);
                    g.vpand(y_x, y_x, g.ptr[r_pool + off_lowbyte_]);
                } else {
                    g.vpmovzxbd(y_x, g.qword[r_in + d32(in_disp + p * pix + v * 8)]);
                }
                g.vpmaddwd(y_t, y_x, g.ptr[r_w + d32(w_disp + v * 32)]);
                g.vpaddd(acc(p, v, V_), acc(p, v, V_), y_t);
                if (c_.has_n) g.vpaddd(sacc(p, v), sacc(p, v), y_x);
            }
        }
    }

    // All input channels j of one tap at rax + disp; rdx at the tap's weights, advanced past them.
    void emit_tap(int64_t pn, int64_t disp) {
        Generator& g = G();
        const int64_t cg = g_.Cg(), wv = V_ * 32;
        if (cg <= 8) {
            for (int64_t j = 0; j < cg; ++j) emit_unit(pn, disp + j, j * wv);
            g.add(r_w, d32(cg * wv));
            return;
        }
        Label l;
        g.mov(r_cnt, cg);
        g.L(l);
        emit_unit(pn, disp, 0);
        g.inc(r_in);
        g.add(r_w, d32(wv));
        g.dec(r_cnt);
        g.jnz(l, g.T_NEAR);
        g.sub(r_in, d32(cg));
    }

    void emit_dot(int64_t pn) {
        Generator& g = G();
        for (int64_t i = 0; i < P_ * V_ * (c_.has_n ? 2 : 1); ++i) {
            const Ymm a(static_cast<int>(i));
            g.vpxor(a, a, a);
        }
        g.mov(r_w, r_wblk);
        g.mov(r_in, r_in_tile);
        const int64_t units = std::min<int64_t>(g_.Cg(), 8);
        const int64_t col = g_.DW * in_.c_stride, row = g_.DH * in_.row_stride();
        const bool unroll_kw = g_.KW * units <= 16;
        const bool unroll_kh = unroll_kw && g_.KH * g_.KW * units <= 16;
        auto kw_part = [&](int64_t disp) {
            if (g_.KW > 1 && !unroll_kw) {
                Label l;
                g.mov(r_kw, g_.KW);
                g.L(l);
                emit_tap(pn, disp);
                g.add(r_in, d32(col));
                g.dec(r_kw);
                g.jnz(l, g.T_NEAR);
                g.sub(r_in, d32(g_.KW * col));
            } else {
                for (int64_t kw = 0; kw < g_.KW; ++kw) emit_tap(pn, disp + kw * col);
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

    void emit_epilogue(int64_t pn, int64_t zero_tail) {
        Generator& g = G();
        const Ymm zero = ymm15, t = ymm13;
        epi_.prepare(g, zero);
        for (int64_t p = 0; p < pn; ++p) {
            if (off_coltab_ >= 0) g.movsxd(r_in, g.dword[r_pool + r_ow * 4 + d32(off_coltab_ + p * 4)]);
            std::vector<Ymm> res;
            for (int64_t v = 0; v < V_; ++v) {
                const int cv = d32(v * 32);
                const Address e = off_coltab_ >= 0 ? g.ptr[r_eblk + r_in + cv] : g.ptr[r_eblk + cv];
                EpilogueAvx2::Operands op{g.ptr[r_cblk + off_m_ + cv], e};
                if (c_.has_n) op.n = g.ptr[r_cblk + off_n_ + cv];
                if (use_klo_) op.k_lo = g.ptr[r_cblk + off_klo_ + cv];
                if (use_khi_) op.k_hi = g.ptr[r_cblk + off_khi_ + cv];
                if (off_ylo_ >= 0) op.y_lo = g.ptr[r_cblk + off_ylo_ + cv], op.y_hi = g.ptr[r_cblk + off_yhi_ + cv];
                if (off_thr_ >= 0) op.threshold = g.ptr[r_cblk + off_thr_ + cv];
                const Ymm a = acc(p, v, V_);
                if (c_.has_n) g.vcvtdq2ps(sacc(p, v), sacc(p, v));
                epi_.apply(g, a, c_.has_n ? sacc(p, v) : a, op, zero, t);
                if (!epi_.stores_levels()) g.vmovups(g.ptr[r_out + d32((p * out_.c_stride + v * 8) * 4)], a);
                res.push_back(a);
            }
            if (epi_.stores_levels())
                store_levels_avx2(g, res.data(), static_cast<int>(V_), r_out, d32(p * out_.c_stride), ymm13, ymm14);
            if (zero_tail > 0)
                store_zeros_avx2(g, r_out, d32((p * out_.c_stride + V_ * 8) * eb_), zero_tail * eb_, ymm13);
        }
    }

    const QConvDesc& d_;
    const QConvConsts& c_;
    const ConvGeom& g_;
    const ActLayout in_, out_;
    const int64_t P_, V_, B_;
    bool gather_ = false;
    int64_t nb_ = 0, ocpe_ = 0, eb_ = 1, wblock_ = 0, zero_tail_ = 0;
    bool use_klo_ = false, use_khi_ = false;
    EpilogueAvx2 epi_;
    Generator* G_ = nullptr;
    int off_m_ = -1, off_n_ = -1, off_klo_ = -1, off_khi_ = -1, off_ylo_ = -1, off_yhi_ = -1, off_thr_ = -1,
        off_e_ = -1, off_idx_ = -1, off_lowbyte_ = -1, off_rowtab_ = -1, off_coltab_ = -1;
};

} // namespace

bool group_conv_avx2_supports(const QConvDesc& d) {
    const ConvGeom& g = d.g;
    return g.groups > 1 && g.C % g.groups == 0 && g.OC % g.groups == 0 && g.K() <= kMaxGroupConvK;
}

ActLayout required_group_conv_input_halo(const ConvGeom& g) {
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
    if (!contiguous(g)) l.halo_r += 1; // the gathers' dword loads read up to 3 bytes past a pixel
    return l;
}

std::vector<ConvBlocking> group_conv_blockings_avx2(const QConvConsts& c) {
    std::vector<ConvBlocking> r;
    for (int v = 1; v <= 2; ++v)
        for (int p = 1; p * v * (has_s(c) ? 2 : 1) <= 12; ++p) r.push_back(ConvBlocking{p, v, 8, false});
    return r;
}

ConvBlocking choose_group_conv_blocking_avx2(const QConvDesc& d, const QConvConsts& c) {
    const ConvGeom& g = d.g;
    const int v = g.OC >= 16 ? 2 : 1;
    const int max_p = static_cast<int>(std::min<int64_t>(12 / (v * (has_s(c) ? 2 : 1)), g.OW));
    int best_p = max_p;
    for (int p = max_p; p >= std::max(1, max_p / 2); --p)
        if (ceil_div(g.OW, p) < ceil_div(g.OW, best_p)) best_p = p;
    return ConvBlocking{best_p, v, 8, false};
}

PackedWeights pack_group_conv_weights_avx2(const QConvDesc& d, const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    const int64_t B = b.oc_block(), V = b.oc_vecs, khw = g.KH * g.KW, cg = g.Cg();
    const int64_t nb = ceil_div(g.OC, B);
    const int64_t block_bytes = khw * cg * V * 32;
    const size_t bytes = static_cast<size_t>(nb * block_bytes);
    auto* raw = static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>((bytes + 63) / 64 * 64, 64)));
    if (raw == nullptr) throw Error(ErrorCode::Internal, node_of(d), "out of memory packing weights");
    PackedWeights pw;
    pw.data = std::shared_ptr<uint8_t>(raw, [](uint8_t* p) { std::free(p); });
    pw.bytes = bytes;
    std::memset(raw, 0, bytes);
    auto* out = reinterpret_cast<int32_t*>(raw);
    size_t i = 0;
    for (int64_t blk = 0; blk < nb; ++blk)
        for (int64_t k = 0; k < khw; ++k)
            for (int64_t j = 0; j < cg; ++j)
                for (int64_t v = 0; v < V; ++v)
                    for (int64_t l = 0; l < 8; ++l) {
                        const int64_t o = blk * B + v * 8 + l;
                        // s32 lane = (code, 0) as two s16: vpmaddwd with (k, 0) gives k * code exactly.
                        const int16_t q = o < g.OC ? d.w.q[static_cast<size_t>((o * cg + j) * khw + k)] : 0;
                        out[i++] = static_cast<int32_t>(static_cast<uint16_t>(q));
                    }
    return pw;
}

std::unique_ptr<JitKernel> emit_group_conv_avx2(const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                                const ActLayout& out, const ConvBlocking& b) {
    validate(d, c, in, out, b);
    GroupConvEmitter e(d, c, in, out, b);
    auto k = build_kernel(kernel_name(d, c, b), e.size_hint(), [&](Generator& g) { e(g); });
    k->constants = c.constant_count();
    return k;
}

} // namespace qjit
