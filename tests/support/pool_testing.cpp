// The pooling half of the window testers (group_pool_testing.hpp): PoolCase, its random variation,
// the fused AvgPool description it draws, and the prepared case (kernel of its ISA level, Oracle B's
// output of ref::maxpool_levels / ref::qavgpool, the calls).
#include "tests/support/group_pool_testing.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "emitters/pool.hpp"
#include "jit/fq_math.hpp"
#include "jit/pool_fold.hpp"
#include "runtime/pool_ref.hpp"
#include "runtime/ref_ops.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/window_testing_util.hpp"

namespace qjit::test {
namespace {

using namespace wt;

// ---- pooling ------------------------------------------------------------------------------------

QAvgPoolDesc make_avgpool_desc(const PoolCase& pc, Rng& r) {
    QAvgPoolDesc d;
    d.g = pc.geometry();
    d.exclude_pad = pc.exclude_pad;
    d.fused_nodes = {"test_avgpool"};
    d.in.levels = pc.in_levels;
    const int64_t n = pc.per_channel_in ? pc.C : 1;
    d.in.channels = n;
    for (int64_t c = 0; c < n; ++c) {
        const float ol = static_cast<float>(uni(r, -2.0, 1.0));
        const float oh = ol + static_cast<float>(uni(r, 0.1, 4.0)) * (c % 7 == 3 ? 0.0f : 1.0f); // s = 0 once
        d.in.ol.v.push_back(ol);
        d.in.oh.v.push_back(oh);
    }
    d.in.il = d.in.ol;
    d.in.ih = d.in.oh;
    return d;
}

} // namespace

PoolCase vary_pool_case(PoolCase c, uint64_t seed) {
    std::mt19937_64 r(seed ^ 0x9001ull);
    auto coin = [&](int pct) { return static_cast<int>(r() % 100) < pct; };
    static const int kLevels[] = {2, 3, 16, 255, 256};
    const int m = static_cast<int>(r() % 10);
    c.out = m < 6 ? PoolCase::Out::Levels : m < 8 ? PoolCase::Out::Threshold : PoolCase::Out::Float;
    c.in_levels = coin(60) ? 256 : kLevels[r() % 5];
    c.out_levels = coin(60) ? 256 : kLevels[r() % 5];
    c.per_channel_in = coin(50);
    c.per_channel_out = coin(40);
    c.exclude_pad = coin(50);
    c.garbage_pad = coin(30);
    c.extra_halo = coin(20) ? 1 : 0;
    c.extra_in_cs = coin(15) ? 16 : 0;
    c.extra_out_cs = coin(15) ? 16 : 0;
    c.split_calls = coin(30);
    c.hostile_mxcsr = coin(20);
    return c;
}

std::string PoolCase::str() const {
    std::ostringstream o;
    o << (avg ? "avgpool" : "maxpool") << " N" << N << "C" << C << "H" << H << "W" << W << "_K" << KH << "x" << KW
      << "_S" << SH << "x" << SW << "_P" << PT << "," << PL << "," << PB << "," << PR << (ceil ? " ceil" : " floor");
    if (avg)
        o << (exclude_pad ? " exclude_pad" : " include_pad") << " out="
          << (out == Out::Levels ? "levels" : out == Out::Threshold ? "threshold" : "float") << " La=" << in_levels
          << " L=" << out_levels << (per_channel_in ? " pc_in" : "") << (per_channel_out ? " pc_out" : "")
          << (onnx_out ? " onnx_out" : "");
    else
        o << " La=" << in_levels;
    o << (garbage_pad ? " garbage_pad" : "") << " halo+" << extra_halo << " cs+" << extra_in_cs << "/" << extra_out_cs
      << (split_calls ? " split" : "") << (hostile_mxcsr ? " hostile_mxcsr" : "") << " isa=" << to_string(isa);
    return o.str();
}

ConvGeom PoolCase::geometry() const {
    ConvGeom g;
    g.N = N, g.C = C, g.H = H, g.W = W, g.OC = C, g.groups = C;
    g.KH = KH, g.KW = KW, g.SH = SH, g.SW = SW, g.PT = PT, g.PL = PL, g.PB = PB, g.PR = PR;
    const RoundingType rt = ceil ? RoundingType::ceil : RoundingType::floor;
    g.OH = H + PT + PB >= KH ? ref::pool_axis_out(H, KH, SH, PT, PB, rt) : 0;
    g.OW = W + PL + PR >= KW ? ref::pool_axis_out(W, KW, SW, PL, PR, rt) : 0;
    return g;
}

bool PoolCase::valid() const {
    const ConvGeom g = geometry();
    if (g.OH < 1 || g.OW < 1) return false;
    const bool padded_counts = avg && !exclude_pad;
    for (int64_t o = 0; o < g.OH; ++o)
        if (ref::pool_axis_count(o, KH, SH, PT, PB, H, !padded_counts) < 1) return false;
    for (int64_t o = 0; o < g.OW; ++o)
        if (ref::pool_axis_count(o, KW, SW, PL, PR, W, !padded_counts) < 1) return false;
    return true;
}

::testing::AssertionResult prepare_pool_case(const PoolCase& pc, uint64_t base, uint64_t index, PreparedWindow* p) {
    const uint64_t seed = case_seed(base, index);
    Rng r(seed);
    p->where = "\n  case " + std::to_string(index) + ": " + pc.str() + "\n  seed: base " + std::to_string(base) +
               ", case seed " + std::to_string(seed) + "\n  reproduce: " + reproducer(base);
    p->isa = pc.isa;
    p->conv = false;
    p->hostile_mxcsr = pc.hostile_mxcsr;
    auto fail = [&](const std::string& what) { return ::testing::AssertionFailure() << what << p->where; };
    try {
        if (!pc.valid()) return fail("invalid case (a window covers nothing)");
        const ConvGeom g = pc.geometry();
        ActLayout in = required_pool_input_halo(g);
        in.halo_t += pc.extra_halo, in.halo_l += pc.extra_halo, in.halo_b += pc.extra_halo, in.halo_r += pc.extra_halo;
        in.c_stride += pc.extra_in_cs;
        ActLayout out;
        out.N = g.N, out.H = g.OH, out.W = g.OW, out.C = g.C;
        out.c_stride = round_up16(g.C) + pc.extra_out_cs;
        out.halo_t = out.halo_l = out.halo_b = out.halo_r = pc.extra_halo;
        std::vector<uint8_t> src;
        fill_input(src, in, pc.in_levels, false, pc.garbage_pad, r, pc.avg ? 1.0 : static_cast<double>(pc.KH * pc.KW));

        std::unique_ptr<JitKernel> k;
        std::vector<uint8_t> ref_out;
        size_t raw_distinct = 2;
        if (!pc.avg) {
            out.elem_bytes = 1;
            k = emit_maxpool(pc.isa, g, in, out, "test_maxpool");
            ref_out.assign(static_cast<size_t>(out.bytes()), 0xA5);
            ref::maxpool_levels(g, src.data(), in, ref_out.data(), out);
        } else {
            QAvgPoolDesc d = make_avgpool_desc(pc, r);
            // The f32 averages, to fit the next FakeQuantize and to know how many distinct values exist.
            const AvgPoolConsts cf = fold_avgpool(d);
            ActLayout fo = out;
            fo.elem_bytes = 4;
            fo.halo_t = fo.halo_l = fo.halo_b = fo.halo_r = 0;
            fo.c_stride = round_up16(g.C);
            std::vector<float> yf(static_cast<size_t>(fo.elements()));
            ref::qavgpool(d, cf, src.data(), in, yf.data(), fo);
            std::vector<std::vector<float>> y(static_cast<size_t>(g.C));
            for (int64_t n = 0; n < g.N; ++n)
                for (int64_t h = 0; h < g.OH; ++h)
                    for (int64_t x = 0; x < g.OW; ++x)
                        for (int64_t c = 0; c < g.C; ++c)
                            y[static_cast<size_t>(c)].push_back(yf[static_cast<size_t>(fo.offset(n, h, x) + c)]);
            std::vector<float> all;
            for (const auto& v : y) all.insert(all.end(), v.begin(), v.end());
            raw_distinct = distinct_sorted(all).size();
            if (pc.per_channel_out && pc.out != PoolCase::Out::Float) {
                raw_distinct = 0;
                for (const auto& v : y) raw_distinct = std::max(raw_distinct, distinct_sorted(v).size());
            }
            d.out_levels = pc.out != PoolCase::Out::Float;
            if (d.out_levels)
                d.out = fit_next_fq(y, pc.per_channel_out, pc.out == PoolCase::Out::Threshold, pc.out_levels, r);
            if (pc.onnx_out && pc.out == PoolCase::Out::Levels) use_onnx_rounding(d.out);
            out.elem_bytes = d.out_levels ? 1 : 4;
            const AvgPoolConsts c = fold_avgpool(d);
            k = emit_avgpool(pc.isa, d, c, in, out);
            ref_out.assign(static_cast<size_t>(out.bytes()), 0xA5);
            ref::qavgpool(d, c, src.data(), in, ref_out.data(), out);
        }
        p->kernel = std::move(k);
        p->src = std::move(src);
        p->expected = std::move(ref_out);
        p->calls = make_calls(in, out, g.OH, 0, pc.split_calls, r);
        const int64_t outputs = g.N * g.OH * g.OW * g.C;
        const size_t need = !pc.avg || pc.out == PoolCase::Out::Threshold || outputs < 64 ? 2
                            : pc.out == PoolCase::Out::Float ? 4
                                                             : static_cast<size_t>(std::min(4, pc.out_levels));
        p->out = out;
        p->OH = g.OH, p->OW = g.OW, p->C = g.C;
        p->need_distinct = outputs > 1 ? std::min(need, raw_distinct) : 0;
        return ::testing::AssertionSuccess();
    } catch (const std::exception& e) {
        return fail(std::string("exception: ") + e.what());
    }
}

::testing::AssertionResult run_pool_case(const PoolCase& c, uint64_t base, uint64_t index, std::string* kernel) {
    PreparedWindow p;
    const ::testing::AssertionResult ok = prepare_pool_case(c, base, index, &p);
    if (!ok) return ok;
    if (kernel) *kernel = p.kernel->name;
    return run_window_native(p);
}
} // namespace qjit::test
