#include "jit/pool_fold.hpp"

#include <cfloat>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "jit/fold_util.hpp"
#include "jit/fq_math.hpp"
#include "qjit/error.hpp"
#include "runtime/ref_ops.hpp" // ref::pool_axis_count: the one definition of the AvgPool divisor

namespace qjit {
namespace {

const std::string& node_name(const QAvgPoolDesc& d) {
    static const std::string unnamed = "<qavgpool>";
    return fold::node_name(d.fused_nodes, unnamed);
}

float to_f32_checked(double v, const QAvgPoolDesc& d, const char* what) {
    return fold::to_f32_checked(v, node_name(d), what);
}

// One axis of a border pattern: how many window taps hold input data, and the divisor's factor.
struct AxisClass {
    int64_t n_valid, count;
    bool operator<(const AxisClass& o) const { return n_valid != o.n_valid ? n_valid < o.n_valid : count < o.count; }
};

std::vector<AxisClass> classify(int64_t n_out, int64_t k, int64_t stride, int64_t pb, int64_t pe, int64_t in,
                                bool exclude_pad, std::vector<int32_t>& cls) {
    std::map<AxisClass, int32_t> ids;
    std::vector<AxisClass> classes;
    cls.resize(static_cast<size_t>(n_out));
    for (int64_t o = 0; o < n_out; ++o) {
        const AxisClass a{ref::pool_axis_count(o, k, stride, pb, pe, in, true),
                          ref::pool_axis_count(o, k, stride, pb, pe, in, exclude_pad)};
        auto it = ids.find(a);
        if (it == ids.end()) {
            it = ids.emplace(a, static_cast<int32_t>(classes.size())).first;
            classes.push_back(a);
        }
        cls[static_cast<size_t>(o)] = it->second;
    }
    return classes;
}

} // namespace

int AvgPoolConsts::constant_count() const {
    return static_cast<int>((2 * patterns() + (mode == EpilogueMode::Threshold ? 1 : 0)) * c);
}

AvgPoolConsts fold_avgpool(const QAvgPoolDesc& d) {
    fq::require_round_to_nearest();
    const ConvGeom& g = d.g;
    auto bad = [&](const std::string& what) { throw Error(ErrorCode::InvalidArgument, node_name(d), what); };
    if (g.C < 1 || g.OC != g.C || g.KH < 1 || g.KW < 1 || g.SH < 1 || g.SW < 1 || g.OH < 1 || g.OW < 1 ||
        g.DH != 1 || g.DW != 1 || g.PT < 0 || g.PL < 0 || g.PB < 0 || g.PR < 0)
        bad("inconsistent AvgPool geometry " + g.str());
    if (d.in.levels < 2 || d.in.levels > 256) bad("input levels outside 2..256");

    AvgPoolConsts c;
    c.c = g.C;
    c.c_pad = (g.C + 15) / 16 * 16;
    const size_t cp = static_cast<size_t>(c.c_pad);
    const std::vector<AxisClass> rows = classify(g.OH, g.KH, g.SH, g.PT, g.PB, g.H, d.exclude_pad, c.row_class);
    const std::vector<AxisClass> cols = classify(g.OW, g.KW, g.SW, g.PL, g.PR, g.W, d.exclude_pad, c.col_class);
    c.n_row_classes = static_cast<int64_t>(rows.size());
    c.n_col_classes = static_cast<int64_t>(cols.size());
    for (const auto* axis : {&rows, &cols})
        for (const AxisClass& a : *axis)
            if (a.count < 1 || (d.exclude_pad && a.n_valid < 1))
                bad("a window has nothing to average over (" + g.str() + ")");

    c.mode = fold::output_mode(d.out_levels, d.out, g.C, node_name(d));
    if (d.out_levels) {
        c.out_levels = d.out.levels;
        c.v_max = static_cast<float>(d.out.levels - 1);
    }
    if (c.mode == EpilogueMode::Levels) fold::level_clamp(d.out, g.C, c.c_pad, &c.v_min, &c.v_max, &c.k_off);
    if (c.mode == EpilogueMode::Threshold) c.threshold.assign(cp, std::numeric_limits<float>::infinity());

    const size_t n_pat = rows.size() * cols.size();
    c.m.assign(n_pat * cp, 0.0f);
    c.e.assign(n_pat * cp, 0.0f);
    for (int64_t ch = 0; ch < g.C; ++ch) {
        const size_t cu = static_cast<size_t>(ch);
        const bool const_out = d.out_levels && d.out.ol.at(ch) == d.out.oh.at(ch);
        if (const_out) continue; // spec §8.4: k = 0 (Threshold: threshold stays +inf)
        const double s = d.in.step(ch), ol = d.in.ol.at(ch);
        double isc = 1.0, ish = 0.0;
        if (c.mode == EpilogueMode::Levels) {
            isc = d.out.isc(ch);
            ish = d.out.ish(ch);
        }
        if (c.mode == EpilogueMode::Threshold) c.threshold[cu] = d.out.il.at(ch);
        for (size_t r = 0; r < rows.size(); ++r)
            for (size_t q = 0; q < cols.size(); ++q) {
                const double cnt = static_cast<double>(rows[r].count * cols[q].count);
                const double n_valid = static_cast<double>(rows[r].n_valid * cols[q].n_valid);
                const size_t at = (r * cols.size() + q) * cp + cu;
                if (c.mode == EpilogueMode::Levels) {
                    c.m[at] = to_f32_checked(s * isc / cnt, d, "M'");
                    c.e[at] = to_f32_checked(n_valid / cnt * ol * isc + ish, d, "E'");
                } else {
                    c.m[at] = to_f32_checked(s / cnt, d, "M");
                    c.e[at] = to_f32_checked(n_valid / cnt * ol, d, "E");
                }
            }
    }
    return c;
}

void avgpool_epilogue_scalar(const AvgPoolConsts& c, int64_t ch, int64_t pattern, int64_t sum, int32_t* k, float* y) {
    const size_t at = static_cast<size_t>(pattern * c.c_pad + ch);
    float v = std::fma(static_cast<float>(sum), c.m[at], c.e[at]);
    if (c.mode == EpilogueMode::Levels) {
        *k = fold::round_level(v, c.v_min, c.v_max, c.k_off, static_cast<size_t>(ch), c.out_levels);
    } else if (c.mode == EpilogueMode::Threshold) {
        *k = v > c.threshold[static_cast<size_t>(ch)] ? c.out_levels - 1 : 0;
    } else {
        *y = v;
    }
}

int64_t avgpool_max_sum(const QAvgPoolDesc& d) { return d.g.KH * d.g.KW * (d.in.levels - 1); }

ConvGeom pool_geometry(const Shape& x, const Shape& y, const PoolParams& p) {
    ConvGeom g;
    g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3];
    g.OC = x[1], g.groups = x[1];
    g.KH = p.kernel[0], g.KW = p.kernel[1];
    g.OH = y[2], g.OW = y[3];
    g.SH = p.strides[0], g.SW = p.strides[1];
    g.PT = p.pads_begin[0], g.PL = p.pads_begin[1];
    g.PB = p.pads_end[0], g.PR = p.pads_end[1];
    return g;
}

} // namespace qjit
