// The tile gather of the fp32 window steps (jit/fp32_conv_step, jit/fp32_pool_step): one tile row
// holds, for `cols` consecutive outputs of consecutive OHxOW planes, the input each reads at one
// window tap, or `pad` where the tap falls outside the input. Per output row it works out the valid
// run of ox once and copies it (no per-element bounds test).
#pragma once
#include <algorithm>
#include <cstdint>

namespace qjit {

struct TapGeometry {
    int64_t H, W, OH, OW, SH, SW;
    int64_t plane_stride; // input floats between consecutive planes
};

// Row of tap (iy0, ix0) = (ky * DH - PT, kx * DW - PL): dst[q] for outputs f0 + q, q < cols, where
// output f is plane f / (OH * OW), pixel (oy, ox) of f % (OH * OW), and reads plane's (oy * SH + iy0,
// ox * SW + ix0).
inline void gather_tap_row(const float* x, const TapGeometry& t, int64_t iy0, int64_t ix0, int64_t f0, int64_t cols,
                           float pad, float* dst) {
    const int64_t P = t.OH * t.OW;
    int64_t plane = f0 / P, oy = f0 % P / t.OW, ox = f0 % t.OW;
    // valid ox: 0 <= ox * SW + ix0 < W
    const int64_t lo = ix0 >= 0 ? 0 : (-ix0 + t.SW - 1) / t.SW;
    const int64_t hi = t.W - 1 - ix0 < 0 ? -1 : (t.W - 1 - ix0) / t.SW; // inclusive
    for (int64_t q = 0; q < cols;) {
        const int64_t run = std::min(t.OW - ox, cols - q);
        float* d = dst + q;
        const int64_t iy = oy * t.SH + iy0;
        if (iy < 0 || iy >= t.H) {
            std::fill(d, d + run, pad);
        } else {
            const int64_t a = std::clamp(lo, ox, ox + run), b = std::max(a, std::clamp(hi + 1, ox, ox + run));
            std::fill(d, d + (a - ox), pad);
            const float* s = x + plane * t.plane_stride + iy * t.W + a * t.SW + ix0;
            float* o = d + (a - ox);
            if (t.SW == 1) std::copy(s, s + (b - a), o);
            else
                for (int64_t i = 0; i < b - a; ++i) o[i] = s[i * t.SW];
            std::fill(d + (b - ox), d + run, pad);
        }
        q += run;
        ox = 0;
        if (++oy == t.OH) oy = 0, ++plane;
    }
}

} // namespace qjit
