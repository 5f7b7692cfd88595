#include "tests/support/group_pool_testing.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "emitters/group_conv.hpp"
#include "emitters/pool.hpp"
#include "jit/fq_math.hpp"
#include "jit/pool_fold.hpp"
#include "jit/requant_fold.hpp"
#include "runtime/pool_ref.hpp"
#include "runtime/qconv_ref.hpp"
#include "runtime/ref_ops.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/window_testing_util.hpp"

namespace qjit::test {
namespace wt {

using Rng = std::mt19937_64;

double uni(Rng& r, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(r); }
int64_t uni_int(Rng& r, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(r); }

float percentile(std::vector<float> v, double p) {
    if (v.empty()) return 0.0f;
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    return v[i];
}

std::vector<float> distinct_sorted(const std::vector<float>& v) {
    const std::set<float> u(v.begin(), v.end());
    return {u.begin(), u.end()};
}

// The values strictly inside (min, max) when there are enough of them (ReLU zeros and clamp bounds
// are atoms that would pull both ends of a range onto one value).
std::vector<float> trim_atoms(const std::vector<float>& v) {
    if (v.empty()) return v;
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    std::vector<float> t;
    for (float x : v)
        if (x > *lo && x < *hi) t.push_back(x);
    return t.size() >= 8 ? t : v;
}

// A next FakeQuantize (per tensor or per channel) fitted to the values y[c] it will see, so that the
// levels spread; one channel constant (ol == oh) when per channel and there are >= 3 channels.
ActQuant fit_next_fq(const std::vector<std::vector<float>>& y, bool per_channel, bool threshold, int levels, Rng& r,
                     bool below_zero) {
    std::vector<float> all;
    for (const auto& v : y) all.insert(all.end(), v.begin(), v.end());
    ActQuant a;
    a.levels = levels;
    const int64_t n = per_channel ? static_cast<int64_t>(y.size()) : 1;
    a.channels = n;
    for (int64_t o = 0; o < n; ++o) {
        const std::vector<float>& own = per_channel ? y[static_cast<size_t>(o)] : all;
        const std::vector<float> v = trim_atoms(own);
        float il = 0.0f, ih = 0.0f;
        if (threshold) {
            const std::vector<float> u = distinct_sorted(v);
            const size_t m = std::min(u.size() - 1, std::max<size_t>(1, u.size() / 2));
            il = ih = u.size() < 2 ? u[0] : u[m - 1] + (u[m] - u[m - 1]) * 0.5f;
        } else if (v.size() >= 16) {
            // The widest central range whose levels spread; else the one with the most levels.
            const size_t want = std::min<size_t>({4, static_cast<size_t>(levels), distinct_sorted(own).size()});
            size_t best = 0;
            const auto [omin, omax] = std::minmax_element(own.begin(), own.end());
            for (double p : {0.04, 0.15, 0.3, 0.45, -1.0}) { // -1: the full range of own
                const float lo = p < 0 ? *omin : percentile(v, p), hi = p < 0 ? *omax : percentile(v, 1.0 - p);
                std::set<int> k;
                for (float x : own) k.insert(fq::level_index(x, lo, hi, levels));
                if (k.size() > best) best = k.size(), il = lo, ih = hi;
                if (k.size() >= want) break;
            }
        } else {
            const auto [lo, hi] = std::minmax_element(own.begin(), own.end());
            il = *lo;
            ih = *hi;
        }
        if (!threshold) {
            const float span = std::max(1e-3f, 0.05f * std::max(std::fabs(il), std::fabs(ih)));
            if (!(ih - il > span)) ih = il + span;
            if (below_zero) il = std::min(il, -0.25f * (ih - il) - 1e-3f);
        }
        const float ol = static_cast<float>(uni(r, -1.0, 0.0));
        float oh = ol + static_cast<float>(uni(r, 0.5, 2.0));
        if (per_channel && n >= 3 && o == n / 2) oh = ol;
        a.il.v.push_back(il);
        a.ih.v.push_back(ih);
        a.ol.v.push_back(ol);
        a.oh.v.push_back(oh);
    }
    return a;
}

void use_onnx_rounding(ActQuant& a) {
    const size_t n = a.il.size();
    a.onnx_scale.v.clear();
    a.onnx_off.v.clear();
    for (size_t i = 0; i < n; ++i) {
        // ONNX ranges contain 0 (the zero point is a code): widen [il, ih] to reach it.
        const float il = std::fmin(a.il.v[i], 0.0f), ih = std::fmax(a.ih.v[i], 0.0f);
        a.il.v[i] = il, a.ih.v[i] = ih;
        const float s = (ih - il) / static_cast<float>(a.levels - 1);
        const float off = std::nearbyint(-il / s);
        a.onnx_scale.v.push_back(s);
        a.onnx_off.v.push_back(std::fmin(std::fmax(off, 0.0f), static_cast<float>(a.levels - 1)));
    }
}

std::string describe_mismatch(const ActLayout& l, const std::vector<uint8_t>& jit, const std::vector<uint8_t>& ref) {
    size_t first = jit.size(), count = 0;
    for (size_t i = 0; i < jit.size(); ++i)
        if (jit[i] != ref[i]) {
            if (first == jit.size()) first = i;
            ++count;
        }
    const int64_t e = static_cast<int64_t>(first) / l.elem_bytes;
    const int64_t n = e / l.image_stride(), rem = e % l.image_stride();
    const int64_t h = rem / l.row_stride() - l.halo_t, w = (rem % l.row_stride()) / l.c_stride - l.halo_l;
    const int64_t c = rem % l.c_stride;
    std::ostringstream o;
    o << count << " differing bytes; first at n=" << n << " oh=" << h << " ow=" << w << " ch=" << c << ": jit ";
    if (l.elem_bytes == 4) {
        float a, b;
        std::memcpy(&a, &jit[static_cast<size_t>(e * 4)], 4);
        std::memcpy(&b, &ref[static_cast<size_t>(e * 4)], 4);
        o << a << " ref " << b;
    } else {
        o << int(jit[first]) << " ref " << int(ref[first]);
    }
    return o.str();
}

// Distinct values over the real outputs of an output buffer.
size_t distinct_outputs(const ActLayout& l, int64_t N, int64_t OH, int64_t OW, int64_t C, const std::vector<uint8_t>& b) {
    std::set<uint32_t> d;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < OH; ++h)
            for (int64_t w = 0; w < OW; ++w)
                for (int64_t c = 0; c < C; ++c) {
                    uint32_t v = 0;
                    std::memcpy(&v, &b[static_cast<size_t>((l.offset(n, h, w) + c) * l.elem_bytes)],
                                static_cast<size_t>(l.elem_bytes));
                    d.insert(v);
                }
    return d.size();
}

// Levels k = (L-1) * u^skew (u uniform): skew = n makes the maximum of n such values uniform.
void fill_input(std::vector<uint8_t>& src, const ActLayout& in, int levels, bool extreme, bool garbage, Rng& r,
                double skew) {
    src.assign(static_cast<size_t>(in.bytes()), 0);
    for (int64_t n = 0; n < in.N; ++n)
        for (int64_t h = 0; h < in.H; ++h)
            for (int64_t x = 0; x < in.W; ++x) {
                uint8_t* px = &src[static_cast<size_t>(in.offset(n, h, x))];
                for (int64_t c = 0; c < in.c_stride; ++c) {
                    if (c < in.C)
                        px[c] = static_cast<uint8_t>(extreme        ? levels - 1
                                                     : skew == 1.0 ? uni_int(r, 0, levels - 1)
                                                                   : std::lround(std::pow(uni(r, 0.0, 1.0), skew) * (levels - 1)));
                    else if (garbage)
                        px[c] = static_cast<uint8_t>(uni_int(r, 1, 255));
                }
            }
}

// The kernel calls of a case: every image, its rows in one call or (split) in random pieces of 1-3
// rows, each row range over the output-channel blocks [0, nb) in one call or random pieces of 1-2
// blocks (nb = 0: pooling, no block range).
std::vector<WindowCall> make_calls(const ActLayout& in, const ActLayout& out, int64_t OH, int64_t nb, bool split, Rng& r) {
    std::vector<std::pair<int64_t, int64_t>> rows{{0, OH}};
    if (split) {
        rows.clear();
        for (int64_t h = 0; h < OH;) {
            const int64_t e = std::min(OH, h + uni_int(r, 1, 3));
            rows.emplace_back(h, e);
            h = e;
        }
    }
    std::vector<WindowCall> calls;
    for (int64_t n = 0; n < out.N; ++n)
        for (const auto& rr : rows) {
            WindowCall c;
            c.src_off = in.offset(n, 0, 0);
            c.dst_off = out.offset(n, 0, 0) * out.elem_bytes;
            c.oh_begin = rr.first, c.oh_end = rr.second;
            if (nb == 0) {
                calls.push_back(c);
                continue;
            }
            for (int64_t o = 0; o < nb;) {
                const int64_t e = split ? std::min(nb, o + 1 + static_cast<int64_t>(r() % 2)) : nb;
                c.ocb_begin = o, c.ocb_end = e;
                calls.push_back(c);
                o = e;
            }
        }
    return calls;
}

} // namespace wt

namespace {

using namespace wt;

// ---- grouped conv -------------------------------------------------------------------------------

QConvDesc make_group_desc(const GroupConvCase& cc, Rng& r) {
    QConvDesc d;
    d.g = with_output(cc.g);
    const ConvGeom& g = d.g;
    d.fused_nodes = {"test_group_conv"};
    // Input FQ: dyadic steps R_g/(L-1) per group (one R when !per_channel_scale) and dyadic ol, so
    // that oh[c] - ol[c] is exactly R_g in fp32 and fold_qconv sees one step per group.
    const int e = static_cast<int>(uni_int(r, 3, 7));
    std::vector<int64_t> m(static_cast<size_t>(g.groups));
    for (auto& x : m) x = cc.per_channel_scale || &x == &m[0] ? uni_int(r, 64, 1024) : m[0];
    d.in.levels = cc.in_levels;
    d.in.channels = g.C;
    for (int64_t c = 0; c < g.C; ++c) {
        const int64_t mg = m[static_cast<size_t>(c / g.Cg())];
        const float ol = cc.act_ol ? std::ldexp(static_cast<float>(uni_int(r, -2 * mg, mg / 2)), -e) : 0.0f;
        d.in.ol.v.push_back(ol);
        d.in.oh.v.push_back(ol + std::ldexp(static_cast<float>(mg), -e));
    }
    d.in.il = d.in.ol;
    d.in.ih = d.in.oh;

    const int64_t kk = g.K();
    QuantWeights& w = d.w;
    w.levels = 256;
    w.q.resize(static_cast<size_t>(g.OC * kk));
    for (auto& q : w.q) {
        if (cc.extreme) {
            static const int8_t ext[] = {-128, -127, 127};
            q = ext[uni_int(r, 0, 2)];
        } else {
            const int64_t k = uni_int(r, 0, 9);
            q = static_cast<int8_t>(k < 6 ? uni_int(r, -128, 127) : k < 9 ? uni_int(r, -9, 9) : (k % 2 ? 127 : -128));
        }
    }
    for (int64_t o = 0; o < g.OC; ++o) {
        w.s_w.push_back(uni(r, 0.002, 0.03));
        w.z_w.push_back(cc.asym_w && o % 3 != 0 ? uni(r, -40.0, 40.0) : 0.0);
        w.n_dropped.push_back(0.0);
        const bool cst = cc.const_ch && o % 4 == 1;
        w.const_channel.push_back(cst ? 1 : 0);
        w.w_c.push_back(cst ? uni(r, -0.3, 0.3) : 0.0);
        if (cst)
            for (int64_t i = 0; i < kk; ++i) w.q[static_cast<size_t>(o * kk + i)] = 0;
    }
    w.w_float.resize(w.q.size());
    for (int64_t o = 0; o < g.OC; ++o)
        for (int64_t i = 0; i < kk; ++i) {
            const size_t j = static_cast<size_t>(o * kk + i), ou = static_cast<size_t>(o);
            w.w_float[j] = static_cast<float>(w.const_channel[ou] ? w.w_c[ou] : w.s_w[ou] * (w.q[j] - w.z_w[ou]));
        }
    auto per_oc = [&](double lo, double hi) {
        std::vector<float> v;
        for (int64_t o = 0; o < g.OC; ++o) v.push_back(static_cast<float>(uni(r, lo, hi)));
        return v;
    };
    if (cc.bias) d.post.push_back(PostOp{PostOp::Bias, per_oc(-2.0, 2.0), 0, 0, "bias"});
    if (cc.scale_shift) {
        std::vector<float> s = per_oc(0.25, 2.0);
        for (size_t o = 0; o < s.size(); ++o)
            if (o % 3 == 2) s[o] = -s[o];
        if (s.size() > 4) s[4] = 0.0f;
        d.post.push_back(PostOp{PostOp::Scale, s, 0, 0, "mul"});
        d.post.push_back(PostOp{PostOp::Shift, per_oc(-1.0, 1.0), 0, 0, "add"});
    }
    return d;
}

// y per output channel of the Float form of d (post-ops applied).
std::vector<std::vector<float>> group_float_outputs(const QConvDesc& d, const std::vector<uint8_t>& src,
                                                    const ActLayout& in) {
    QConvDesc f = d;
    f.out_levels = false;
    const QConvConsts c = fold_qconv(f);
    ActLayout out;
    out.N = d.g.N, out.H = d.g.OH, out.W = d.g.OW, out.C = d.g.OC, out.c_stride = round_up16(d.g.OC);
    out.elem_bytes = 4;
    std::vector<float> y(static_cast<size_t>(out.elements()));
    ref::qconv(f, c, src.data(), in, y.data(), out);
    std::vector<std::vector<float>> per(static_cast<size_t>(d.g.OC));
    for (int64_t n = 0; n < d.g.N; ++n)
        for (int64_t h = 0; h < d.g.OH; ++h)
            for (int64_t x = 0; x < d.g.OW; ++x)
                for (int64_t o = 0; o < d.g.OC; ++o)
                    per[static_cast<size_t>(o)].push_back(y[static_cast<size_t>(out.offset(n, h, x) + o)]);
    return per;
}

} // namespace

GroupConvCase vary_group_conv_case(const ConvGeom& g, uint64_t seed) {
    std::mt19937_64 r(seed ^ 0x51ED27ull);
    auto coin = [&](int pct) { return static_cast<int>(r() % 100) < pct; };
    static const int kLevels[] = {2, 3, 16, 255, 256};
    GroupConvCase c;
    c.g = g;
    const int m = static_cast<int>(r() % 10);
    c.out = m < 6 ? GroupConvCase::Out::Levels : m < 8 ? GroupConvCase::Out::Threshold : GroupConvCase::Out::Float;
    c.in_levels = coin(60) ? 256 : kLevels[r() % 5];
    c.out_levels = coin(60) ? 256 : kLevels[r() % 5];
    c.per_channel_scale = coin(50);
    c.act_ol = coin(50);
    c.per_oc_out = coin(40);
    c.asym_w = coin(35);
    c.const_ch = coin(15);
    c.bias = coin(80);
    c.relu = coin(25);
    c.clamp = coin(20);
    c.scale_shift = coin(20);
    c.garbage_pad = coin(30);
    c.extra_halo = coin(20) ? 1 : 0;
    c.extra_in_cs = coin(15) ? 16 : 0;
    c.extra_out_cs = coin(15) ? 16 : 0;
    c.split_calls = coin(30);
    c.hostile_mxcsr = coin(20);
    return c;
}

std::string GroupConvCase::str() const {
    std::ostringstream o;
    o << g.str() << " out=" << (out == Out::Levels ? "levels" : out == Out::Threshold ? "threshold" : "float")
      << " La=" << in_levels << " L=" << out_levels << (per_channel_scale ? " pc_scale" : "")
      << (act_ol ? " act_ol" : "") << (per_oc_out ? " per_oc_out" : "") << (asym_w ? " asym_w" : "")
      << (const_ch ? " const_ch" : "") << (bias ? " bias" : "") << (relu ? " relu" : "") << (clamp ? " clamp" : "")
      << (scale_shift ? " scale_shift" : "") << (extreme ? " extreme" : "") << (garbage_pad ? " garbage_pad" : "")
      << " halo+" << extra_halo << " cs+" << extra_in_cs << "/" << extra_out_cs << (split_calls ? " split" : "")
      << (hostile_mxcsr ? " hostile_mxcsr" : "") << (onnx_out ? " onnx_out" : "") << (out_below_zero ? " out_below_zero" : "");
    if (blocking) o << " blocking=" << blocking->pixels << "x" << blocking->oc_vecs;
    o << " isa=" << to_string(isa);
    return o.str();
}

::testing::AssertionResult prepare_group_conv_case(const GroupConvCase& cc, uint64_t base, uint64_t index,
                                                   PreparedWindow* pw_out) {
    const uint64_t seed = case_seed(base, index);
    Rng r(seed);
    pw_out->where = "\n  case " + std::to_string(index) + ": " + cc.str() + "\n  seed: base " + std::to_string(base) +
                    ", case seed " + std::to_string(seed) + "\n  reproduce: " + reproducer(base);
    pw_out->isa = cc.isa;
    pw_out->conv = true;
    pw_out->hostile_mxcsr = cc.hostile_mxcsr;
    auto fail = [&](const std::string& what) { return ::testing::AssertionFailure() << what << pw_out->where; };
    try {
        QConvDesc d = make_group_desc(cc, r);
        const ConvGeom& g = d.g;
        ActLayout in = required_group_conv_input_halo(g);
        in.halo_t += cc.extra_halo, in.halo_l += cc.extra_halo, in.halo_b += cc.extra_halo, in.halo_r += cc.extra_halo;
        in.c_stride += cc.extra_in_cs;
        ActLayout out;
        out.N = g.N, out.H = g.OH, out.W = g.OW, out.C = g.OC;
        out.c_stride = round_up16(g.OC) + cc.extra_out_cs;
        out.halo_t = out.halo_l = out.halo_b = out.halo_r = cc.extra_halo;
        out.elem_bytes = cc.out == GroupConvCase::Out::Float ? 4 : 1;
        std::vector<uint8_t> src;
        fill_input(src, in, cc.in_levels, cc.extreme, cc.garbage_pad, r);

        // Post-ops that depend on y, then the next FakeQuantize fitted to y.
        std::vector<std::vector<float>> y = group_float_outputs(d, src, in);
        auto all_y = [&] {
            std::vector<float> a;
            for (const auto& v : y) a.insert(a.end(), v.begin(), v.end());
            return a;
        };
        if (cc.relu) {
            const float med = percentile(distinct_sorted(all_y()), 0.5);
            d.post.push_back(PostOp{PostOp::Shift, {-med}, 0, 0, "center"});
            d.post.push_back(PostOp{PostOp::Clamp, {}, 0.0f, std::numeric_limits<float>::infinity(), "relu"});
        }
        if (cc.clamp) {
            y = group_float_outputs(d, src, in);
            const std::vector<float> u = distinct_sorted(all_y());
            d.post.push_back(PostOp{PostOp::Clamp, {}, percentile(u, 0.15), percentile(u, 0.85), "clamp"});
        }
        y = group_float_outputs(d, src, in);
        size_t raw_distinct = distinct_sorted(all_y()).size();
        if (cc.per_oc_out && cc.out != GroupConvCase::Out::Float) {
            raw_distinct = 0;
            for (const auto& v : y) raw_distinct = std::max(raw_distinct, distinct_sorted(v).size());
        }
        d.out_levels = cc.out != GroupConvCase::Out::Float;
        if (d.out_levels)
            d.out = fit_next_fq(y, cc.per_oc_out, cc.out == GroupConvCase::Out::Threshold, cc.out_levels, r,
                                cc.out_below_zero);
        if (cc.onnx_out && cc.out == GroupConvCase::Out::Levels) use_onnx_rounding(d.out);

        const QConvConsts c = fold_qconv(d);
        const ConvBlocking blk = cc.blocking ? *cc.blocking : choose_group_conv_blocking(cc.isa, d, c);
        pw_out->weights = pack_group_conv_weights(d, blk);
        pw_out->kernel = emit_group_conv(cc.isa, d, c, in, out, blk);
        pw_out->src = std::move(src);
        pw_out->expected.assign(static_cast<size_t>(out.bytes()), 0xA5);
        ref::qconv(d, c, pw_out->src.data(), in, pw_out->expected.data(), out);
        const int64_t nb = (g.OC + blk.oc_block() - 1) / blk.oc_block();
        pw_out->calls = make_calls(in, out, g.OH, nb, cc.split_calls, r);
        size_t need = 0;
        if (!cc.extreme) {
            const int64_t outputs = g.N * g.OH * g.OW * g.OC;
            need = std::min(raw_distinct, cc.out == GroupConvCase::Out::Threshold || outputs < 64 ? size_t{2}
                                          : cc.out == GroupConvCase::Out::Float
                                              ? size_t{4}
                                              : static_cast<size_t>(std::min(4, cc.out_levels)));
        }
        pw_out->out = out;
        pw_out->OH = g.OH, pw_out->OW = g.OW, pw_out->C = g.OC;
        pw_out->need_distinct = need;
        return ::testing::AssertionSuccess();
    } catch (const std::exception& e) {
        return fail(std::string("exception: ") + e.what());
    }
}

::testing::AssertionResult run_group_conv_case(const GroupConvCase& c, uint64_t base, uint64_t index, std::string* kernel) {
    PreparedWindow p;
    const ::testing::AssertionResult ok = prepare_group_conv_case(c, base, index, &p);
    if (!ok) return ok;
    if (kernel) *kernel = p.kernel->name;
    return run_window_native(p);
}
::testing::AssertionResult check_window_output(const PreparedWindow& p, const std::vector<uint8_t>& got) {
    if (got != p.expected)
        return ::testing::AssertionFailure() << "JIT != Oracle B (" << p.kernel->name
                                             << "): " << describe_mismatch(p.out, got, p.expected) << p.where;
    const size_t distinct = distinct_outputs(p.out, p.out.N, p.OH, p.OW, p.C, p.expected);
    if (distinct < p.need_distinct)
        return ::testing::AssertionFailure() << "degenerate test: only " << distinct << " distinct output values" << p.where;
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult run_window_native(const PreparedWindow& p) {
    if (!host_runs(p.isa)) return ::testing::AssertionSuccess(); // generated and folded, not run
    std::vector<uint8_t> src = p.src, got(p.expected.size(), 0xA5);
    const uint32_t saved = get_mxcsr();
    const uint32_t caller = p.hostile_mxcsr ? kHostileMxcsr : saved;
    uint32_t after = caller;
    set_mxcsr(caller);
    for (const WindowCall& c : p.calls) {
        if (p.conv) {
            ConvArgs a{};
            a.src = src.data() + c.src_off;
            a.dst = got.data() + c.dst_off;
            a.wei = p.weights.data.get();
            a.oh_begin = c.oh_begin, a.oh_end = c.oh_end, a.ocb_begin = c.ocb_begin, a.ocb_end = c.ocb_end;
            p.kernel->call(&a);
        } else {
            PoolArgs a{};
            a.src = src.data() + c.src_off;
            a.dst = got.data() + c.dst_off;
            a.oh_begin = c.oh_begin, a.oh_end = c.oh_end;
            p.kernel->call(&a);
        }
        after = get_mxcsr();
    }
    set_mxcsr(saved);
    if (after != caller) return ::testing::AssertionFailure() << "kernel did not restore the caller's MXCSR" << p.where;
    return check_window_output(p, got);
}

} // namespace qjit::test
