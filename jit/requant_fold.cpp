#include "jit/requant_fold.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <map>

#include "jit/compensation_sums.hpp"
#include "jit/fold_util.hpp"
#include "jit/fq_math.hpp"
#include "qjit/error.hpp"

namespace qjit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

const std::string& node_name(const QConvDesc& d) {
    static const std::string unnamed = "<qconv>";
    return fold::node_name(d.fused_nodes, unnamed);
}

// Rounds once to fp32 and rejects values the epilogue cannot hold exactly (spec §1.4).
float to_f32_checked(double v, const QConvDesc& d, const char* what) {
    return fold::to_f32_checked(v, node_name(d), what);
}

// Valid kernel taps along one axis for each output coordinate form a contiguous range [lo, hi].
struct TapRange {
    int64_t lo, hi; // inclusive; lo > hi means no valid tap
    bool operator<(const TapRange& o) const { return lo != o.lo ? lo < o.lo : hi < o.hi; }
};

TapRange valid_taps(int64_t out, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in) {
    TapRange r{k, -1};
    for (int64_t t = 0; t < k; ++t) {
        const int64_t pos = out * stride - pad + t * dil;
        if (pos >= 0 && pos < in) {
            r.lo = std::min(r.lo, t);
            r.hi = std::max(r.hi, t);
        }
    }
    return r;
}

// Groups output coordinates by their valid tap range; returns class per coordinate and the ranges.
std::vector<TapRange> classify(int64_t n_out, int64_t stride, int64_t pad, int64_t dil, int64_t k,
                               int64_t in, std::vector<int32_t>& cls) {
    std::map<TapRange, int32_t> ids;
    std::vector<TapRange> ranges;
    cls.resize(static_cast<size_t>(n_out));
    for (int64_t o = 0; o < n_out; ++o) {
        const TapRange r = valid_taps(o, stride, pad, dil, k, in);
        auto it = ids.find(r);
        if (it == ids.end()) {
            it = ids.emplace(r, static_cast<int32_t>(ranges.size())).first;
            ranges.push_back(r);
        }
        cls[static_cast<size_t>(o)] = it->second;
    }
    return ranges;
}

PostChain fold_post_ops(const QConvDesc& d) { return fold_post_chain(d.post, d.g.OC); }

} // namespace

PostChain fold_post_chain(const std::vector<PostOp>& post, int64_t channels) {
    const size_t oc = static_cast<size_t>(channels);
    PostChain p{std::vector<double>(oc, 1.0), std::vector<double>(oc, 0.0),
                std::vector<double>(oc, -kInf), std::vector<double>(oc, kInf), false};
    for (const PostOp& op : post) {
        for (size_t o = 0; o < oc; ++o) {
            const double v = op.v.empty() ? 0.0 : static_cast<double>(op.v.size() == 1 ? op.v[0] : op.v[o]);
            switch (op.kind) {
            case PostOp::Bias:
            case PostOp::Shift:
                p.beta[o] += v;
                p.lo[o] += v;
                p.hi[o] += v;
                break;
            case PostOp::Scale: {
                p.alpha[o] *= v;
                p.beta[o] *= v;
                double a = p.lo[o] * v, b = p.hi[o] * v;
                if (v == 0.0) a = b = 0.0; // clamp(...)*0 is 0 whatever the bounds (inf*0 guarded)
                if (v < 0) std::swap(a, b);
                p.lo[o] = a;
                p.hi[o] = b;
                break;
            }
            case PostOp::Clamp: {
                const double l = op.lo, h = op.hi;
                p.lo[o] = std::min(std::max(p.lo[o], l), h);
                p.hi[o] = std::min(std::max(p.hi[o], l), h);
                p.has_bounds = true;
                break;
            }
            }
        }
    }
    return p;
}

int QConvConsts::constant_count() const {
    int n_vec = 2 + static_cast<int>(n_row_classes * n_col_classes);
    n_vec += mode == EpilogueMode::Levels ? 2 : (has_bounds ? 2 : 0) + (mode == EpilogueMode::Threshold);
    return n_vec * static_cast<int>(oc);
}

QConvConsts fold_qconv(const QConvDesc& d) {
    fq::require_round_to_nearest();
    const ConvGeom& g = d.g;
    QConvConsts c;
    c.oc = g.OC;
    c.oc_pad = round_up(g.OC, 16);
    const size_t ocp = static_cast<size_t>(c.oc_pad);

    // Input activation: r_a = ol_a[c] + k * s_a, s_a per tensor or, with groups, per group (one
    // value within each reduction; depthwise: per channel).
    if (g.groups < 1 || g.C % g.groups != 0 || g.OC % g.groups != 0)
        throw Error(ErrorCode::InvalidArgument, node_name(d), "groups do not divide the channels of " + g.str());
    // Without groups the channels may fall into segments of one step each (spec §8.2).
    c.seg_c = conv_segments(d);
    const int64_t n_seg = c.n_seg();
    if (n_seg > kMaxConvSegments)
        throw Error(ErrorCode::UnsupportedOp, node_name(d),
                    std::to_string(n_seg) + " activation scales into one reduction (at most 8 segments)");
    std::vector<double> s_grp(static_cast<size_t>(g.groups));
    for (int64_t gi = 0; gi < g.groups; ++gi) {
        const double s = d.in.step(gi * g.Cg());
        for (int64_t ch = gi * g.Cg() + 1; ch < (gi + 1) * g.Cg() && g.groups > 1; ++ch)
            if (d.in.step(ch) != s)
                throw Error(ErrorCode::UnsupportedOp, node_name(d), "per-channel activation scale into a reduction");
        s_grp[static_cast<size_t>(gi)] = s;
    }
    bool any_ol = false;
    std::vector<double> ol_a(static_cast<size_t>(g.C));
    for (int64_t ch = 0; ch < g.C; ++ch) {
        ol_a[static_cast<size_t>(ch)] = d.in.ol.at(ch);
        any_ol = any_ol || ol_a[static_cast<size_t>(ch)] != 0.0;
    }

    const int64_t khw = g.KH * g.KW;
    const int64_t kk = g.K();
    // Raw real-valued coefficients per output channel: y = M*D + N*S + E[pattern].
    std::vector<double> M(static_cast<size_t>(n_seg * g.OC)), N(static_cast<size_t>(n_seg * g.OC));
    // T[o][kh][kw] = sum_c ol_a[c] * w(o,c,kh,kw), then 2-D prefix sums P (KH+1 x KW+1).
    std::vector<double> P(static_cast<size_t>(g.OC * (g.KH + 1) * (g.KW + 1)), 0.0);
    c.has_n = false;
    for (int64_t o = 0; o < g.OC; ++o) {
        const size_t ou = static_cast<size_t>(o);
        const bool cst = d.w.const_channel[ou] != 0;
        const double sw = d.w.s_w[ou], zw = d.w.z_w[ou];
        for (int64_t i = 0; i < n_seg; ++i) {
            const double s_a = n_seg > 1 ? d.in.step(c.seg_c[static_cast<size_t>(i)]) : s_grp[static_cast<size_t>(o / g.OCg())];
            const size_t at = static_cast<size_t>(i * g.OC + o);
            M[at] = cst ? 0.0 : s_a * sw;
            N[at] = cst ? s_a * d.w.w_c[ou] : (zw == 0.0 ? 0.0 : -s_a * sw * zw);
            if (N[at] != 0.0 || cst) c.has_n = true;
        }
    }
    if (any_ol) {
        // T[o][tap] = sum over the group's channels ch (ascending) of ol_a[c0 + ch] * w(o, ch, tap), each
        // T its own sum in that order; up to kOB output channels of one group (whole blocks of 8, none
        // constant) are summed side by side (compensation_sums: independent chains, the same additions
        // without waiting on one another); other runs take the scalar loop below, the same operations.
        constexpr int64_t kOB = 32;
        std::vector<double> T(static_cast<size_t>(kOB * khw));
        const int8_t* q = d.w.q.data();
        for (int64_t o0 = 0; o0 < g.OC;) {
            const int64_t group_end = (o0 / g.OCg() + 1) * g.OCg();
            int64_t nb = std::min(kOB, group_end - o0);
            const int64_t c0 = o0 / g.OCg() * g.Cg(); // first input channel of the group
            const int64_t nrow = nb / 8 * 8;
            bool any_cst = false;
            for (int64_t b = 0; b < nrow; ++b) any_cst = any_cst || d.w.const_channel[static_cast<size_t>(o0 + b)] != 0;
            if (nrow > 0 && !any_cst) {
                nb = nrow;
                double sw[kOB], zw[kOB];
                const int8_t* row[kOB];
                for (int64_t b = 0; b < nrow; ++b) {
                    sw[b] = d.w.s_w[static_cast<size_t>(o0 + b)];
                    zw[b] = d.w.z_w[static_cast<size_t>(o0 + b)];
                    row[b] = q + (o0 + b) * kk;
                }
                compensation_sums(nrow, row, sw, zw, ol_a.data() + c0, g.Cg(), khw, T.data());
            } else {
                for (int64_t b = 0; b < nb; ++b) {
                    const size_t ou = static_cast<size_t>(o0 + b);
                    const bool cst = d.w.const_channel[ou] != 0;
                    const double sw = d.w.s_w[ou], zw = d.w.z_w[ou];
                    for (int64_t k = 0; k < khw; ++k) {
                        double t = 0.0;
                        for (int64_t ch = 0; ch < g.Cg(); ++ch) {
                            const double w = cst ? d.w.w_c[ou]
                                                 : sw * (static_cast<double>(q[(o0 + b) * kk + ch * khw + k]) - zw);
                            t += ol_a[static_cast<size_t>(c0 + ch)] * w;
                        }
                        T[static_cast<size_t>(b * khw + k)] = t;
                    }
                }
            }
            // 2-D prefix sums P (KH+1 x KW+1) of each channel's T.
            for (int64_t b = 0; b < nb; ++b) {
                double* Po = &P[static_cast<size_t>((o0 + b) * (g.KH + 1) * (g.KW + 1))];
                const double* t = &T[static_cast<size_t>(b * khw)];
                for (int64_t kh = 0; kh < g.KH; ++kh)
                    for (int64_t kw = 0; kw < g.KW; ++kw)
                        Po[(kh + 1) * (g.KW + 1) + (kw + 1)] = t[kh * g.KW + kw] + Po[kh * (g.KW + 1) + (kw + 1)] +
                                                               Po[(kh + 1) * (g.KW + 1) + kw] - Po[kh * (g.KW + 1) + kw];
            }
            o0 += nb;
        }
    }

    // Border patterns: only needed when E depends on which taps are valid.
    std::vector<TapRange> rows{{0, g.KH - 1}}, cols{{0, g.KW - 1}};
    if (any_ol) {
        rows = classify(g.OH, g.SH, g.PT, g.DH, g.KH, g.H, c.row_class);
        cols = classify(g.OW, g.SW, g.PL, g.DW, g.KW, g.W, c.col_class);
    } else {
        c.row_class.assign(static_cast<size_t>(g.OH), 0);
        c.col_class.assign(static_cast<size_t>(g.OW), 0);
    }
    c.n_row_classes = static_cast<int64_t>(rows.size());
    c.n_col_classes = static_cast<int64_t>(cols.size());
    const size_t n_pat = rows.size() * cols.size();
    auto E_raw = [&](int64_t o, const TapRange& r, const TapRange& q) -> double {
        if (!any_ol || r.lo > r.hi || q.lo > q.hi) return 0.0;
        const double* Po = &P[static_cast<size_t>(o * (g.KH + 1) * (g.KW + 1))];
        auto at = [&](int64_t i, int64_t j) { return Po[i * (g.KW + 1) + j]; };
        return at(r.hi + 1, q.hi + 1) - at(r.lo, q.hi + 1) - at(r.hi + 1, q.lo) + at(r.lo, q.lo);
    };

    const PostChain pc = fold_post_ops(d);
    c.has_bounds = pc.has_bounds;
    c.m.assign(static_cast<size_t>(n_seg) * ocp, 0.0f);
    c.n.assign(static_cast<size_t>(n_seg) * ocp, 0.0f);
    c.e.assign(n_pat * ocp, 0.0f);

    c.mode = fold::output_mode(d.out_levels, d.out, g.OC, node_name(d));
    if (d.out_levels) {
        c.out_levels = d.out.levels;
        c.v_max = static_cast<float>(d.out.levels - 1);
    }

    if (c.mode == EpilogueMode::Levels) {
        c.k_lo.assign(ocp, 0);
        c.k_hi.assign(ocp, 0);
        fold::level_clamp(d.out, g.OC, c.oc_pad, &c.v_min, &c.v_max, &c.k_off);
        for (int64_t o = 0; o < g.OC; ++o) {
            const size_t ou = static_cast<size_t>(o);
            if (d.out.ol.at(o) == d.out.oh.at(o)) continue; // constant channel: k = 0 (spec §8.4)
            const double isc = d.out.isc(o), ish = d.out.ish(o);
            for (int64_t i = 0; i < n_seg; ++i) {
                const size_t at = static_cast<size_t>(i * g.OC + o), ct = static_cast<size_t>(i) * ocp + ou;
                c.m[ct] = to_f32_checked(pc.alpha[ou] * M[at] * isc, d, "M'");
                c.n[ct] = to_f32_checked(pc.alpha[ou] * N[at] * isc, d, "N'");
            }
            for (size_t r = 0; r < rows.size(); ++r)
                for (size_t q = 0; q < cols.size(); ++q) {
                    const double e = (pc.alpha[ou] * E_raw(o, rows[r], cols[q]) + pc.beta[ou]) * isc + ish;
                    c.e[(r * cols.size() + q) * ocp + ou] = to_f32_checked(e, d, "E'");
                }
            c.k_lo[ou] = d.out.level(o, static_cast<float>(pc.lo[ou]));
            c.k_hi[ou] = d.out.level(o, static_cast<float>(pc.hi[ou]));
        }
        return c;
    }

    // Threshold and Float: unscaled y in fp32.
    if (c.has_bounds) {
        c.y_lo.assign(ocp, 0.0f);
        c.y_hi.assign(ocp, 0.0f);
    }
    if (c.mode == EpilogueMode::Threshold) c.threshold.assign(ocp, std::numeric_limits<float>::infinity());
    for (int64_t o = 0; o < g.OC; ++o) {
        const size_t ou = static_cast<size_t>(o);
        if (c.mode == EpilogueMode::Threshold && d.out.ol.at(o) == d.out.oh.at(o)) continue;
        for (int64_t i = 0; i < n_seg; ++i) {
            const size_t at = static_cast<size_t>(i * g.OC + o), ct = static_cast<size_t>(i) * ocp + ou;
            c.m[ct] = to_f32_checked(pc.alpha[ou] * M[at], d, "M");
            c.n[ct] = to_f32_checked(pc.alpha[ou] * N[at], d, "N");
        }
        for (size_t r = 0; r < rows.size(); ++r)
            for (size_t q = 0; q < cols.size(); ++q)
                c.e[(r * cols.size() + q) * ocp + ou] =
                    to_f32_checked(pc.alpha[ou] * E_raw(o, rows[r], cols[q]) + pc.beta[ou], d, "E+b");
        if (c.has_bounds) {
            c.y_lo[ou] = static_cast<float>(pc.lo[ou]);
            c.y_hi[ou] = static_cast<float>(pc.hi[ou]);
        }
        if (c.mode == EpilogueMode::Threshold) c.threshold[ou] = d.out.il.at(o);
    }
    return c;
}

std::vector<int64_t> conv_segments(const QConvDesc& d) {
    const ConvGeom& g = d.g;
    std::vector<int64_t> seg{0};
    const bool per_channel = d.in.ol.v.size() > 1 || d.in.oh.v.size() > 1;
    for (int64_t ch = 1; ch < g.C && g.groups == 1 && per_channel; ++ch)
        if (d.in.step(ch) != d.in.step(ch - 1)) seg.push_back(ch);
    seg.push_back(g.C);
    return seg;
}

void epilogue_scalar(const QConvConsts& c, int64_t o, int64_t pattern, const int64_t* d, const int64_t* s,
                     int32_t* k, float* y) {
    const size_t ou = static_cast<size_t>(o);
    float v = c.e[static_cast<size_t>(pattern * c.oc_pad) + ou];
    for (int64_t i = c.n_seg() - 1; i >= 0; --i) {
        const size_t at = static_cast<size_t>(i * c.oc_pad) + ou;
        if (c.has_n) v = std::fma(static_cast<float>(s[i]), c.n[at], v);
        v = std::fma(static_cast<float>(d[i]), c.m[at], v);
    }
    if (c.mode == EpilogueMode::Levels) {
        int32_t q = fold::round_level(v, c.v_min, c.v_max, c.k_off, ou, c.out_levels);
        q = q > c.k_lo[ou] ? q : c.k_lo[ou];
        q = q < c.k_hi[ou] ? q : c.k_hi[ou];
        *k = q;
        return;
    }
    if (c.has_bounds) {
        v = v > c.y_lo[ou] ? v : c.y_lo[ou]; // vmaxps(v, lo): NaN -> lo
        v = v < c.y_hi[ou] ? v : c.y_hi[ou];
    }
    if (c.mode == EpilogueMode::Threshold)
        *k = v > c.threshold[ou] ? c.out_levels - 1 : 0;
    else
        *y = v;
}

float fold_uniform_klo(const QConvConsts& c, int64_t oc, int64_t lanes, bool* drop_klo) {
    *drop_klo = false;
    if (c.mode != EpilogueMode::Levels || !c.k_off.empty() || oc <= 0 || oc % lanes != 0 || c.k_lo.empty())
        return c.v_min;
    const int32_t k = c.k_lo[0];
    if (k <= 0 || static_cast<float>(k) > c.v_max) return c.v_min;
    for (int64_t o = 1; o < oc; ++o)
        if (c.k_lo[static_cast<size_t>(o)] != k) return c.v_min;
    *drop_klo = true;
    return std::max(c.v_min, static_cast<float>(k));
}

} // namespace qjit
