#include "emitters/conv.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "emitters/conv_maddubs.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
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

bool is_vnni(Isa isa) { return isa == Isa::avx2_vnni || isa == Isa::avx512_core_vnni; }
int n_vregs(Isa isa) { return isa_lanes(isa) == 16 ? 32 : 16; }

// The sizes of the vpmaddubsw plan of `b` (no units: the emitter does not read the weights).
MaddubsPlan plan_shape(const ConvGeom& g, const ConvBlocking& b) {
    MaddubsSafety none;
    none.khw = g.KH * g.KW;
    none.CQ = ceil_div(g.C, 4);
    QConvDesc shape;
    shape.g = g;
    shape.g.OC = 0;
    return plan_maddubs(shape, none, b.oc_vecs, b.lanes);
}

// The packed weight stream (see conv.hpp and conv_maddubs.hpp), shared by the packer and the emitter.
struct WeightLayout {
    int64_t B, V, L, CQ, khw, block_bytes;
    int64_t quad_bytes; // bytes of one channel quad in the plain form (VNNI: s8 x4, else exact s16 pairs)
    bool maddubs, vnni;
    MaddubsPlan plan; // with maddubs
    // Segment split (spec §8.2; plain streams only): segment i covers channels [seg_c[i], seg_c[i+1]),
    // read as quads [seg_q0[i], seg_q0[i] + seg_nq[i]) whose codes outside the segment are 0; its
    // stream starts seg_off[i] bytes into the block.
    std::vector<int64_t> seg_c, seg_q0, seg_nq, seg_off;
    WeightLayout(const QConvDesc& d, const ConvBlocking& b)
        : B(b.oc_block()), V(b.oc_vecs), L(b.lanes), CQ(ceil_div(d.g.C, 4)), khw(d.g.KH * d.g.KW),
          maddubs(b.maddubs && !is_vnni(b.isa)), vnni(is_vnni(b.isa)) {
        quad_bytes = V * L * (vnni ? 4 : 8);
        seg_c = conv_segments(d);
        block_bytes = 0;
        for (size_t i = 0; i + 1 < seg_c.size(); ++i) {
            seg_q0.push_back(seg_c[i] / 4);
            seg_nq.push_back(ceil_div(seg_c[i + 1], 4) - seg_c[i] / 4);
            seg_off.push_back(block_bytes);
            block_bytes += khw * seg_nq.back() * quad_bytes;
        }
        if (maddubs) {
            plan = plan_shape(d.g, b);
            block_bytes = plan.block_bytes;
        }
    }
};

std::string kernel_name(const QConvDesc& d, const QConvConsts& c, const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    std::string n = is_fc(g) ? "fc" : "conv";
    n += c.mode == EpilogueMode::Float ? "_u8s8_f32" : "_u8s8_u8";
    if (!is_fc(g)) {
        n += "_k" + std::to_string(g.KH) + "x" + std::to_string(g.KW) + "s" + std::to_string(g.SH);
        if (g.SW != g.SH) n += "x" + std::to_string(g.SW);
        if (g.DH != 1 || g.DW != 1) n += "d" + std::to_string(g.DH) + (g.DW != g.DH ? "x" + std::to_string(g.DW) : "");
    }
    if (c.n_seg() > 1) n += "_seg" + std::to_string(c.n_seg());
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
    const bool ubs = b.maddubs && !is_vnni(b.isa);
    return n + "_" + std::to_string(b.pixels) + "x" + std::to_string(b.oc_block()) + (ubs ? "_ubs" : "") + "__" +
           to_string(b.isa);
}

void validate(const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
              const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    auto bad = [&](const std::string& what) { throw Error(ErrorCode::InvalidArgument, node_of(d), what); };
    if (!conv_blocking_fits(b))
        bad(std::string("conv blocking ") + std::to_string(b.pixels) + "x" + std::to_string(b.oc_vecs) + " lanes " +
            std::to_string(b.lanes) + " does not fit " + to_string(b.isa));
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
    if (b.maddubs && !is_vnni(b.isa) && conv_segments(d).size() > 2)
        throw Error(ErrorCode::UnsupportedOp, node_of(d), "the vpmaddubsw plan does not take a segment split (spec §8.2)");
    if (c.seg_c.size() > 2 && c.seg_c != conv_segments(d)) bad("folded segments do not match the input's activation steps");
    if (c.oc != g.OC || c.oc_pad < g.OC || static_cast<int64_t>(c.m.size()) != c.n_seg() * c.oc_pad ||
        static_cast<int64_t>(c.row_class.size()) != g.OH || static_cast<int64_t>(c.col_class.size()) != g.OW)
        bad("folded constants do not match the conv");
}

// Generates the kernel of level I; see conv.hpp for the algorithm. General registers:
//   rdi args | rbx pool base | r8 input row (tap 0,0 of pixel ow=0) | r9 output of (row, block)
//   r10 input of the tile | r11 inner loop counter | r12 per-channel constants of the block
//   r13 E row of the block | r14 weights of the block | r15 ow of the tile | rax tap pointer
//   rdx weight pointer | rsi output of the tile | rcx kh counter | rbp kw counter
// Vector registers (R = 16 or 32): accumulators 0 .. P*V-1 (pixel-major); the operands count down
// from R-1 (T(0) = R-1, T(1) = R-2, ...): the dot product's broadcast input, mask and weight
// vectors, then the epilogue's zero, fS and scratch.
template <Isa I> class ConvEmitter {
    using Tr = IsaTraits<I>;
    using Vmm = typename Tr::Vmm;
    using Ops = VecOps<I>;
    static constexpr int kL = Tr::lanes, kVB = Tr::vlen, kR = Tr::n_vregs;

public:
    ConvEmitter(const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
                const ConvBlocking& b)
        : d_(d), c_(c), g_(d.g), in_(in), out_(out), P_(b.pixels), V_(b.oc_vecs), B_(b.oc_block()), wl_(d, b) {
        CQ_ = ceil_div(g_.C, 4);
        n_seg_ = static_cast<int64_t>(wl_.seg_q0.size());
        wstride_ = wl_.quad_bytes;
        wblock_ = wl_.block_bytes;
        nb_o_ = conv_oc_blocks(out, b);
        eb_ = out.elem_bytes;
        ocpe_ = nb_o_ * B_;
        // Integer bounds that can change a level: k_lo > 0, or k_hi < L-1 in a channel whose
        // constants are not all zero (an all-zero channel yields level 0 whatever its bounds).
        for (int64_t o = 0; c_.mode == EpilogueMode::Levels && o < g_.OC; ++o) {
            const size_t ou = static_cast<size_t>(o);
            bool zero = true;
            for (int64_t i = 0; i < c_.n_seg(); ++i)
                zero = zero && c_.m[static_cast<size_t>(i * c_.oc_pad) + ou] == 0.0f && c_.n[static_cast<size_t>(i * c_.oc_pad) + ou] == 0.0f;
            for (int64_t p = 0; zero && p < c_.n_row_classes * c_.n_col_classes; ++p)
                zero = c_.e[static_cast<size_t>(p * c_.oc_pad + o)] == 0.0f;
            if (c_.k_lo[ou] > 0) use_klo_ = true;
            if (c_.k_hi[ou] < c_.out_levels - 1 && !zero) use_khi_ = true;
        }
        bool drop_klo = false;
        v_min_ = fold_uniform_klo(c_, g_.OC, kL, &drop_klo);
        if (drop_klo) use_klo_ = false;
        // Block kinds: every block but the last is full; the last computes the vectors that fit in
        // out.c_stride and writes level 0 / +0.0f to any channels of c_stride beyond the block.
        if (nb_o_ > 1) kinds_.push_back(Kind{V_, 0, nb_o_ - 1});
        const int64_t last_first = (nb_o_ - 1) * B_;
        const int64_t last_vecs = std::min<int64_t>(V_, (out.c_stride - last_first) / kL);
        const Kind last{last_vecs, out.c_stride - last_first - last_vecs * kL, nb_o_};
        // A full last block is the same kind as the others: one copy of the code (half the emission).
        if (!kinds_.empty() && last.vecs == V_ && last.zero_channels == 0) kinds_.back().end = nb_o_;
        else kinds_.push_back(last);
    }

    size_t size_hint() const {
        // The pattern loops of every emitted tile (full and tail, per kind).
        const int64_t plan_code = wl_.maddubs ? wl_.plan.n_patterns * (96 + P_ * (4 * V_ + 6) * 10) : 0;
        return 16384 + static_cast<size_t>(kinds_.size()) * (32768 + 2 * static_cast<size_t>(plan_code)) + pool_estimate();
    }

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

    // Stack scratch: S of up to 32 pixels (f32), then the loop state.
    static constexpr int kSlotS = 0, kSlotOh = 128, kSlotOcb = 136, kSlotDstRow = 144, kSlotERow = 152,
                         kScratch = 160;

    // Prefetch distances of the plan loop (bytes ahead in the weight and unit streams).
    static constexpr int kPrefetchWeights = 2048, kPrefetchTable = 256;

    const Reg64 r_args = rdi, r_pool = rbx, r_src_row = r8, r_outblk = r9, r_in_tile = r10, r_cnt = r11,
                r_cblk = r12, r_eblk = r13, r_wblk = r14, r_ow = r15, r_in = rax, r_w = rdx, r_out = rsi,
                r_kh = rcx, r_kw = rbp;

    Generator& G() { return *G_; }
    int d32(int64_t v) const { return disp32(v, d_); }
    static Vmm acc(int64_t p, int64_t v, int64_t vn) { return Vmm(static_cast<int>(p * vn + v)); }
    static Vmm T(int i) { return Vmm(kR - 1 - i); }

    size_t pool_estimate() const {
        const int64_t vecs = 9 + c_.n_row_classes * c_.n_col_classes;
        return static_cast<size_t>(vecs * ocpe_ * 4 + (g_.OH + g_.OW) * 4 + 1024);
    }

    // Per-channel vector padded to ocpe_ entries (`pad` beyond the folded oc_pad entries).
    template <class X> std::vector<X> padded(const std::vector<X>& v, size_t offset, X pad) const {
        return padded_channels(v, offset, static_cast<size_t>(c_.oc_pad), static_cast<size_t>(ocpe_), pad);
    }

    void build_pool() {
        Generator& g = G();
        // The per-channel vectors are addressed as [r12 + off], r12 = pool + ocb*B*4: keep them first.
        // M (and N) of segment i at off + i * ocpe_ * 4.
        auto per_segment = [&](const std::vector<float>& v) {
            std::vector<float> all;
            for (int64_t i = 0; i < n_seg_; ++i) {
                const std::vector<float> one = padded(v, static_cast<size_t>(i * c_.oc_pad), 0.0f);
                all.insert(all.end(), one.begin(), one.end());
            }
            return all;
        };
        off_m_ = g.pool_f32(per_segment(c_.m));
        if (c_.has_n) off_n_ = g.pool_f32(per_segment(c_.n));
        if (use_klo_) off_klo_ = g.pool_i32(padded(c_.k_lo, 0, 0));
        if (use_khi_) off_khi_ = g.pool_i32(padded(c_.k_hi, 0, 0));
        if (!c_.k_off.empty()) off_koff_ = g.pool_i32(padded(c_.k_off, 0, 0));
        if (c_.mode != EpilogueMode::Levels && c_.has_bounds) {
            off_ylo_ = g.pool_f32(padded(c_.y_lo, 0, 0.0f));
            off_yhi_ = g.pool_f32(padded(c_.y_hi, 0, 0.0f));
        }
        if (c_.mode == EpilogueMode::Threshold)
            off_thr_ = g.pool_f32(padded(c_.threshold, 0, std::numeric_limits<float>::infinity()));
        // E of every border pattern in one pool entry, pattern p at off_e_ + p * ocpe_ * 4.
        const int64_t n_pat = c_.n_row_classes * c_.n_col_classes;
        std::vector<float> e_all;
        for (int64_t p = 0; p < n_pat; ++p) {
            const std::vector<float> e = padded(c_.e, static_cast<size_t>(p * c_.oc_pad), 0.0f);
            e_all.insert(e_all.end(), e.begin(), e.end());
        }
        off_e_ = g.pool_f32(e_all);
        // Broadcast constants: a full vector for the VEX levels, a scalar ({1toN}) for EVEX.
        off_vmax_ = g.pool_f32(std::vector<float>(kL, c_.v_max));
        if (v_min_ != 0.0f) off_vmin_ = g.pool_f32(std::vector<float>(kL, v_min_));
        off_lm1_ = g.pool_i32(std::vector<int32_t>(kL, c_.out_levels - 1));
        off_lowbytes_ = g.pool_i32(std::vector<int32_t>(1, 0x00FF00FF));
        if (wl_.maddubs) build_plan_pool();
        if (c_.has_n) build_sum_chunks();
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
        // Scratch: the slots above, then (with segments) the partial sums of a tile.
        g.preamble({rbx, rbp, r12, r13, r14, r15}, kScratch + (n_seg_ > 1 ? static_cast<int>(P_ * V_ * kVB) : 0));
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
        g.mov(r_wblk, g.qword[r_args + offsetof(ConvArgs, wei)]);
        if (wl_.maddubs) { // blocks of their own length: the offset table (conv_maddubs.hpp)
            g.add(r_wblk, g.qword[r_wblk + rax * 8]);
        } else {
            g.imul(rcx, rax, d32(wblock_));
            g.add(r_wblk, rcx);
        }
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

    // Segments last to first (spec §8.2 nesting): each one's sums, then its fma step of the epilogue.
    void emit_tile(int64_t pn, int64_t vn) {
        for (int64_t i = n_seg_ - 1; i >= 0; --i) {
            seg_ = i;
            if (c_.has_n) emit_window_sum(pn);
            emit_dot(pn, vn);
            emit_epilogue(pn, vn);
        }
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

    // The window sum's chunks of each segment: from the segment's first channel rounded down to 16
    // to its last rounded up to 16, one vector each (the last may be 16..vlen-16 bytes); a chunk that
    // reaches outside the segment is masked: a byte mask (VEX) or an opmask (EVEX) from the pool.
    struct SumChunk {
        int64_t at, bytes;
        int mask = -1; // pool offset of the mask, -1: the whole chunk counts
    };
    void build_sum_chunks() {
        Generator& g = G();
        sum_chunks_.assign(static_cast<size_t>(n_seg_), {});
        for (int64_t i = 0; i < n_seg_; ++i) {
            const int64_t lo = wl_.seg_c[static_cast<size_t>(i)], hi = wl_.seg_c[static_cast<size_t>(i + 1)];
            const int64_t end = round_up16(hi);
            for (int64_t at = lo / 16 * 16; at < end;) {
                SumChunk ch{at, std::min<int64_t>(kVB, end - at)};
                if (at < lo || at + ch.bytes > hi || (Tr::evex && ch.bytes < kVB)) {
                    std::vector<uint8_t> m(static_cast<size_t>(kVB), 0);
                    for (int64_t c = std::max(lo, at); c < std::min(hi, at + ch.bytes); ++c) m[static_cast<size_t>(c - at)] = 0xFF;
                    if constexpr (Tr::evex) {
                        uint64_t bits = 0;
                        for (size_t j = 0; j < m.size(); ++j) bits |= m[j] ? 1ull << j : 0;
                        m.assign(reinterpret_cast<const uint8_t*>(&bits), reinterpret_cast<const uint8_t*>(&bits) + 8);
                    }
                    ch.mask = g.pool_u8(m);
                }
                sum_chunks_[static_cast<size_t>(i)].push_back(ch);
                at += ch.bytes;
            }
        }
    }

    // Window sum S of the segment's channels for each pixel, as fp32 in the scratch slots: vpsadbw
    // over the chunks of build_sum_chunks (a run of unmasked full chunks as a loop when long).
    void emit_window_sum(int64_t pn) {
        Generator& g = G();
        const Vmm zero = T(0), t = T(1);
        Ops::zero(g, zero);
        for (int64_t p = 0; p < pn; ++p) Ops::zero(g, Vmm(static_cast<int>(p)));
        const int64_t pix = g_.SW * in_.c_stride;
        const std::vector<SumChunk>& chunks = sum_chunks_[static_cast<size_t>(seg_)];
        auto chunk = [&](int64_t disp, const SumChunk& ch) {
            const bool masked = ch.mask >= 0;
            if constexpr (Tr::evex) {
                if (masked) g.kmovq(k2, g.ptr[r_pool + ch.mask]);
            }
            for (int64_t p = 0; p < pn; ++p) {
                const Vmm s(static_cast<int>(p));
                const Address a = g.ptr[r_in + d32(disp + ch.at + p * pix)];
                if constexpr (Tr::evex) {
                    if (masked) g.vmovdqu8(t | k2 | T_z, a);
                    else g.vmovdqu8(t, a);
                    g.vpsadbw(t, t, zero);
                    g.vpaddq(s, s, t);
                } else {
                    if (ch.bytes == 32) {
                        g.vmovdqu(t, a);
                        if (masked) g.vpand(t, t, g.ptr[r_pool + ch.mask]);
                        g.vpsadbw(t, t, zero);
                    } else {
                        const Xmm tx(t.getIdx());
                        g.vmovdqu(tx, a);
                        if (masked) g.vpand(tx, tx, g.ptr[r_pool + ch.mask]);
                        g.vpsadbw(tx, tx, Xmm(zero.getIdx()));
                    }
                    g.vpaddq(s, s, t);
                }
            }
        };
        // [first, last) of the unmasked full chunks (contiguous: masks only at the ends).
        size_t first = 0, last = chunks.size();
        while (first < last && (chunks[first].mask >= 0 || chunks[first].bytes < kVB)) ++first;
        while (last > first && (chunks[last - 1].mask >= 0 || chunks[last - 1].bytes < kVB)) --last;
        const int64_t n_plain = static_cast<int64_t>(last - first);
        const int64_t units = std::min<int64_t>(n_plain, 8) + static_cast<int64_t>(chunks.size()) - n_plain;
        for_each_tap(units, [&](int64_t disp) {
            for (size_t i = 0; i < first; ++i) chunk(disp, chunks[i]);
            if (n_plain > 0) {
                const SumChunk base = chunks[first];
                for_each_step(n_plain, kVB, [&](int64_t off, int64_t) { chunk(disp + off, base); }, [](int64_t) {});
            }
            for (size_t i = last; i < chunks.size(); ++i) chunk(disp, chunks[i]);
        });
        for (int64_t p = 0; p < pn; ++p) {
            const Vmm s(static_cast<int>(p));
            Ops::hadd_q(g, s, t);
            const Xmm sx(s.getIdx());
            g.vcvtdq2ps(sx, sx);
            g.vmovss(g.dword[rsp + kSlotS + p * 4], sx);
        }
    }

    void emit_dot(int64_t pn, int64_t vn) {
        Generator& g = G();
        for (int64_t i = 0; i < pn * vn; ++i) Ops::zero(g, Vmm(static_cast<int>(i)));
        if (wl_.maddubs) {
            emit_dot_plan(pn, vn);
            return;
        }
        g.lea(r_w, g.ptr[r_wblk + d32(wl_.seg_off[static_cast<size_t>(seg_)])]);
        if constexpr (Tr::vnni) {
            emit_dot_vnni(pn, vn);
            return;
        }
        const Vmm mask = T(0), xb = T(1), xa = T(2), t = T(3);
        g.vpbroadcastd(mask, g.dword[r_pool + off_lowbytes_]);
        const int64_t pix = g_.SW * in_.c_stride;
        auto quad = [&](int64_t in_disp, int64_t w_disp) {
            for (int64_t p = 0; p < pn; ++p) {
                g.vpbroadcastd(xb, g.dword[r_in + d32(in_disp + p * pix)]);
                Ops::vand(g, xa, xb, mask);
                g.vpsrlw(xb, xb, 8);
                for (int64_t v = 0; v < vn; ++v) {
                    g.vpmaddwd(t, xa, g.ptr[r_w + d32(w_disp + v * 2 * kVB)]);
                    g.vpaddd(acc(p, v, vn), acc(p, v, vn), t);
                    g.vpmaddwd(t, xb, g.ptr[r_w + d32(w_disp + v * 2 * kVB + kVB)]);
                    g.vpaddd(acc(p, v, vn), acc(p, v, vn), t);
                }
            }
        };
        const int64_t nq = seg_nq(), q_disp = 4 * seg_q0();
        for_each_tap(std::min<int64_t>(nq, 8), [&](int64_t disp) {
            const int64_t owed = for_each_step(
                nq, 4, [&](int64_t off, int64_t j) { quad(q_disp + disp + off, j * wstride_); },
                [&](int64_t n) { g.add(r_w, d32(n * wstride_)); });
            if (owed > 0) g.add(r_w, d32(owed * wstride_));
        });
    }

    // VNNI: vpdpbusd(acc, broadcast u8 quad, s8 weights). One pixel: the weights as memory operands,
    // and (when the registers allow) odd quads into a second accumulator set Vmm(vn + v), added at
    // the end, so that the vpdpbusd dependency chains are half as long; more pixels: the quad's vn
    // weight vectors in registers T(1..vn), shared by the pixels.
    void emit_dot_vnni(int64_t pn, int64_t vn) {
        Generator& g = G();
        const Vmm xb = T(0);
        const int64_t pix = g_.SW * in_.c_stride;
        const PreferredEncoding enc = Tr::evex ? EvexEncoding : VexEncoding;
        const bool split = pn == 1 && 2 * vn + 1 <= kR;
        if (split)
            for (int64_t v = 0; v < vn; ++v) Ops::zero(g, Vmm(static_cast<int>(vn + v)));
        auto quad = [&](int64_t in_disp, int64_t w_disp, int64_t j) {
            if (pn == 1) {
                g.vpbroadcastd(xb, g.dword[r_in + d32(in_disp)]);
                for (int64_t v = 0; v < vn; ++v) {
                    const Vmm a = split && (j & 1) ? Vmm(static_cast<int>(vn + v)) : acc(0, v, vn);
                    g.vpdpbusd(a, xb, g.ptr[r_w + d32(w_disp + v * kVB)], enc);
                }
                return;
            }
            for (int64_t v = 0; v < vn; ++v) Ops::loadu(g, T(1 + static_cast<int>(v)), g.ptr[r_w + d32(w_disp + v * kVB)]);
            for (int64_t p = 0; p < pn; ++p) {
                g.vpbroadcastd(xb, g.dword[r_in + d32(in_disp + p * pix)]);
                for (int64_t v = 0; v < vn; ++v) g.vpdpbusd(acc(p, v, vn), xb, T(1 + static_cast<int>(v)), enc);
            }
        };
        const int64_t nq = seg_nq(), q_disp = 4 * seg_q0();
        for_each_tap(std::min<int64_t>(nq, 8), [&](int64_t disp) {
            const int64_t owed = for_each_step(
                nq, 4, [&](int64_t off, int64_t j) { quad(q_disp + disp + off, j * wstride_, j); },
                [&](int64_t n) { g.add(r_w, d32(n * wstride_)); });
            if (owed > 0) g.add(r_w, d32(owed * wstride_));
        });
        if (split)
            for (int64_t v = 0; v < vn; ++v) g.vpaddd(acc(0, v, vn), acc(0, v, vn), Vmm(static_cast<int>(vn + v)));
    }

    // Pool constants of the vpmaddubsw plan: full vectors (memory operands), the vpshufb controls
    // of perms 1 and 2, and the byte offset of every tap from tap (0, 0).
    void build_plan_pool() {
        Generator& g = G();
        off_ones_ = g.pool_i32(std::vector<int32_t>(1, 0x00010001));
        off_lowvec_ = g.pool_i32(std::vector<int32_t>(kL, 0x00FF00FF));
        for (int pm = 1; pm < 3; ++pm) {
            std::vector<uint8_t> ctrl(static_cast<size_t>(kVB));
            for (size_t i = 0; i < ctrl.size(); ++i) ctrl[i] = static_cast<uint8_t>(kPermOrder[pm][i % 4]);
            off_perm_[pm] = g.pool_u8(ctrl);
        }
        std::vector<int32_t> taps;
        for (int64_t kh = 0; kh < g_.KH; ++kh)
            for (int64_t kw = 0; kw < g_.KW; ++kw)
                taps.push_back(d32(kh * g_.DH * in_.row_stride() + kw * g_.DW * in_.c_stride));
        off_taps_ = g.pool_i32(taps);
    }

    // The reduction of an oc block with the vpmaddubsw plan (conv_maddubs.hpp): one loop per pattern
    // id, over the block's units of that pattern (the count from the block header,
    // each unit's tap and quad from its table). Per unit and pixel: broadcast the quad, shuffle it
    // for the unit's perm, vpmaddubsw + vpmaddwd(1, 1) for the fast vectors, then the 0x00FF / >> 8
    // halves and vpmaddwd for the exact ones. Registers: rbp unit table, rdx weights, r11 count,
    // rax the unit's input offset.
    void emit_dot_plan(int64_t pn, int64_t vn) {
        Generator& g = G();
        const MaddubsPlan& pl = wl_.plan;
        const Vmm xb = T(0), xa = T(1), ones = T(2), t = T(3);
        const int64_t pix = g_.SW * in_.c_stride;
        const unsigned live = (1u << vn) - 1;
        g.lea(r_kw, g.ptr[r_wblk + d32(pl.header_bytes)]);
        g.lea(r_w, g.ptr[r_wblk + d32(pl.header_bytes + pl.table_bytes)]);
        g.vpbroadcastd(ones, g.dword[r_pool + off_ones_]);
        for (int id = 0; id < pl.n_patterns; ++id) {
            const int perm = pl.pattern_perm(id);
            const unsigned m = pl.pattern_mask(id);
            const bool any_exact = (~m & live) != 0;
            const bool any_fast = (m & live) != 0;
            Label l_unit, l_skip;
            g.mov(r_cnt.cvt32(), g.dword[r_wblk + id * 4]);
            g.test(r_cnt.cvt32(), r_cnt.cvt32());
            g.jz(l_skip, g.T_NEAR);
            // Constants a pattern's loop can keep in a register (a memory operand per pixel would be
            // one more load per pixel): the perm's shuffle control in xa when no vector is exact (xa
            // is the low half only then), the 0x00FF mask in `ones` when none is fast.
            const bool ctrl_reg = perm != 0 && !any_exact, low_reg = !any_fast;
            if (ctrl_reg) Ops::loadu(g, xa, g.ptr[r_pool + off_perm_[perm]]);
            if (low_reg) Ops::loadu(g, ones, g.ptr[r_pool + off_lowvec_]);
            g.L(l_unit);
            // The weight and unit streams fetched ahead of use: a GEMV reads each weight byte once
            // per call, and the first tile of every block reads its weights from memory (Zen 5,
            // weights cold: FC 1x2048x1000 29 -> 31-45 GOPS, FC 128x768x768 174 -> 182; warm: no change).
            g.prefetcht0(g.ptr[r_w + kPrefetchWeights]);
            g.prefetcht0(g.ptr[r_kw + kPrefetchTable]);
            if (g_.KH * g_.KW == 1) {
                g.mov(r_in.cvt32(), g.dword[r_kw + 4]); // one tap at offset 0: the quad's offset alone
            } else {
                g.mov(r_in.cvt32(), g.dword[r_kw]);
                g.mov(r_in.cvt32(), g.dword[r_pool + r_in * 4 + off_taps_]);
                g.add(r_in.cvt32(), g.dword[r_kw + 4]);
            }
            for (int64_t p = 0; p < pn; ++p) {
                g.vpbroadcastd(xb, g.dword[r_in_tile + r_in + d32(p * pix)]);
                if (perm != 0) {
                    if (ctrl_reg) g.vpshufb(xb, xb, xa);
                    else g.vpshufb(xb, xb, g.ptr[r_pool + off_perm_[perm]]);
                }
                int64_t wo = 0;
                std::vector<int64_t> at(static_cast<size_t>(V_));
                for (int64_t v = 0; v < V_; ++v) {
                    at[static_cast<size_t>(v)] = wo;
                    wo += (m >> v & 1u) ? kVB : 2 * kVB;
                }
                for (int64_t v = 0; v < vn; ++v) {
                    if (!(m >> v & 1u)) continue;
                    g.vpmaddubsw(t, xb, g.ptr[r_w + d32(at[static_cast<size_t>(v)])]); // proven not to saturate
                    g.vpmaddwd(t, t, ones);
                    g.vpaddd(acc(p, v, vn), acc(p, v, vn), t);
                }
                if (!any_exact) continue;
                if (low_reg) Ops::vand(g, xa, xb, ones);
                else Ops::vand(g, xa, xb, g.ptr[r_pool + off_lowvec_]);
                g.vpsrlw(xb, xb, 8);
                for (int64_t v = 0; v < vn; ++v) {
                    if (m >> v & 1u) continue;
                    const int64_t w0 = at[static_cast<size_t>(v)];
                    g.vpmaddwd(t, xa, g.ptr[r_w + d32(w0)]);
                    g.vpaddd(acc(p, v, vn), acc(p, v, vn), t);
                    g.vpmaddwd(t, xb, g.ptr[r_w + d32(w0 + kVB)]);
                    g.vpaddd(acc(p, v, vn), acc(p, v, vn), t);
                }
            }
            g.add(r_kw, 8);
            g.add(r_w, d32(pl.unit_bytes(id)));
            g.dec(r_cnt);
            g.jnz(l_unit, g.T_NEAR);
            g.L(l_skip);
            if (low_reg) g.vpbroadcastd(ones, g.dword[r_pool + off_ones_]);
        }
    }

    // Scalar pool constant broadcast to every lane: embedded broadcast on EVEX, the pool vector on VEX.
    Address bcast(int off) {
        if constexpr (Tr::evex) return G().ptr_b[r_pool + off];
        else return G().ptr[r_pool + off];
    }

    void emit_epilogue(int64_t pn, int64_t vn) {
        Generator& g = G();
        const Vmm zero = T(0), fs = T(1), t = T(2);
        const bool levels = c_.mode == EpilogueMode::Levels;
        if (levels) Ops::zero(g, zero);
        for (int64_t p = 0; p < pn; ++p) {
            if (off_coltab_ >= 0) g.movsxd(r_in, g.dword[r_pool + r_ow * 4 + d32(off_coltab_ + p * 4)]);
            auto e_addr = [&](int64_t v) {
                return off_coltab_ >= 0 ? g.ptr[r_eblk + r_in + d32(v * kVB)] : g.ptr[r_eblk + d32(v * kVB)];
            };
            if (c_.has_n) g.vbroadcastss(fs, g.dword[rsp + kSlotS + p * 4]);
            for (int64_t v = 0; v < vn; ++v) {
                const Vmm a = acc(p, v, vn);
                const int cv = d32(v * kVB), cs = d32(seg_ * ocpe_ * 4 + v * kVB);
                const Address part = g.ptr[rsp + d32(kScratch + (p * vn + v) * kVB)];
                g.vcvtdq2ps(a, a);
                if (seg_ == n_seg_ - 1) g.vmovups(t, e_addr(v));
                else g.vmovups(t, part);                                         // the later segments' sum
                if (c_.has_n) g.vfmadd231ps(t, fs, g.ptr[r_cblk + off_n_ + cs]); // fma(fS, N, E)
                g.vfmadd132ps(a, t, g.ptr[r_cblk + off_m_ + cs]);                // fma(f, M, acc)
                if (seg_ > 0) {
                    g.vmovups(part, a);
                    continue;
                }
                if (levels) {
                    if (off_vmin_ >= 0) g.vmaxps(a, a, bcast(off_vmin_)); // NaN -> v_min
                    else g.vmaxps(a, a, zero);                            // NaN -> 0
                    g.vminps(a, a, bcast(off_vmax_));
                    Ops::cvt_rne(g, a, a);
                    if (off_koff_ >= 0) { // ONNX rounding (spec §2.5): + off, then [0, L-1]
                        g.vpaddd(a, a, g.ptr[r_cblk + off_koff_ + cv]);
                        g.vpmaxsd(a, a, zero);
                        g.vpminsd(a, a, bcast(off_lm1_));
                    }
                    if (use_klo_) g.vpmaxsd(a, a, g.ptr[r_cblk + off_klo_ + cv]);
                    if (use_khi_) g.vpminsd(a, a, g.ptr[r_cblk + off_khi_ + cv]);
                    continue;
                }
                if (c_.has_bounds) {
                    g.vmaxps(a, a, g.ptr[r_cblk + off_ylo_ + cv]);
                    g.vminps(a, a, g.ptr[r_cblk + off_yhi_ + cv]);
                }
                if (c_.mode == EpilogueMode::Threshold) {
                    if constexpr (Tr::evex) {
                        g.vcmpps(k1, a, g.ptr[r_cblk + off_thr_ + cv], 0x1E); // GT_OQ: NaN -> false
                        g.vpbroadcastd(a | k1 | T_z, g.dword[r_pool + off_lm1_]);
                    } else {
                        g.vcmpps(a, a, g.ptr[r_cblk + off_thr_ + cv], 0x1E); // GT_OQ: NaN -> false
                        g.vpand(a, a, g.ptr[r_pool + off_lm1_]);
                    }
                } else {
                    g.vmovups(g.ptr[r_out + d32((p * out_.c_stride + v * kL) * 4)], a);
                }
            }
            if (seg_ > 0) continue;
            if (c_.mode != EpilogueMode::Float) store_levels(p, vn);
            if (zero_channels_ > 0) store_zeros(p, vn);
        }
    }

    // Packs the s32 levels (in [0, 255]) of pixel p to bytes and stores them in channel order.
    void store_levels(int64_t p, int64_t vn) {
        Generator& g = G();
        if constexpr (Tr::evex) {
            for (int64_t v = 0; v < vn; ++v) g.vpmovusdb(g.ptr[r_out + d32(p * out_.c_stride + v * kL)], acc(p, v, vn));
        } else {
            const Vmm t = T(2), u = T(1);
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
                const Vmm a = acc(p, v, vn);
                g.vextracti128(ux, a, 1);
                g.vpackusdw(tx, Xmm(a.getIdx()), ux);
                g.vpackuswb(tx, tx, tx);
                g.vmovq(g.ptr[r_out + d32(p * out_.c_stride + v * 8)], tx);
            }
        }
    }

    // Level 0 / +0.0f for the channels of pixel p after the block's vn vectors.
    void store_zeros(int64_t p, int64_t vn) {
        Generator& g = G();
        const Vmm z = T(2);
        Ops::zero(g, z);
        const int64_t base = (p * out_.c_stride + vn * kL) * eb_;
        Ops::store_zeros(g, r_out + d32(base), zero_channels_ * eb_, z);
    }

    const QConvDesc& d_;
    const QConvConsts& c_;
    const ConvGeom& g_;
    const ActLayout in_, out_;
    const int64_t P_, V_, B_;
    const WeightLayout wl_;
    int64_t CQ_ = 0, wstride_ = 0, wblock_ = 0, nb_o_ = 0, eb_ = 1, ocpe_ = 0;
    int64_t n_seg_ = 1, seg_ = 0; // segments (spec §8.2) and the one being emitted
    std::vector<std::vector<SumChunk>> sum_chunks_; // per segment
    int64_t seg_q0() const { return wl_.seg_q0[static_cast<size_t>(seg_)]; }
    int64_t seg_nq() const { return wl_.seg_nq[static_cast<size_t>(seg_)]; }
    bool use_klo_ = false, use_khi_ = false;
    float v_min_ = 0.0f; // the lower clamp before rounding (c_.v_min, or k_lo folded into it)
    int64_t zero_channels_ = 0; // of the row block being emitted
    std::vector<Kind> kinds_;
    Generator* G_ = nullptr;
    int off_koff_ = -1, off_vmin_ = -1;
    int off_m_ = -1, off_n_ = -1, off_klo_ = -1, off_khi_ = -1, off_ylo_ = -1, off_yhi_ = -1, off_thr_ = -1,
        off_e_ = -1, off_vmax_ = -1, off_lm1_ = -1, off_lowbytes_ = -1, off_rowtab_ = -1,
        off_coltab_ = -1, off_ones_ = -1, off_lowvec_ = -1, off_taps_ = -1;
    int off_perm_[3] = {-1, -1, -1};
};

template <Isa I>
std::unique_ptr<GeneratedKernel> build_conv(const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                            const ActLayout& out, const ConvBlocking& b) {
    ConvEmitter<I> e(d, c, in, out, b);
    return build_kernel(kernel_name(d, c, b), e.size_hint(), [&](Generator& g) { e(g); });
}

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

bool conv_blocking_fits(const ConvBlocking& b) {
    if (b.isa == Isa::native || b.lanes != isa_lanes(b.isa) || b.pixels < 1 || b.oc_vecs < 1) return false;
    const int R = n_vregs(b.isa), P = b.pixels, V = b.oc_vecs;
    if (!is_vnni(b.isa)) return V <= (b.maddubs ? kMaddubsMaxVecs : 4) && P * V <= R - 4;
    if (b.maddubs) return false;
    if (P == 1) return V <= 8;
    return V <= 4 && P * V + V + 1 <= R && P * V <= R - 3;
}

std::vector<ConvBlocking> conv_blockings(Isa isa) {
    std::vector<ConvBlocking> r;
    const int lanes = isa_lanes(isa);
    for (bool maddubs : {false, true}) {
        if (maddubs && is_vnni(isa)) continue;
        for (int v = 1; v <= 8; ++v)
            for (int p = 1; p <= 32; ++p) {
                const ConvBlocking b{p, v, lanes, maddubs, isa};
                if (conv_blocking_fits(b)) r.push_back(b);
            }
    }
    return r;
}

ConvBlocking choose_conv_blocking(Isa isa, const QConvDesc& d, const QConvConsts&) {
    const ConvGeom& g = d.g;
    const int lanes = isa_lanes(isa);
    const bool vnni = is_vnni(isa);
    // Per (oc_vecs V, pixels P): useful fraction of the work = (real / padded channels) x (real /
    // padded pixels) x (dot-product ops / all ops of a channel quad). Per quad and tile the exact form
    // costs 2P operand ops + 4PV, vpdpbusd P broadcasts + V weight loads (memory operands when P = 1)
    // + PV: the largest register tiles win (measured on Zen 5: 6x4 zmm about twice 1x5).
    ConvBlocking best{1, 1, lanes, false, isa};
    double best_eff = -1.0;
    for (int v = 1; v <= (vnni ? 8 : 4); ++v) {
        int max_p = 0;
        while (conv_blocking_fits(ConvBlocking{max_p + 1, v, lanes, false, isa})) ++max_p;
        if (max_p == 0) continue;
        max_p = static_cast<int>(std::min<int64_t>(max_p, g.OW));
        // Pixels: as many as the accumulators allow, then fewer if that removes no tile.
        int p = max_p;
        for (int q = max_p; q >= std::max(1, max_p / 2); --q)
            if (ceil_div(g.OW, q) < ceil_div(g.OW, p)) p = q;
        const double oc_eff = static_cast<double>(g.OC) / static_cast<double>(ceil_div(g.OC, lanes * v) * lanes * v);
        // (The exact levels choose V by channel padding and op mix alone, as they always have.)
        const double px_eff = vnni ? static_cast<double>(g.OW) / static_cast<double>(ceil_div(g.OW, p) * p) : 1.0;
        const double pv = static_cast<double>(p) * v;
        const double op_eff = vnni ? pv / (pv + p + v) : (4.0 * v) / (2.0 + 4.0 * v);
        const double eff = oc_eff * px_eff * op_eff;
        if (eff > best_eff + 1e-9) best_eff = eff, best = ConvBlocking{p, v, lanes, false, isa};
    }
    if (vnni || d.w.q.size() != static_cast<size_t>(g.OC * g.K()) || conv_segments(d).size() > 2) return best;
    // The vpmaddubsw plan (conv_maddubs.hpp), costed on a sample of the weights in vector ops per
    // unit slot (maddubs_cost_per_unit) against the plain exact stream's 2 + 4V.
    const MaddubsSafety sample = maddubs_safety(d, lanes, 16384);
    if (g.OH * g.OW == 1) {
        // One output pixel (GEMV): every weight byte is read once per call, so the stream's size
        // rules; the plan stores a fast group in half the bytes of the exact form.
        if (maddubs_fast_share(sample, kMaddubsMaxVecs) >= 0.5) return ConvBlocking{1, kMaddubsMaxVecs, lanes, true, isa};
        return best;
    }
    for (int v = 1; v <= kMaddubsMaxVecs; ++v) {
        int p = 0;
        while (conv_blocking_fits(ConvBlocking{p + 1, v, lanes, true, isa})) ++p;
        p = static_cast<int>(std::min<int64_t>(p, g.OW));
        if (p == 0) continue;
        const double oc_eff = static_cast<double>(g.OC) / static_cast<double>(ceil_div(g.OC, lanes * v) * lanes * v);
        const double eff = oc_eff * 4.0 * v / std::max(maddubs_cost_per_unit(sample, v, p), 1e-9);
        if (eff > best_eff + 1e-9) best_eff = eff, best = ConvBlocking{p, v, lanes, true, isa};
    }
    return best;
}

ConvMaddubsGroups conv_maddubs_groups(const QConvDesc& d, const ConvBlocking& b) {
    ConvMaddubsGroups r;
    if (!b.maddubs || is_vnni(b.isa)) return r;
    const MaddubsPlan plan = plan_maddubs(d, maddubs_safety(d, b.lanes), b.oc_vecs, b.lanes);
    r.fast = plan.fast_vectors;
    r.total = plan.total_vectors;
    return r;
}

PackedWeights pack_conv_weights(const QConvDesc& d, const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    WeightLayout w(d, b);
    if (w.maddubs) w.plan = plan_maddubs(d, maddubs_safety(d, b.lanes), b.oc_vecs, b.lanes);
    const int64_t nb = ceil_div(g.OC, w.B);
    const size_t bytes = static_cast<size_t>(w.maddubs ? packed_maddubs_bytes(w.plan) : nb * w.block_bytes);
    auto* raw = static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>((bytes + 63) / 64 * 64, 64)));
    if (raw == nullptr) throw Error(ErrorCode::Internal, node_of(d), "out of memory packing weights");
    PackedWeights pw;
    pw.data = std::shared_ptr<uint8_t>(raw, [](uint8_t* p) { std::free(p); });
    pw.bytes = bytes;
    std::memset(raw, 0, bytes);
    int64_t c_lo = 0, c_hi = g.C; // the segment being packed: codes of other channels are 0
    auto code = [&](int64_t o, int64_t c, int64_t k) -> int8_t {
        if (o >= g.OC || c < c_lo || c >= c_hi) return 0;
        return d.w.q[static_cast<size_t>((o * g.C + c) * w.khw + k)];
    };
    // Exact form of quads [q0, q0 + nq): per quad and vector, (w[c0], w[c0+2]) then (w[c0+1], w[c0+3])
    // as s16 pairs for the L lanes.
    auto put_exact = [&](uint8_t* at, int64_t blk, int64_t k, int64_t q0, int64_t nq) {
        auto* out = reinterpret_cast<int16_t*>(at);
        size_t i = 0;
        for (int64_t q = q0; q < q0 + nq; ++q)
            for (int64_t v = 0; v < w.V; ++v)
                for (int64_t h = 0; h < 2; ++h)
                    for (int64_t l = 0; l < w.L; ++l) {
                        const int64_t o = blk * w.B + v * w.L + l, c0 = 4 * q + h;
                        out[i++] = code(o, c0, k);
                        out[i++] = code(o, c0 + 2, k);
                    }
        return at + nq * w.V * w.L * 8;
    };
    // 4-byte K groups (vpmaddubsw and vpdpbusd form): per quad and vector, the 4 codes of each lane as s8.
    // A quad inside the segment of a real channel is copied straight from the codes (4 contiguous
    // bytes for a one-tap kernel); the rest goes through code() with its bounds.
    auto put_quads = [&](uint8_t* at, int64_t blk, int64_t k, int64_t q0, int64_t nq) {
        const int8_t* codes = d.w.q.data();
        for (int64_t q = q0; q < q0 + nq; ++q)
            for (int64_t v = 0; v < w.V; ++v)
                for (int64_t l = 0; l < w.L; ++l, at += 4) {
                    const int64_t o = blk * w.B + v * w.L + l, c0 = 4 * q;
                    if (o < g.OC && c0 >= c_lo && c0 + 4 <= c_hi) {
                        const int8_t* src = codes + (o * g.C + c0) * w.khw + k;
                        if (w.khw == 1) std::memcpy(at, src, 4);
                        else
                            for (int64_t j = 0; j < 4; ++j) at[j] = static_cast<uint8_t>(src[j * w.khw]);
                        continue;
                    }
                    for (int64_t j = 0; j < 4; ++j) at[j] = static_cast<uint8_t>(code(o, c0 + j, k));
                }
        return at;
    };
    if (w.maddubs) {
        pack_maddubs(d, w.plan, raw);
        return pw;
    }
    for (int64_t blk = 0; blk < nb; ++blk) {
        uint8_t* at = raw + blk * w.block_bytes;
        for (size_t i = 0; i < w.seg_q0.size(); ++i) {
            c_lo = w.seg_c[i];
            c_hi = w.seg_c[i + 1];
            for (int64_t k = 0; k < w.khw; ++k)
                at = w.vnni ? put_quads(at, blk, k, w.seg_q0[i], w.seg_nq[i]) : put_exact(at, blk, k, w.seg_q0[i], w.seg_nq[i]);
        }
    }
    return pw;
}

std::unique_ptr<JitKernel> emit_conv(const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                     const ActLayout& out, const ConvBlocking& b) {
    validate(d, c, in, out, b);
    std::unique_ptr<GeneratedKernel> k;
    switch (b.isa) {
    case Isa::avx2: k = build_conv<Isa::avx2>(d, c, in, out, b); break;
    case Isa::avx2_vnni: k = build_conv<Isa::avx2_vnni>(d, c, in, out, b); break;
    case Isa::avx512_core: k = build_conv<Isa::avx512_core>(d, c, in, out, b); break;
    case Isa::avx512_core_vnni: k = build_conv<Isa::avx512_core_vnni>(d, c, in, out, b); break;
    case Isa::native: throw Error(ErrorCode::InvalidArgument, node_of(d), "conv blocking with Isa::native");
    }
    k->constants = c.constant_count();
    return k;
}

} // namespace qjit
