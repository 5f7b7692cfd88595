// Spec §4.6 acceptance of Oracle B's pooling layers against Oracle A (see oracle_check.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "jit/fq_math.hpp"
#include "jit/pool_fold.hpp"
#include "runtime/act_layout.hpp"
#include "runtime/oracle_check.hpp"
#include "runtime/ref_ops.hpp"

namespace qjit::oracle {
namespace {

constexpr double kU = 1.0 / 4194304.0; // 2^-22

double range_r(double ol, double oh) { return std::fabs(oh - ol) + std::max(std::fabs(ol), std::fabs(oh)); }

// Dense NHWC copies of a logical tensor (c_stride = C).
std::vector<uint8_t> dense(const Tensor& t, int64_t N, int64_t H, int64_t W, int64_t C, ActLayout* l) {
    *l = rt::act_layout_for(t.shape(), static_cast<int64_t>(elem_size(t.type())));
    l->N = N, l->H = H, l->W = W, l->C = C, l->c_stride = C;
    std::vector<uint8_t> b(static_cast<size_t>(l->bytes()));
    rt::logical_to_act(t.raw(), t.shape(), b.data(), *l);
    return b;
}

template <class F> void for_each_valid_tap(const ConvGeom& g, int64_t oh, int64_t ow, F f) {
    for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = oh * g.SH - g.PT + kh;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t iw = ow * g.SW - g.PL + kw;
            if (iw >= 0 && iw < g.W) f(ih, iw);
        }
    }
}

void violation(LayerCheck& r, const std::string& what) {
    r.violations++;
    if (r.first_violation.empty()) r.first_violation = what;
}

} // namespace

LayerCheck check_avgpool_against_a(const QAvgPoolDesc& d, const Tensor& k_in, const Tensor& out_b) {
    const ConvGeom& g = d.g;
    const AvgPoolConsts c = fold_avgpool(d);
    LayerCheck r;
    ActLayout in, out;
    const std::vector<uint8_t> k = dense(k_in, g.N, g.H, g.W, g.C, &in);
    const std::vector<uint8_t> ob = dense(out_b, g.N, g.OH, g.OW, g.C, &out);
    const int La = d.in.levels;
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow)
                for (int64_t ch = 0; ch < g.C; ++ch) {
                    const double cnt =
                        static_cast<double>(ref::pool_axis_count(oh, g.KH, g.SH, g.PT, g.PB, g.H, d.exclude_pad) *
                                            ref::pool_axis_count(ow, g.KW, g.SW, g.PL, g.PR, g.W, d.exclude_pad));
                    const double Ra = range_r(d.in.ol.at(ch), d.in.oh.at(ch));
                    double sum = 0, operand = 0;
                    int64_t S = 0;
                    for_each_valid_tap(g, oh, ow, [&](int64_t ih, int64_t iw) {
                        const uint8_t kv = k[static_cast<size_t>(in.offset(n, ih, iw) + ch)];
                        sum += fq::level_value(kv, d.in.ol.at(ch), d.in.oh.at(ch), La);
                        operand += Ra;
                        S += kv;
                    });
                    const double y = sum / cnt;
                    operand /= cnt;
                    const size_t at = static_cast<size_t>(c.pattern(oh, ow) * c.c_pad + ch);
                    const double mS = std::fabs(static_cast<double>(c.m[at]) * static_cast<double>(S));
                    const double e = std::fabs(static_cast<double>(c.e[at]));
                    const size_t oi = static_cast<size_t>(out.offset(n, oh, ow) + ch);
                    std::ostringstream where;
                    where << "n=" << n << " oh=" << oh << " ow=" << ow << " c=" << ch;
                    r.outputs++;
                    if (c.mode == EpilogueMode::Levels) {
                        const int kb = ob[oi];
                        if (d.out.ol.at(ch) == d.out.oh.at(ch)) {
                            if (kb != 0) violation(r, where.str() + " constant channel not 0");
                            continue;
                        }
                        const int L = d.out.levels;
                        const double isc = d.out.isc(ch);
                        const double t = d.out.pre_round(ch, y); // (y - il)*isc, or y/scale + off (ONNX)
                        const double tc = std::min(std::max(t, 0.0), static_cast<double>(L - 1));
                        const double delta = kU * (mS + e + std::fabs(t)) + kU * std::fabs(isc) * operand;
                        const double diff = std::fabs(kb - tc);
                        const int64_t dk = std::isnan(tc) ? 0 : std::llabs(kb - static_cast<int64_t>(std::nearbyint(tc))); // NaN: A has no level (no NaN -> int cast)
                        r.max_abs_dk = std::max(r.max_abs_dk, dk);
                        if (dk != 0) r.flips++;
                        r.worst_ratio = std::max(r.worst_ratio, (diff - 0.5) / delta);
                        if (diff > 0.5 + delta) {
                            std::ostringstream os;
                            os << where.str() << " k_B=" << kb << " t_A=" << t << " delta=" << delta;
                            violation(r, os.str());
                        }
                        continue;
                    }
                    const double bound_y = kU * (mS + e) + kU * operand;
                    if (c.mode == EpilogueMode::Threshold) {
                        const int L = d.out.levels;
                        const double il = d.out.il.at(ch);
                        const int expect = d.out.ol.at(ch) == d.out.oh.at(ch) ? 0 : (y > il ? L - 1 : 0);
                        if (ob[oi] != expect) {
                            r.flips++;
                            if (std::fabs(y - il) > bound_y) violation(r, where.str() + " threshold flip far from il");
                        }
                        continue;
                    }
                    float yb;
                    std::memcpy(&yb, &ob[oi * 4], 4);
                    const double diff = std::fabs(static_cast<double>(yb) - y);
                    r.worst_ratio = std::max(r.worst_ratio, diff / std::max(bound_y, 1e-300));
                    if (!(diff <= bound_y)) {
                        std::ostringstream os;
                        os << where.str() << " y_B=" << yb << " y_A=" << y << " bound=" << bound_y;
                        violation(r, os.str());
                    }
                }
    return r;
}

LayerCheck check_maxpool_against_a(const ConvGeom& g, const ActQuant& a, const Tensor& k_in, const Tensor& k_out) {
    LayerCheck r;
    ActLayout in, out;
    const std::vector<uint8_t> k = dense(k_in, g.N, g.H, g.W, g.C, &in);
    const std::vector<uint8_t> kb = dense(k_out, g.N, g.OH, g.OW, g.C, &out);
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow)
                for (int64_t ch = 0; ch < g.C; ++ch) {
                    // A: ref::max_pool2d's rule (first valid value, then every strictly larger one).
                    bool any = false;
                    float m = 0.0f;
                    for_each_valid_tap(g, oh, ow, [&](int64_t ih, int64_t iw) {
                        const float v = fq::level_value(k[static_cast<size_t>(in.offset(n, ih, iw) + ch)], a.ol.at(ch),
                                                        a.oh.at(ch), a.levels);
                        if (!any || v > m) m = v;
                        any = true;
                    });
                    const float vb =
                        fq::level_value(kb[static_cast<size_t>(out.offset(n, oh, ow) + ch)], a.ol.at(ch), a.oh.at(ch), a.levels);
                    r.outputs++;
                    if (!any || std::memcmp(&m, &vb, sizeof m) != 0) {
                        std::ostringstream os;
                        os << "n=" << n << " oh=" << oh << " ow=" << ow << " c=" << ch << " value(k_B)=" << vb
                           << " A max=" << m;
                        violation(r, os.str());
                    }
                }
    return r;
}

} // namespace qjit::oracle
