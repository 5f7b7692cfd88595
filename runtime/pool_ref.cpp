#include "runtime/pool_ref.hpp"

#include <algorithm>
#include <vector>

#include "runtime/act_layout.hpp"

namespace qjit::ref {
namespace {

// Calls f(ih, iw) for every valid tap of output (oh, ow).
template <class F> void for_each_valid_tap(const ConvGeom& g, int64_t oh, int64_t ow, F f) {
    for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = oh * g.SH - g.PT + kh * g.DH;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t iw = ow * g.SW - g.PL + kw * g.DW;
            if (iw >= 0 && iw < g.W) f(ih, iw);
        }
    }
}

ActLayout dense(const ConvGeom& g, bool output, int64_t elem_bytes) {
    ActLayout l;
    l.N = g.N;
    l.H = output ? g.OH : g.H;
    l.W = output ? g.OW : g.W;
    l.C = g.C;
    l.c_stride = round_up16(g.C);
    l.elem_bytes = elem_bytes;
    return l;
}

} // namespace

void maxpool_levels(const ConvGeom& g, const uint8_t* src, const ActLayout& in, uint8_t* dst, const ActLayout& out) {
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                uint8_t* o = dst + out.offset(n, oh, ow);
                std::fill(o, o + out.c_stride, uint8_t{0});
                for_each_valid_tap(g, oh, ow, [&](int64_t ih, int64_t iw) {
                    const uint8_t* px = src + in.offset(n, ih, iw);
                    for (int64_t c = 0; c < g.C; ++c) o[c] = std::max(o[c], px[c]);
                });
            }
}

void qavgpool(const QAvgPoolDesc& d, const AvgPoolConsts& c, const uint8_t* src, const ActLayout& in, void* dst,
              const ActLayout& out) {
    const ConvGeom& g = d.g;
    std::vector<int64_t> sum(static_cast<size_t>(g.C));
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                std::fill(sum.begin(), sum.end(), 0);
                for_each_valid_tap(g, oh, ow, [&](int64_t ih, int64_t iw) {
                    const uint8_t* px = src + in.offset(n, ih, iw);
                    for (int64_t ch = 0; ch < g.C; ++ch) sum[static_cast<size_t>(ch)] += px[ch];
                });
                const int64_t pat = c.pattern(oh, ow);
                const int64_t at = out.offset(n, oh, ow);
                for (int64_t ch = 0; ch < out.c_stride; ++ch) {
                    int32_t k = 0;
                    float y = 0.0f;
                    if (ch < g.C) avgpool_epilogue_scalar(c, ch, pat, sum[static_cast<size_t>(ch)], &k, &y);
                    if (out.elem_bytes == 4)
                        static_cast<float*>(dst)[at + ch] = y;
                    else
                        static_cast<uint8_t*>(dst)[at + ch] = static_cast<uint8_t>(k);
                }
            }
}

Tensor maxpool_levels_logical(const ConvGeom& g, const Tensor& k, const Shape& out_shape) {
    const ActLayout in = dense(g, false, 1), out = dense(g, true, 1);
    std::vector<uint8_t> src(static_cast<size_t>(in.bytes()), 0), dst(static_cast<size_t>(out.bytes()), 0);
    rt::logical_to_act(k.raw(), k.shape(), src.data(), in);
    maxpool_levels(g, src.data(), in, dst.data(), out);
    Tensor r(ElemType::u8, out_shape);
    rt::act_to_logical(dst.data(), out, out_shape, r.raw());
    return r;
}

Tensor qavgpool_logical(const QAvgPoolDesc& d, const Tensor& k, const Shape& out_shape) {
    const AvgPoolConsts c = fold_avgpool(d);
    const int64_t eb = d.out_levels ? 1 : 4;
    const ActLayout in = dense(d.g, false, 1), out = dense(d.g, true, eb);
    std::vector<uint8_t> src(static_cast<size_t>(in.bytes()), 0), dst(static_cast<size_t>(out.bytes()), 0);
    rt::logical_to_act(k.raw(), k.shape(), src.data(), in);
    qavgpool(d, c, src.data(), in, dst.data(), out);
    Tensor r(d.out_levels ? ElemType::u8 : ElemType::f32, out_shape);
    rt::act_to_logical(dst.data(), out, out_shape, r.raw());
    return r;
}

} // namespace qjit::ref
