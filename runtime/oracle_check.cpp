#include "runtime/oracle_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "jit/fq_math.hpp"
#include "jit/requant_fold.hpp"
#include "runtime/act_layout.hpp"

namespace qjit::oracle {
namespace {

constexpr double kU = 1.0 / 4194304.0; // 2^-22

// |oh-ol| + max(|ol|,|oh|) of an FQ (spec §4.6 operand term).
double range_r(double ol, double oh) { return std::fabs(oh - ol) + std::max(std::fabs(ol), std::fabs(oh)); }

struct Affine {
    double alpha = 1.0;     // product of Scale post-ops
    double round_mag = 0.0; // sum over post-ops of |value after it| x |later scales|: what the fp32
                            // rounding of each post-op result in Oracle A (fp32 per op) can move y by,
                            // in units of 2^-24 (spec §4.6 "fp32-vs-fp64 A")
};

double apply_post(const QConvDesc& d, int64_t o, double y, double* bias_abs, Affine* a) {
    for (const PostOp& p : d.post) {
        const double v = p.v.empty() ? 0.0 : (p.v.size() == 1 ? p.v[0] : p.v[static_cast<size_t>(o)]);
        switch (p.kind) {
        case PostOp::Bias:
        case PostOp::Shift: y += v; *bias_abs += std::fabs(v) * std::fabs(a->alpha); break;
        case PostOp::Scale: y *= v; a->alpha *= v; a->round_mag *= std::fabs(v); break;
        case PostOp::Clamp: y = std::min(std::max(y, static_cast<double>(p.lo)), static_cast<double>(p.hi)); break;
        }
        a->round_mag += std::fabs(y);
    }
    return y;
}

} // namespace

LayerCheck check_qconv_against_a(const QConvDesc& d, const Tensor& k_in, const Tensor& out_b) {
    const ConvGeom& g = d.g;
    const QConvConsts c = fold_qconv(d);
    LayerCheck r;
    ActLayout in = rt::act_layout_for(k_in.shape());
    in.N = g.N; in.H = g.H; in.W = g.W; in.C = g.C; in.c_stride = g.C;
    std::vector<uint8_t> k(static_cast<size_t>(in.bytes()));
    rt::logical_to_act(k_in.raw(), k_in.shape(), k.data(), in);
    ActLayout out = rt::act_layout_for(out_b.shape(), static_cast<int64_t>(elem_size(out_b.type())));
    out.N = g.N; out.H = g.OH; out.W = g.OW; out.C = g.OC; out.c_stride = g.OC;
    std::vector<uint8_t> ob(static_cast<size_t>(out.bytes()));
    rt::logical_to_act(out_b.raw(), out_b.shape(), ob.data(), out);
    const int La = d.in.levels;
    const int64_t khw = g.KH * g.KW;
    std::vector<int64_t> seg(static_cast<size_t>(g.Cg()), 0); // segment of each channel (spec §8.2)
    for (int64_t i = 0; i < c.n_seg() && c.n_seg() > 1; ++i)
        for (int64_t ch = c.seg_c[static_cast<size_t>(i)]; ch < c.seg_c[static_cast<size_t>(i + 1)]; ++ch) seg[static_cast<size_t>(ch)] = i;

    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow)
                for (int64_t o = 0; o < g.OC; ++o) {
                    const size_t ou = static_cast<size_t>(o);
                    const double sw = d.w.s_w[ou], zw = d.w.z_w[ou];
                    const double s_a = d.in.step(o / g.OCg() * g.Cg()); // one step per group (segment 0 with a split)
                    const int cw = d.w.levels / 2;
                    const double olw = d.w.const_channel[ou] ? d.w.w_c[ou] : sw * (-cw - zw);
                    const double ohw = d.w.const_channel[ou] ? d.w.w_c[ou] : sw * (d.w.levels - 1 - cw - zw);
                    const double Rw = range_r(olw, ohw);
                    double y = 0, operand = 0, absdot = 0;
                    int64_t D[kMaxConvSegments] = {}, S[kMaxConvSegments] = {};
                    for (int64_t kh = 0; kh < g.KH; ++kh) {
                        const int64_t ih = oh * g.SH - g.PT + kh * g.DH;
                        if (ih < 0 || ih >= g.H) continue;
                        for (int64_t kw = 0; kw < g.KW; ++kw) {
                            const int64_t iw = ow * g.SW - g.PL + kw * g.DW;
                            if (iw < 0 || iw >= g.W) continue;
                            const int64_t c0 = o / g.OCg() * g.Cg(); // o's group (all channels if groups == 1)
                            const uint8_t* px = k.data() + in.offset(n, ih, iw);
                            for (int64_t ch = c0; ch < c0 + g.Cg(); ++ch) {
                                const size_t wi = static_cast<size_t>(o * g.K() + (ch - c0) * khw + kh * g.KW + kw);
                                const double ra = fq::level_value(px[ch], d.in.ol.at(ch), d.in.oh.at(ch), La);
                                const double w = d.w.w_float[wi];
                                y += ra * w;
                                absdot += std::fabs(ra * w);
                                operand += range_r(d.in.ol.at(ch), d.in.oh.at(ch)) * std::fabs(w) + std::fabs(ra) * Rw;
                                const int64_t sg = seg[static_cast<size_t>(ch - c0)];
                                D[sg] += static_cast<int64_t>(px[ch]) * d.w.q[wi];
                                S[sg] += px[ch];
                            }
                        }
                    }
                    double bias_abs = 0;
                    Affine aff;
                    y = apply_post(d, o, y, &bias_abs, &aff);
                    const size_t pat = static_cast<size_t>(c.pattern(oh, ow) * c.oc_pad) + ou;
                    double mD = 0, nS = 0;
                    for (int64_t i = 0; i < c.n_seg(); ++i) {
                        const size_t at = static_cast<size_t>(i * c.oc_pad) + ou;
                        mD += std::fabs(static_cast<double>(c.m[at]) * static_cast<double>(D[i]));
                        nS += std::fabs(static_cast<double>(c.n[at]) * static_cast<double>(S[i]));
                    }
                    const double e = std::fabs(static_cast<double>(c.e[pat]));
                    const size_t oi = static_cast<size_t>(out.offset(n, oh, ow) + o);
                    std::ostringstream where;
                    where << "n=" << n << " oh=" << oh << " ow=" << ow << " o=" << o;
                    r.outputs++;
                    if (c.mode == EpilogueMode::Levels) {
                        const int kb = ob[oi];
                        if (d.out.ol.at(o) == d.out.oh.at(o)) {
                            if (kb != 0) { r.violations++; if (r.first_violation.empty()) r.first_violation = where.str() + " constant channel not 0"; }
                            continue;
                        }
                        const int L = d.out.levels;
                        const double isc = d.out.isc(o);
                        const double t = d.out.pre_round(o, y); // (y - il)*isc, or y/scale + off (ONNX)
                        const double tc = std::min(std::max(t, 0.0), static_cast<double>(L - 1));
                        const double scale = std::fabs(isc * aff.alpha);
                        double delta = kU * (mD + nS + e + std::fabs(t)) + kU * scale * operand +
                                       kU * std::fabs(isc) * aff.round_mag;
                        for (int64_t i = 0; i < c.n_seg(); ++i) {
                            const double s_i = c.n_seg() > 1 ? d.in.step(c.seg_c[static_cast<size_t>(i)]) : s_a;
                            delta += scale * std::fabs(s_i * sw * d.w.n_dropped[ou]) * static_cast<double>(S[i]);
                        }
                        const double diff = std::fabs(kb - tc);
                        const int64_t dk = std::isnan(tc) ? 0 : std::llabs(kb - static_cast<int64_t>(std::nearbyint(tc))); // NaN: A has no level (no NaN -> int cast)
                        r.max_abs_dk = std::max(r.max_abs_dk, dk);
                        if (dk != 0) r.flips++;
                        r.worst_ratio = std::max(r.worst_ratio, (diff - 0.5) / delta);
                        if (diff > 0.5 + delta) {
                            r.violations++;
                            if (r.first_violation.empty()) {
                                std::ostringstream os;
                                os << where.str() << " k_B=" << kb << " t_A=" << t << " delta=" << delta;
                                r.first_violation = os.str();
                            }
                        }
                    } else {
                        const double bound_y = kU * (mD + nS + e) + kU * std::fabs(aff.alpha) * operand + kU * aff.round_mag +
                                               (static_cast<double>(g.K()) + 2) * 0x1p-53 * (absdot + bias_abs);
                        if (c.mode == EpilogueMode::Threshold) {
                            const int L = d.out.levels;
                            const double il = d.out.il.at(o);
                            const int expect = d.out.ol.at(o) == d.out.oh.at(o) ? 0 : (y > il ? L - 1 : 0);
                            const int kb = ob[oi];
                            if (kb != expect) {
                                r.flips++;
                                if (std::fabs(y - il) > bound_y) {
                                    r.violations++;
                                    if (r.first_violation.empty())
                                        r.first_violation = where.str() + " threshold flip far from il";
                                }
                            }
                        } else {
                            float yb;
                            std::memcpy(&yb, &ob[oi * 4], 4);
                            const double diff = std::fabs(static_cast<double>(yb) - y);
                            r.worst_ratio = std::max(r.worst_ratio, diff / bound_y);
                            if (!(diff <= bound_y)) {
                                r.violations++;
                                if (r.first_violation.empty()) {
                                    std::ostringstream os;
                                    os << where.str() << " y_B=" << yb << " y_A=" << y << " bound=" << bound_y;
                                    r.first_violation = os.str();
                                }
                            }
                        }
                    }
                }
    return r;
}

} // namespace qjit::oracle
