#include "emitters/pool.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include "emitters/conv.hpp"
#include "emitters/epilogue.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "emitters/window_loops.hpp"
#include "qjit/error.hpp"

namespace qjit {

using namespace Xbyak;
using namespace Xbyak::util;

namespace {

void validate(const ConvGeom& g, const ActLayout& in, const ActLayout& out, int64_t out_bytes, const std::string& node) {
    auto bad = [&](const std::string& what) { throw Error(ErrorCode::InvalidArgument, node, what); };
    if (g.C < 1 || g.OC != g.C || g.KH < 1 || g.KW < 1 || g.OH < 1 || g.OW < 1 || g.SH < 1 || g.SW < 1 ||
        g.DH != 1 || g.DW != 1 || g.PT < 0 || g.PL < 0 || g.PB < 0 || g.PR < 0)
        bad("degenerate pooling geometry " + g.str());
    if (in.H != g.H || in.W != g.W || in.C != g.C || in.elem_bytes != 1) bad("input layout does not match the input");
    if (out.H != g.OH || out.W != g.OW || out.C != g.C || out.elem_bytes != out_bytes)
        bad("output layout does not match the output");
    if (in.c_stride % 16 != 0 || in.c_stride < g.C || out.c_stride % 16 != 0 || out.c_stride < g.C)
        bad("c_stride must be a multiple of 16 and cover the channels");
    const ActLayout need = required_pool_input_halo(g);
    if (in.halo_t < need.halo_t || in.halo_l < need.halo_l || in.halo_b < need.halo_b || in.halo_r < need.halo_r)
        bad("input halo too small for " + g.str());
    if (g.KH * g.KW > (int64_t{1} << 23)) bad("pooling window too large");
}

std::string geom_name(const ConvGeom& g) {
    std::string n = "_k";
    n += std::to_string(g.KH);
    n += "x";
    n += std::to_string(g.KW);
    n += "s";
    n += std::to_string(g.SH);
    if (g.SW != g.SH) {
        n += "x";
        n += std::to_string(g.SW);
    }
    return n;
}

// Shared scaffolding. Registers: rdi args | rbx pool | r8 input row (tap (0,0) of ow = 0) |
// r9 output row | r10 input of the tile | r11 chunk counter | r12 chunk byte offset in constants |
// r13 pattern row (AvgPool) | r14 output of the chunk | r15 ow of the tile | rax tap pointer | rsi
// output of the tile | rcx kh counter | rbp kw counter | rdx column-class offset (AvgPool epilogue)
class PoolEmitterBase {
protected:
    PoolEmitterBase(const ConvGeom& g, const ActLayout& in, const ActLayout& out, std::string node)
        : g_(g), in_(in), out_(out), node_(std::move(node)) {}

    static constexpr int kSlotOh = 0, kScratch = 8, kMaxBodies = 48;
    const Reg64 r_args = rdi, r_pool = rbx, r_src_row = r8, r_dst_row = r9, r_in_tile = r10, r_chunk = r11,
                r_coff = r12, r_prow = r13, r_out_c = r14, r_ow = r15, r_in = rax, r_out = rsi, r_kh = rcx,
                r_kw = rbp, r_col = rdx;

    int d32(int64_t v) const { return loops::disp32(v, node_); }
    Generator& G() { return *G_; }
    loops::TapGeom tap_geom() const { return {g_.KH, g_.KW, in_.row_stride(), in_.c_stride, r_in, r_kh, r_kw}; }

    // Every output row of the call: row_setup() (rax = oh), then tile(pn) for every tile of P
    // pixels with r10 = input of the tile's tap (0,0), rsi = output of the tile, r15 = its ow.
    template <class Tile, class RowSetup> void emit_rows(int64_t P, Tile&& tile, RowSetup&& row_setup) {
        Generator& g = G();
        loops::range_loop(g, g.qword[r_args + offsetof(PoolArgs, oh_begin)], g.qword[r_args + offsetof(PoolArgs, oh_end)],
                          g.qword[rsp + kSlotOh], rax, [&] {
                              g.imul(rcx, rax, d32(g_.SH * in_.row_stride()));
                              g.mov(r_src_row, g.qword[r_args + offsetof(PoolArgs, src)]);
                              g.lea(r_src_row, g.ptr[r_src_row + rcx + d32(-g_.PT * in_.row_stride() - g_.PL * in_.c_stride)]);
                              g.imul(rcx, rax, d32(out_.row_stride() * out_.elem_bytes));
                              g.mov(r_dst_row, g.qword[r_args + offsetof(PoolArgs, dst)]);
                              g.add(r_dst_row, rcx);
                              row_setup();
                              g.mov(r_in_tile, r_src_row);
                              g.mov(r_out, r_dst_row);
                              loops::ow_tiles(g, g_.OW, P, {r_in_tile, r_out, r_ow}, P * g_.SW * in_.c_stride,
                                              P * out_.c_stride * out_.elem_bytes, node_, tile);
                          });
    }

    const ConvGeom g_;
    const ActLayout in_, out_;
    const std::string node_;
    Generator* G_ = nullptr;
};

// MaxPool: per tile of P pixels, chunks of one vector (32 / 64 channels): a runtime loop over the
// full ones, then the last chunk (16..vlen bytes), masked to the channels < C when it holds others.
template <Isa I> class MaxPoolEmitter : PoolEmitterBase {
    using Tr = IsaTraits<I>;
    using Vmm = typename Tr::Vmm;
    static constexpr int kV = Tr::vlen;

public:
    MaxPoolEmitter(const ConvGeom& g, const ActLayout& in, const ActLayout& out, const std::string& node)
        : PoolEmitterBase(g, in, out, node) {
        cw_ = round_up16(g.C);
        P_ = std::min<int64_t>(10, g.OW);
        last_ = cw_ % kV ? cw_ % kV : kV;
        mask_last_ = g.C < cw_;
    }

    size_t size_hint() const {
        const int64_t taps = std::min<int64_t>(g_.KH * g_.KW, kMaxBodies);
        return static_cast<size_t>(8192 + 2 * taps * P_ * 12);
    }

    void operator()(Generator& gen) {
        G_ = &gen;
        Generator& g = gen;
        const int64_t start = cw_ - last_, valid = g_.C - start; // channels < C in the last chunk
        if constexpr (Tr::evex) {
            auto bits = [](int64_t n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; };
            const uint64_t ld = bits(valid), st = bits(last_);
            masked_ld_ = ld != ~uint64_t{0}, masked_st_ = st != ~uint64_t{0};
            std::vector<uint8_t> m(16);
            for (int i = 0; i < 8; ++i) m[static_cast<size_t>(i)] = static_cast<uint8_t>(ld >> (8 * i));
            for (int i = 0; i < 8; ++i) m[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(st >> (8 * i));
            off_mask_ = g.pool_u8(m);
        } else if (mask_last_) {
            std::vector<uint8_t> m(32, 0);
            for (int64_t i = 0; i < 32; ++i) m[static_cast<size_t>(i)] = i < valid ? 0xFF : 0;
            off_mask_ = g.pool_u8(m);
        }
        g.preamble({rbx, rbp, r12, r13, r14, r15}, kScratch);
        g.load_pool_base(r_pool);
        if constexpr (Tr::evex) {
            g.kmovq(k2, g.ptr[r_pool + off_mask_]);
            g.kmovq(k3, g.ptr[r_pool + off_mask_ + 8]);
        }
        emit_rows(P_, [&](int64_t pn) { tile(pn); }, [] {});
        g.postamble();
    }

private:
    void tile(int64_t pn) {
        Generator& g = G();
        const int64_t loop_chunks = (cw_ - last_) / kV;
        if (loop_chunks > 0) {
            Label l;
            g.xor_(r_chunk, r_chunk);
            g.L(l);
            g.lea(r_in, g.ptr[r_in_tile + r_chunk]);
            g.lea(r_out_c, g.ptr[r_out + r_chunk]);
            chunk(pn, kV, true);
            g.add(r_chunk, kV);
            g.cmp(r_chunk, d32(loop_chunks * kV));
            g.jl(l, g.T_NEAR);
        }
        g.lea(r_in, g.ptr[r_in_tile + d32(cw_ - last_)]);
        g.lea(r_out_c, g.ptr[r_out + d32(cw_ - last_)]);
        chunk(pn, last_, false);
        const int64_t zero = out_.c_stride - cw_;
        for (int64_t p = 0; p < pn; ++p) store_zeros<I>(g, r_out, d32(p * out_.c_stride + cw_), zero, Vmm(15));
    }

    // One load / max / store of `bytes` channels at a; `full` chunks are never masked.
    void load(const Vmm& v, const Address& a, int64_t bytes, bool full, bool first) {
        Generator& g = G();
        if constexpr (Tr::evex) {
            const bool m = !full && masked_ld_;
            if (first) {
                if (m) g.vmovdqu8(v | k2 | T_z, a);
                else g.vmovdqu8(v, a);
            } else {
                if (m) g.vpmaxub(v | k2, v, a);
                else g.vpmaxub(v, v, a);
            }
        } else if (bytes == 32) {
            if (first) g.vmovdqu(v, a);
            else g.vpmaxub(v, v, a);
        } else {
            const Xmm x(v.getIdx());
            if (first) g.vmovdqu(x, a);
            else g.vpmaxub(x, x, a);
        }
    }

    void store(const Vmm& v, const Address& o, int64_t bytes, bool full) {
        Generator& g = G();
        if constexpr (Tr::evex) {
            if (!full && masked_st_) g.vmovdqu8(o | k3, v);
            else g.vmovdqu8(o, v);
        } else if (bytes == 32) {
            if (!full && mask_last_) g.vpand(v, v, g.ptr[r_pool + off_mask_]);
            g.vmovdqu(o, v);
        } else {
            const Xmm x(v.getIdx());
            if (!full && mask_last_) g.vpand(x, x, g.ptr[r_pool + off_mask_]);
            g.vmovdqu(o, x);
        }
    }

    // rax = input of the chunk's tap (0,0) for pixel 0; r14 = output of the chunk for pixel 0.
    void chunk(int64_t pn, int64_t bytes, bool full) {
        Generator& g = G();
        const int64_t pix = g_.SW * in_.c_stride;
        // A looped tap body runs for every tap, so it cannot start with a plain load: the
        // accumulators then start at 0, the smallest level.
        bool first = !loops::taps_looped(tap_geom(), pn, kMaxBodies);
        if (!first)
            for (int64_t p = 0; p < pn; ++p) VecOps<I>::zero(g, Vmm(static_cast<int>(p)));
        loops::taps(g, tap_geom(), pn, kMaxBodies, node_, [&](int64_t disp) {
            for (int64_t p = 0; p < pn; ++p) load(Vmm(static_cast<int>(p)), g.ptr[r_in + d32(disp + p * pix)], bytes, full, first);
            first = false;
        });
        for (int64_t p = 0; p < pn; ++p) store(Vmm(static_cast<int>(p)), g.ptr[r_out_c + d32(p * out_.c_stride)], bytes, full);
    }

    int64_t cw_ = 16, last_ = 32, P_ = 1;
    bool mask_last_ = false, masked_ld_ = false, masked_st_ = false;
    int off_mask_ = -1;
};

// AvgPool: per tile of P pixels, chunks of 16 channels in a runtime loop; the window sums in u16
// (one ymm per pixel) or s32 (two ymm / one zmm per pixel), then the epilogue with per-pattern M and E.
template <Isa I> class AvgPoolEmitter : PoolEmitterBase {
    using Tr = IsaTraits<I>;
    using Vmm = typename Tr::Vmm;
    static constexpr int kL = Tr::lanes, kHalves = 16 / Tr::lanes; // vectors per 16-channel chunk

public:
    AvgPoolEmitter(const QAvgPoolDesc& d, const AvgPoolConsts& c, const ActLayout& in, const ActLayout& out)
        : PoolEmitterBase(d.g, in, out, d.fused_nodes.empty() ? "<qavgpool>" : d.fused_nodes.front()), c_(c) {
        cw_ = round_up16(d.g.C);
        u16_ = !Tr::evex && avgpool_max_sum(d) <= 65535;
        P_ = std::min<int64_t>(Tr::evex ? 8 : 6, d.g.OW);
    }

    bool u16() const { return u16_; }

    size_t size_hint() const {
        const int64_t taps = std::min<int64_t>(g_.KH * g_.KW, kMaxBodies);
        return static_cast<size_t>(16384 + 2 * taps * P_ * 16 + static_cast<int64_t>(c_.m.size() + c_.e.size() + c_.k_off.size()) * 4 +
                                   (g_.OH + g_.OW) * 4);
    }

    void operator()(Generator& gen) {
        G_ = &gen;
        Generator& g = gen;
        // M then E, each [pattern][c_pad] (c_pad*4 is a multiple of 64: no pool padding between patterns).
        off_m_ = g.pool_f32(c_.m);
        off_e_ = g.pool_f32(c_.e);
        if (c_.mode == EpilogueMode::Threshold) off_thr_ = g.pool_f32(c_.threshold);
        if (!c_.k_off.empty()) off_koff_ = g.pool_i32(c_.k_off);
        const int64_t pat_bytes = c_.c_pad * 4;
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
        typename Epilogue<I>::Form f;
        f.mode = c_.mode;
        f.k_off = off_koff_ >= 0;
        f.v_min = c_.v_min;
        epi_ = Epilogue<I>(g, f, c_.v_max, c_.out_levels, r_pool);
        g.preamble({rbx, rbp, r12, r13, r14, r15}, kScratch);
        g.load_pool_base(r_pool);
        emit_rows(P_, [&](int64_t pn) { tile(pn); }, [&] {
            // r13 = M of the row's pattern class (rax = oh).
            if (off_rowtab_ >= 0) {
                g.movsxd(rcx, g.dword[r_pool + rax * 4 + off_rowtab_]);
                g.lea(r_prow, g.ptr[r_pool + rcx + off_m_]);
            } else {
                g.lea(r_prow, g.ptr[r_pool + off_m_]);
            }
        });
        g.postamble();
    }

private:
    // Accumulator of pixel p, vector h of the chunk.
    Vmm acc(int64_t p, int h) const { return Vmm(static_cast<int>(u16_ ? p : kHalves * p + h)); }

    void tile(int64_t pn) {
        Generator& g = G();
        const int64_t eb = out_.elem_bytes;
        Label l;
        g.xor_(r_chunk, r_chunk); // input byte offset of the chunk (16 channels)
        g.xor_(r_coff, r_coff);   // constant byte offset of the chunk
        g.L(l);
        g.lea(r_in, g.ptr[r_in_tile + r_chunk]);
        if (eb == 4) g.lea(r_out_c, g.ptr[r_out + r_chunk * 4]);
        else g.lea(r_out_c, g.ptr[r_out + r_chunk]);
        chunk(pn);
        g.add(r_chunk, 16);
        g.add(r_coff, 64);
        g.cmp(r_chunk, d32(cw_));
        g.jl(l, g.T_NEAR);
        const int64_t zero = (out_.c_stride - cw_) * eb;
        for (int64_t p = 0; p < pn; ++p) store_zeros<I>(g, r_out, d32((p * out_.c_stride + cw_) * eb), zero, Vmm(15));
    }

    void chunk(int64_t pn) {
        Generator& g = G();
        const Vmm x(Tr::evex ? 28 : 12);
        const int64_t pix = g_.SW * in_.c_stride;
        for (int64_t p = 0; p < pn; ++p)
            for (int h = 0; h < (u16_ ? 1 : kHalves); ++h) VecOps<I>::zero(g, acc(p, h));
        loops::taps(g, tap_geom(), pn, kMaxBodies, node_, [&](int64_t disp) {
            for (int64_t p = 0; p < pn; ++p) {
                if (u16_) {
                    g.vpmovzxbw(x, g.ptr[r_in + d32(disp + p * pix)]);
                    g.vpaddw(acc(p, 0), acc(p, 0), x);
                } else {
                    for (int h = 0; h < kHalves; ++h) {
                        g.vpmovzxbd(x, g.ptr[r_in + d32(disp + p * pix + h * kL)]);
                        g.vpaddd(acc(p, h), acc(p, h), x);
                    }
                }
            }
        });
        const Vmm zero(Tr::evex ? 31 : 15), t(Tr::evex ? 30 : 13);
        epi_.prepare(g, zero);
        for (int64_t p = 0; p < pn; ++p) {
            // rdx = byte offset of (column class, chunk) within a pattern row.
            if (off_coltab_ >= 0) {
                g.movsxd(r_col, g.dword[r_pool + r_ow * 4 + d32(off_coltab_ + p * 4)]);
                g.add(r_col, r_coff);
            } else {
                g.mov(r_col, r_coff);
            }
            Vmm v[2] = {acc(p, 0), acc(p, kHalves - 1)};
            if (u16_) {
                v[0] = Vmm(6), v[1] = Vmm(7);
                g.vextracti128(Xmm(v[1].getIdx()), acc(p, 0), 1);
                g.vpmovzxwd(v[0], Xmm(acc(p, 0).getIdx()));
                g.vpmovzxwd(v[1], Xmm(v[1].getIdx()));
            }
            for (int h = 0; h < kHalves; ++h) {
                typename Epilogue<I>::Operands op{g.ptr[r_prow + r_col + h * 32],
                                                  g.ptr[r_prow + r_col + d32(off_e_ - off_m_ + h * 32)]};
                if (off_thr_ >= 0) op.threshold = g.ptr[r_pool + r_coff + d32(off_thr_ + h * 32)];
                if (off_koff_ >= 0) op.k_off = g.ptr[r_pool + r_coff + d32(off_koff_ + h * 32)];
                epi_.apply(g, v[h], v[h], op, zero, t);
                if (!epi_.stores_levels()) g.vmovups(g.ptr[r_out_c + d32((p * out_.c_stride + h * kL) * 4)], v[h]);
            }
            if (epi_.stores_levels())
                store_levels<I>(g, v, kHalves, r_out_c, d32(p * out_.c_stride), Vmm(13), Vmm(14));
        }
    }

    const AvgPoolConsts& c_;
    int64_t cw_ = 16, P_ = 1;
    bool u16_ = true;
    Epilogue<I> epi_;
    int off_koff_ = -1;
    int off_m_ = -1, off_e_ = -1, off_thr_ = -1, off_rowtab_ = -1, off_coltab_ = -1;
};

template <Isa I>
std::unique_ptr<JitKernel> build_avgpool(const QAvgPoolDesc& d, const AvgPoolConsts& c, const ActLayout& in,
                                         const ActLayout& out) {
    AvgPoolEmitter<I> e(d, c, in, out);
    std::string name = "avgpool_u8";
    name += c.mode == EpilogueMode::Float ? "_f32" : "_u8";
    name += geom_name(d.g);
    if (d.exclude_pad) name += "_excl";
    if (c.mode == EpilogueMode::Threshold) name += "_thr";
    name += e.u16() ? "_sum16" : "_sum32";
    auto k = build_kernel(name + "__" + to_string(I), e.size_hint(), [&](Generator& gen) { e(gen); });
    k->constants = c.constant_count();
    return k;
}

template <Isa I>
std::unique_ptr<JitKernel> build_maxpool(const ConvGeom& g, const ActLayout& in, const ActLayout& out,
                                         const std::string& node) {
    MaxPoolEmitter<I> e(g, in, out, node);
    return build_kernel("maxpool_u8_u8" + geom_name(g) + "__" + to_string(I), e.size_hint(),
                        [&](Generator& gen) { e(gen); });
}

} // namespace

ActLayout required_pool_input_halo(const ConvGeom& g) {
    ConvGeom undilated = g; // a pooling window has no dilation
    undilated.DH = undilated.DW = 1;
    return required_input_halo(undilated);
}

std::unique_ptr<JitKernel> emit_avgpool(Isa isa, const QAvgPoolDesc& d, const AvgPoolConsts& c, const ActLayout& in,
                                        const ActLayout& out) {
    const std::string node = d.fused_nodes.empty() ? "<qavgpool>" : d.fused_nodes.front();
    validate(d.g, in, out, c.mode == EpilogueMode::Float ? 4 : 1, node);
    if (c.c != d.g.C || c.row_class.size() != static_cast<size_t>(d.g.OH) ||
        c.col_class.size() != static_cast<size_t>(d.g.OW))
        throw Error(ErrorCode::InvalidArgument, node, "folded constants do not match the AvgPool");
    return dispatch_isa(isa, node, "AvgPool", [&](auto i) { return build_avgpool<decltype(i)::value>(d, c, in, out); });
}

std::unique_ptr<JitKernel> emit_maxpool(Isa isa, const ConvGeom& g, const ActLayout& in, const ActLayout& out,
                                        const std::string& node) {
    validate(g, in, out, 1, node);
    return dispatch_isa(isa, node, "MaxPool",
                        [&](auto i) { return build_maxpool<decltype(i)::value>(g, in, out, node); });
}

} // namespace qjit
