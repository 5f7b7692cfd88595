#include "runtime/ref_ops_extra.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "jit/exp_math.hpp"
#include "qjit/error.hpp"
#include "runtime/ref_ops.hpp"

namespace qjit::ref {

namespace {

template <class F> Tensor unary(const Tensor& x, F f) {
    Tensor y(ElemType::f32, x.shape());
    const float* a = x.data<float>();
    float* o = y.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) o[i] = f(a[i]);
    return y;
}

std::vector<int64_t> strides_of(const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
    return st;
}

// Calls f(out_flat, coords) for every output element in row-major order.
template <class F> void for_each_index(const Shape& out, F f) {
    std::vector<int64_t> idx(out.size(), 0);
    const int64_t n = num_elements(out);
    for (int64_t flat = 0; flat < n; ++flat) {
        f(flat, idx);
        for (size_t d = out.size(); d-- > 0;) {
            if (++idx[d] < out[d]) break;
            idx[d] = 0;
        }
    }
}

} // namespace

Tensor subtract(const Tensor& a, const Tensor& b) {
    const Shape out = broadcast_shape(a.shape(), b.shape());
    Tensor y(ElemType::f32, out);
    const BroadcastIndex ia(a.shape(), out), ib(b.shape(), out);
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* o = y.data<float>();
    for (int64_t i = 0; i < y.numel(); ++i) o[i] = pa[ia(i)] - pb[ib(i)];
    return y;
}

Tensor sigmoid(const Tensor& x) {
    return unary(x, [](float v) { return fpm::sigmoid(v); });
}

Tensor hard_sigmoid(const Tensor& x, float alpha, float beta) {
    return unary(x, [=](float v) { return std::max(0.f, std::min(1.f, alpha * v + beta)); });
}

Tensor hard_swish(const Tensor& x) {
    return unary(x, [](float v) { return v * std::max(0.f, std::min(1.f, v / 6.f + 0.5f)); });
}

Tensor leaky_relu(const Tensor& x, float alpha) {
    return unary(x, [=](float v) { return v < 0.f ? alpha * v : v; });
}

Tensor softmax(const Tensor& x, int64_t axis) {
    const Shape& s = x.shape();
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
    const int64_t n = s[static_cast<size_t>(axis)];
    Tensor y(ElemType::f32, s);
    const float* a = x.data<float>();
    float* o = y.data<float>();
    std::vector<double> e(static_cast<size_t>(n));
    for (int64_t p = 0; p < outer; ++p)
        for (int64_t q = 0; q < inner; ++q) {
            const int64_t base = p * n * inner + q;
            float mx = -INFINITY;
            for (int64_t i = 0; i < n; ++i) mx = std::max(mx, a[base + i * inner]);
            double sum = 0;
            for (int64_t i = 0; i < n; ++i) {
                const double ei = fpm::exp_fixed(static_cast<double>(a[base + i * inner]) - mx);
                e[static_cast<size_t>(i)] = ei;
                sum = std::isnan(sum) ? sum : sum + ei; // a NaN sum keeps its payload (x86's first operand)
            }
            for (int64_t i = 0; i < n; ++i) o[base + i * inner] = static_cast<float>(e[static_cast<size_t>(i)] / sum);
        }
    return y;
}

Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm) {
    const Shape& s = x.shape();
    Shape out(s.size());
    for (size_t i = 0; i < s.size(); ++i) out[i] = s[static_cast<size_t>(perm[i])];
    const std::vector<int64_t> st = strides_of(s);
    Tensor y(x.type(), out);
    const size_t es = elem_size(x.type());
    const uint8_t* a = static_cast<const uint8_t*>(x.raw());
    uint8_t* o = static_cast<uint8_t*>(y.raw());
    for_each_index(out, [&](int64_t flat, const std::vector<int64_t>& idx) {
        int64_t src = 0;
        for (size_t i = 0; i < idx.size(); ++i) src += idx[i] * st[static_cast<size_t>(perm[i])];
        std::memcpy(o + flat * es, a + src * es, es);
    });
    return y;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end, float value) {
    const Shape& s = x.shape();
    Shape out(s.size());
    for (size_t i = 0; i < s.size(); ++i) out[i] = s[i] + begin[i] + end[i];
    const std::vector<int64_t> st = strides_of(s);
    Tensor y(ElemType::f32, out);
    const float* a = x.data<float>();
    float* o = y.data<float>();
    for_each_index(out, [&](int64_t flat, const std::vector<int64_t>& idx) {
        int64_t src = 0;
        for (size_t i = 0; i < idx.size(); ++i) {
            const int64_t c = idx[i] - begin[i];
            if (c < 0 || c >= s[i]) {
                o[flat] = value;
                return;
            }
            src += c * st[i];
        }
        o[flat] = a[src];
    });
    return y;
}

namespace {

// Source coordinate of output index o along one axis (ONNX coordinate_transformation_mode).
double source_coord(int64_t o, int64_t in, int64_t out, double scale, ResizeCoord c) {
    switch (c) {
    case ResizeCoord::half_pixel: return (o + 0.5) / scale - 0.5;
    case ResizeCoord::pytorch_half_pixel: return out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
    case ResizeCoord::align_corners: return out > 1 ? o * static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0;
    case ResizeCoord::asymmetric: return o / scale;
    case ResizeCoord::tf_half_pixel_for_nn: return (o + 0.5) / scale;
    }
    return 0.0;
}

int64_t nearest_index(double x, int64_t in, ResizeNearest m) {
    double r = 0;
    switch (m) {
    case ResizeNearest::round_prefer_floor: r = (x == std::floor(x) + 0.5) ? std::floor(x) : std::round(x); break;
    case ResizeNearest::round_prefer_ceil: r = std::round(x); break;
    case ResizeNearest::floor: r = std::floor(x); break;
    case ResizeNearest::ceil: r = std::ceil(x); break;
    }
    return std::clamp<int64_t>(static_cast<int64_t>(r), 0, in - 1);
}

// Two taps and weights of linear interpolation along one axis.
struct Taps {
    int64_t i0, i1;
    float w0, w1;
};

Taps linear_taps(int64_t o, int64_t in, int64_t out, double scale, ResizeCoord c) {
    double x = std::clamp(source_coord(o, in, out, scale, c), 0.0, static_cast<double>(in - 1));
    const int64_t i0 = static_cast<int64_t>(std::floor(x));
    const int64_t i1 = std::min(i0 + 1, in - 1);
    const float f = static_cast<float>(x - static_cast<double>(i0));
    return {i0, i1, 1.f - f, f};
}

} // namespace

Tensor resize(const Tensor& x, const Shape& out_shape, const ResizeParams& p) {
    const Shape& s = x.shape();
    const int64_t N = s[0], C = s[1], H = s[2], W = s[3], OH = out_shape[2], OW = out_shape[3];
    Tensor y(ElemType::f32, out_shape);
    const float* a = x.data<float>();
    float* o = y.data<float>();
    for (int64_t nc = 0; nc < N * C; ++nc) {
        const float* src = a + nc * H * W;
        float* dst = o + nc * OH * OW;
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                if (p.mode == ResizeMode::nearest) {
                    const int64_t iy = nearest_index(source_coord(oy, H, OH, p.scales[0], p.coord), H, p.nearest);
                    const int64_t ix = nearest_index(source_coord(ox, W, OW, p.scales[1], p.coord), W, p.nearest);
                    dst[oy * OW + ox] = src[iy * W + ix];
                } else {
                    const Taps ty = linear_taps(oy, H, OH, p.scales[0], p.coord);
                    const Taps tx = linear_taps(ox, W, OW, p.scales[1], p.coord);
                    const float top = src[ty.i0 * W + tx.i0] * tx.w0 + src[ty.i0 * W + tx.i1] * tx.w1;
                    const float bot = src[ty.i1 * W + tx.i0] * tx.w0 + src[ty.i1 * W + tx.i1] * tx.w1;
                    dst[oy * OW + ox] = top * ty.w0 + bot * ty.w1;
                }
            }
    }
    return y;
}

Tensor tile(const Tensor& x, const std::vector<int64_t>& repeats) {
    const Shape& s = x.shape();
    Shape out(s.size());
    for (size_t i = 0; i < s.size(); ++i) out[i] = s[i] * repeats[i];
    const std::vector<int64_t> st = strides_of(s);
    Tensor y(x.type(), out);
    const size_t es = elem_size(x.type());
    const uint8_t* a = static_cast<const uint8_t*>(x.raw());
    uint8_t* o = static_cast<uint8_t*>(y.raw());
    for_each_index(out, [&](int64_t flat, const std::vector<int64_t>& idx) {
        int64_t src = 0;
        for (size_t i = 0; i < idx.size(); ++i) src += (idx[i] % s[i]) * st[i];
        std::memcpy(o + flat * es, a + src * es, es);
    });
    return y;
}

} // namespace qjit::ref
