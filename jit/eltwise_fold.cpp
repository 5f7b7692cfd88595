#include "jit/eltwise_fold.hpp"

#include <cfloat>
#include <cmath>
#include <limits>
#include <string>

#include "jit/fold_util.hpp"
#include "jit/fq_math.hpp"
#include "qjit/error.hpp"

namespace qjit {
namespace {

const std::string& node_name(const QEltwiseDesc& d) {
    static const std::string unnamed = "<qeltwise>";
    return fold::node_name(d.fused_nodes, unnamed);
}

float to_f32_checked(double v, const QEltwiseDesc& d, const char* what) {
    return fold::to_f32_checked(v, node_name(d), what);
}

void check_size(const QEltwiseDesc& d, size_t n, const char* what) {
    if (n != 1 && static_cast<int64_t>(n) != d.channels)
        throw Error(ErrorCode::UnsupportedOp, node_name(d),
                    std::string(what) + " has " + std::to_string(n) + " values for " + std::to_string(d.channels) +
                        " channels");
}

void check_act(const QEltwiseDesc& d, const ActQuant& a, const char* what) {
    if (a.levels < 2 || a.levels > 256)
        throw Error(ErrorCode::UnsupportedOp, node_name(d), std::string(what) + " levels outside 2..256");
    for (const ChannelVec* v : {&a.il, &a.ih, &a.ol, &a.oh}) check_size(d, v->size(), what);
}

bool any_nonzero(const std::vector<float>& v) {
    for (float f : v)
        if (f != 0.0f) return true;
    return false;
}

} // namespace

int EltwiseConsts::constant_count() const {
    int n_vec = 1 + has_p + has_a0 + has_a1;
    n_vec += mode == EpilogueMode::Levels ? 2 : (has_bounds ? 2 : 0) + (mode == EpilogueMode::Threshold);
    return n_vec * static_cast<int>(c);
}

EltwiseConsts fold_eltwise(const QEltwiseDesc& d) {
    fq::require_round_to_nearest();
    if (d.channels < 1) throw Error(ErrorCode::UnsupportedOp, node_name(d), "no channels");
    check_act(d, d.in0, "input 0");
    if (d.kind != QEltwiseDesc::Affine) check_act(d, d.in1, "input 1");
    for (const PostOp& op : d.post) {
        if (op.kind == PostOp::Clamp) continue;
        if (op.v.empty()) throw Error(ErrorCode::UnsupportedOp, node_name(d), "post-op without values");
        check_size(d, op.v.size(), "post-op");
    }
    if (d.out_levels) check_act(d, d.out, "next FakeQuantize");

    EltwiseConsts c;
    c.kind = d.kind;
    c.c = d.channels;
    c.c_pad = (d.channels + 15) / 16 * 16;
    const size_t cp = static_cast<size_t>(c.c_pad);
    c.p.assign(cp, 0.0f);
    c.a0.assign(cp, 0.0f);
    c.a1.assign(cp, 0.0f);
    c.e.assign(cp, 0.0f);

    c.mode = fold::output_mode(d.out_levels, d.out, d.channels, node_name(d));
    if (d.out_levels) {
        c.out_levels = d.out.levels;
        c.v_max = static_cast<float>(d.out.levels - 1);
    }

    const PostChain pc = fold_post_chain(d.post, d.channels);
    c.has_bounds = pc.has_bounds && c.mode != EpilogueMode::Levels;
    if (c.mode == EpilogueMode::Levels) {
        c.k_lo.assign(cp, 0);
        c.k_hi.assign(cp, 0);
        fold::level_clamp(d.out, d.channels, c.c_pad, &c.v_min, &c.v_max, &c.k_off);
    } else if (c.has_bounds) {
        c.y_lo.assign(cp, 0.0f);
        c.y_hi.assign(cp, 0.0f);
    }
    if (c.mode == EpilogueMode::Threshold) c.threshold.assign(cp, std::numeric_limits<float>::infinity());

    for (int64_t ch = 0; ch < d.channels; ++ch) {
        const size_t cu = static_cast<size_t>(ch);
        if (c.mode != EpilogueMode::Float && d.out.ol.at(ch) == d.out.oh.at(ch)) continue; // k = 0 (spec §8.4)
        // Raw coefficients of y' (fp64).
        const double s0 = d.in0.step(ch), ol0 = d.in0.ol.at(ch);
        const double s1 = d.kind == QEltwiseDesc::Affine ? 0.0 : d.in1.step(ch);
        const double ol1 = d.kind == QEltwiseDesc::Affine ? 0.0 : d.in1.ol.at(ch);
        double P = 0.0, A0 = 0.0, A1 = 0.0, E = 0.0;
        switch (d.kind) {
        case QEltwiseDesc::Add: A0 = s0, A1 = s1, E = ol0 + ol1; break;
        case QEltwiseDesc::Mul: P = s0 * s1, A0 = s0 * ol1, A1 = s1 * ol0, E = ol0 * ol1; break;
        case QEltwiseDesc::Affine: A0 = s0, E = ol0; break;
        }
        const double al = pc.alpha[cu], be = pc.beta[cu];
        if (c.mode == EpilogueMode::Levels) {
            const double isc = d.out.isc(ch), ish = d.out.ish(ch);
            c.p[cu] = to_f32_checked(al * P * isc, d, "P'");
            c.a0[cu] = to_f32_checked(al * A0 * isc, d, "A0'");
            c.a1[cu] = to_f32_checked(al * A1 * isc, d, "A1'");
            c.e[cu] = to_f32_checked((al * E + be) * isc + ish, d, "E'");
            c.k_lo[cu] = d.out.level(ch, static_cast<float>(pc.lo[cu]));
            c.k_hi[cu] = d.out.level(ch, static_cast<float>(pc.hi[cu]));
            continue;
        }
        c.p[cu] = to_f32_checked(al * P, d, "P");
        c.a0[cu] = to_f32_checked(al * A0, d, "A0");
        c.a1[cu] = to_f32_checked(al * A1, d, "A1");
        c.e[cu] = to_f32_checked(al * E + be, d, "E");
        if (c.has_bounds) {
            c.y_lo[cu] = static_cast<float>(pc.lo[cu]);
            c.y_hi[cu] = static_cast<float>(pc.hi[cu]);
        }
        if (c.mode == EpilogueMode::Threshold) c.threshold[cu] = d.out.il.at(ch);
    }
    c.has_p = d.kind == QEltwiseDesc::Mul && any_nonzero(c.p);
    c.has_a0 = any_nonzero(c.a0);
    c.has_a1 = d.kind != QEltwiseDesc::Affine && any_nonzero(c.a1);
    return c;
}

void eltwise_scalar(const EltwiseConsts& c, int64_t ch, int32_t k0, int32_t k1, int32_t* k, float* y) {
    const size_t cu = static_cast<size_t>(ch);
    float v = c.e[cu];
    if (c.has_a1) v = std::fma(static_cast<float>(k1), c.a1[cu], v);
    if (c.has_a0) v = std::fma(static_cast<float>(k0), c.a0[cu], v);
    if (c.has_p) v = std::fma(static_cast<float>(k0 * k1), c.p[cu], v);
    if (c.mode == EpilogueMode::Levels) {
        int32_t q = fold::round_level(v, c.v_min, c.v_max, c.k_off, cu, c.out_levels);
        q = q > c.k_lo[cu] ? q : c.k_lo[cu];
        q = q < c.k_hi[cu] ? q : c.k_hi[cu];
        *k = q;
        return;
    }
    if (c.has_bounds) {
        v = v > c.y_lo[cu] ? v : c.y_lo[cu]; // vmaxps(v, lo): NaN -> lo
        v = v < c.y_hi[cu] ? v : c.y_hi[cu];
    }
    if (c.mode == EpilogueMode::Threshold)
        *k = v > c.threshold[cu] ? c.out_levels - 1 : 0;
    else
        *y = v;
}

} // namespace qjit
