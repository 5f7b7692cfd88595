// Reference float ops (see ref_ops.hpp): fixed loop order, one fp rounding per operation.
#include "runtime/ref_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "jit/fq_math.hpp"
#include "qjit/error.hpp"

namespace qjit::ref {

namespace {

void require_f32(const Tensor& t, const char* op) {
    if (t.type() != ElemType::f32)
        throw Error(ErrorCode::Internal, op, std::string("expects f32 tensors, got ") + to_string(t.type()));
}

// Applies f elementwise to a and b broadcast together.
template <class F>
Tensor binary(const Tensor& a, const Tensor& b, const char* op, F f) {
    require_f32(a, op);
    require_f32(b, op);
    const Shape out_shape = broadcast_shape(a.shape(), b.shape(), op);
    Tensor out(ElemType::f32, out_shape);
    const BroadcastIndex ia(a.shape(), out_shape), ib(b.shape(), out_shape);
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* po = out.data<float>();
    for (int64_t i = 0; i < out.numel(); ++i) po[i] = f(pa[ia(i)], pb[ib(i)]);
    return out;
}

template <class F>
Tensor unary(const Tensor& x, const char* op, F f) {
    require_f32(x, op);
    Tensor out(ElemType::f32, x.shape());
    const float* px = x.data<float>();
    float* po = out.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) po[i] = f(px[i]);
    return out;
}

} // namespace

std::vector<int64_t> broadcast_shape(const Shape& a, const Shape& b, const std::string& node) {
    const size_t rank = std::max(a.size(), b.size());
    Shape out(rank);
    for (size_t i = 0; i < rank; ++i) {
        // i counts from the right
        const int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
        const int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
        if (da != db && da != 1 && db != 1)
            throw Error(ErrorCode::ShapeMismatch, node,
                        "shapes " + to_string(a) + " and " + to_string(b) + " do not broadcast");
        out[rank - 1 - i] = da == 1 ? db : da;
    }
    return out;
}

BroadcastIndex::BroadcastIndex(const Shape& in, const Shape& out) : out_dims_(out), in_strides_(out.size(), 0) {
    if (in.size() > out.size())
        throw Error(ErrorCode::Internal, "<broadcast>", to_string(in) + " has a higher rank than " + to_string(out));
    identity_ = in == out;
    const size_t lead = out.size() - in.size();
    int64_t stride = 1;
    for (size_t j = in.size(); j-- > 0;) {
        const int64_t d = in[j];
        if (d != 1 && d != out[lead + j])
            throw Error(ErrorCode::Internal, "<broadcast>", to_string(in) + " does not broadcast to " + to_string(out));
        in_strides_[lead + j] = d == 1 ? 0 : stride;
        stride *= d;
    }
}

int64_t BroadcastIndex::operator()(int64_t out_flat) const {
    if (identity_) return out_flat;
    int64_t off = 0;
    for (size_t j = out_dims_.size(); j-- > 0;) {
        const int64_t d = out_dims_[j];
        off += (out_flat % d) * in_strides_[j];
        out_flat /= d;
    }
    return off;
}

Tensor fake_quantize(const Tensor& x, const Tensor& il, const Tensor& ih, const Tensor& ol, const Tensor& oh,
                     int levels, const Tensor* scale, const Tensor* offset) {
    const char* op = "<ref::fake_quantize>";
    for (const Tensor* t : {&x, &il, &ih, &ol, &oh}) require_f32(*t, op);
    if (scale && offset) {
        require_f32(*scale, op);
        require_f32(*offset, op);
        const BroadcastIndex bs(scale->shape(), x.shape()), bz(offset->shape(), x.shape()), bol(ol.shape(), x.shape()),
            boh(oh.shape(), x.shape());
        Tensor out(ElemType::f32, x.shape());
        const float* px = x.data<float>();
        float* po = out.data<float>();
        for (int64_t i = 0; i < x.numel(); ++i)
            po[i] = fq::onnx_fake_quantize(px[i], scale->data<float>()[bs(i)],
                                           static_cast<int>(offset->data<float>()[bz(i)]), ol.data<float>()[bol(i)],
                                           oh.data<float>()[boh(i)], levels);
        return out;
    }
    const Shape& s = x.shape();
    const BroadcastIndex bil(il.shape(), s), bih(ih.shape(), s), bol(ol.shape(), s), boh(oh.shape(), s);
    Tensor out(ElemType::f32, s);
    const float* px = x.data<float>();
    float* po = out.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i)
        po[i] = fq::fake_quantize(px[i], il.data<float>()[bil(i)], ih.data<float>()[bih(i)],
                                  ol.data<float>()[bol(i)], oh.data<float>()[boh(i)], levels);
    return out;
}

// x86 returns the first source's NaN (quieted) when both operands of an add or multiply are NaN,
// and a compiler may put either operand of the commutative `x + y` / `x * y` first (GCC and clang
// differ). The reference fixes it: x's NaN. (One NaN, or an invalid operation, needs no rule.)
namespace {
float first_nan_or(float x, float r) {
    if (!std::isnan(x)) return r;
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u |= 0x00400000u; // quieted
    std::memcpy(&x, &u, 4);
    return x;
}
// The two roundings of one reduction term, acc + x * y, with the same rule: the product is x's
// NaN, the sum acc's NaN (tests/test_fp32_conv pins the fp32 JIT kernels to it).
float mul_nan_x(float x, float y) {
    const float p = x * y;
    return std::isnan(p) ? first_nan_or(x, p) : p;
}
float add_nan_x(float acc, float p) {
    const float s = acc + p;
    return std::isnan(s) ? first_nan_or(acc, s) : s;
}
// The sum from 0 of x * y over the pairs taps(f) calls f with. fp32: one rounding per product and
// per add; a NaN result is summed again under the two-NaN rule (operand order only matters then).
template <class Taps> float dot32(const Taps& taps) {
    float acc = 0.0f;
    taps([&](float x, float y) { acc += x * y; });
    if (!std::isnan(acc)) return acc;
    acc = 0.0f;
    taps([&](float x, float y) { acc = add_nan_x(acc, mul_nan_x(x, y)); });
    return acc;
}
template <class Taps> float dot64(const Taps& taps) {
    double acc = 0.0;
    taps([&](float x, float y) { acc += static_cast<double>(x) * static_cast<double>(y); });
    return static_cast<float>(acc);
}
} // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const ConvParams& p, bool fp64) {
    const char* op = "<ref::conv2d>";
    require_f32(x, op);
    require_f32(w, op);
    if (x.shape().size() != 4 || w.shape().size() != 4 || x.shape()[1] != w.shape()[1])
        throw Error(ErrorCode::Internal, op, "bad shapes " + to_string(x.shape()) + " * " + to_string(w.shape()));
    // One group: the same loops, summation order and indexing as group_conv2d.
    const Shape& ws = w.shape();
    return group_conv2d(x, reshape(w, {1, ws[0], ws[1], ws[2], ws[3]}), p, fp64);
}

Tensor group_conv2d(const Tensor& x, const Tensor& w, const ConvParams& p, bool fp64) {
    const char* op = "<ref::group_conv2d>";
    require_f32(x, op);
    require_f32(w, op);
    const Shape& xs = x.shape();
    const Shape& ws = w.shape();
    if (xs.size() != 4 || ws.size() != 5 || xs[1] != ws[0] * ws[2])
        throw Error(ErrorCode::Internal, op, "bad shapes " + to_string(xs) + " * " + to_string(ws));
    const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
    const int64_t G = ws[0], OPG = ws[1], IPG = ws[2], KH = ws[3], KW = ws[4];
    const int64_t SH = p.strides[0], SW = p.strides[1], DH = p.dilations[0], DW = p.dilations[1];
    const int64_t PT = p.pads_begin[0], PL = p.pads_begin[1];
    const int64_t OH = (H + PT + p.pads_end[0] - DH * (KH - 1) - 1) / SH + 1;
    const int64_t OW = (W + PL + p.pads_end[1] - DW * (KW - 1) - 1) / SW + 1;
    const int64_t O = G * OPG;
    Tensor out(ElemType::f32, {N, O, OH, OW});
    const float* px = x.data<float>();
    const float* pw = w.data<float>();
    float* po = out.data<float>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t oy = 0; oy < OH; ++oy)
                for (int64_t ox = 0; ox < OW; ++ox) {
                    const int64_t c0 = (o / OPG) * IPG;
                    // f(x, w) for every tap inside the input, in (j, ky, kx) order
                    auto taps = [&](auto&& f) {
                        for (int64_t j = 0; j < IPG; ++j)
                            for (int64_t ky = 0; ky < KH; ++ky) {
                                const int64_t iy = oy * SH - PT + ky * DH;
                                if (iy < 0 || iy >= H) continue;
                                for (int64_t kx = 0; kx < KW; ++kx) {
                                    const int64_t ix = ox * SW - PL + kx * DW;
                                    if (ix < 0 || ix >= W) continue;
                                    f(px[((n * C + c0 + j) * H + iy) * W + ix], pw[((o * IPG + j) * KH + ky) * KW + kx]);
                                }
                            }
                    };
                    po[((n * O + o) * OH + oy) * OW + ox] = fp64 ? dot64(taps) : dot32(taps);
                }
    return out;
}

int64_t pool_axis_out(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end, RoundingType r) {
    const int64_t span = in + pad_begin + pad_end - k;
    return (r == RoundingType::ceil ? (span + stride - 1) / stride : span / stride) + 1;
}

int64_t pool_axis_count(int64_t out, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end, int64_t in,
                        bool exclude_pad) {
    const int64_t lo = exclude_pad ? 0 : -pad_begin, hi = exclude_pad ? in : in + pad_end;
    const int64_t first = out * stride - pad_begin;
    return std::max<int64_t>(0, std::min(first + k, hi) - std::max(first, lo));
}

namespace {

Shape pool_out_shape(const Shape& xs, const PoolParams& p) {
    return {xs[0], xs[1], pool_axis_out(xs[2], p.kernel[0], p.strides[0], p.pads_begin[0], p.pads_end[0], p.rounding),
            pool_axis_out(xs[3], p.kernel[1], p.strides[1], p.pads_begin[1], p.pads_end[1], p.rounding)};
}

// Calls f(n, c, oy, ox, y0, y1, x0, x1) for every output with its window clipped to the input.
template <class F> void for_each_window(const Shape& xs, const PoolParams& p, F f) {
    const int64_t H = xs[2], W = xs[3];
    const Shape os = pool_out_shape(xs, p);
    const int64_t OH = os[2], OW = os[3];
    for (int64_t n = 0; n < xs[0]; ++n)
        for (int64_t c = 0; c < xs[1]; ++c)
            for (int64_t oy = 0; oy < OH; ++oy)
                for (int64_t ox = 0; ox < OW; ++ox) {
                    const int64_t fy = oy * p.strides[0] - p.pads_begin[0], fx = ox * p.strides[1] - p.pads_begin[1];
                    f(n, c, oy, ox, std::max<int64_t>(fy, 0), std::min(fy + p.kernel[0], H), std::max<int64_t>(fx, 0),
                      std::min(fx + p.kernel[1], W));
                }
}

void require_pool(const Tensor& x, const PoolParams& p, const char* op) {
    require_f32(x, op);
    if (x.shape().size() != 4 || p.kernel.size() != 2 || p.strides.size() != 2 || p.pads_begin.size() != 2 ||
        p.pads_end.size() != 2)
        throw Error(ErrorCode::Internal, op, "bad shape " + to_string(x.shape()) + " or pooling attributes");
}

} // namespace

Tensor max_pool2d(const Tensor& x, const PoolParams& p) {
    const char* op = "<ref::max_pool2d>";
    require_pool(x, p, op);
    const Shape& xs = x.shape();
    const Shape os = pool_out_shape(xs, p);
    Tensor out(ElemType::f32, os);
    const float* px = x.data<float>();
    float* po = out.data<float>();
    for_each_window(xs, p, [&](int64_t n, int64_t c, int64_t oy, int64_t ox, int64_t y0, int64_t y1, int64_t x0,
                                   int64_t x1) {
        if (y0 >= y1 || x0 >= x1) throw Error(ErrorCode::Internal, op, "a window covers no input element");
        const float* plane = px + (n * xs[1] + c) * xs[2] * xs[3];
        float m = plane[y0 * xs[3] + x0];
        // The first NaN in row-major window order ends the window (the break used to leave only
        // the row, so a NaN of a later row replaced it).
        for (int64_t y = y0; y < y1 && !std::isnan(m); ++y)
            for (int64_t xx = x0; xx < x1; ++xx) {
                const float v = plane[y * xs[3] + xx];
                if (v > m || std::isnan(v)) m = v;
                if (std::isnan(m)) break;
            }
        po[((n * os[1] + c) * os[2] + oy) * os[3] + ox] = m;
    });
    return out;
}

Tensor avg_pool2d(const Tensor& x, const PoolParams& p, bool fp64) {
    const char* op = "<ref::avg_pool2d>";
    require_pool(x, p, op);
    const Shape& xs = x.shape();
    const Shape os = pool_out_shape(xs, p);
    Tensor out(ElemType::f32, os);
    const float* px = x.data<float>();
    float* po = out.data<float>();
    for_each_window(xs, p, [&](int64_t n, int64_t c, int64_t oy, int64_t ox, int64_t y0, int64_t y1, int64_t x0,
                                   int64_t x1) {
        const int64_t cnt =
            pool_axis_count(oy, p.kernel[0], p.strides[0], p.pads_begin[0], p.pads_end[0], xs[2], p.exclude_pad) *
            pool_axis_count(ox, p.kernel[1], p.strides[1], p.pads_begin[1], p.pads_end[1], xs[3], p.exclude_pad);
        if (cnt <= 0) throw Error(ErrorCode::Internal, op, "a window has nothing to average over");
        const float* plane = px + (n * xs[1] + c) * xs[2] * xs[3];
        float acc = 0.0f;
        double acc64 = 0.0;
        for (int64_t y = y0; y < y1; ++y)
            for (int64_t xx = x0; xx < x1; ++xx) {
                if (fp64)
                    acc64 += static_cast<double>(plane[y * xs[3] + xx]);
                else
                    acc += plane[y * xs[3] + xx];
            }
        if (!fp64 && std::isnan(acc)) { // again under the two-NaN rule
            acc = 0.0f;
            for (int64_t y = y0; y < y1; ++y)
                for (int64_t xx = x0; xx < x1; ++xx) acc = add_nan_x(acc, plane[y * xs[3] + xx]);
        }
        po[((n * os[1] + c) * os[2] + oy) * os[3] + ox] =
            fp64 ? static_cast<float>(acc64 / static_cast<double>(cnt)) : acc / static_cast<float>(cnt);
    });
    return out;
}

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb, bool fp64) {
    const char* op = "<ref::matmul>";
    require_f32(a, op);
    require_f32(b, op);
    const Shape& sa = a.shape();
    const Shape& sb = b.shape();
    if (sa.size() < 2 || sb.size() < 2) throw Error(ErrorCode::Internal, op, "operands need rank >= 2");
    const int64_t ra = static_cast<int64_t>(sa.size()), rb = static_cast<int64_t>(sb.size());
    const int64_t M = ta ? sa[ra - 1] : sa[ra - 2], K = ta ? sa[ra - 2] : sa[ra - 1];
    const int64_t Kb = tb ? sb[rb - 1] : sb[rb - 2], N = tb ? sb[rb - 2] : sb[rb - 1];
    if (K != Kb) throw Error(ErrorCode::Internal, op, "K mismatch " + to_string(sa) + " * " + to_string(sb));
    const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
    const Shape batch = broadcast_shape(batch_a, batch_b, op);
    Shape out_shape = batch;
    out_shape.push_back(M);
    out_shape.push_back(N);
    Tensor out(ElemType::f32, out_shape);
    const BroadcastIndex ba(batch_a, batch), bb(batch_b, batch);
    // element strides inside one matrix: a[m,k] and b[k,n] after the transposes
    const int64_t a_sm = ta ? 1 : K, a_sk = ta ? M : 1;
    const int64_t b_sk = tb ? 1 : N, b_sn = tb ? K : 1;
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* po = out.data<float>();
    for (int64_t bi = 0; bi < num_elements(batch); ++bi) {
        const float* ma = pa + ba(bi) * M * K;
        const float* mb = pb + bb(bi) * K * N;
        float* mo = po + bi * M * N;
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                auto taps = [&](auto&& f) {
                    for (int64_t k = 0; k < K; ++k) f(ma[m * a_sm + k * a_sk], mb[k * b_sk + n * b_sn]);
                };
                mo[m * N + n] = fp64 ? dot64(taps) : dot32(taps);
            }
    }
    return out;
}


Tensor add(const Tensor& a, const Tensor& b) {
    return binary(a, b, "<ref::add>", [](float x, float y) { return first_nan_or(x, x + y); });
}

Tensor multiply(const Tensor& a, const Tensor& b) {
    return binary(a, b, "<ref::multiply>", [](float x, float y) { return first_nan_or(x, x * y); });
}

Tensor relu(const Tensor& x) {
    return unary(x, "<ref::relu>", [](float v) { return std::isnan(v) ? v : (v > 0.0f ? v : 0.0f); });
}

Tensor clamp(const Tensor& x, float lo, float hi) {
    return unary(x, "<ref::clamp>", [lo, hi](float v) {
        if (std::isnan(v)) return v;
        return v < lo ? lo : (v > hi ? hi : v);
    });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
    require_f32(x, "<ref::reshape>");
    if (num_elements(shape) != x.numel())
        throw Error(ErrorCode::Internal, "<ref::reshape>", "cannot reshape " + to_string(x.shape()) + " to " + to_string(shape));
    Tensor out(ElemType::f32, shape);
    const float* px = x.data<float>();
    float* po = out.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) po[i] = px[i];
    return out;
}

Tensor concat(const std::vector<const Tensor*>& inputs, int64_t axis) {
    const char* op = "<ref::concat>";
    if (inputs.empty()) throw Error(ErrorCode::Internal, op, "no inputs");
    const Tensor& first = *inputs[0];
    const size_t rank = first.shape().size();
    if (axis < 0 || static_cast<size_t>(axis) >= rank) throw Error(ErrorCode::Internal, op, "axis out of range");
    const size_t ax = static_cast<size_t>(axis);
    Shape out_shape = first.shape();
    out_shape[ax] = 0;
    for (const Tensor* t : inputs) {
        if (t->type() != first.type() || t->shape().size() != rank)
            throw Error(ErrorCode::Internal, op, "inputs differ in type or rank");
        for (size_t d = 0; d < rank; ++d)
            if (d != ax && t->shape()[d] != first.shape()[d])
                throw Error(ErrorCode::Internal, op, "shapes " + to_string(first.shape()) + " and " +
                                                         to_string(t->shape()) + " differ outside the axis");
        out_shape[ax] += t->shape()[ax];
    }
    Tensor out(first.type(), out_shape);
    // outer = product of dims before the axis; each input contributes rows of dim(axis) * inner elements.
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < ax; ++d) outer *= out_shape[d];
    for (size_t d = ax + 1; d < rank; ++d) inner *= out_shape[d];
    const size_t es = elem_size(first.type());
    auto* po = static_cast<uint8_t*>(out.raw());
    const size_t out_row = static_cast<size_t>(out_shape[ax] * inner) * es;
    size_t at = 0;
    for (const Tensor* t : inputs) {
        const size_t row = static_cast<size_t>(t->shape()[ax] * inner) * es;
        const auto* pi = static_cast<const uint8_t*>(t->raw());
        for (int64_t o = 0; o < outer; ++o)
            if (row) std::memcpy(po + static_cast<size_t>(o) * out_row + at, pi + static_cast<size_t>(o) * row, row);
        at += row;
    }
    return out;
}

} // namespace qjit::ref
