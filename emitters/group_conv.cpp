#include "emitters/group_conv.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "emitters/epilogue.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "emitters/window_loops.hpp"
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

// Depthwise with multiplier 1: lane o reads input channel o (consecutive bytes).
bool contiguous(const ConvGeom& g) { return g.Cg() == 1 && g.OCg() == 1; }

// Depthwise (multiplier 1) with at most kMaxPairKW columns: the row-pair form (see the header).
constexpr int64_t kMaxPairKW = 16;
bool row_pair_form(const ConvGeom& g) { return contiguous(g) && g.KW <= kMaxPairKW; }
// Row groups of the row-pair form: pairs of kernel rows (2i, 2i+1), the last alone when KH is odd.
int64_t row_groups(const ConvGeom& g) { return ceil_div(g.KH, 2); }

bool is_evex(Isa isa) { return isa == Isa::avx512_core || isa == Isa::avx512_core_vnni; }
bool is_vnni(Isa isa) { return isa == Isa::avx2_vnni || isa == Isa::avx512_core_vnni; }
int max_accumulators(Isa isa) { return is_evex(isa) ? 24 : 12; }
// Reduction steps per tap: input channels, or quads of them on the VNNI levels.
int64_t steps_per_tap(Isa isa, const ConvGeom& g) { return is_vnni(isa) ? ceil_div(g.Cg(), 4) : g.Cg(); }

std::string kernel_name(Isa isa, const QConvDesc& d, const QConvConsts& c, const ConvBlocking& b) {
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
           "__" + to_string(isa);
}

bool blocking_ok(Isa isa, const ConvBlocking& b, const QConvConsts& c) {
    return b.isa == isa && b.lanes == isa_lanes(isa) && (b.oc_vecs == 1 || b.oc_vecs == 2) && b.pixels >= 1 &&
           !b.maddubs && b.pixels * b.oc_vecs * (c.has_n ? 2 : 1) <= max_accumulators(isa);
}

void validate(Isa isa, const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
              const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    auto bad = [&](const std::string& what) { throw Error(ErrorCode::InvalidArgument, node_of(d), what); };
    if (isa == Isa::native) bad("group conv emitter needs a concrete ISA level");
    if (!blocking_ok(isa, b, c))
        bad("group conv blocking needs the level's lanes, oc_vecs 1 or 2 and at most " +
            std::to_string(max_accumulators(isa)) + " accumulators");
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
//   r10 input of the tile | r11 step loop counter | r12 per-channel constants of the block
//   r13 E row of the block | r14 weights of the block | r15 ow of the tile | rax tap pointer
//   rdx weight pointer | rsi output of the tile | rcx kh counter | rbp kw counter
//   accumulators D (pixel-major, then S when has_n) | X the levels | T scratch | IDX gather index | Z
//   gather mask (VEX), then the epilogue's zero. VEX: accumulators ymm0-11, X..Z ymm12-15 (row-pair
//   form: the built columns in IDX / X, the (1, 1) pattern in Z). EVEX: X..Z zmm0-3, the row-pair
//   columns zmm4-5 and (0, 1) pattern zmm6, accumulators zmm8-31 (the gather's destination and index
//   stay below 16: Bochs 2.7 raised #UD for EVEX gathers with zmm16-31 operands); gathers use k2,
//   the epilogue k1.
template <Isa I> class GroupConvEmitter {
    using Tr = IsaTraits<I>;
    using Vmm = typename Tr::Vmm;
    static constexpr int kL = Tr::lanes, kVB = Tr::vlen;

public:
    GroupConvEmitter(const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
                     const ConvBlocking& b)
        : d_(d), c_(c), g_(d.g), in_(in), out_(out), P_(b.pixels), V_(b.oc_vecs), B_(b.oc_block()) {
        gather_ = !contiguous(g_);
        nb_ = ceil_div(g_.OC, B_);
        ocpe_ = nb_ * B_;
        eb_ = out.elem_bytes;
        steps_ = steps_per_tap(I, g_);
        pairs_ = row_pair_form(g_);
        wblock_ = pairs_ ? row_groups(g_) * g_.KW * V_ * kVB : g_.KH * g_.KW * steps_ * V_ * kVB;
        const int64_t last = (nb_ - 1) * B_;
        v_last_ = ceil_div(g_.OC - last, kL);
        zero_last_ = out.c_stride - last - v_last_ * kL;
        for (int64_t o = 0; o < g_.OC && c_.mode == EpilogueMode::Levels; ++o) {
            const size_t ou = static_cast<size_t>(o);
            bool zero = c_.m[ou] == 0.0f && c_.n[ou] == 0.0f;
            for (int64_t p = 0; zero && p < c_.n_row_classes * c_.n_col_classes; ++p)
                zero = c_.e[static_cast<size_t>(p * c_.oc_pad + o)] == 0.0f;
            if (c_.k_lo[ou] > 0) use_klo_ = true;
            if (c_.k_hi[ou] < c_.out_levels - 1 && !zero) use_khi_ = true;
        }
        bool drop_klo = false;
        v_min_ = fold_uniform_klo(c_, g_.OC, kL, &drop_klo);
        if (drop_klo) use_klo_ = false;
    }

    size_t size_hint() const {
        if (pairs_) { // every group unrolled (at most kMaxUnrolledPairs + 1 bodies), <= 12 bytes an instruction
            const int64_t cols = (P_ - 1) * g_.SW + (g_.KW - 1) * g_.DW + 1;
            const int64_t per_group = cols * V_ * 6 + P_ * g_.KW * V_ * (c_.has_n ? 4 : 2);
            const int64_t bodies = std::min<int64_t>(row_groups(g_), kMaxUnrolledPairs + 1);
            return static_cast<size_t>(16384 + 2 * bodies * per_group * 12 + pool_estimate());
        }
        const int64_t units = g_.KH * g_.KW * std::min<int64_t>(steps_, 8);
        return static_cast<size_t>(16384 + 2 * units * P_ * V_ * 48 + pool_estimate());
    }

    void operator()(Generator& gen) {
        G_ = &gen;
        build_pool();
        emit_body();
    }

private:
    static constexpr int kSlotOh = 0, kSlotOcb = 8, kSlotDstRow = 16, kSlotERow = 24, kSlotBlkIn = 32, kScratch = 40;
    static constexpr int kMaxBodies = 16;
    static constexpr int64_t kMaxUnrolledPairs = 4; // row pairs unrolled; more are a runtime loop

    const Reg64 r_args = rdi, r_pool = rbx, r_src_row = r8, r_outblk = r9, r_in_tile = r10, r_cnt = r11,
                r_cblk = r12, r_eblk = r13, r_wblk = r14, r_ow = r15, r_in = rax, r_w = rdx, r_out = rsi,
                r_kh = rcx, r_kw = rbp;
    static constexpr int kAcc0 = Tr::evex ? 8 : 0;
    const Vmm X{Tr::evex ? 0 : 12}, T{Tr::evex ? 1 : 13}, IDX{Tr::evex ? 2 : 14}, Z{Tr::evex ? 3 : 15};
    const Vmm kPairHi{6}; // EVEX row-pair form: the (0, 1) word pattern of S (zmm4-5 hold the columns)

    Generator& G() { return *G_; }
    int d32(int64_t v) const { return loops::disp32(v, node_of(d_)); }
    Vmm acc(int64_t p, int64_t v) const { return Vmm(static_cast<int>(kAcc0 + p * V_ + v)); }
    Vmm sacc(int64_t p, int64_t v) const { return Vmm(static_cast<int>(kAcc0 + P_ * V_ + p * V_ + v)); }
    // A per-lane constant of the pool as a whole vector (VEX: 8 copies) or broadcast (EVEX).
    Address bcast(int off) {
        if constexpr (Tr::evex) return G().ptr_b[r_pool + off];
        else return G().ptr[r_pool + off];
    }

    size_t pool_estimate() const {
        const int64_t vecs = 11 + c_.n_row_classes * c_.n_col_classes;
        return static_cast<size_t>(vecs * ocpe_ * 4 + (g_.OH + g_.OW) * 4 + 1024);
    }

    template <class X> std::vector<X> padded(const std::vector<X>& v, size_t offset, X pad) const {
        return padded_channels(v, offset, static_cast<size_t>(c_.oc_pad), static_cast<size_t>(ocpe_), pad);
    }

    void build_pool() {
        Generator& g = G();
        off_m_ = g.pool_f32(padded(c_.m, 0, 0.0f));
        if (c_.has_n) off_n_ = g.pool_f32(padded(c_.n, 0, 0.0f));
        if (use_klo_) off_klo_ = g.pool_i32(padded(c_.k_lo, 0, 0));
        if (use_khi_) off_khi_ = g.pool_i32(padded(c_.k_hi, 0, 0));
        if (!c_.k_off.empty()) off_koff_ = g.pool_i32(padded(c_.k_off, 0, 0));
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
        if (pairs_ && c_.has_n) {
            off_pair_ones_ = g.pool_i32(std::vector<int32_t>(8, 0x00010001));
            off_pair_hi_ = g.pool_i32(std::vector<int32_t>(8, 0x00010000));
        }
        if (gather_) {
            // Byte offset, within a pixel, of each lane's input channel for j = 0.
            std::vector<int32_t> idx(static_cast<size_t>(ocpe_), 0);
            for (int64_t o = 0; o < g_.OC; ++o) idx[static_cast<size_t>(o)] = static_cast<int32_t>(o / g_.OCg() * g_.Cg());
            off_idx_ = g.pool_i32(idx);
            if constexpr (Tr::vnni) {
                // Window-sum byte patterns: every byte of a full quad, the channels < Cg of the last.
                const int64_t rest = g_.Cg() - 4 * (steps_ - 1);
                uint32_t last = 0;
                for (int64_t b = 0; b < rest; ++b) last |= 1u << (8 * b);
                off_ones_ = g.pool_i32(std::vector<int32_t>(8, 0x01010101));
                off_ones_last_ = g.pool_i32(std::vector<int32_t>(8, static_cast<int32_t>(last)));
            } else {
                off_lowbyte_ = g.pool_i32(std::vector<int32_t>(8, 0xFF));
            }
        }
        typename Epilogue<I>::Form f;
        f.mode = c_.mode;
        f.has_n = c_.has_n;
        f.k_lo = use_klo_;
        f.k_hi = use_khi_;
        f.k_off = off_koff_ >= 0;
        f.v_min = v_min_;
        f.y_bounds = c_.mode != EpilogueMode::Levels && c_.has_bounds;
        epi_ = Epilogue<I>(g, f, c_.v_max, c_.out_levels, r_pool);
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
        loops::range_loop(g, g.qword[r_args + offsetof(ConvArgs, oh_begin)], g.qword[r_args + offsetof(ConvArgs, oh_end)],
                          g.qword[rsp + kSlotOh], rax, [&] { emit_row(); });
        g.postamble();
    }

    // One output row (rax = oh): its pointers, then every oc block of the call.
    void emit_row() {
        Generator& g = G();
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
        loops::range_loop(g, g.qword[r_args + offsetof(ConvArgs, ocb_begin)], g.qword[r_args + offsetof(ConvArgs, ocb_end)],
                          g.qword[rsp + kSlotOcb], rax, [&] { emit_block(); });
    }

    // One oc block (rax = its index) of the row.
    void emit_block() {
        Generator& g = G();
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
        if (gather_) {
            g.mov(g.qword[rsp + kSlotBlkIn], 0);
        } else {
            g.imul(rcx, rax, d32(B_));
            g.mov(g.qword[rsp + kSlotBlkIn], rcx);
        }
        if (v_last_ != V_ || zero_last_ > 0) {
            Label l_last, l_next;
            g.cmp(rax, d32(nb_ - 1));
            g.je(l_last, g.T_NEAR);
            emit_row_block(V_, 0);
            g.jmp(l_next, g.T_NEAR);
            g.L(l_last);
            emit_row_block(v_last_, zero_last_);
            g.L(l_next);
        } else {
            emit_row_block(V_, 0);
        }
    }

    // All ow tiles of one (row, block): vn vectors computed, then `zero_tail` channels written as 0.
    void emit_row_block(int64_t vn, int64_t zero_tail) {
        Generator& g = G();
        g.mov(r_in_tile, r_src_row);
        g.add(r_in_tile, g.qword[rsp + kSlotBlkIn]);
        g.mov(r_out, r_outblk);
        loops::ow_tiles(g, g_.OW, P_, {r_in_tile, r_out, r_ow}, P_ * g_.SW * in_.c_stride, P_ * out_.c_stride * eb_,
                        node_of(d_), [&](int64_t pn) {
                            emit_dot(pn, vn);
                            emit_epilogue(pn, vn, zero_tail);
                        });
    }

    // The lanes' input levels (dwords: VNNI gathers keep the neighbours' bytes) at rax + in_disp.
    void load_levels(int64_t in_disp, int64_t v) {
        Generator& g = G();
        if (!gather_) {
            g.vpmovzxbd(X, g.ptr[r_in + d32(in_disp + v * kL)]);
            return;
        }
        if constexpr (Tr::evex) {
            g.kxnorw(k2, k2, k2);
            g.vpgatherdd(X | k2, g.ptr[r_in + IDX + d32(in_disp)]);
        } else {
            g.vpcmpeqd(Z, Z, Z);
            g.vpgatherdd(X, g.ptr[r_in + IDX + d32(in_disp)], Z);
        }
        if constexpr (!Tr::vnni) VecOps<I>::vand(g, X, X, bcast(off_lowbyte_));
    }

    // One reduction step for every pixel and vector: the lanes' levels at rax + in_disp times the
    // weights at rdx + w_disp. last: the group's last quad (VNNI window-sum pattern).
    void emit_unit(int64_t pn, int64_t vn, int64_t in_disp, int64_t w_disp, bool last) {
        Generator& g = G();
        const int64_t pix = g_.SW * in_.c_stride;
        const PreferredEncoding enc = Tr::evex ? EvexEncoding : VexEncoding;
        for (int64_t v = 0; v < vn; ++v) {
            if (gather_) VecOps<I>::loadu(g, IDX, g.ptr[r_cblk + d32(off_idx_ + v * kVB)]);
            for (int64_t p = 0; p < pn; ++p) {
                load_levels(in_disp + p * pix, v);
                const Address w = g.ptr[r_w + d32(w_disp + v * kVB)];
                if constexpr (Tr::vnni) {
                    g.vpdpbusd(acc(p, v), X, w, enc);
                    if (c_.has_n) {
                        if (gather_) g.vpdpbusd(sacc(p, v), X, bcast(last ? off_ones_last_ : off_ones_), enc);
                        else g.vpaddd(sacc(p, v), sacc(p, v), X);
                    }
                } else {
                    g.vpmaddwd(T, X, w);
                    g.vpaddd(acc(p, v), acc(p, v), T);
                    if (c_.has_n) g.vpaddd(sacc(p, v), sacc(p, v), X);
                }
            }
        }
    }

    // Every reduction step of one tap at rax + disp; rdx at the tap's weights, advanced past them.
    void emit_tap(int64_t pn, int64_t vn, int64_t disp) {
        Generator& g = G();
        const int64_t wv = V_ * kVB, in_step = Tr::vnni ? 4 : 1;
        if (steps_ <= 8) {
            for (int64_t s = 0; s < steps_; ++s) emit_unit(pn, vn, disp + s * in_step, s * wv, s == steps_ - 1);
            g.add(r_w, d32(steps_ * wv));
            return;
        }
        // All steps but the last in a loop (the last may be a partial quad), then the last.
        Label l;
        g.mov(r_cnt, steps_ - 1);
        g.L(l);
        emit_unit(pn, vn, disp, 0, false);
        g.add(r_in, in_step);
        g.add(r_w, d32(wv));
        g.dec(r_cnt);
        g.jnz(l, g.T_NEAR);
        emit_unit(pn, vn, disp, 0, true);
        g.add(r_w, d32(wv));
        g.sub(r_in, d32((steps_ - 1) * in_step));
    }

    void emit_dot(int64_t pn, int64_t vn) {
        if (pairs_) return emit_dot_pairs(pn, vn);
        Generator& g = G();
        for (int64_t p = 0; p < pn; ++p)
            for (int64_t v = 0; v < vn; ++v) {
                VecOps<I>::zero(g, acc(p, v));
                if (c_.has_n) VecOps<I>::zero(g, sacc(p, v));
            }
        g.mov(r_w, r_wblk);
        g.mov(r_in, r_in_tile);
        const loops::TapGeom t{g_.KH, g_.KW, g_.DH * in_.row_stride(), g_.DW * in_.c_stride, r_in, r_kh, r_kw};
        loops::taps(g, t, std::min<int64_t>(steps_, 8), kMaxBodies, node_of(d_), [&](int64_t disp) { emit_tap(pn, vn, disp); });
    }

    // ---- row-pair form (depthwise, multiplier 1) ------------------------------------------------
    // How a row group pairs its taps: RowPair = rows (2r, 2r+1) at the same kw; ColPair = the lone
    // last row, taps (kw, kw+1) of it, the last tap of an odd KW as (0, w) with its left neighbour;
    // Single = the lone last row when KW = 1 (level, 0).
    enum class Pairing { RowPair, ColPair, Single };

    // The vector that holds, per lane, the dword the group multiplies for vector v: two zero-extended
    // words (level a, level b), or (level, 0) for Single.
    Vmm pair_vec(int64_t v) const {
        if constexpr (Tr::evex) return Vmm(4 + static_cast<int>(v));
        else return v == 0 ? IDX : X;
    }

    // Builds pair_vec(0..vn-1) from the bytes at rax + a (first of the pair) and rax + b (second).
    void load_pair_column(int64_t vn, Pairing pm, int64_t a, int64_t b) {
        Generator& g = G();
        if (pm == Pairing::Single) {
            for (int64_t v = 0; v < vn; ++v) g.vpmovzxbd(pair_vec(v), g.ptr[r_in + d32(a + v * kL)]);
            return;
        }
        const Xmm xx(X.getIdx()), xt(T.getIdx());
        if constexpr (Tr::evex) {
            if (vn == 2) {
                // 32 channels: quadwords reordered (0, 2, 1, 3) so that the in-lane byte interleave
                // yields channels 0-15 (low) and 16-31 (high) in order. The 32-byte loads stay in the
                // pixel: a block of two computed vectors has c_stride >= its start + 32.
                const Ymm ya(X.getIdx()), yb(T.getIdx()), y0(pair_vec(0).getIdx()), y1(pair_vec(1).getIdx());
                g.vpermq(ya, g.ptr[r_in + d32(a)], 0xD8);
                g.vpermq(yb, g.ptr[r_in + d32(b)], 0xD8);
                g.vpunpcklbw(y0, ya, yb);
                g.vpunpckhbw(y1, ya, yb);
                g.vpmovzxbw(pair_vec(0), y0);
                g.vpmovzxbw(pair_vec(1), y1);
                return;
            }
            // 16 channels a vector: the two byte rows interleaved, then widened to words.
            for (int64_t v = 0; v < vn; ++v) {
                const Xmm xi(pair_vec(v).getIdx());
                const Address mb = g.ptr[r_in + d32(b + v * 16)];
                g.vmovdqu(xx, g.ptr[r_in + d32(a + v * 16)]);
                g.vpunpcklbw(xi, xx, mb);
                g.vpunpckhbw(xx, xx, mb);
                g.vinserti128(Ymm(xi.getIdx()), Ymm(xi.getIdx()), xx, 1);
                g.vpmovzxbw(pair_vec(v), Ymm(xi.getIdx()));
            }
        } else if (vn == 2) {
            // Channels 0-7 from the low interleaved half, 8-15 from the high one (X is vector 1).
            const Xmm x0(IDX.getIdx());
            const Address mb = g.ptr[r_in + d32(b)];
            g.vmovdqu(xx, g.ptr[r_in + d32(a)]);
            g.vpunpcklbw(x0, xx, mb);
            g.vpunpckhbw(xx, xx, mb);
            g.vpmovzxbw(IDX, x0);
            g.vpmovzxbw(X, xx);
        } else {
            // One vector of 8 channels: 8-byte loads stay inside the block.
            const Xmm x0(IDX.getIdx());
            g.vmovq(xx, g.ptr[r_in + d32(a)]);
            g.vmovq(xt, g.ptr[r_in + d32(b)]);
            g.vpunpcklbw(x0, xx, xt);
            g.vpmovzxbw(IDX, x0);
        }
    }

    // One use of a built column: pixel p, weight slot (pairs of taps of the group) and whether the
    // column's first level belongs to the window (not for the (0, w) slot of an odd KW).
    struct ColumnUse {
        int64_t p, slot;
        bool both;
    };

    // One row group at rax + rdisp: every input column the tile's pixels read, built once and
    // multiplied into the accumulators of every use. Weights at rdx + wdisp: slots x oc_vecs vectors.
    void emit_row_group(int64_t pn, int64_t vn, Pairing pm, int64_t rdisp, int64_t wdisp) {
        Generator& g = G();
        const PreferredEncoding enc = Tr::evex ? EvexEncoding : VexEncoding;
        const int64_t ncols = (pn - 1) * g_.SW + (g_.KW - 1) * g_.DW + 1;
        const int64_t second = pm == Pairing::ColPair ? g_.DW * in_.c_stride : g_.DH * in_.row_stride();
        for (int64_t col = 0; col < ncols; ++col) {
            std::vector<ColumnUse> uses;
            for (int64_t p = 0; p < pn; ++p) {
                const int64_t rel = col - p * g_.SW;
                if (rel < 0 || rel % g_.DW != 0 || rel / g_.DW >= g_.KW) continue;
                const int64_t kw = rel / g_.DW;
                if (pm != Pairing::ColPair) uses.push_back({p, kw, true});
                else if (kw % 2 == 0 && kw + 1 < g_.KW) uses.push_back({p, kw / 2, true}); // taps (kw, kw+1)
                else if (g_.KW % 2 == 1 && kw == g_.KW - 2) uses.push_back({p, g_.KW / 2, false}); // (0, w[KW-1])
            }
            if (uses.empty()) continue;
            const int64_t a = rdisp + col * in_.c_stride;
            load_pair_column(vn, pm, a, a + second);
            for (int64_t v = 0; v < vn; ++v) {
                const Vmm src = pair_vec(v);
                for (const ColumnUse& u : uses) {
                    const Address w = g.ptr[r_w + d32(wdisp + (u.slot * V_ + v) * kVB)];
                    if constexpr (Tr::vnni) {
                        g.vpdpbusd(acc(u.p, v), src, w, enc);
                    } else if (!fresh_.empty() && fresh_[static_cast<size_t>(u.p * V_ + v)]) {
                        g.vpmaddwd(acc(u.p, v), src, w); // the accumulator's first product: no zeroing, no add
                        fresh_[static_cast<size_t>(u.p * V_ + v)] = false;
                    } else {
                        g.vpmaddwd(T, src, w);
                        g.vpaddd(acc(u.p, v), acc(u.p, v), T);
                    }
                }
                if (c_.has_n) add_window_sum(pm, uses, v);
            }
        }
    }

    // S of every use: the level of a Single column, both words of a pair (times (1, 1) in Z), only
    // the second word for the (0, w) slot (times (0, 1) from the pool).
    void add_window_sum(Pairing pm, const std::vector<ColumnUse>& uses, int64_t v) {
        Generator& g = G();
        const PreferredEncoding enc = Tr::evex ? EvexEncoding : VexEncoding;
        const Vmm src = pair_vec(v);
        if (pm == Pairing::Single) {
            for (const ColumnUse& u : uses) g.vpaddd(sacc(u.p, v), sacc(u.p, v), src);
            return;
        }
        for (bool both : {true, false}) {
            bool first = true;
            for (const ColumnUse& u : uses) {
                if (u.both != both) continue;
                // (0, 1): zmm6 on EVEX (loaded per tile), a whole pool vector on VEX (no register left).
                const Address hi_mem = g.ptr[r_pool + off_pair_hi_];
                const Operand& hi = Tr::evex ? static_cast<const Operand&>(kPairHi) : static_cast<const Operand&>(hi_mem);
                if constexpr (Tr::vnni) {
                    g.vpdpbusd(sacc(u.p, v), src, both ? static_cast<const Operand&>(Z) : hi, enc);
                } else {
                    if (first) g.vpmaddwd(T, src, both ? static_cast<const Operand&>(Z) : hi);
                    g.vpaddd(sacc(u.p, v), sacc(u.p, v), T);
                }
                first = false;
            }
        }
    }

    void emit_dot_pairs(int64_t pn, int64_t vn) {
        Generator& g = G();
        const int64_t npairs = g_.KH / 2, gw = g_.KW * V_ * kVB, grow = 2 * g_.DH * in_.row_stride();
        // vpmaddwd levels: when every group is unrolled, each D accumulator starts with its first
        // product (fresh_); the runtime pair loop emits its body once, so it starts from zeros.
        const bool unrolled = npairs <= kMaxUnrolledPairs;
        fresh_.assign(!Tr::vnni && unrolled ? static_cast<size_t>(P_ * V_) : 0, false);
        for (int64_t p = 0; p < pn; ++p)
            for (int64_t v = 0; v < vn; ++v) {
                if (fresh_.empty()) VecOps<I>::zero(g, acc(p, v));
                else fresh_[static_cast<size_t>(p * V_ + v)] = true;
                if (c_.has_n) VecOps<I>::zero(g, sacc(p, v));
            }
        if (c_.has_n) g.vpbroadcastd(Z, g.dword[r_pool + off_pair_ones_]);
        if (c_.has_n && Tr::evex) g.vpbroadcastd(kPairHi, g.dword[r_pool + off_pair_hi_]);
        g.mov(r_w, r_wblk);
        g.mov(r_in, r_in_tile);
        int64_t rdisp = 0, wdisp = 0;
        if (unrolled) {
            for (int64_t i = 0; i < npairs; ++i) emit_row_group(pn, vn, Pairing::RowPair, i * grow, i * gw);
            rdisp = npairs * grow;
            wdisp = npairs * gw;
        } else {
            Label l;
            g.mov(r_kh, npairs);
            g.L(l);
            emit_row_group(pn, vn, Pairing::RowPair, 0, 0);
            g.add(r_in, d32(grow));
            g.add(r_w, d32(gw));
            g.dec(r_kh);
            g.jnz(l, g.T_NEAR);
        }
        if (g_.KH % 2 != 0) emit_row_group(pn, vn, g_.KW > 1 ? Pairing::ColPair : Pairing::Single, rdisp, wdisp);
        for (size_t i = 0; i < fresh_.size(); ++i) // never multiplied (no tap read it): zero
            if (fresh_[i]) VecOps<I>::zero(g, acc(static_cast<int64_t>(i) / V_, static_cast<int64_t>(i) % V_));
        fresh_.clear();
    }

    void emit_epilogue(int64_t pn, int64_t vn, int64_t zero_tail) {
        Generator& g = G();
        epi_.prepare(g, Z);
        for (int64_t p = 0; p < pn; ++p) {
            if (off_coltab_ >= 0) g.movsxd(r_in, g.dword[r_pool + r_ow * 4 + d32(off_coltab_ + p * 4)]);
            std::vector<Vmm> res;
            for (int64_t v = 0; v < vn; ++v) {
                const int cv = d32(v * kVB);
                const Address e = off_coltab_ >= 0 ? g.ptr[r_eblk + r_in + cv] : g.ptr[r_eblk + cv];
                typename Epilogue<I>::Operands op{g.ptr[r_cblk + off_m_ + cv], e};
                if (c_.has_n) op.n = g.ptr[r_cblk + off_n_ + cv];
                if (use_klo_) op.k_lo = g.ptr[r_cblk + off_klo_ + cv];
                if (use_khi_) op.k_hi = g.ptr[r_cblk + off_khi_ + cv];
                if (off_koff_ >= 0) op.k_off = g.ptr[r_cblk + off_koff_ + cv];
                if (off_ylo_ >= 0) op.y_lo = g.ptr[r_cblk + off_ylo_ + cv], op.y_hi = g.ptr[r_cblk + off_yhi_ + cv];
                if (off_thr_ >= 0) op.threshold = g.ptr[r_cblk + off_thr_ + cv];
                const Vmm a = acc(p, v);
                if (c_.has_n) g.vcvtdq2ps(sacc(p, v), sacc(p, v));
                epi_.apply(g, a, c_.has_n ? sacc(p, v) : a, op, Z, T);
                if (!epi_.stores_levels()) g.vmovups(g.ptr[r_out + d32((p * out_.c_stride + v * kL) * 4)], a);
                res.push_back(a);
            }
            if (epi_.stores_levels())
                store_levels<I>(g, res.data(), static_cast<int>(vn), r_out, d32(p * out_.c_stride), T, IDX);
            if (zero_tail > 0) store_zeros<I>(g, r_out, d32((p * out_.c_stride + vn * kL) * eb_), zero_tail * eb_, T);
        }
    }

    const QConvDesc& d_;
    const QConvConsts& c_;
    const ConvGeom& g_;
    const ActLayout in_, out_;
    const int64_t P_, V_, B_;
    bool gather_ = false;
    int64_t nb_ = 0, ocpe_ = 0, eb_ = 1, wblock_ = 0, steps_ = 1, v_last_ = 1, zero_last_ = 0;
    bool use_klo_ = false, use_khi_ = false;
    float v_min_ = 0.0f; // the lower clamp before rounding (c_.v_min, or k_lo folded into it)
    Epilogue<I> epi_;
    Generator* G_ = nullptr;
    int off_koff_ = -1;
    int off_m_ = -1, off_n_ = -1, off_klo_ = -1, off_khi_ = -1, off_ylo_ = -1, off_yhi_ = -1, off_thr_ = -1,
        off_e_ = -1, off_idx_ = -1, off_lowbyte_ = -1, off_ones_ = -1, off_ones_last_ = -1, off_rowtab_ = -1,
        off_coltab_ = -1, off_pair_ones_ = -1, off_pair_hi_ = -1;
    bool pairs_ = false;
    std::vector<bool> fresh_; // row-pair form, vpmaddwd levels: D accumulators not yet written this tile
};

template <Isa I>
std::unique_ptr<JitKernel> build(const QConvDesc& d, const QConvConsts& c, const ActLayout& in, const ActLayout& out,
                                 const ConvBlocking& b) {
    GroupConvEmitter<I> e(d, c, in, out, b);
    auto k = build_kernel(kernel_name(I, d, c, b), e.size_hint(), [&](Generator& g) { e(g); });
    k->constants = c.constant_count();
    return k;
}

} // namespace

bool group_conv_supports(const QConvDesc& d) {
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
    if (!contiguous(g)) l.halo_r += 1; // the gathers' dword loads read up to 3 bytes past a group
    return l;
}

std::vector<ConvBlocking> group_conv_blockings(Isa isa, const QConvConsts& c) {
    std::vector<ConvBlocking> r;
    for (int v = 1; v <= 2; ++v)
        for (int p = 1; p * v * (c.has_n ? 2 : 1) <= max_accumulators(isa); ++p)
            r.push_back(ConvBlocking{p, v, isa_lanes(isa), false, isa});
    return r;
}

ConvBlocking choose_group_conv_blocking(Isa isa, const QConvDesc& d, const QConvConsts& c) {
    const ConvGeom& g = d.g;
    const int L = isa_lanes(isa);
    const int v = g.OC >= 2 * L ? 2 : 1;
    const int max_p = static_cast<int>(std::min<int64_t>(max_accumulators(isa) / (v * (c.has_n ? 2 : 1)), g.OW));
    int best_p = max_p;
    for (int p = max_p; p >= std::max(1, max_p / 2); --p)
        if (ceil_div(g.OW, p) < ceil_div(g.OW, best_p)) best_p = p;
    return ConvBlocking{best_p, v, L, false, isa};
}

PackedWeights pack_group_conv_weights(const QConvDesc& d, const ConvBlocking& b) {
    const ConvGeom& g = d.g;
    const bool vnni = is_vnni(b.isa);
    const int64_t B = b.oc_block(), V = b.oc_vecs, L = b.lanes, khw = g.KH * g.KW, cg = g.Cg();
    const int64_t nb = ceil_div(g.OC, B), steps = steps_per_tap(b.isa, g);
    const bool pairs = row_pair_form(g);
    const int64_t block_bytes = pairs ? row_groups(g) * g.KW * V * L * 4 : khw * steps * V * L * 4;
    const size_t bytes = static_cast<size_t>(nb * block_bytes);
    auto* raw = static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>((bytes + 63) / 64 * 64, 64)));
    if (raw == nullptr) throw Error(ErrorCode::Internal, node_of(d), "out of memory packing weights");
    PackedWeights pw;
    pw.data = std::shared_ptr<uint8_t>(raw, [](uint8_t* p) { std::free(p); });
    pw.bytes = bytes;
    std::memset(raw, 0, bytes);
    auto code = [&](int64_t o, int64_t j, int64_t k) -> int8_t {
        return o < g.OC && j < cg ? d.w.q[static_cast<size_t>((o * cg + j) * khw + k)] : 0;
    };
    auto* out = reinterpret_cast<int32_t*>(raw);
    size_t i = 0;
    if (pairs) {
        // (code of row 2r, code of row 2r+1) as two s16 (0 past KH): vpmaddwd with the (level a,
        // level b) words gives a*wa + b*wb exactly; vpdpbusd sees bytes (a, 0, b, 0) and the codes'
        // low bytes (the high bytes meet level bytes 0).
        for (int64_t blk = 0; blk < nb; ++blk)
            for (int64_t r = 0; r < row_groups(g); ++r)
                for (int64_t kw = 0; kw < g.KW; ++kw)
                    for (int64_t v = 0; v < V; ++v)
                        for (int64_t l = 0; l < L; ++l) {
                            const int64_t o = blk * B + v * L + l, kh = 2 * r;
                            int8_t wa = 0, wb = 0;
                            if (kh + 1 < g.KH) { // rows (kh, kh+1) at kw
                                wa = code(o, 0, kh * g.KW + kw);
                                wb = code(o, 0, (kh + 1) * g.KW + kw);
                            } else if (g.KW == 1) { // the lone row alone: (w, 0)
                                wa = kw == 0 ? code(o, 0, kh * g.KW) : 0;
                            } else if (2 * kw + 1 < g.KW) { // the lone row's taps (2kw, 2kw+1)
                                wa = code(o, 0, kh * g.KW + 2 * kw);
                                wb = code(o, 0, kh * g.KW + 2 * kw + 1);
                            } else if (2 * kw + 1 == g.KW) { // its last tap of an odd KW: (0, w)
                                wb = code(o, 0, kh * g.KW + 2 * kw);
                            }
                            out[i++] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(wa)) |
                                                            static_cast<uint32_t>(static_cast<uint16_t>(wb)) << 16);
                        }
        return pw;
    }
    for (int64_t blk = 0; blk < nb; ++blk)
        for (int64_t k = 0; k < khw; ++k)
            for (int64_t s = 0; s < steps; ++s)
                for (int64_t v = 0; v < V; ++v)
                    for (int64_t l = 0; l < L; ++l) {
                        const int64_t o = blk * B + v * L + l;
                        uint32_t w = 0;
                        if (vnni) // 4 s8 codes of input channels 4s..4s+3 (vpdpbusd)
                            for (int64_t q = 0; q < 4; ++q)
                                w |= static_cast<uint32_t>(static_cast<uint8_t>(code(o, 4 * s + q, k))) << (8 * q);
                        else // (code, 0) as two s16: vpmaddwd with (k, 0) gives k * code exactly
                            w = static_cast<uint16_t>(static_cast<int16_t>(code(o, s, k)));
                        out[i++] = static_cast<int32_t>(w);
                    }
    return pw;
}

std::unique_ptr<JitKernel> emit_group_conv(Isa isa, const QConvDesc& d, const QConvConsts& c, const ActLayout& in,
                                           const ActLayout& out, const ConvBlocking& b) {
    validate(isa, d, c, in, out, b);
    return dispatch_isa(isa, node_of(d), "grouped conv",
                        [&](auto i) { return build<decltype(i)::value>(d, c, in, out, b); });
}

} // namespace qjit
