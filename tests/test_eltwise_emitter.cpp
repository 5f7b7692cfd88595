// QEltwise and Concat-copy AVX2 emitters vs Oracle B's scalar definition (ref::qeltwise, i.e.
// eltwise_scalar of jit/eltwise_fold) at tolerance 0 over the whole output buffer (stray writes into
// halos or beyond round_up(C, 8) are caught too): every channel tail 1..33 and the channel loop
// (C > 64), numpy broadcast of either input along pixels / channels / images, per-tensor and
// per-channel params (negative and zero steps) on each side, x + x and x * x, Relu / Clamp /
// ScaleShift with negative and zero multipliers, u8 / threshold / f32 outputs, halos, padded
// c_stride with garbage, split calls and a hostile caller MXCSR.
// Reproduce a failure with the printed line: QJIT_TEST_SEED=<base> <binary> --gtest_filter=<test>.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "emitters/eltwise_avx2.hpp"
#include "jit/eltwise_fold.hpp"
#include "jit/fq_math.hpp"
#include "runtime/qeltwise_ref.hpp"
#include "emitters/generator.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

using Rng = std::mt19937_64;
using Kind = QEltwiseDesc::Kind;

double uni(Rng& r, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(r); }
int64_t uni_int(Rng& r, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(r); }

// Broadcast of the inputs (equal ranks; the output is N x C x H x W).
enum class Bcast {
    None,     // both inputs full
    Pixel1,   // input 1 is [N, C, 1, 1]
    Channel1, // input 1 is [N, 1, H, W] (one level per pixel for every channel)
    Scalar1,  // input 1 is [1, 1, 1, 1]
    Image1,   // input 1 is [1, C, H, W] (N > 1)
    Row1,     // input 1 is [N, C, 1, W]
    Both,     // input 0 is [N, C, 1, 1], input 1 is [N, 1, H, W]
};
const char* to_string(Bcast b) {
    static const char* const n[] = {"none", "pixel1", "channel1", "scalar1", "image1", "row1", "both"};
    return n[static_cast<int>(b)];
}

struct EltCase {
    Kind kind = Kind::Add;
    int64_t N = 1, H = 3, W = 5, C = 8;
    Bcast bcast = Bcast::None;
    bool pc0 = false, pc1 = false; // per-channel params on input 0 / 1
    bool same = false;             // x op x: one tensor on both sides
    bool relu = false, clamp = false, scale_shift = false;
    enum class Out { Levels, Threshold, Float } out = Out::Levels;
    bool per_ch_out = false;
    int L0 = 256, L1 = 256, Lout = 256;
    int64_t halo = 0, extra_cs = 0;
    bool garbage_pad = false, split = false, hostile = false;
    std::string str() const {
        std::ostringstream o;
        o << (kind == Kind::Add ? "add" : kind == Kind::Mul ? "mul" : "affine") << " N" << N << "H" << H << "W" << W
          << "C" << C << " bcast=" << to_string(bcast) << (pc0 ? " pc0" : "") << (pc1 ? " pc1" : "")
          << (same ? " same" : "") << (relu ? " relu" : "") << (clamp ? " clamp" : "")
          << (scale_shift ? " scale_shift" : "")
          << " out=" << (out == Out::Levels ? "levels" : out == Out::Threshold ? "threshold" : "float")
          << (per_ch_out ? " per_ch_out" : "") << " L=" << L0 << "/" << L1 << "/" << Lout << " halo" << halo << " cs+"
          << extra_cs << (garbage_pad ? " garbage_pad" : "") << (split ? " split" : "") << (hostile ? " hostile_mxcsr" : "");
        return o.str();
    }
};

// A random dequantization for `C` channels: steps of either sign, some channels with ol == oh.
ActQuant random_act(Rng& r, int64_t C, bool per_channel, int L) {
    ActQuant a;
    a.levels = L;
    const int64_t n = per_channel ? C : 1;
    a.channels = per_channel ? C : 1;
    for (int64_t c = 0; c < n; ++c) {
        const int kind = static_cast<int>(uni_int(r, 0, 9));
        float ol, oh;
        if (kind == 0) { // power-of-two grid from 0 (exact ties downstream)
            ol = 0.0f;
            oh = std::ldexp(static_cast<float>(L - 1), static_cast<int>(uni_int(r, -9, -5)));
        } else if (kind == 1) {
            ol = -1.28f, oh = 1.27f;
        } else if (kind == 2 && per_channel && C >= 3) { // constant input channel
            ol = oh = static_cast<float>(uni(r, -1, 1));
        } else if (kind == 3) { // negative step
            oh = static_cast<float>(uni(r, -2, 0));
            ol = oh + static_cast<float>(uni(r, 0.5, 3));
        } else {
            ol = static_cast<float>(uni(r, -2, 1));
            oh = ol + static_cast<float>(uni(r, 0.25, 4));
        }
        a.ol.v.push_back(ol);
        a.oh.v.push_back(oh);
    }
    a.il = a.ol;
    a.ih = a.oh;
    return a;
}

struct Operand {
    BroadcastOperand b;
    std::vector<uint8_t> buf;
};

Operand make_operand(const EltCase& ec, Rng& r, bool bn, bool bh, bool bw, bool bc, int L) {
    Operand o;
    ActLayout& l = o.b.l;
    l.N = bn ? 1 : ec.N, l.H = bh ? 1 : ec.H, l.W = bw ? 1 : ec.W, l.C = bc ? 1 : ec.C;
    l.c_stride = round_up16(l.C) + ec.extra_cs;
    l.halo_t = l.halo_l = l.halo_b = l.halo_r = ec.halo;
    o.b.bc_n = bn && ec.N > 1, o.b.bc_h = bh && ec.H > 1, o.b.bc_w = bw && ec.W > 1, o.b.bc_c = bc && ec.C > 1;
    o.buf.assign(static_cast<size_t>(l.bytes()), 0);
    for (size_t i = 0; i < o.buf.size(); ++i)
        if (ec.garbage_pad) o.buf[i] = static_cast<uint8_t>(uni_int(r, 0, 255)); // halo and padding
    for (int64_t n = 0; n < l.N; ++n)
        for (int64_t h = 0; h < l.H; ++h)
            for (int64_t w = 0; w < l.W; ++w)
                for (int64_t c = 0; c < l.C; ++c)
                    o.buf[static_cast<size_t>(l.offset(n, h, w) + c)] = static_cast<uint8_t>(uni_int(r, 0, L - 1));
    return o;
}

float percentile(std::vector<float> v, double p) {
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    return v[i];
}

struct EltSetup {
    QEltwiseDesc d;
    Operand in0, in1;
    ActLayout out;
    size_t raw_distinct = 0; // distinct y the data offers the next FQ (over all, or the most in one channel)
};

// Output values y (Float mode of the desc as it stands), per channel.
std::vector<std::vector<float>> float_outputs(const EltSetup& s) {
    QEltwiseDesc f = s.d;
    f.out_levels = false;
    const EltwiseConsts c = fold_eltwise(f);
    ActLayout out = s.out;
    out.elem_bytes = 4;
    std::vector<float> y(static_cast<size_t>(out.elements()));
    const bool binary = s.d.kind != Kind::Affine;
    ref::qeltwise(c, s.in0.buf.data(), s.in0.b, binary ? s.in1.buf.data() : nullptr, binary ? &s.in1.b : nullptr,
                  y.data(), out);
    std::vector<std::vector<float>> per(static_cast<size_t>(s.d.channels));
    for (int64_t n = 0; n < out.N; ++n)
        for (int64_t h = 0; h < out.H; ++h)
            for (int64_t w = 0; w < out.W; ++w)
                for (int64_t ch = 0; ch < out.C; ++ch)
                    per[static_cast<size_t>(ch)].push_back(y[static_cast<size_t>(out.offset(n, h, w) + ch)]);
    return per;
}

std::vector<float> flat(const std::vector<std::vector<float>>& v) {
    std::vector<float> a;
    for (const auto& x : v) a.insert(a.end(), x.begin(), x.end());
    return a;
}

EltSetup make_setup(const EltCase& ec, Rng& r) {
    EltSetup s;
    QEltwiseDesc& d = s.d;
    d.kind = ec.kind;
    d.channels = ec.C;
    d.fused_nodes = {"test_eltwise"};
    const bool binary = ec.kind != Kind::Affine;
    bool b0[4] = {false, false, false, false}, b1[4] = {false, false, false, false}; // n, h, w, c
    switch (ec.bcast) {
    case Bcast::None: break;
    case Bcast::Pixel1: b1[1] = b1[2] = true; break;
    case Bcast::Channel1: b1[3] = true; break;
    case Bcast::Scalar1: b1[0] = b1[1] = b1[2] = b1[3] = true; break;
    case Bcast::Image1: b1[0] = true; break;
    case Bcast::Row1: b1[1] = true; break;
    case Bcast::Both: b0[1] = b0[2] = true, b1[3] = true; break;
    }
    const bool pc0 = ec.pc0 && !b0[3], pc1 = ec.pc1 && !b1[3];
    d.in0 = random_act(r, ec.C, pc0, ec.L0);
    s.in0 = make_operand(ec, r, b0[0], b0[1], b0[2], b0[3], ec.L0);
    if (binary) {
        if (ec.same) {
            d.in1 = d.in0;
            s.in1 = s.in0;
        } else {
            d.in1 = random_act(r, ec.C, pc1, ec.L1);
            s.in1 = make_operand(ec, r, b1[0], b1[1], b1[2], b1[3], ec.L1);
        }
    }
    ActLayout& out = s.out;
    out.N = ec.N, out.H = ec.H, out.W = ec.W, out.C = ec.C;
    out.c_stride = round_up16(ec.C) + ec.extra_cs;
    out.halo_t = out.halo_l = out.halo_b = out.halo_r = ec.halo;
    out.elem_bytes = ec.out == EltCase::Out::Float ? 4 : 1;

    auto per_ch = [&](double lo, double hi) {
        std::vector<float> v;
        for (int64_t c = 0; c < ec.C; ++c) v.push_back(static_cast<float>(uni(r, lo, hi)));
        return v;
    };
    if (ec.scale_shift) {
        std::vector<float> sc = per_ch(0.25, 2.0);
        for (size_t c = 0; c < sc.size(); ++c)
            if (c % 3 == 1) sc[c] = -sc[c]; // negative multipliers
        if (sc.size() > 4) sc[4] = 0.0f;    // a zero multiplier: a constant channel
        if (sc.size() == 1 && uni_int(r, 0, 2) == 0) sc[0] = -sc[0];
        d.post.push_back(PostOp{PostOp::Scale, sc, 0, 0, "mul"});
        d.post.push_back(PostOp{PostOp::Shift, per_ch(-1.0, 1.0), 0, 0, "add"});
    }
    std::vector<std::vector<float>> y = float_outputs(s);
    auto distinct_pct = [&](double p) { // over the distinct values, index floor(p * (n - 1))
        const std::vector<float> a = flat(y);
        const std::set<float> u(a.begin(), a.end());
        const std::vector<float> v(u.begin(), u.end());
        return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
    };
    if (ec.relu) { // center first, so that the ReLU keeps about half
        const float med = distinct_pct(0.5);
        d.post.push_back(PostOp{PostOp::Shift, {-med}, 0, 0, "center"});
        d.post.push_back(PostOp{PostOp::Clamp, {}, 0.0f, std::numeric_limits<float>::infinity(), "relu"});
        y = float_outputs(s);
    }
    if (ec.clamp) {
        const float lo = distinct_pct(0.2), hi = distinct_pct(0.8);
        d.post.push_back(PostOp{PostOp::Clamp, {}, lo, std::max(lo, hi), "clamp"});
        y = float_outputs(s);
    }
    const int64_t const_ch = ec.per_ch_out && ec.C >= 3 ? ec.C / 2 : -1; // a constant output channel
    if (ec.out == EltCase::Out::Float) {
        const std::vector<float> a = flat(y);
        s.raw_distinct = std::set<float>(a.begin(), a.end()).size();
        d.out_levels = false;
        return s;
    }
    d.out_levels = true;
    d.out.levels = ec.Lout;
    const int64_t n_ch = ec.per_ch_out ? ec.C : 1;
    d.out.channels = n_ch;
    for (int64_t c = 0; c < n_ch; ++c) {
        const std::vector<float> own = ec.per_ch_out ? y[static_cast<size_t>(c)] : flat(y);
        const std::set<float> u(own.begin(), own.end());
        const std::vector<float> uv(u.begin(), u.end());
        float il, ih;
        if (ec.out == EltCase::Out::Threshold) {
            const size_t m = std::min(uv.size() - 1, std::max<size_t>(1, uv.size() / 2));
            il = ih = uv.size() < 2 ? uv[0] : uv[m - 1] + (uv[m] - uv[m - 1]) * 0.5f;
        } else {
            // The widest central range whose predicted levels still spread out (a skewed
            // distribution at small L would otherwise put nearly everything in one level).
            const size_t want = std::min<size_t>({4, static_cast<size_t>(ec.Lout), uv.size()});
            for (double p : {0.04, 0.15, 0.3, 0.45}) {
                il = percentile(own, p);
                ih = percentile(own, 1.0 - p);
                if (!(ih - il > 1e-3f)) ih = il + 1e-3f + 0.05f * std::fabs(il);
                std::set<int> k;
                for (float x : own) k.insert(fq::level_index(x, il, ih, ec.Lout));
                if (k.size() >= want) break;
            }
        }
        float ol = static_cast<float>(uni(r, -1.0, 0.0));
        float oh = ol + static_cast<float>(uni(r, 0.5, 2.0));
        if (c == const_ch) oh = ol;
        d.out.il.v.push_back(il);
        d.out.ih.v.push_back(ih);
        d.out.ol.v.push_back(ol);
        d.out.oh.v.push_back(oh);
    }
    // Distinct outputs the chosen FakeQuantize gives the exact y over the non-constant channels:
    // what the kernel's output must show at least (up to 4).
    std::set<int> k;
    for (int64_t c = 0; c < ec.C; ++c) {
        if (c == const_ch) continue;
        const size_t q = static_cast<size_t>(ec.per_ch_out ? c : 0);
        for (float x : y[static_cast<size_t>(c)])
            k.insert(ec.out == EltCase::Out::Threshold ? (x > d.out.il.v[q] ? ec.Lout - 1 : 0)
                                                       : fq::level_index(x, d.out.il.v[q], d.out.ih.v[q], ec.Lout));
    }
    s.raw_distinct = k.size();
    return s;
}

std::string first_mismatch(const ActLayout& l, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    size_t first = a.size(), count = 0;
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i] && count++ == 0) first = i;
    const int64_t e = static_cast<int64_t>(first) / l.elem_bytes;
    const int64_t n = e / l.image_stride(), rem = e % l.image_stride();
    std::ostringstream o;
    o << count << " differing bytes; first at n=" << n << " h=" << rem / l.row_stride() - l.halo_t
      << " w=" << (rem % l.row_stride()) / l.c_stride - l.halo_l << " ch=" << rem % l.c_stride << ": jit ";
    if (l.elem_bytes == 4) {
        float x, y;
        std::memcpy(&x, &a[static_cast<size_t>(e * 4)], 4);
        std::memcpy(&y, &b[static_cast<size_t>(e * 4)], 4);
        o << x << " ref " << y;
    } else {
        o << int(a[first]) << " ref " << int(b[first]);
    }
    return o.str();
}

// Runs one case. A case whose data gives the next FakeQuantize a single value proves little: it
// fails, unless `redraw` is given, where it is skipped and *redraw set (random sweeps draw another).
::testing::AssertionResult run_case(const EltCase& ec, uint64_t base, uint64_t index, std::string* kernel = nullptr,
                                    bool* redraw = nullptr) {
    const uint64_t seed = case_seed(base, index);
    Rng r(seed);
    auto fail = [&](const std::string& what) {
        return ::testing::AssertionFailure() << what << "\n  case " << index << ": " << ec.str() << "\n  seed: base "
                                             << base << ", case seed " << seed << "\n  reproduce: " << reproducer(base);
    };
    try {
        const EltSetup s = make_setup(ec, r);
        const int64_t outputs = ec.N * ec.H * ec.W * ec.C;
        if (outputs >= 4 && s.raw_distinct < 2) {
            if (!redraw) return fail("degenerate test: the data gives one output value");
            *redraw = true;
            return ::testing::AssertionSuccess();
        }
        const EltwiseConsts c = fold_eltwise(s.d);
        const bool binary = ec.kind != Kind::Affine;
        const BroadcastOperand* in1 = binary ? &s.in1.b : nullptr;
        const std::unique_ptr<JitKernel> k = emit_qeltwise_avx2(s.d, c, s.in0.b, in1, s.out);
        if (kernel) *kernel = k->name;
        std::vector<uint8_t> ref_out(static_cast<size_t>(s.out.bytes()), 0xA5), jit_out = ref_out;
        ref::qeltwise(c, s.in0.buf.data(), s.in0.b, binary ? s.in1.buf.data() : nullptr, in1, ref_out.data(), s.out);

        const uint32_t saved = get_mxcsr();
        const uint32_t caller = ec.hostile ? kHostileMxcsr : saved;
        uint32_t after = caller;
        for (int64_t n = 0; n < ec.N; ++n) {
            std::vector<std::pair<int64_t, int64_t>> rows{{0, ec.H}};
            if (ec.split) {
                rows.clear();
                for (int64_t h = 0; h < ec.H;) {
                    const int64_t e = std::min(ec.H, h + uni_int(r, 1, 2));
                    rows.emplace_back(h, e);
                    h = e;
                }
            }
            for (const auto& rr : rows) {
                EltwiseArgs a{};
                a.src0 = s.in0.buf.data() + s.in0.b.offset(n, 0, 0);
                a.src1 = binary ? s.in1.buf.data() + s.in1.b.offset(n, 0, 0) : nullptr;
                a.dst = jit_out.data() + s.out.offset(n, 0, 0) * s.out.elem_bytes;
                a.h_begin = rr.first;
                a.h_end = rr.second;
                set_mxcsr(caller);
                k->call(&a);
                after = get_mxcsr();
                set_mxcsr(saved);
            }
        }
        if (after != caller) return fail("kernel did not restore the caller's MXCSR");
        if (jit_out != ref_out) return fail("JIT != Oracle B (" + k->name + "): " + first_mismatch(s.out, jit_out, ref_out));

        // A test whose output is (nearly) one value proves little.
        std::set<uint32_t> distinct;
        for (int64_t n = 0; n < ec.N; ++n)
            for (int64_t h = 0; h < ec.H; ++h)
                for (int64_t w = 0; w < ec.W; ++w)
                    for (int64_t ch = 0; ch < ec.C; ++ch) {
                        uint32_t v = 0;
                        std::memcpy(&v, &ref_out[static_cast<size_t>((s.out.offset(n, h, w) + ch) * s.out.elem_bytes)],
                                    static_cast<size_t>(s.out.elem_bytes));
                        distinct.insert(v);
                    }
        // (3, not 4: a level-index tie can merge two of the exact levels.)
        const size_t need = ec.out == EltCase::Out::Threshold || outputs < 16 ? 2 : 3;
        if (outputs >= 4 && distinct.size() < std::min(need, s.raw_distinct))
            return fail("degenerate test: only " + std::to_string(distinct.size()) + " distinct output values");
        return ::testing::AssertionSuccess();
    } catch (const std::exception& e) {
        return fail(std::string("exception: ") + e.what());
    }
}

// run_case with fresh data (the next case index) while the data is degenerate (at most 20 draws).
::testing::AssertionResult run_valid_case(const EltCase& ec, uint64_t base, uint64_t& index,
                                          std::string* kernel = nullptr) {
    for (int attempt = 0; attempt < 20; ++attempt) {
        bool redraw = false;
        ::testing::AssertionResult r = run_case(ec, base, index++, kernel, &redraw);
        if (!r || !redraw) return r;
    }
    return run_case(ec, base, index++, kernel);
}

// A random case over every flag (kind and C given).
EltCase random_case(Rng& r, Kind kind, int64_t C) {
    EltCase ec;
    ec.kind = kind;
    ec.C = C;
    ec.N = uni_int(r, 1, 2);
    ec.H = uni_int(r, 1, 4);
    ec.W = uni_int(r, 1, 6);
    if (kind != Kind::Affine) {
        ec.bcast = static_cast<Bcast>(uni_int(r, 0, 6));
        ec.same = ec.bcast == Bcast::None && uni_int(r, 0, 5) == 0;
    }
    ec.pc0 = uni_int(r, 0, 1) == 1;
    ec.pc1 = uni_int(r, 0, 1) == 1;
    ec.scale_shift = kind == Kind::Affine || uni_int(r, 0, 3) == 0;
    ec.relu = uni_int(r, 0, 3) == 0;
    ec.clamp = uni_int(r, 0, 4) == 0;
    const int o = static_cast<int>(uni_int(r, 0, 9));
    ec.out = o < 6 ? EltCase::Out::Levels : o < 8 ? EltCase::Out::Float : EltCase::Out::Threshold;
    ec.per_ch_out = uni_int(r, 0, 2) == 0;
    static const int levels[] = {2, 3, 15, 16, 17, 128, 255, 256, 256, 256};
    ec.L0 = levels[uni_int(r, 0, 9)];
    ec.L1 = ec.same ? ec.L0 : levels[uni_int(r, 0, 9)];
    ec.Lout = levels[uni_int(r, 3, 9)];
    ec.halo = uni_int(r, 0, 3) == 0 ? uni_int(r, 1, 2) : 0;
    ec.extra_cs = uni_int(r, 0, 4) == 0 ? 16 : 0;
    ec.garbage_pad = uni_int(r, 0, 2) == 0;
    ec.split = uni_int(r, 0, 3) == 0;
    ec.hostile = uni_int(r, 0, 5) == 0;
    return ec;
}

TEST(EltwiseEmitter, EveryChannelTailAndKindRandomFlags) {
    const uint64_t base = base_seed(7001);
    Rng r(base);
    uint64_t index = 0, redrawn = 0;
    for (int64_t C = 1; C <= 33; ++C)
        for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine})
            for (int rep = 0; rep < 3; ++rep)
                for (bool redraw = true; redraw;) {
                    redraw = false;
                    const EltCase ec = random_case(r, kind, C);
                    ASSERT_TRUE(run_case(ec, base, index++, nullptr, &redraw));
                    redrawn += redraw;
                }
    EXPECT_LT(redrawn * 5, index) << "too many degenerate random cases";
}

TEST(EltwiseEmitter, BroadcastShapes) {
    const uint64_t base = base_seed(7002);
    Rng r(base);
    uint64_t index = 0;
    for (int b = 0; b <= 6; ++b)
        for (int64_t C : {1, 3, 8, 9, 16, 17, 33, 70})
            for (Kind kind : {Kind::Add, Kind::Mul}) {
                EltCase ec;
                ec.kind = kind;
                ec.C = C;
                ec.N = 2;
                ec.H = 3;
                ec.W = 7;
                ec.bcast = static_cast<Bcast>(b);
                ec.pc0 = (C + b) % 2 == 0;
                ec.pc1 = (C + b) % 3 != 0;
                ec.per_ch_out = C % 2 == 1;
                ASSERT_TRUE(run_valid_case(ec, base, index));
            }
}

TEST(EltwiseEmitter, PerTensorAndPerChannelParamsOnEachSide) {
    const uint64_t base = base_seed(7003);
    uint64_t index = 0;
    for (Kind kind : {Kind::Add, Kind::Mul})
        for (int mask = 0; mask < 8; ++mask)
            for (int64_t C : {5, 24}) {
                EltCase ec;
                ec.kind = kind;
                ec.C = C;
                ec.pc0 = mask & 1;
                ec.pc1 = mask & 2;
                ec.per_ch_out = mask & 4;
                ec.L0 = mask % 3 == 0 ? 255 : 256;
                ec.L1 = mask % 2 == 0 ? 16 : 256;
                ASSERT_TRUE(run_valid_case(ec, base, index));
            }
}

TEST(EltwiseEmitter, SameTensorOnBothSides) {
    const uint64_t base = base_seed(7004);
    uint64_t index = 0;
    for (Kind kind : {Kind::Add, Kind::Mul})
        for (int64_t C : {1, 7, 16, 33})
            for (bool pc : {false, true})
                for (EltCase::Out out : {EltCase::Out::Levels, EltCase::Out::Float}) {
                    EltCase ec;
                    ec.kind = kind;
                    ec.C = C;
                    ec.same = true;
                    ec.pc0 = pc;
                    ec.out = out;
                    ASSERT_TRUE(run_valid_case(ec, base, index));
                }
}

TEST(EltwiseEmitter, ReluClampAndScaleShiftPostOps) {
    const uint64_t base = base_seed(7005);
    uint64_t index = 0;
    for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine})
        for (int mask = 0; mask < 8; ++mask)
            for (EltCase::Out out : {EltCase::Out::Levels, EltCase::Out::Float, EltCase::Out::Threshold}) {
                EltCase ec;
                ec.kind = kind;
                ec.C = 11;
                ec.H = 4;
                ec.W = 6;
                ec.relu = mask & 1;
                ec.clamp = mask & 2;
                ec.scale_shift = kind == Kind::Affine || (mask & 4);
                ec.pc0 = ec.pc1 = true;
                ec.out = out;
                ec.per_ch_out = mask % 3 == 0;
                ASSERT_TRUE(run_valid_case(ec, base, index));
            }
}

TEST(EltwiseEmitter, ScaleShiftNegativeAndZeroMultipliers) {
    // Affine with per-channel (negative, zero) and per-tensor negative multipliers; the zero channel
    // is a constant output (checked by the fold: A0' = 0 there).
    const uint64_t base = base_seed(7006);
    uint64_t index = 0;
    for (int64_t C : {1, 5, 8, 13, 40})
        for (bool relu : {false, true}) {
            EltCase ec;
            ec.kind = Kind::Affine;
            ec.C = C;
            ec.W = 9;
            ec.scale_shift = true;
            ec.relu = relu;
            ec.pc0 = C % 2 == 1;
            std::string name;
            ASSERT_TRUE(run_valid_case(ec, base, index, &name));
            EXPECT_NE(name.find("requant_u8_u8_ss"), std::string::npos) << name;
        }
}

TEST(EltwiseEmitter, ChannelLoopHalosStridesSplitsAndHostileMxcsr) {
    const uint64_t base = base_seed(7007);
    Rng r(base);
    uint64_t index = 0;
    for (int64_t C : {65, 96, 100, 161, 300})
        for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine}) {
            for (bool redraw = true; redraw;) {
                redraw = false;
                EltCase ec = random_case(r, kind, C);
                ec.halo = 2;
                ec.extra_cs = 32;
                ec.garbage_pad = true;
                ec.split = true;
                ec.hostile = true;
                ASSERT_TRUE(run_case(ec, base, index++, nullptr, &redraw));
            }
        }
}

TEST(EltwiseEmitter, KernelNamesFollowTheGrammar) {
    const uint64_t base = base_seed(7008);
    EltCase ec;
    ec.kind = Kind::Mul;
    ec.bcast = Bcast::Channel1;
    ec.relu = true;
    std::string name;
    ASSERT_TRUE(run_case(ec, base, 0, &name));
    EXPECT_EQ(name, "eltwise_mul_u8u8_u8_bc1c_ss_relu_8c__avx2");
    ec.kind = Kind::Add;
    ec.bcast = Bcast::Pixel1;
    ec.relu = false;
    ec.out = EltCase::Out::Float;
    ASSERT_TRUE(run_case(ec, base, 1, &name));
    EXPECT_EQ(name, "eltwise_add_u8u8_f32_bc1p_8c__avx2");
}

// The generated code decodes completely under the audit's whitelist: no banned instruction (spec
// §4.5), no host address, no call, constants RIP-relative, MXCSR saved / set / restored.
TEST(EltwiseEmitter, InstructionAudit) {
    auto check = [](const JitKernel& k, bool pool) {
        const auto* gk = dynamic_cast<const GeneratedKernel*>(&k);
        ASSERT_NE(gk, nullptr);
        const CodeAudit a = audit_code(k.code(), gk->text_bytes());
        EXPECT_EQ(a.error, "") << k.name;
        for (const char* banned : {"vrcpps", "vrcpss", "vrsqrtps", "vrsqrtss", "vcvttps2dq"})
            EXPECT_EQ(a.count(banned), 0) << k.name << " contains " << banned;
        EXPECT_EQ(a.imm64, 0) << k.name;
        EXPECT_EQ(a.absolute_mem, 0) << k.name;
        EXPECT_EQ(a.calls, 0) << k.name;
        if (pool) EXPECT_GT(a.rip_relative, 0) << k.name;
        EXPECT_EQ(a.count("vldmxcsr/vstmxcsr"), 3) << k.name;
        EXPECT_EQ(a.count("vzeroupper"), 1) << k.name;
    };
    const uint64_t base = base_seed(7009);
    uint64_t index = 0;
    for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine})
        for (EltCase::Out out : {EltCase::Out::Levels, EltCase::Out::Float, EltCase::Out::Threshold})
            for (int64_t C : {3, 70}) {
                EltCase ec;
                ec.kind = kind;
                ec.C = C;
                ec.out = out;
                ec.bcast = kind == Kind::Affine ? Bcast::None : Bcast::Both;
                ec.relu = true;
                ec.scale_shift = true;
                Rng rr(case_seed(base, index++));
                const EltSetup s = make_setup(ec, rr);
                const EltwiseConsts c = fold_eltwise(s.d);
                check(*emit_qeltwise_avx2(s.d, c, s.in0.b, kind == Kind::Affine ? nullptr : &s.in1.b, s.out), true);
            }
    for (int64_t C : {1, 3, 16, 31, 600}) {
        ActLayout src, dst;
        src.H = 2, src.W = 3, src.C = C, src.c_stride = round_up16(C);
        dst = src;
        dst.C = C + 5, dst.c_stride = round_up16(C + 5);
        check(*emit_concat_copy_avx2(src, dst), false);
        src.c_stride = dst.c_stride = dst.C = C; // whole rows
        check(*emit_concat_copy_avx2(src, dst), false);
    }
}

// ---- the Concat copy kernel -------------------------------------------------------------------

TEST(ConcatCopyEmitter, CopiesExactlyTheBytesOfEachPixel) {
    const uint64_t base = base_seed(7010);
    Rng r(base);
    for (uint64_t index = 0; index < 60; ++index) {
        ActLayout src, dst;
        src.N = 1;
        src.H = uni_int(r, 1, 4);
        src.W = uni_int(r, 1, 9);
        src.C = index < 40 ? static_cast<int64_t>(index) + 1 : uni_int(r, 40, 1100);
        src.c_stride = round_up16(src.C) + (index % 3 == 0 ? 16 : 0);
        if (index % 5 == 0) src.c_stride = src.C; // contiguous rows when the destination agrees
        src.halo_t = src.halo_l = index % 2;
        const int64_t c_off = uni_int(r, 0, 20);
        dst.N = 1;
        dst.H = src.H + 2;
        dst.W = src.W + 1;
        dst.C = src.C + c_off + uni_int(r, 0, 20);
        dst.c_stride = index % 5 == 0 && c_off == 0 && dst.C == src.C ? src.C : round_up16(dst.C);
        dst.halo_b = 1;
        std::vector<uint8_t> s(static_cast<size_t>(src.bytes())), d(static_cast<size_t>(dst.bytes())), want;
        for (auto& b : s) b = static_cast<uint8_t>(r());
        for (auto& b : d) b = static_cast<uint8_t>(r());
        want = d;
        const int64_t h_off = 1, w_off = 1;
        for (int64_t h = 0; h < src.H; ++h)
            for (int64_t w = 0; w < src.W; ++w)
                std::memcpy(&want[static_cast<size_t>(dst.offset(0, h + h_off, w + w_off) + c_off)],
                            &s[static_cast<size_t>(src.offset(0, h, w))], static_cast<size_t>(src.C));
        const auto k = emit_concat_copy_avx2(src, dst);
        for (int64_t h = 0; h < src.H; ++h) {
            ConcatCopyArgs a{};
            a.src = s.data() + src.offset(0, 0, 0);
            a.dst = d.data() + dst.offset(0, h_off, w_off) + c_off;
            a.h_begin = h;
            a.h_end = h + 1;
            k->call(&a);
        }
        ASSERT_TRUE(d == want) << "C=" << src.C << " cs " << src.c_stride << "/" << dst.c_stride << " c_off=" << c_off
                               << " (" << k->name << ")\n  reproduce: " << reproducer(base);
    }
}

} // namespace
} // namespace qjit::test
