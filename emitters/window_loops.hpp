// Loop skeletons shared by the window emitters (grouped conv, MaxPool, AvgPool): a counted loop over
// a [begin, end) range of the argument struct kept in a stack slot (output rows, output-channel
// blocks), the output-column tiles of one row, and the taps of a window. Each takes the body as a
// callable, so the emitters differ only in what one tile / one tap computes. Internal header.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "emitters/generator.hpp"
#include "qjit/error.hpp"

namespace qjit::loops {

// v as a 32-bit displacement, or Error(UnsupportedOp) naming `node`.
inline int disp32(int64_t v, const std::string& node) {
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        throw Error(ErrorCode::UnsupportedOp, node, "layout offset does not fit a 32-bit displacement");
    return static_cast<int>(v);
}

// for (slot = args[begin]; slot < args[end]; ++slot) body(); the counter lives in the stack slot
// `slot` (a Generator::scratch-style [rsp + off] address) and is in `tmp` when body starts.
template <class Body>
void range_loop(Generator& g, const Xbyak::Address& begin, const Xbyak::Address& end, const Xbyak::Address& slot,
                const Xbyak::Reg64& tmp, Body&& body) {
    Xbyak::Label l_top, l_done;
    g.mov(tmp, begin);
    g.mov(slot, tmp);
    g.L(l_top);
    g.mov(tmp, slot);
    g.cmp(tmp, end);
    g.jge(l_done, g.T_NEAR);
    body();
    g.inc(slot);
    g.jmp(l_top, g.T_NEAR);
    g.L(l_done);
}

// The output-column tiles of one row: `ow` pixels in tiles of P (a runtime loop over the full tiles,
// then one tail tile). Before each tile(pn) `in` / `out` point at the tile's input / output and
// `col` holds its first column; they advance by in_step / out_step bytes and P per tile.
struct TileRegs {
    Xbyak::Reg64 in, out, col;
};
template <class Tile>
void ow_tiles(Generator& g, int64_t ow, int64_t P, const TileRegs& r, int64_t in_step, int64_t out_step,
              const std::string& node, Tile&& tile) {
    const int64_t n_full = ow / P, tail = ow % P;
    g.xor_(r.col, r.col);
    if (n_full > 0) {
        Xbyak::Label l_tile;
        g.L(l_tile);
        tile(P);
        if (n_full > 1 || tail > 0) {
            g.add(r.in, disp32(in_step, node));
            g.add(r.out, disp32(out_step, node));
            g.add(r.col, static_cast<int>(P));
        }
        if (n_full > 1) {
            g.cmp(r.col, disp32(n_full * P, node));
            g.jl(l_tile, g.T_NEAR);
        }
    }
    if (tail > 0) tile(tail);
}

// The KH x KW taps of a window: body(disp) with the tap at ptr + disp, ptr pointing at tap (0,0) on
// entry and on exit. A dimension is unrolled while at most `max_bodies` bodies of `units` each
// result (kw first), else it is a runtime loop counted in kh_reg / kw_reg that moves ptr.
struct TapGeom {
    int64_t KH = 1, KW = 1, row_bytes = 0, col_bytes = 0; // tap strides (dilation included)
    Xbyak::Reg64 ptr, kh_reg, kw_reg;
};
inline bool unroll_kw(const TapGeom& t, int64_t units, int64_t max_bodies) { return t.KW * units <= max_bodies; }
inline bool unroll_kh(const TapGeom& t, int64_t units, int64_t max_bodies) {
    return unroll_kw(t, units, max_bodies) && t.KH * t.KW * units <= max_bodies;
}
// True when taps() emits one body that runs for several taps (the body cannot be "the first tap").
inline bool taps_looped(const TapGeom& t, int64_t units, int64_t max_bodies) {
    return (t.KW > 1 && !unroll_kw(t, units, max_bodies)) || (t.KH > 1 && !unroll_kh(t, units, max_bodies));
}
template <class Body>
void taps(Generator& g, const TapGeom& t, int64_t units, int64_t max_bodies, const std::string& node, Body&& body) {
    const bool ukw = unroll_kw(t, units, max_bodies), ukh = unroll_kh(t, units, max_bodies);
    auto kw_part = [&](int64_t disp) {
        if (t.KW > 1 && !ukw) {
            Xbyak::Label l;
            g.mov(t.kw_reg, t.KW);
            g.L(l);
            body(disp);
            g.add(t.ptr, disp32(t.col_bytes, node));
            g.dec(t.kw_reg);
            g.jnz(l, g.T_NEAR);
            g.sub(t.ptr, disp32(t.KW * t.col_bytes, node));
        } else {
            for (int64_t kw = 0; kw < t.KW; ++kw) body(disp + kw * t.col_bytes);
        }
    };
    if (t.KH > 1 && !ukh) {
        Xbyak::Label l;
        g.mov(t.kh_reg, t.KH);
        g.L(l);
        kw_part(0);
        g.add(t.ptr, disp32(t.row_bytes, node));
        g.dec(t.kh_reg);
        g.jnz(l, g.T_NEAR);
        g.sub(t.ptr, disp32(t.KH * t.row_bytes, node));
    } else {
        for (int64_t kh = 0; kh < t.KH; ++kh) kw_part(kh * t.row_bytes);
    }
}

} // namespace qjit::loops
