#include "runtime/qconv_ref.hpp"

#include <cstring>
#include <vector>

#include "jit/fq_math.hpp"

namespace qjit::ref {

void qconv(const QConvDesc& d, const QConvConsts& c, const uint8_t* src, const ActLayout& in, void* dst,
           const ActLayout& out) {
    const ConvGeom& g = d.g;
    const int64_t khw = g.KH * g.KW;
    std::vector<int64_t> seg(static_cast<size_t>(g.Cg()), 0);
    for (int64_t i = 0; i < c.n_seg() && c.n_seg() > 1; ++i)
        for (int64_t ch = c.seg_c[static_cast<size_t>(i)]; ch < c.seg_c[static_cast<size_t>(i + 1)]; ++ch) seg[static_cast<size_t>(ch)] = i;
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                const int64_t pat = c.pattern(oh, ow);
                const int64_t o_off = out.offset(n, oh, ow);
                for (int64_t o = 0; o < out.c_stride; ++o) {
                    int32_t k = 0;
                    float y = 0.0f;
                    if (o < g.OC) {
                        // Sums per segment (spec §8.2); seg[ch] is the segment of input channel ch.
                        int64_t dsum[kMaxConvSegments] = {}, ssum[kMaxConvSegments] = {};
                        for (int64_t kh = 0; kh < g.KH; ++kh) {
                            const int64_t ih = oh * g.SH - g.PT + kh * g.DH;
                            if (ih < 0 || ih >= g.H) continue;
                            for (int64_t kw = 0; kw < g.KW; ++kw) {
                                const int64_t iw = ow * g.SW - g.PL + kw * g.DW;
                                if (iw < 0 || iw >= g.W) continue;
                                // Input channels of o's group (all of them when groups == 1).
                                const uint8_t* px = src + in.offset(n, ih, iw) + o / g.OCg() * g.Cg();
                                const int8_t* wq = &d.w.q[static_cast<size_t>(o * g.K() + kh * g.KW + kw)];
                                for (int64_t ch = 0; ch < g.Cg(); ++ch) {
                                    const int64_t sg = seg[static_cast<size_t>(ch)];
                                    dsum[sg] += static_cast<int64_t>(px[ch]) * wq[ch * khw];
                                    ssum[sg] += px[ch];
                                }
                            }
                        }
                        epilogue_scalar(c, o, pat, dsum, ssum, &k, &y);
                    }
                    if (out.elem_bytes == 4)
                        static_cast<float*>(dst)[o_off + o] = y;
                    else
                        static_cast<uint8_t*>(dst)[o_off + o] = static_cast<uint8_t>(k);
                }
            }
}

void quantize(const ActQuant& q, const float* src, uint8_t* dst, const ActLayout& out) {
    const int64_t hw = out.H * out.W;
    for (int64_t n = 0; n < out.N; ++n)
        for (int64_t ch = 0; ch < out.C; ++ch)
            for (int64_t h = 0; h < out.H; ++h)
                for (int64_t w = 0; w < out.W; ++w) {
                    const float x = src[(n * out.C + ch) * hw + h * out.W + w];
                    dst[out.offset(n, h, w) + ch] = static_cast<uint8_t>(q.level(ch, x));
                }
}

void dequantize(const ActQuant& q, const uint8_t* src, const ActLayout& in, float* dst) {
    const int64_t hw = in.H * in.W;
    for (int64_t n = 0; n < in.N; ++n)
        for (int64_t ch = 0; ch < in.C; ++ch)
            for (int64_t h = 0; h < in.H; ++h)
                for (int64_t w = 0; w < in.W; ++w)
                    dst[(n * in.C + ch) * hw + h * in.W + w] =
                        fq::level_value(src[in.offset(n, h, w) + ch], q.ol.at(ch), q.oh.at(ch), q.levels);
}

} // namespace qjit::ref
