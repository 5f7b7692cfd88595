#include "jit/fp32_conv_step.hpp"

#include <algorithm>
#include <cmath>

#include "jit/fp32_tile.hpp"
#include "runtime/ref_ops.hpp"

namespace qjit {
namespace {

constexpr int64_t kTileFloats = 16384; // target floats of one reduction tile (64 KiB, L2-resident)
constexpr int64_t kMaxTile = 512;
constexpr int64_t kMBlock = 64; // MatMul rows per work item

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Output columns per tile: about kTileFloats / K, whole double vectors, no wider than needed.
int64_t tile_cols(int64_t K, int64_t cols, int lanes) {
    const int64_t step = 2 * lanes;
    int64_t t = std::clamp<int64_t>(kTileFloats / std::max<int64_t>(K, 1) / step * step, step, kMaxTile);
    return std::min(t, round_up(cols, lanes));
}

// Per-thread tile buffer (grown, never shrunk).
float* scratch(size_t floats) {
    thread_local std::vector<float> buf;
    if (buf.size() < floats) buf.resize(floats);
    return buf.data();
}

class Fp32ConvStep final : public rt::Step {
public:
    Fp32ConvStep(std::shared_ptr<JitKernel> k, const Fp32ConvPlan& p, int lanes, std::vector<int> in, int out)
        : k_(std::move(k)), p_(p), ld_(round_up(p.tile, lanes)), in_(std::move(in)), out_(out) {}
    int64_t work_items() const override { return p_.N * p_.G * p_.tiles; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const float* x = reinterpret_cast<const float*>(slots[in_[0]]);
        const float* w = reinterpret_cast<const float*>(slots[in_[1]]);
        float* y = reinterpret_cast<float*>(slots[out_]);
        float* b = scratch(static_cast<size_t>(p_.K * ld_));
        for (int64_t it = begin; it < end; ++it) {
            const int64_t t = it % p_.tiles, g = (it / p_.tiles) % p_.G, n = it / (p_.tiles * p_.G);
            const int64_t p0 = t * p_.tile, cols = std::min(p_.tile, p_.P - p0);
            im2col(x + (n * p_.C + g * p_.IPG) * p_.H * p_.W, p0, cols, b);
            Fp32GemmArgs a;
            a.a = w + g * p_.OPG * p_.K;
            a.b = b;
            a.c = y + (n * p_.G * p_.OPG + g * p_.OPG) * p_.P + p0;
            a.m = p_.OPG, a.k = p_.K, a.ncols = cols;
            a.lda_bytes = p_.K * 4, a.ldb_bytes = ld_ * 4, a.ldc_bytes = p_.P * 4;
            k_->call(&a);
        }
    }

private:
    // Row (j, ky, kx) of the tile: the input each output pixel p0 + q reads at that tap, +0 where
    // the tap is padding and past `cols`.
    void im2col(const float* x, int64_t p0, int64_t cols, float* b) const {
        const Fp32ConvPlan& p = p_;
        const TapGeometry tg{p.H, p.W, p.OH, p.OW, p.SH, p.SW, p.H * p.W};
        int64_t row = 0;
        for (int64_t j = 0; j < p.IPG; ++j)
            for (int64_t ky = 0; ky < p.KH; ++ky)
                for (int64_t kx = 0; kx < p.KW; ++kx, ++row) {
                    float* r = b + row * ld_;
                    gather_tap_row(x + j * p.H * p.W, tg, ky * p.DH - p.PT, kx * p.DW - p.PL, p0, cols, 0.f, r);
                    std::fill(r + cols, r + ld_, 0.f);
                }
    }

    std::shared_ptr<JitKernel> k_;
    Fp32ConvPlan p_;
    int64_t ld_;
    std::vector<int> in_;
    int out_;
};

class Fp32MatMulStep final : public rt::Step {
public:
    Fp32MatMulStep(std::shared_ptr<JitKernel> k, const Fp32MatMulPlan& p, int lanes, std::vector<int> in, int out,
                   const Tensor* b_const)
        : k_(std::move(k)), p_(p), ld_(round_up(p.tile, lanes)), in_(std::move(in)), out_(out) {
        if (b_const) pack(b_const->data<float>(), b_const->numel() / std::max<int64_t>(p.K * p.N, 1));
    }
    int64_t work_items() const override {
        return static_cast<int64_t>(p_.a_mat.size()) * p_.m_blocks * p_.tiles;
    }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const float* a = reinterpret_cast<const float*>(slots[in_[0]]);
        const float* bsrc = reinterpret_cast<const float*>(slots[in_[1]]);
        float* y = reinterpret_cast<float*>(slots[out_]);
        const int64_t M = p_.M, K = p_.K, N = p_.N;
        const size_t b_floats = static_cast<size_t>(K * ld_);
        float* b = scratch(b_floats + (p_.ta ? static_cast<size_t>(p_.m_block * K) : 0));
        float* at = b + b_floats;
        for (int64_t it = begin; it < end; ++it) {
            const int64_t t = it % p_.tiles, mb = (it / p_.tiles) % p_.m_blocks, bi = it / (p_.tiles * p_.m_blocks);
            const int64_t n0 = t * p_.tile, cols = std::min(p_.tile, N - n0);
            const int64_t m0 = mb * p_.m_block, rows = std::min(p_.m_block, M - m0);
            const float* ma = a + p_.a_mat[static_cast<size_t>(bi)] * M * K;
            const int64_t bm = p_.b_mat[static_cast<size_t>(bi)];
            Fp32GemmArgs g;
            if (packed_.empty()) {
                block_of_b(bsrc + bm * K * N, n0, cols, b);
                g.b = b;
            } else {
                g.b = packed_.data() + (bm * p_.tiles + t) * K * ld_;
            }
            if (p_.ta) { // a is [K][M]: rows m0.. of A^T
                for (int64_t m = 0; m < rows; ++m)
                    for (int64_t k = 0; k < K; ++k) at[m * K + k] = ma[k * M + m0 + m];
                g.a = at;
            } else {
                g.a = ma + m0 * K;
            }
            g.c = y + bi * M * N + m0 * N + n0;
            g.m = rows, g.k = K, g.ncols = cols;
            g.lda_bytes = K * 4, g.ldb_bytes = ld_ * 4, g.ldc_bytes = N * 4;
            k_->call(&g);
        }
    }

private:
    // B[k][n0 .. n0 + cols) of matrix mb for k < K, rows of ld_ zero-padded.
    void block_of_b(const float* mb, int64_t n0, int64_t cols, float* dst) const {
        const int64_t K = p_.K, N = p_.N;
        for (int64_t k = 0; k < K; ++k) {
            float* r = dst + k * ld_;
            for (int64_t q = 0; q < cols; ++q) r[q] = p_.tb ? mb[(n0 + q) * K + k] : mb[k * N + n0 + q];
            std::fill(r + cols, r + ld_, 0.f);
        }
    }
    // A constant B: every (matrix, column tile) block laid out once, at load.
    void pack(const float* b, int64_t mats) {
        packed_.resize(static_cast<size_t>(mats * p_.tiles * p_.K * ld_));
        for (int64_t m = 0; m < mats; ++m)
            for (int64_t t = 0; t < p_.tiles; ++t)
                block_of_b(b + m * p_.K * p_.N, t * p_.tile, std::min(p_.tile, p_.N - t * p_.tile),
                           packed_.data() + (m * p_.tiles + t) * p_.K * ld_);
    }

    std::shared_ptr<JitKernel> k_;
    Fp32MatMulPlan p_;
    int64_t ld_;
    std::vector<int> in_;
    int out_;
    std::vector<float> packed_; // constant B, packed (empty: B is copied per work item)
};

} // namespace

Fp32ConvPlan plan_fp32_conv(const ir::Node& n, const Shape& xs, const Tensor* w, int lanes) {
    Fp32ConvPlan p;
    const bool grouped = n.op == ir::Op::GroupConvolution;
    if ((n.op != ir::Op::Convolution && !grouped) || n.type != ElemType::f32) {
        p.why_not = "not an f32 convolution";
        return p;
    }
    if (!w || w->type() != ElemType::f32) {
        p.why_not = "weights not an f32 constant";
        return p;
    }
    const Shape& ws = w->shape();
    const ConvParams& c = n.conv;
    if (xs.size() != 4 || ws.size() != (grouped ? 5u : 4u) || c.strides.size() != 2 || c.dilations.size() != 2 ||
        c.pads_begin.size() != 2 || c.pads_end.size() != 2) {
        p.why_not = "not a 2-D convolution";
        return p;
    }
    // Without padding every tap reads the input (the output size keeps windows inside it).
    const bool padded = c.pads_begin[0] || c.pads_begin[1] || c.pads_end[0] || c.pads_end[1];
    for (int64_t i = 0; padded && i < w->numel(); ++i)
        if (!std::isfinite(w->data<float>()[i])) {
            p.why_not = "non-finite weights with padding (padded taps would add 0 * inf)";
            return p;
        }
    p.N = xs[0], p.C = xs[1], p.H = xs[2], p.W = xs[3];
    const size_t o = grouped ? 1 : 0;
    p.G = grouped ? ws[0] : 1;
    p.OPG = ws[o], p.IPG = ws[o + 1], p.KH = ws[o + 2], p.KW = ws[o + 3];
    p.SH = c.strides[0], p.SW = c.strides[1], p.DH = c.dilations[0], p.DW = c.dilations[1];
    p.PT = c.pads_begin[0], p.PL = c.pads_begin[1];
    if (p.G * p.IPG != p.C || p.SH < 1 || p.SW < 1 || p.DH < 1 || p.DW < 1 || p.KH < 1 || p.KW < 1) {
        p.why_not = "unsupported conv geometry";
        return p;
    }
    p.OH = (p.H + p.PT + c.pads_end[0] - p.DH * (p.KH - 1) - 1) / p.SH + 1;
    p.OW = (p.W + p.PL + c.pads_end[1] - p.DW * (p.KW - 1) - 1) / p.SW + 1;
    if (n.shape != Shape{p.N, p.G * p.OPG, p.OH, p.OW} || p.OH < 1 || p.OW < 1 || p.N < 1 || p.OPG < 1 ||
        p.IPG < 1) {
        p.why_not = "unsupported conv geometry";
        return p;
    }
    p.K = p.IPG * p.KH * p.KW;
    p.P = p.OH * p.OW;
    p.tile = tile_cols(p.K, p.P, lanes);
    p.tiles = (p.P + p.tile - 1) / p.tile;
    return p;
}

Fp32MatMulPlan plan_fp32_matmul(const ir::Node& n, const Shape& sa, const Shape& sb, int lanes) {
    Fp32MatMulPlan p;
    if (n.op != ir::Op::MatMul || n.type != ElemType::f32 || sa.size() < 2 || sb.size() < 2) {
        p.why_not = "not an f32 MatMul of rank >= 2";
        return p;
    }
    const size_t ra = sa.size(), rb = sb.size();
    p.ta = n.transpose_a, p.tb = n.transpose_b;
    p.M = p.ta ? sa[ra - 1] : sa[ra - 2];
    p.K = p.ta ? sa[ra - 2] : sa[ra - 1];
    const int64_t kb = p.tb ? sb[rb - 1] : sb[rb - 2];
    p.N = p.tb ? sb[rb - 2] : sb[rb - 1];
    const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
    Shape batch;
    try {
        batch = ref::broadcast_shape(batch_a, batch_b, n.name);
    } catch (const Error&) {
        p.why_not = "batch dims do not broadcast";
        return p;
    }
    Shape out = batch;
    out.push_back(p.M);
    out.push_back(p.N);
    if (kb != p.K || out != n.shape || p.M < 1 || p.N < 1 || p.K < 0) {
        p.why_not = "unsupported MatMul shapes";
        return p;
    }
    const ref::BroadcastIndex ba(batch_a, batch), bb(batch_b, batch);
    for (int64_t i = 0; i < num_elements(batch); ++i) {
        p.a_mat.push_back(ba(i));
        p.b_mat.push_back(bb(i));
    }
    p.m_block = std::min(kMBlock, p.M);
    p.m_blocks = (p.M + p.m_block - 1) / p.m_block;
    p.tile = tile_cols(p.K, p.N, lanes);
    p.tiles = (p.N + p.tile - 1) / p.tile;
    return p;
}

std::unique_ptr<rt::Step> make_fp32_conv_step(std::shared_ptr<JitKernel> gemm, const Fp32ConvPlan& p, int lanes,
                                              std::vector<int> in_slots, int out_slot) {
    return std::make_unique<Fp32ConvStep>(std::move(gemm), p, lanes, std::move(in_slots), out_slot);
}

std::unique_ptr<rt::Step> make_fp32_matmul_step(std::shared_ptr<JitKernel> gemm, const Fp32MatMulPlan& p,
                                                int lanes, std::vector<int> in_slots, int out_slot,
                                                const Tensor* b_const) {
    return std::make_unique<Fp32MatMulStep>(std::move(gemm), p, lanes, std::move(in_slots), out_slot, b_const);
}

} // namespace qjit
