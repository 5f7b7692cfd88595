#include "jit/fp32_pool_step.hpp"

#include <algorithm>
#include <cmath>

#include "jit/fp32_tile.hpp"
#include "runtime/ref_ops.hpp"

namespace qjit {
namespace {

constexpr int64_t kTileFloats = 16384;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

float* scratch(size_t floats) {
    thread_local std::vector<float> buf;
    if (buf.size() < floats) buf.resize(floats);
    return buf.data();
}

class Fp32PoolStep final : public rt::Step {
public:
    Fp32PoolStep(std::shared_ptr<JitKernel> k, const Fp32PoolPlan& p, int lanes, int in, int out)
        : k_(std::move(k)), p_(p), ld_(round_up(p.tile, lanes)), in_(in), out_(out),
          whole_plane_(p.P == 1 && p.pool.pads_begin[0] == 0 && p.pool.pads_begin[1] == 0) {}
    int64_t work_items() const override { return p_.tiles; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const float* x = reinterpret_cast<const float*>(slots[in_]);
        float* y = reinterpret_cast<float*>(slots[out_]);
        const PoolParams& pp = p_.pool;
        const int64_t KH = pp.kernel[0], KW = pp.kernel[1];
        const TapGeometry tg{p_.H, p_.W, p_.OH, p_.OW, pp.strides[0], pp.strides[1], p_.H * p_.W};
        float* b = scratch(static_cast<size_t>((KH * KW + 1) * ld_));
        float* div = b + KH * KW * ld_;
        const float pad = p_.max ? -INFINITY : 0.f;
        const int64_t total = p_.N * p_.C * p_.P;
        for (int64_t it = begin; it < end; ++it) {
            const int64_t f0 = it * p_.tile, cols = std::min(p_.tile, total - f0);
            for (int64_t ky = 0; ky < KH; ++ky)
                for (int64_t kx = 0; kx < KW; ++kx) {
                    float* r = b + (ky * KW + kx) * ld_;
                    if (whole_plane_) { // global pooling: one output per plane, a strided row
                        const bool in = ky < p_.H && kx < p_.W;
                        const float* s = x + f0 * p_.H * p_.W + ky * p_.W + kx;
                        for (int64_t q = 0; q < cols; ++q) r[q] = in ? s[q * p_.H * p_.W] : pad;
                    } else {
                        gather_tap_row(x, tg, ky - pp.pads_begin[0], kx - pp.pads_begin[1], f0, cols, pad, r);
                    }
                    std::fill(r + cols, r + ld_, pad);
                }
            if (!p_.max) {
                int64_t oy = f0 % p_.P / p_.OW, ox = f0 % p_.OW;
                for (int64_t q = 0; q < cols; ++q) {
                    div[q] = static_cast<float>(count(oy, 0) * count(ox, 1));
                    if (++ox == p_.OW) ox = 0, oy = oy + 1 == p_.OH ? 0 : oy + 1;
                }
                std::fill(div + cols, div + ld_, 1.f);
            }
            Fp32PoolArgs a;
            a.b = b, a.div = div, a.c = y + f0;
            a.k = KH * KW, a.ncols = cols, a.ldb_bytes = ld_ * 4;
            k_->call(&a);
        }
    }

private:
    int64_t count(int64_t o, int axis) const {
        const PoolParams& pp = p_.pool;
        return ref::pool_axis_count(o, pp.kernel[axis], pp.strides[axis], pp.pads_begin[axis], pp.pads_end[axis],
                                    axis == 0 ? p_.H : p_.W, pp.exclude_pad);
    }

    std::shared_ptr<JitKernel> k_;
    Fp32PoolPlan p_;
    int64_t ld_;
    int in_, out_;
    bool whole_plane_; // one output per plane, its window from (0, 0)
};

} // namespace

Fp32PoolPlan plan_fp32_pool(const ir::Node& n, const Shape& xs, int lanes) {
    Fp32PoolPlan p;
    p.max = n.op == ir::Op::MaxPool;
    const PoolParams& pp = n.pool;
    if ((n.op != ir::Op::MaxPool && n.op != ir::Op::AvgPool) || n.type != ElemType::f32 || xs.size() != 4 ||
        pp.kernel.size() != 2 || pp.strides.size() != 2 || pp.pads_begin.size() != 2 || pp.pads_end.size() != 2) {
        p.why_not = "not a 2-D f32 pooling";
        return p;
    }
    p.pool = pp;
    p.N = xs[0], p.C = xs[1], p.H = xs[2], p.W = xs[3];
    for (int a = 0; a < 2; ++a)
        if (pp.kernel[a] < 1 || pp.strides[a] < 1 || pp.pads_begin[a] < 0 || pp.pads_end[a] < 0) {
            p.why_not = "unsupported pooling attributes";
            return p;
        }
    p.OH = ref::pool_axis_out(p.H, pp.kernel[0], pp.strides[0], pp.pads_begin[0], pp.pads_end[0], pp.rounding);
    p.OW = ref::pool_axis_out(p.W, pp.kernel[1], pp.strides[1], pp.pads_begin[1], pp.pads_end[1], pp.rounding);
    if (n.shape != Shape{p.N, p.C, p.OH, p.OW} || p.OH < 1 || p.OW < 1) {
        p.why_not = "unsupported pooling shapes";
        return p;
    }
    // Every window must hold an input element (max) / have a nonzero count (avg: a window all in
    // the padding averages to +0); else the reference's error comes from the fallback.
    for (int a = 0; a < 2; ++a) {
        const int64_t in = a == 0 ? p.H : p.W, o = a == 0 ? p.OH : p.OW;
        for (int64_t i = 0; i < o; ++i) {
            const int64_t first = i * pp.strides[a] - pp.pads_begin[a];
            const bool empty = p.max && std::min(first + pp.kernel[a], in) <= std::max<int64_t>(first, 0);
            const bool zero = !p.max && ref::pool_axis_count(i, pp.kernel[a], pp.strides[a], pp.pads_begin[a],
                                                              pp.pads_end[a], in, pp.exclude_pad) <= 0;
            if (empty || zero) {
                p.why_not = "a window covers no input element";
                return p;
            }
        }
    }
    p.P = p.OH * p.OW;
    const int64_t K = pp.kernel[0] * pp.kernel[1];
    const int64_t total = p.N * p.C * p.P; // output columns run across planes (global pooling fills lanes)
    p.tile = std::min(std::clamp<int64_t>(kTileFloats / K / lanes * lanes, lanes, 1024), round_up(total, lanes));
    p.tiles = (total + p.tile - 1) / p.tile;
    return p;
}

std::unique_ptr<rt::Step> make_fp32_pool_step(std::shared_ptr<JitKernel> kernel, const Fp32PoolPlan& p, int lanes,
                                              int in_slot, int out_slot) {
    return std::make_unique<Fp32PoolStep>(std::move(kernel), p, lanes, in_slot, out_slot);
}

} // namespace qjit
