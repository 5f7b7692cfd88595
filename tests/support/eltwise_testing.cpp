#include "tests/support/eltwise_testing.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "emitters/eltwise.hpp"
#include "jit/eltwise_fold.hpp"
#include "jit/fq_math.hpp"
#include "runtime/qeltwise_ref.hpp"
#include "tests/support/emitter_testing.hpp"

namespace qjit::test {
namespace {


double uni(Rng& r, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(r); }
int64_t uni_int(Rng& r, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(r); }

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

} // namespace

// Builds one case: setup, fold, kernel at ec.isa, Oracle B's output and the calls. A case whose
// data gives the next FakeQuantize a single value proves little: it fails, unless `redraw` is
// given, where *redraw is set (and nothing else is prepared) so that a random sweep draws another.
::testing::AssertionResult prepare_elt_case(const EltCase& ec, uint64_t base, uint64_t index, PreparedElt* p,
                                            bool* redraw) {
    const uint64_t seed = case_seed(base, index);
    Rng r(seed);
    p->where = "\n  case " + std::to_string(index) + ": " + ec.str() + "\n  seed: base " + std::to_string(base) +
               ", case seed " + std::to_string(seed) + "\n  reproduce: " + reproducer(base);
    p->isa = ec.isa;
    p->hostile_mxcsr = ec.hostile;
    auto fail = [&](const std::string& what) { return ::testing::AssertionFailure() << what << p->where; };
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
        p->kernel = emit_qeltwise(ec.isa, s.d, c, s.in0.b, in1, s.out);
        p->expected.assign(static_cast<size_t>(s.out.bytes()), 0xA5);
        ref::qeltwise(c, s.in0.buf.data(), s.in0.b, binary ? s.in1.buf.data() : nullptr, in1, p->expected.data(), s.out);
        p->src0 = s.in0.buf;
        if (binary) p->src1 = s.in1.buf;
        p->binary = binary;
        p->out = s.out;
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
                EltCall call;
                call.src0_off = s.in0.b.offset(n, 0, 0);
                call.src1_off = binary ? s.in1.b.offset(n, 0, 0) : 0;
                call.dst_off = s.out.offset(n, 0, 0) * s.out.elem_bytes;
                call.h_begin = rr.first, call.h_end = rr.second;
                p->calls.push_back(call);
            }
        }
        // (3, not 4: a level-index tie can merge two of the exact levels.)
        const size_t need = ec.out == EltCase::Out::Threshold || outputs < 16 ? 2 : 3;
        p->need_distinct = outputs >= 4 ? std::min(need, s.raw_distinct) : 0;
        return ::testing::AssertionSuccess();
    } catch (const std::exception& e) {
        return fail(std::string("exception: ") + e.what());
    }
}

::testing::AssertionResult check_elt_output(const PreparedElt& p, const std::vector<uint8_t>& got) {
    if (got != p.expected)
        return ::testing::AssertionFailure() << "JIT != Oracle B (" << p.kernel->name
                                             << "): " << first_mismatch(p.out, got, p.expected) << p.where;
    // A test whose output is (nearly) one value proves little.
    std::set<uint32_t> distinct;
    const ActLayout& o = p.out;
    for (int64_t n = 0; n < o.N; ++n)
        for (int64_t h = 0; h < o.H; ++h)
            for (int64_t w = 0; w < o.W; ++w)
                for (int64_t ch = 0; ch < o.C; ++ch) {
                    uint32_t v = 0;
                    std::memcpy(&v, &p.expected[static_cast<size_t>((o.offset(n, h, w) + ch) * o.elem_bytes)],
                                static_cast<size_t>(o.elem_bytes));
                    distinct.insert(v);
                }
    if (distinct.size() < p.need_distinct)
        return ::testing::AssertionFailure() << "degenerate test: only " << distinct.size() << " distinct output values"
                                             << p.where;
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult run_elt_native(const PreparedElt& p) {
    if (!host_runs(p.isa)) return ::testing::AssertionSuccess(); // generated, not run
    std::vector<uint8_t> got(p.expected.size(), 0xA5);
    const uint32_t saved = get_mxcsr();
    const uint32_t caller = p.hostile_mxcsr ? kHostileMxcsr : saved;
    uint32_t after = caller;
    for (const EltCall& c : p.calls) {
        EltwiseArgs a{};
        a.src0 = p.src0.data() + c.src0_off;
        a.src1 = p.binary ? p.src1.data() + c.src1_off : nullptr;
        a.dst = got.data() + c.dst_off;
        a.h_begin = c.h_begin;
        a.h_end = c.h_end;
        set_mxcsr(caller);
        p.kernel->call(&a);
        after = get_mxcsr();
        set_mxcsr(saved);
    }
    if (after != caller) return ::testing::AssertionFailure() << "kernel did not restore the caller's MXCSR" << p.where;
    return check_elt_output(p, got);
}

::testing::AssertionResult run_case(const EltCase& ec, uint64_t base, uint64_t index, std::string* kernel, bool* redraw) {
    PreparedElt p;
    bool again = false;
    const ::testing::AssertionResult ok = prepare_elt_case(ec, base, index, &p, redraw ? &again : nullptr);
    if (!ok) return ok;
    if (again) {
        *redraw = true;
        return ok;
    }
    if (kernel) *kernel = p.kernel->name;
    return run_elt_native(p);
}

// run_case with fresh data (the next case index) while the data is degenerate (at most 20 draws).
::testing::AssertionResult run_valid_case(const EltCase& ec, uint64_t base, uint64_t& index, std::string* kernel) {
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

EltSetupView elt_setup(const EltCase& ec, uint64_t seed) {
    Rng r(seed);
    const EltSetup s = make_setup(ec, r);
    return EltSetupView{s.d, s.in0.b, s.in1.b, s.out};
}

} // namespace qjit::test
