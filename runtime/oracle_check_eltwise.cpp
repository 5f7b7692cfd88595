// Spec §4.6 acceptance of a QEltwise layer (see oracle_check.hpp).
#include <algorithm>
#include <cmath>
#include <sstream>

#include "jit/eltwise_fold.hpp"
#include "jit/fq_math.hpp"
#include "runtime/oracle_check.hpp"
#include "runtime/ref_ops.hpp"

namespace qjit::oracle {
namespace {

constexpr double kU = 1.0 / 4194304.0; // 2^-22

// |oh-ol| + max(|ol|,|oh|) of an FQ (spec §4.6 operand term).
double range_r(double ol, double oh) { return std::fabs(oh - ol) + std::max(std::fabs(ol), std::fabs(oh)); }

void note(LayerCheck& r, const std::string& what) {
    r.violations++;
    if (r.first_violation.empty()) r.first_violation = what;
}

} // namespace

LayerCheck check_qeltwise_against_a(const QEltwiseDesc& d, const Tensor& k0, const Tensor* k1, const Tensor& out_b) {
    const EltwiseConsts c = fold_eltwise(d);
    const bool binary = d.kind != QEltwiseDesc::Affine;
    const Shape& os = out_b.shape();
    int64_t inner = 1;
    for (size_t i = 2; i < os.size(); ++i) inner *= os[i];
    const ref::BroadcastIndex b0(k0.shape(), os), b1(binary ? k1->shape() : os, os);
    LayerCheck r;
    for (int64_t i = 0; i < out_b.numel(); ++i) {
        const int64_t ch = (i / inner) % d.channels;
        const size_t cu = static_cast<size_t>(ch);
        const int q0 = k0.data<uint8_t>()[b0(i)];
        const int q1 = binary ? k1->data<uint8_t>()[b1(i)] : 0;
        const double r0 = fq::level_value(q0, d.in0.ol.at(ch), d.in0.oh.at(ch), d.in0.levels);
        const double r1 = binary ? fq::level_value(q1, d.in1.ol.at(ch), d.in1.oh.at(ch), d.in1.levels) : 0.0;
        const double R0 = range_r(d.in0.ol.at(ch), d.in0.oh.at(ch));
        const double R1 = binary ? range_r(d.in1.ol.at(ch), d.in1.oh.at(ch)) : 0.0;
        double y = 0.0, operand = 0.0;
        switch (d.kind) {
        case QEltwiseDesc::Add: y = r0 + r1, operand = R0 + R1; break;
        case QEltwiseDesc::Mul: y = r0 * r1, operand = R0 * std::fabs(r1) + std::fabs(r0) * R1; break;
        case QEltwiseDesc::Affine: y = r0, operand = R0; break;
        }
        double alpha = 1.0;
        for (const PostOp& p : d.post) {
            const double v = p.v.empty() ? 0.0 : (p.v.size() == 1 ? p.v[0] : p.v[cu]);
            switch (p.kind) {
            case PostOp::Bias:
            case PostOp::Shift: y += v; break;
            case PostOp::Scale: y *= v, alpha *= v; break;
            case PostOp::Clamp: y = std::min(std::max(y, static_cast<double>(p.lo)), static_cast<double>(p.hi)); break;
            }
        }
        double terms = std::fabs(static_cast<double>(c.e[cu]));
        if (c.has_a0) terms += std::fabs(static_cast<double>(c.a0[cu]) * q0);
        if (c.has_a1) terms += std::fabs(static_cast<double>(c.a1[cu]) * q1);
        if (c.has_p) terms += std::fabs(static_cast<double>(c.p[cu]) * q0 * q1);
        std::ostringstream where;
        where << "element " << i << " (channel " << ch << ", k0=" << q0 << ", k1=" << q1 << ")";
        r.outputs++;
        if (c.mode == EpilogueMode::Levels) {
            const int kb = out_b.data<uint8_t>()[i];
            if (d.out.ol.at(ch) == d.out.oh.at(ch)) {
                if (kb != 0) note(r, where.str() + " constant channel not 0");
                continue;
            }
            const int L = d.out.levels;
            const double isc = d.out.isc(ch);
            const double t = d.out.pre_round(ch, y); // (y - il)*isc, or y/scale + off (ONNX)
            const double tc = std::min(std::max(t, 0.0), static_cast<double>(L - 1));
            // 0x1p-147: A's fp32 products and sums below the normal range round to multiples of 2^-149.
            const double delta = kU * (terms + std::fabs(t)) + kU * std::fabs(isc * alpha) * operand + std::fabs(isc) * 0x1p-147;
            const double diff = std::fabs(kb - tc);
            const int64_t dk = std::isnan(tc) ? 0 : std::llabs(kb - static_cast<int64_t>(std::nearbyint(tc))); // NaN: A has no level (no NaN -> int cast)
            r.max_abs_dk = std::max(r.max_abs_dk, dk);
            if (dk != 0) r.flips++;
            r.worst_ratio = std::max(r.worst_ratio, (diff - 0.5) / delta);
            if (diff > 0.5 + delta) {
                std::ostringstream os;
                os << where.str() << " k_B=" << kb << " t_A=" << t << " delta=" << delta;
                note(r, os.str());
            }
            continue;
        }
        const double bound_y = kU * terms + kU * std::fabs(alpha) * operand + 0x1p-50 * std::fabs(y) + 0x1p-147;
        if (c.mode == EpilogueMode::Threshold) {
            const int L = d.out.levels;
            const double il = d.out.il.at(ch);
            const int expect = d.out.ol.at(ch) == d.out.oh.at(ch) ? 0 : (y > il ? L - 1 : 0);
            if (out_b.data<uint8_t>()[i] != expect) {
                r.flips++;
                if (std::fabs(y - il) > bound_y) note(r, where.str() + " threshold flip far from il");
            }
            continue;
        }
        const double yb = out_b.data<float>()[i];
        const double diff = std::fabs(yb - y);
        r.worst_ratio = std::max(r.worst_ratio, bound_y > 0 ? diff / bound_y : (diff > 0 ? 1e300 : 0.0));
        if (!(diff <= bound_y)) {
            std::ostringstream os;
            os << where.str() << " y_B=" << yb << " y_A=" << y << " bound=" << bound_y;
            note(r, os.str());
        }
    }
    return r;
}

} // namespace qjit::oracle
