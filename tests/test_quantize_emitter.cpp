// Quantize / Dequantize AVX2 emitters vs ref::quantize / ref::dequantize, bit for bit, on the edge
// inputs of spec §5.3 (il, ih, +-1 ulp, grid points and half-grid ties with power-of-two scales, +-0,
// +-inf, NaN, subnormals, far outside), per-tensor and per-channel ranges, every W tail, c_stride 1
// and padded, halos, channel sub-ranges, and a hostile caller MXCSR (round toward zero + FTZ + DAZ).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "emitters/isa_traits.hpp"
#include "emitters/quantize.hpp"
#include "runtime/qconv_ref.hpp"
#include "tests/support/emitter_testing.hpp"

namespace qjit::test {
namespace {

using Rng = std::mt19937_64;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Range {
    float il, ih, ol, oh;
};

// A range of one of the interesting kinds (0..7).
Range draw_range(Rng& r, int kind, int levels) {
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    switch (kind) {
    case 0: { // power-of-two step from 0: grid and half-grid points are exact (ties)
        const float s = std::ldexp(1.0f, static_cast<int>(r() % 8) - 6);
        return {0.0f, s * static_cast<float>(levels - 1), 0.0f, s * static_cast<float>(levels - 1)};
    }
    case 1: { // power-of-two step, negative start
        const float s = std::ldexp(1.0f, static_cast<int>(r() % 6) - 5);
        const float lo = -s * static_cast<float>((levels - 1) / 2 + 1);
        return {lo, lo + s * static_cast<float>(levels - 1), -1.0f, 1.0f};
    }
    case 2: return {-1.28f, 1.27f, -1.28f, 1.27f};
    case 3: return {0.5f, 3.0f, 0.5f, 3.0f}; // all positive
    case 4: return {-7.25f, -0.125f, -7.25f, -0.125f}; // all negative
    case 5: { // il == ih: a step
        const float t = u(r);
        return {t, t, 0.0f, 1.0f};
    }
    case 6: { // il > ih: the inverted FakeQuantize
        float a = u(r), b = u(r);
        if (a == b) b += 1.0f;
        return {std::max(a, b), std::min(a, b), 0.0f, 1.0f};
    }
    default: { // arbitrary decimal range
        float a = u(r), b = u(r);
        if (a == b) b += 0.5f;
        return {std::min(a, b), std::max(a, b), std::min(a, b), std::max(a, b)};
    }
    }
}

// Edge inputs for a range, then random ones.
std::vector<float> edge_values(const Range& q, int levels, Rng& r) {
    std::vector<float> v = {q.il, q.ih, 0.0f, -0.0f, kInf, -kInf, std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(), 1e-40f, -1e-40f, 1e30f, -1e30f, 3e38f, -3e38f};
    for (float x : {q.il, q.ih}) {
        v.push_back(std::nextafter(x, kInf));
        v.push_back(std::nextafter(x, -kInf));
    }
    const float lo = std::min(q.il, q.ih), hi = std::max(q.il, q.ih);
    const float s = (hi - lo) / static_cast<float>(levels - 1);
    for (int k = 0; k < levels && s > 0; k += std::max(1, levels / 24)) {
        const float g = lo + static_cast<float>(k) * s;  // grid point
        const float t = g + 0.5f * s;                    // half-grid (a tie for power-of-two steps)
        for (float x : {g, t, std::nextafter(t, kInf), std::nextafter(t, -kInf)}) v.push_back(x);
    }
    std::uniform_real_distribution<float> u(lo - 0.25f * (hi - lo + 1), hi + 0.25f * (hi - lo + 1));
    while (v.size() < 160) v.push_back(u(r));
    std::shuffle(v.begin(), v.end(), r);
    return v;
}

struct QCase {
    ActQuant q;
    ActLayout l;
    std::vector<float> x; // NCHW, one image
};

QCase make_case(Rng& r, int64_t C, int64_t H, int64_t W, int levels, bool per_channel, int64_t cs, int64_t halo) {
    QCase c;
    c.q.levels = levels;
    c.q.channels = per_channel ? C : 1;
    std::vector<Range> rr;
    for (int64_t ch = 0; ch < (per_channel ? C : 1); ++ch) {
        const Range g = draw_range(r, static_cast<int>(r() % 8), levels);
        rr.push_back(g);
        c.q.il.v.push_back(g.il);
        c.q.ih.v.push_back(g.ih);
        c.q.ol.v.push_back(g.ol);
        c.q.oh.v.push_back(g.oh);
    }
    c.l.N = 1, c.l.H = H, c.l.W = W, c.l.C = C, c.l.c_stride = cs;
    c.l.halo_t = c.l.halo_l = c.l.halo_b = c.l.halo_r = halo;
    for (int64_t ch = 0; ch < C; ++ch) {
        std::vector<float> e = edge_values(rr[static_cast<size_t>(per_channel ? ch : 0)], levels, r);
        for (int64_t i = 0; i < H * W; ++i) c.x.push_back(e[static_cast<size_t>(i) % e.size()]);
    }
    return c;
}

// Calls `k` over channels [0, C) as random sub-ranges under MXCSR `mxcsr`.
template <class Args, class Fill>
void call_split(const JitKernel& k, int64_t C, Rng& r, uint32_t mxcsr, Fill fill) {
    const uint32_t saved = get_mxcsr();
    for (int64_t c = 0; c < C;) {
        const int64_t e = std::min<int64_t>(C, c + 1 + static_cast<int64_t>(r() % 3));
        Args a{};
        fill(a);
        a.c_begin = c;
        a.c_end = e;
        set_mxcsr(mxcsr);
        k.call(&a);
        const uint32_t after = get_mxcsr();
        set_mxcsr(saved);
        ASSERT_EQ(after, mxcsr) << "kernel did not restore the caller's MXCSR";
        c = e;
    }
}

void check_quantize(Isa isa, QCase& c, Rng& r, uint32_t mxcsr, uint64_t base) {
    std::vector<uint8_t> ref(static_cast<size_t>(c.l.bytes()), 0xA5), jit = ref;
    ref::quantize(c.q, c.x.data(), ref.data(), c.l);
    const auto k = emit_quantize(isa, c.q, c.l);
    call_split<QuantizeArgs>(*k, c.l.C, r, mxcsr, [&](QuantizeArgs& a) {
        a.src = c.x.data();
        a.dst = jit.data() + c.l.offset(0, 0, 0);
    });
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < ref.size(); ++i)
        if (ref[i] != jit[i] && bad++ == 0) first = i;
    ASSERT_EQ(bad, 0u) << k->name << ": " << bad << " bytes differ, first at byte " << first << " (jit "
                       << int(jit[first]) << ", ref " << int(ref[first]) << "), C=" << c.l.C << " H=" << c.l.H
                       << " W=" << c.l.W << " cs=" << c.l.c_stride << " L=" << c.q.levels
                       << "\n  reproduce: " << reproducer(base);
    std::set<uint8_t> distinct; // a test whose outputs are (nearly) one level proves little
    for (int64_t h = 0; h < c.l.H; ++h)
        for (int64_t w = 0; w < c.l.W; ++w)
            for (int64_t ch = 0; ch < c.l.C; ++ch) distinct.insert(ref[static_cast<size_t>(c.l.offset(0, h, w) + ch)]);
    bool all_steps = true; // il == ih gives two levels only
    for (size_t i = 0; i < c.q.il.size(); ++i) all_steps = all_steps && c.q.il.v[i] == c.q.ih.v[i];
    if (c.l.H * c.l.W * c.l.C >= 64) {
        EXPECT_GE(distinct.size(), all_steps ? 2u : std::min<size_t>(3, static_cast<size_t>(c.q.levels)))
            << "degenerate quantize test\n  reproduce: " << reproducer(base);
    }
}

void check_dequantize(Isa isa, QCase& c, Rng& r, uint32_t mxcsr, uint64_t base) {
    std::vector<uint8_t> src(static_cast<size_t>(c.l.bytes()), 0);
    for (int64_t h = 0; h < c.l.H; ++h)
        for (int64_t w = 0; w < c.l.W; ++w)
            for (int64_t ch = 0; ch < c.l.C; ++ch)
                src[static_cast<size_t>(c.l.offset(0, h, w) + ch)] = static_cast<uint8_t>(r() % c.q.levels);
    const size_t n = static_cast<size_t>(c.l.C * c.l.H * c.l.W);
    std::vector<float> ref(n, std::numeric_limits<float>::quiet_NaN()), jit = ref;
    ref::dequantize(c.q, src.data(), c.l, ref.data());
    const auto k = emit_dequantize(isa, c.q, c.l);
    call_split<DequantizeArgs>(*k, c.l.C, r, mxcsr, [&](DequantizeArgs& a) {
        a.src = src.data() + c.l.offset(0, 0, 0);
        a.dst = jit.data();
    });
    ASSERT_EQ(std::memcmp(ref.data(), jit.data(), n * 4), 0)
        << k->name << ": C=" << c.l.C << " H=" << c.l.H << " W=" << c.l.W << " cs=" << c.l.c_stride
        << "\n  reproduce: " << reproducer(base);
}

// Quantize / Dequantize have two vector levels: avx2 (ymm) and avx512_core (zmm). Each test runs on
// both; a level the host cannot execute is skipped with a message (tests/emu covers it).
class QuantizeEmitter : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
    int64_t lanes() const { return isa_lanes(GetParam()); }
};
using DequantizeEmitter = QuantizeEmitter;

TEST_P(QuantizeEmitter, EdgeInputsEveryTailAndLayout) {
    const uint64_t base = base_seed(31);
    Rng r(base);
    static const int kLevels[] = {2, 3, 15, 16, 17, 128, 254, 255, 256};
    for (int64_t W = 1; W <= 2 * lanes() + 3; ++W)
        for (int64_t C : {1, 3, 8, 17}) {
            const int levels = kLevels[r() % 9];
            const bool pc = r() % 2;
            const int64_t cs = C == 1 && r() % 2 ? 1 : round_up16(C) + (r() % 4 == 0 ? 16 : 0);
            QCase c = make_case(r, C, 1 + static_cast<int64_t>(r() % 3), W, levels, pc, cs, static_cast<int64_t>(r() % 3));
            check_quantize(GetParam(), c, r, r() % 3 == 0 ? kHostileMxcsr : 0x1F80, base);
            if (HasFatalFailure()) return;
        }
}

TEST_P(QuantizeEmitter, LongRowsAndManyRows) {
    const uint64_t base = base_seed(32);
    Rng r(base);
    for (int64_t W : {40, 41, 47, 80, 81, 95, 160, 1000})
        for (int64_t H : {1, 5}) {
            QCase c = make_case(r, 3, H, W, 256, true, W % 2 ? 16 : 3, 1);
            check_quantize(GetParam(), c, r, kHostileMxcsr, base);
            if (HasFatalFailure()) return;
        }
}

TEST_P(QuantizeEmitter, HostileMxcsrDoesNotChangeTies) {
    const uint64_t base = base_seed(33);
    Rng r(base);
    for (int levels : {16, 255, 256}) {
        QCase c = make_case(r, 4, 3, 21, levels, true, 16, 0);
        for (int64_t ch = 0; ch < 4; ++ch) { // power-of-two steps only: exact half-grid ties
            const float s = std::ldexp(1.0f, -static_cast<int>(ch) - 2);
            c.q.il.v[static_cast<size_t>(ch)] = 0.0f;
            c.q.ih.v[static_cast<size_t>(ch)] = s * static_cast<float>(levels - 1);
            for (int64_t i = 0; i < 63; ++i)
                c.x[static_cast<size_t>(ch * 63 + i)] = (static_cast<float>(i % levels) + 0.5f) * s;
        }
        check_quantize(GetParam(), c, r, kHostileMxcsr, base);
    }
}

TEST_P(QuantizeEmitter, WritesOnlyItsChannels) {
    Rng r(base_seed(34));
    QCase c = make_case(r, 9, 2, 11, 256, true, 16, 1);
    std::vector<uint8_t> ref(static_cast<size_t>(c.l.bytes()), 0xA5), jit = ref;
    ref::quantize(c.q, c.x.data(), ref.data(), c.l);
    const auto k = emit_quantize(GetParam(), c.q, c.l);
    QuantizeArgs a{c.x.data(), jit.data() + c.l.offset(0, 0, 0), 3, 6};
    k->call(&a);
    for (int64_t i = 0; i < c.l.elements(); ++i) {
        const int64_t ch = i % c.l.c_stride;
        const int64_t px = i / c.l.c_stride, row = px / (c.l.W + 2), col = px % (c.l.W + 2);
        const bool interior = row >= 1 && row <= c.l.H && col >= 1 && col <= c.l.W;
        const uint8_t want = interior && ch >= 3 && ch < 6 ? ref[static_cast<size_t>(i)] : 0xA5;
        ASSERT_EQ(jit[static_cast<size_t>(i)], want) << "byte " << i;
    }
}

TEST_P(DequantizeEmitter, EveryTailAndLayout) {
    const uint64_t base = base_seed(35);
    Rng r(base);
    static const int kLevels[] = {2, 3, 16, 255, 256};
    for (int64_t W = 1; W <= 2 * lanes() + 3; ++W)
        for (int64_t C : {1, 3, 17}) {
            const int64_t cs = C == 1 && r() % 2 ? 1 : round_up16(C);
            QCase c = make_case(r, C, 1 + static_cast<int64_t>(r() % 3), W, kLevels[r() % 5], r() % 2, cs,
                                static_cast<int64_t>(r() % 2));
            check_dequantize(GetParam(), c, r, r() % 2 ? kHostileMxcsr : 0x1F80, base);
            if (HasFatalFailure()) return;
        }
    for (int64_t W : {64, 1001}) {
        QCase c = make_case(r, 2, 2, W, 256, true, 16, 0);
        check_dequantize(GetParam(), c, r, kHostileMxcsr, base);
    }
}

const Isa kQuantizeLevels[] = {Isa::avx2, Isa::avx512_core};
INSTANTIATE_TEST_SUITE_P(Isa, QuantizeEmitter, ::testing::ValuesIn(kQuantizeLevels), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, DequantizeEmitter, ::testing::ValuesIn(kQuantizeLevels), isa_param_name);

TEST(QuantizeEmitterLevels, VnniTargetsUseTheirVectorLevel) {
    EXPECT_EQ(quantize_isa(Isa::avx2), Isa::avx2);
    EXPECT_EQ(quantize_isa(Isa::avx2_vnni), Isa::avx2);
    EXPECT_EQ(quantize_isa(Isa::avx512_core), Isa::avx512_core);
    EXPECT_EQ(quantize_isa(Isa::avx512_core_vnni), Isa::avx512_core);
    Rng r(1);
    QCase c = make_case(r, 3, 2, 21, 256, true, 16, 0);
    EXPECT_NE(emit_quantize(Isa::avx512_core_vnni, c.q, c.l)->name.find("__avx512_core"), std::string::npos);
    EXPECT_NE(emit_dequantize(Isa::avx2_vnni, c.q, c.l)->name.find("__avx2"), std::string::npos);
}

} // namespace
} // namespace qjit::test
