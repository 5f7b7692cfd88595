#include "tests/support/emitter_testing.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>
#include <vector>

#include <xmmintrin.h>

#include "emitters/conv.hpp"
#include "emitters/conv_maddubs.hpp"
#include "emitters/isa_traits.hpp"
#include "isa/isa.hpp"
#include "jit/fq_math.hpp"
#include "jit/requant_fold.hpp"
#include "runtime/qconv_ref.hpp"

namespace qjit::test {

uint64_t base_seed(uint64_t fallback) {
    const char* s = std::getenv("QJIT_TEST_SEED");
    return s && *s ? std::strtoull(s, nullptr, 0) : fallback;
}

uint64_t case_seed(uint64_t base, uint64_t index) { return base * 1000003ull + index; }

std::string reproducer(uint64_t seed) {
    const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string filter = t ? std::string(t->test_suite_name()) + "." + t->name() : "*";
    return "QJIT_TEST_SEED=" + std::to_string(seed) + " <test binary> --gtest_filter='" + filter + "'";
}

uint32_t get_mxcsr() { return _mm_getcsr(); }
void set_mxcsr(uint32_t v) { _mm_setcsr(v); }

ConvGeom with_output(ConvGeom g) {
    g.OH = (g.H + g.PT + g.PB - g.DH * (g.KH - 1) - 1) / g.SH + 1;
    g.OW = (g.W + g.PL + g.PR - g.DW * (g.KW - 1) - 1) / g.SW + 1;
    return g;
}

double covered_fraction(const ConvGeom& g) {
    auto covered = [](int64_t n_out, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in) {
        int64_t n = 0;
        for (int64_t o = 0; o < n_out; ++o)
            for (int64_t t = 0; t < k; ++t) {
                const int64_t pos = o * stride - pad + t * dil;
                if (pos >= 0 && pos < in) {
                    ++n;
                    break;
                }
            }
        return static_cast<double>(n) / static_cast<double>(n_out);
    };
    return covered(g.OH, g.SH, g.PT, g.DH, g.KH, g.H) * covered(g.OW, g.SW, g.PL, g.DW, g.KW, g.W);
}

ConvGeom conv_geom(int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t S, int64_t D,
                   int64_t P) {
    ConvGeom g;
    g.C = C, g.H = H, g.W = W, g.OC = OC, g.KH = KH, g.KW = KW, g.SH = g.SW = S, g.DH = g.DW = D;
    g.PT = g.PL = g.PB = g.PR = P;
    return with_output(g);
}

ConvCase maddubs_plan_case(Isa isa, int v, int shape, uint64_t seed) {
    const int lanes = isa_lanes(isa);
    ConvCase c = vary_conv_case(shape == 0   ? conv_geom(64, 5, 9, 5 * lanes - 3, 3, 3, 1, 1, 1)
                                : shape == 1 ? conv_geom(300, 1, 3, 3 * lanes, 1, 1)
                                             : conv_geom(24, 6, 7, 2 * lanes + 5, 3, 3, 2, 1, 1),
                                seed);
    c.isa = isa;
    c.in_levels = 256;
    c.normal_weights = true;
    c.small_weights = c.extreme = false;
    c.maddubs = true;
    c.blocking = ConvBlocking{12 / v, v, lanes, true, isa};
    return c;
}

ConvCase segment_split_case(int segs, int shape, uint64_t seed) {
    ConvCase c = vary_conv_case(shape == 0   ? conv_geom(37, 5, 7, 21, 3, 3, 1, 1, 1)
                                : shape == 1 ? conv_geom(70, 1, 4, 40, 1, 1)
                                             : conv_geom(11, 6, 6, 9, 3, 3, 2, 1, 1),
                                seed);
    c.segments = segs;
    c.maddubs = false;
    c.asym_w = (segs + shape) % 2 == 0;
    return c;
}

ConvCase vary_conv_case(ConvGeom g, uint64_t seed) {
    std::mt19937_64 r(seed ^ 0x9E3779B97F4A7C15ull);
    auto coin = [&](int pct) { return static_cast<int>(r() % 100) < pct; };
    static const int kLevels[] = {2, 3, 16, 255, 256};
    ConvCase c;
    c.g = g;
    const int m = static_cast<int>(r() % 10);
    c.out = m < 6 ? ConvCase::Out::Levels : m < 8 ? ConvCase::Out::Threshold : ConvCase::Out::Float;
    c.in_levels = coin(60) ? 256 : kLevels[r() % 5];
    c.out_levels = coin(60) ? 256 : kLevels[r() % 5];
    c.per_oc_out = coin(40);
    c.asym_w = coin(40);
    c.const_ch = coin(20);
    c.act_ol = coin(40);
    c.bias = coin(80);
    c.relu = coin(25);
    c.clamp = coin(20);
    c.scale_shift = coin(25);
    c.garbage_pad = coin(30);
    c.extra_halo = coin(20) ? 1 : 0;
    c.extra_in_cs = coin(15) ? 16 : 0;
    c.extra_out_cs = coin(15) ? 16 : 0;
    c.split_calls = coin(30);
    c.hostile_mxcsr = coin(20);
    c.small_weights = coin(30);
    c.maddubs = coin(40);
    return c;
}

std::string ConvCase::str() const {
    std::ostringstream o;
    o << g.str() << " out=" << (out == Out::Levels ? "levels" : out == Out::Threshold ? "threshold" : "float")
      << " La=" << in_levels << " L=" << out_levels << (per_oc_out ? " per_oc_out" : "") << (asym_w ? " asym_w" : "")
      << (const_ch ? " const_ch" : "") << (act_ol ? " act_ol" : "") << (segments > 1 ? " segments=" + std::to_string(segments) : "") << (bias ? " bias" : "") << (relu ? " relu" : "")
      << (out_below_zero ? " out_below_zero" : "") << (clamp ? " clamp" : "") << (scale_shift ? " scale_shift" : "") << (extreme ? " extreme" : "")
      << (small_weights ? " small_weights" : "") << (normal_weights ? " normal_weights" : "") << (maddubs ? " maddubs" : "") << (garbage_pad ? " garbage_pad" : "") << " halo+" << extra_halo << " cs+" << extra_in_cs << "/" << extra_out_cs
      << (split_calls ? " split" : "") << (hostile_mxcsr ? " hostile_mxcsr" : "") << " isa=" << to_string(isa);
    if (blocking) o << " blocking=" << blocking->pixels << "x" << blocking->oc_vecs;
    return o.str();
}

namespace {

using Rng = std::mt19937_64;

double uni(Rng& r, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(r); }
int64_t uni_int(Rng& r, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(r); }

float percentile(std::vector<float> v, double p) {
    if (v.empty()) return 0.0f;
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    return v[i];
}

QConvDesc make_base_desc(const ConvCase& cc, Rng& r) {
    QConvDesc d;
    d.g = with_output(cc.g);
    const ConvGeom& g = d.g;
    d.fused_nodes = {"test_conv"};
    // Input FQ: per-tensor step R/(L-1) with dyadic R and dyadic per-channel ol, so that every
    // oh[c] - ol[c] is exactly R (fold_qconv requires one s_a).
    const int e = static_cast<int>(uni_int(r, 3, 7));
    const int64_t m = uni_int(r, 64, 1024);
    const float R = std::ldexp(static_cast<float>(m), -e);
    d.in.levels = cc.in_levels;
    if (cc.segments > 1) {
        // Segment split (spec §8.2): runs of channels with their own dyadic range R_i (random
        // boundaries, at least one channel each), ol per channel when act_ol.
        std::vector<int64_t> cut{0, g.C};
        while (static_cast<int>(cut.size()) - 1 < std::min<int64_t>(cc.segments, g.C)) {
            const int64_t c = uni_int(r, 1, g.C - 1);
            if (std::find(cut.begin(), cut.end(), c) == cut.end()) cut.push_back(c);
        }
        std::sort(cut.begin(), cut.end());
        d.in.channels = g.C;
        for (size_t i = 0; i + 1 < cut.size(); ++i) {
            const float Ri = std::ldexp(static_cast<float>(uni_int(r, 64, 1024)), -e);
            for (int64_t c = cut[i]; c < cut[i + 1]; ++c) {
                const float ol = cc.act_ol ? std::ldexp(static_cast<float>(uni_int(r, -2 * m, m / 2)), -e) : 0.0f;
                d.in.ol.v.push_back(ol);
                d.in.oh.v.push_back(ol + Ri);
            }
        }
    } else if (cc.act_ol) {
        d.in.channels = g.C;
        for (int64_t c = 0; c < g.C; ++c) {
            const float ol = std::ldexp(static_cast<float>(uni_int(r, -2 * m, m / 2)), -e);
            d.in.ol.v.push_back(ol);
            d.in.oh.v.push_back(ol + R);
        }
    } else {
        d.in.ol.v = {0.0f};
        d.in.oh.v = {R};
    }
    d.in.il = d.in.ol;
    d.in.ih = d.in.oh;

    // Weights.
    const int64_t kk = g.C * g.KH * g.KW;
    QuantWeights& w = d.w;
    w.levels = 256;
    w.q.resize(static_cast<size_t>(g.OC * kk));
    for (auto& q : w.q) {
        if (cc.extreme) {
            static const int8_t ext[] = {-128, -127, 127};
            q = ext[uni_int(r, 0, 2)];
        } else if (cc.normal_weights) {
            q = 0; // drawn per output channel below
        } else if (cc.small_weights) {
            const int64_t k = uni_int(r, 0, 299);
            q = static_cast<int8_t>(k == 0 ? 127 : k == 1 ? -128 : uni_int(r, -60, 60));
        } else {
            const int64_t k = uni_int(r, 0, 9);
            q = static_cast<int8_t>(k < 6 ? uni_int(r, -128, 127) : k < 9 ? uni_int(r, -9, 9) : (k % 2 ? 127 : -128));
        }
    }
    if (cc.normal_weights) {
        std::normal_distribution<double> nd(0.0, 1.0);
        std::vector<double> f(static_cast<size_t>(kk));
        for (int64_t o = 0; o < g.OC; ++o) {
            double amax = 1e-9;
            for (double& x : f) amax = std::max(amax, std::abs(x = nd(r)));
            for (int64_t i = 0; i < kk; ++i) {
                const bool zero_quad = (i / (g.KH * g.KW) / 4) % 7 == 3;
                w.q[static_cast<size_t>(o * kk + i)] = static_cast<int8_t>(zero_quad ? 0 : std::nearbyint(f[static_cast<size_t>(i)] / amax * 127.0));
            }
        }
    }
    for (int64_t o = 0; o < g.OC; ++o) {
        w.s_w.push_back(uni(r, 0.002, 0.03));
        const bool asym = cc.asym_w && o % 3 != 0;
        w.z_w.push_back(asym ? uni(r, -40.0, 40.0) : 0.0);
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
            const size_t j = static_cast<size_t>(o * kk + i);
            const size_t ou = static_cast<size_t>(o);
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
        if (s.size() > 4) s[4] = 0.0f; // a zero multiplier
        d.post.push_back(PostOp{PostOp::Scale, s, 0, 0, "mul"});
        d.post.push_back(PostOp{PostOp::Shift, per_oc(-1.0, 1.0), 0, 0, "add"});
    }
    return d;
}

struct Buffers {
    ActLayout in, out;
    std::vector<uint8_t> src;
};

Buffers make_buffers(const ConvCase& cc, const QConvDesc& d, Rng& r) {
    const ConvGeom& g = d.g;
    Buffers b;
    b.in = required_input_halo(g);
    b.in.halo_t += cc.extra_halo;
    b.in.halo_l += cc.extra_halo;
    b.in.halo_b += cc.extra_halo;
    b.in.halo_r += cc.extra_halo;
    b.in.c_stride += cc.extra_in_cs;
    b.out.N = g.N;
    b.out.H = g.OH;
    b.out.W = g.OW;
    b.out.C = g.OC;
    b.out.c_stride = round_up16(g.OC) + cc.extra_out_cs;
    b.out.halo_t = b.out.halo_l = b.out.halo_b = b.out.halo_r = cc.extra_halo;
    b.out.elem_bytes = cc.out == ConvCase::Out::Float ? 4 : 1;
    b.src.assign(static_cast<size_t>(b.in.bytes()), 0);
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t h = 0; h < g.H; ++h)
            for (int64_t x = 0; x < g.W; ++x) {
                uint8_t* px = &b.src[static_cast<size_t>(b.in.offset(n, h, x))];
                for (int64_t c = 0; c < b.in.c_stride; ++c) {
                    if (c < g.C)
                        px[c] = static_cast<uint8_t>(cc.extreme ? cc.in_levels - 1 : uni_int(r, 0, cc.in_levels - 1));
                    else if (cc.garbage_pad)
                        px[c] = static_cast<uint8_t>(uni_int(r, 1, 255));
                }
            }
    return b;
}

// The fp32 values y of every real output (Float mode of the same desc).
std::vector<std::vector<float>> float_outputs(const QConvDesc& d, const Buffers& b) {
    QConvDesc f = d;
    f.out_levels = false;
    const QConvConsts c = fold_qconv(f);
    ActLayout out = b.out;
    out.elem_bytes = 4;
    std::vector<float> y(static_cast<size_t>(out.elements()));
    ref::qconv(f, c, b.src.data(), b.in, y.data(), out);
    std::vector<std::vector<float>> per_oc(static_cast<size_t>(d.g.OC));
    for (int64_t n = 0; n < d.g.N; ++n)
        for (int64_t h = 0; h < d.g.OH; ++h)
            for (int64_t x = 0; x < d.g.OW; ++x)
                for (int64_t o = 0; o < d.g.OC; ++o)
                    per_oc[static_cast<size_t>(o)].push_back(y[static_cast<size_t>(out.offset(n, h, x) + o)]);
    return per_oc;
}

// The values strictly inside (min, max) when there are enough of them: the ReLU zeros and the clamp
// bounds are atoms that would otherwise pull both ends of the next FQ range onto one value.
std::vector<float> trim_atoms(const std::vector<float>& v) {
    if (v.empty()) return v;
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    std::vector<float> t;
    for (float x : v)
        if (x > *lo && x < *hi) t.push_back(x);
    return t.size() >= 8 ? t : v;
}

// Sets the clamp and the next FakeQuantize from the distribution of y, so that outputs spread over
// the levels (and the fp32 clamp at 0 / L-1 and the integer bounds are exercised).
// Returns how many distinct y values (after the ReLU/Clamp) the data offers to the next
// FakeQuantize: over the whole output (per-tensor FQ) or the most within one channel (per-channel
// FQ). Few when the geometry leaves outputs without valid taps or the inputs have few levels.
size_t finish_desc(const ConvCase& cc, QConvDesc& d, const Buffers& b, Rng& r) {
    std::vector<std::vector<float>> y = float_outputs(d, b);
    std::vector<float> all;
    for (const auto& v : y) all.insert(all.end(), v.begin(), v.end());
    // Percentiles over the distinct values: outputs without valid taps (large pads) form atoms that
    // would otherwise swallow the ReLU center and the clamp bounds.
    auto distinct_pct = [&](double p) {
        const std::set<float> u(all.begin(), all.end());
        return percentile(std::vector<float>(u.begin(), u.end()), p);
    };
    if (cc.relu) { // center y first, so that the ReLU keeps about half of the outputs
        const float med = distinct_pct(0.5);
        d.post.push_back(PostOp{PostOp::Shift, {-med}, 0, 0, "center"});
        d.post.push_back(PostOp{PostOp::Clamp, {}, 0.0f, std::numeric_limits<float>::infinity(), "relu"});
        for (auto& v : y)
            for (float& x : v) x = std::max(x - med, 0.0f);
        for (float& x : all) x = std::max(x - med, 0.0f);
    }
    if (cc.clamp) {
        const float lo = distinct_pct(0.15), hi = distinct_pct(0.85);
        d.post.push_back(PostOp{PostOp::Clamp, {}, lo, hi, "clamp"});
        for (auto& v : y)
            for (float& x : v) x = std::min(std::max(x, lo), hi);
        for (float& x : all) x = std::min(std::max(x, lo), hi);
    }
    size_t raw_distinct = std::set<float>(all.begin(), all.end()).size();
    if (cc.per_oc_out && cc.out != ConvCase::Out::Float) {
        raw_distinct = 0;
        for (const auto& v : y) raw_distinct = std::max(raw_distinct, std::set<float>(v.begin(), v.end()).size());
    }
    if (cc.out == ConvCase::Out::Float) {
        d.out_levels = false;
        return raw_distinct;
    }
    d.out_levels = true;
    d.out.levels = cc.out_levels;
    const int64_t n_ch = cc.per_oc_out ? d.g.OC : 1;
    d.out.channels = n_ch;
    for (int64_t o = 0; o < n_ch; ++o) {
        // Per channel: the channel's own values; per tensor: all of them.
        const std::vector<float>& own = cc.per_oc_out ? y[static_cast<size_t>(o)] : all;
        const std::vector<float> v = trim_atoms(own);
        float il, ih;
        if (cc.out == ConvCase::Out::Threshold) {
            // Between the two middle distinct values: some outputs above it and some not.
            const std::set<float> u(v.begin(), v.end());
            const std::vector<float> uv(u.begin(), u.end());
            const size_t m = std::min(uv.size() - 1, std::max<size_t>(1, uv.size() / 2));
            il = ih = uv.size() < 2 ? uv[0] : uv[m - 1] + (uv[m] - uv[m - 1]) * 0.5f;
        } else {
            // The widest central range whose levels (predicted from y) still spread out: a skewed
            // distribution at small L would otherwise put nearly everything in one level. Few
            // distinct values (or no range that spreads them): their full range.
            const std::set<float> u(own.begin(), own.end());
            const size_t want = std::min<size_t>({4, static_cast<size_t>(cc.out_levels), u.size()});
            bool spread = false;
            for (double p : {0.04, 0.15, 0.3, 0.45}) {
                if (u.size() <= 8 || v.size() < 16) break;
                il = percentile(v, p);
                ih = percentile(v, 1.0 - p);
                std::set<int> k;
                for (float x : own) k.insert(fq::level_index(x, il, ih, cc.out_levels));
                if ((spread = k.size() >= want)) break;
            }
            if (!spread) {
                il = *u.begin();
                ih = *u.rbegin();
            }
        }
        if (cc.out != ConvCase::Out::Threshold) {
            const float span = std::max(1e-3f, 0.05f * std::max(std::fabs(il), std::fabs(ih)));
            if (!(ih - il > span)) ih = il + span;
        }
        if (cc.out_below_zero && cc.out == ConvCase::Out::Levels) il = std::min(il, -0.25f * (ih - il) - 1e-3f);
        float ol = static_cast<float>(uni(r, -1.0, 0.0));
        float oh = ol + static_cast<float>(uni(r, 0.5, 2.0));
        if (cc.per_oc_out && d.g.OC >= 3 && o == d.g.OC / 2) oh = ol; // a constant output channel
        d.out.il.v.push_back(il);
        d.out.ih.v.push_back(ih);
        d.out.ol.v.push_back(ol);
        d.out.oh.v.push_back(oh);
    }
    return raw_distinct;
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

} // namespace

std::string PreparedConv::where() const {
    return "\n  case " + std::to_string(index) + ": " + cc.str() + "\n  seed: base " + std::to_string(base) +
           ", case seed " + std::to_string(seed) + "\n  reproduce: " + reproducer(base);
}

::testing::AssertionResult prepare_conv_case(const ConvCase& cc, uint64_t base, uint64_t index, PreparedConv* pc) {
    PreparedConv& p = *pc;
    p.cc = cc;
    p.base = base;
    p.index = index;
    p.seed = case_seed(base, index);
    Rng r(p.seed);
    try {
        QConvDesc& d = p.d;
        d = make_base_desc(cc, r);
        Buffers b = make_buffers(cc, d, r);
        p.raw_distinct = finish_desc(cc, d, b, r);
        const QConvConsts c = fold_qconv(d);
        const bool vnni = cc.isa == Isa::avx2_vnni || cc.isa == Isa::avx512_core_vnni;
        ConvBlocking blk = cc.blocking ? *cc.blocking : choose_conv_blocking(cc.isa, d, c);
        blk.isa = cc.isa;
        blk.lanes = isa_lanes(cc.isa);
        if (cc.maddubs) blk.maddubs = true;
        if (vnni) blk.maddubs = false;
        while (!conv_blocking_fits(blk) && blk.pixels > 1) --blk.pixels;
        while (!conv_blocking_fits(blk) && blk.oc_vecs > 1) --blk.oc_vecs;
        p.blocking = blk;
        p.weights = pack_conv_weights(d, blk);
        p.kernel = emit_conv(d, c, b.in, b.out, blk);
        const ConvMaddubsGroups mg = conv_maddubs_groups(d, blk);
        p.fast_groups = blk.maddubs ? mg.fast : 0;
        p.total_groups = mg.total;
        if (blk.maddubs && !vnni) {
            const MaddubsPlan plan = plan_maddubs(d, maddubs_safety(d, blk.lanes), blk.oc_vecs, blk.lanes);
            for (const auto& units : plan.blocks)
                for (const MaddubsUnit& u : units) {
                    const unsigned all = (1u << blk.oc_vecs) - 1;
                    if (u.mask == 0) ++p.exact_units;
                    else ++p.perm_units[u.perm];
                    if (u.mask != 0 && u.mask != all) ++p.mixed_units;
                }
        }
        p.in = b.in;
        p.out = b.out;
        p.src = std::move(b.src);
        p.expected.assign(static_cast<size_t>(p.out.bytes()), 0xA5);
        ref::qconv(d, c, p.src.data(), p.in, p.expected.data(), p.out);

        const int64_t nb = conv_oc_blocks(p.out, blk);
        std::vector<std::pair<int64_t, int64_t>> rows{{0, d.g.OH}}, blocks{{0, nb}};
        if (cc.split_calls) {
            rows.clear();
            blocks.clear();
            for (int64_t h = 0; h < d.g.OH;) {
                const int64_t e = std::min(d.g.OH, h + uni_int(r, 1, 3));
                rows.emplace_back(h, e);
                h = e;
            }
            for (int64_t o = 0; o < nb;) {
                const int64_t e = std::min(nb, o + uni_int(r, 1, 2));
                blocks.emplace_back(o, e);
                o = e;
            }
        }
        for (int64_t n = 0; n < d.g.N; ++n)
            for (const auto& rr : rows)
                for (const auto& bb : blocks)
                    p.calls.push_back(ConvCall{p.in.offset(n, 0, 0), p.out.offset(n, 0, 0) * p.out.elem_bytes, rr.first,
                                               rr.second, bb.first, bb.second});
        return ::testing::AssertionSuccess();
    } catch (const std::exception& e) {
        return ::testing::AssertionFailure() << "exception: " << e.what() << p.where();
    }
}

::testing::AssertionResult run_conv_native(const PreparedConv& p, std::vector<uint8_t>* out) {
    std::vector<uint8_t>& jit_out = *out;
    jit_out.assign(static_cast<size_t>(p.out.bytes()), 0xA5);
    const uint32_t saved = get_mxcsr();
    const uint32_t caller = p.cc.hostile_mxcsr ? kHostileMxcsr : saved;
    uint32_t after = caller;
    set_mxcsr(caller);
    for (const ConvCall& call : p.calls) {
        ConvArgs a{};
        a.src = p.src.data() + call.src_off;
        a.dst = jit_out.data() + call.dst_off;
        a.wei = p.weights.data.get();
        a.oh_begin = call.oh_begin;
        a.oh_end = call.oh_end;
        a.ocb_begin = call.ocb_begin;
        a.ocb_end = call.ocb_end;
        p.kernel->call(&a);
        after = get_mxcsr();
    }
    set_mxcsr(saved);
    if (after != caller) return ::testing::AssertionFailure() << "kernel did not restore the caller's MXCSR" << p.where();
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult check_conv_output(const PreparedConv& p, const std::vector<uint8_t>& jit_out) {
    const ConvCase& cc = p.cc;
    const QConvDesc& d = p.d;
    const std::vector<uint8_t>& ref_out = p.expected;
    if (jit_out != ref_out)
        return ::testing::AssertionFailure() << "JIT != Oracle B (" << p.kernel->name
                                             << "): " << describe_mismatch(p.out, jit_out, ref_out) << p.where();
    // A test whose output is (nearly) one value proves little: the ranges above are drawn so that
    // outputs spread; only random data is checked, and only if the conv itself yields distinct y.
    if (!cc.extreme) {
        std::set<uint32_t> distinct;
        for (int64_t n = 0; n < d.g.N; ++n)
            for (int64_t h = 0; h < d.g.OH; ++h)
                for (int64_t x = 0; x < d.g.OW; ++x)
                    for (int64_t o = 0; o < d.g.OC; ++o) {
                        const size_t i = static_cast<size_t>((p.out.offset(n, h, x) + o) * p.out.elem_bytes);
                        uint32_t v = 0;
                        std::memcpy(&v, &ref_out[i], static_cast<size_t>(p.out.elem_bytes));
                        distinct.insert(v);
                    }
        const int64_t outputs = d.g.N * d.g.OH * d.g.OW * d.g.OC;
        // Small outputs, and ReLU + Clamp (atoms at both ends by design), need two values only.
        const bool small = outputs < 128 || (cc.relu && cc.clamp);
        const size_t need = cc.out == ConvCase::Out::Threshold || small ? 2
                            : cc.out == ConvCase::Out::Float ? 4
                                                             : static_cast<size_t>(std::min(4, cc.out_levels));
        if (distinct.size() < std::min(need, p.raw_distinct))
            return ::testing::AssertionFailure()
                   << "degenerate test: only " << distinct.size() << " distinct output values" << p.where();
    }
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult run_conv_case(const ConvCase& cc, uint64_t base, uint64_t index, ConvRunInfo* info) {
    PreparedConv p;
    if (auto r = prepare_conv_case(cc, base, index, &p); !r) return r;
    if (info) {
        info->kernel = p.kernel->name;
        info->fast_groups = p.fast_groups;
        info->total_groups = p.total_groups;
        for (int i = 0; i < 3; ++i) info->perm_units[i] = p.perm_units[i];
        info->mixed_units = p.mixed_units;
        info->exact_units = p.exact_units;
        info->ran = false;
    }
    if (!host_runs(cc.isa)) return ::testing::AssertionSuccess();
    std::vector<uint8_t> got;
    if (auto r = run_conv_native(p, &got); !r) return r;
    if (info) info->ran = true;
    return check_conv_output(p, got);
}

const std::vector<Isa>& test_isas() { return all_isas(); }
bool host_runs(Isa isa) {
    if (!isa_supported(isa)) return false;
    // QJIT_MAX_ISA also caps the native runs, so a capable host can rehearse a smaller one's skips.
    const char* cap = std::getenv("QJIT_MAX_ISA");
    const std::optional<Isa> c = cap && *cap ? parse_isa(cap) : std::nullopt;
    return !c || *c == Isa::native || isa_includes(*c, isa);
}
std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) { return to_string(info.param); }

} // namespace qjit::test
