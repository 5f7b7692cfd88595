// fp32 JIT MaxPool / AvgPool (emitters/fp32_pool, jit/fp32_pool_step) against ref::max_pool2d /
// avg_pool2d (fp64 = false), bit for bit (memcmp): kernels 1..7 and global, strides 1..3, pads,
// floor / ceil rounding, include / exclude pad, plane sizes across vector tails, inputs with NaN
// payloads, +-inf, -0 and subnormals (MaxPool's first-NaN rule, -0 / +0 ties), work split in 1/2/3
// ranges; the instruction audit; and a graph whose fp32 pools run as JIT kernels and equal Oracle B.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>

#include "emitters/fp32_gemm.hpp"
#include "emitters/fp32_pool.hpp"
#include "jit/fp32_pool_step.hpp"
#include "runtime/float_node_eval.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/fp32_values.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

std::vector<float> values(std::mt19937_64& rng, int64_t n) {
    static const std::vector<float> sp = {float_bits(0x7fc00000), float_bits(0xffc00000), float_bits(0x7fc12345),
                                          float_bits(0x7f800001), INFINITY, -INFINITY, 0.f, -0.f,
                                          float_bits(0x00000001), float_bits(0x80000001), FLT_MAX, -FLT_MAX};
    std::uniform_int_distribution<int> small(-3, 3);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) {
        const uint64_t r = rng() % 16;
        // small integers give max ties and exact sums; specials now and then
        x = r == 0 ? sp[rng() % sp.size()] : r < 8 ? static_cast<float>(small(rng)) * 0.5f
                                                   : std::ldexp(static_cast<float>(rng() % 2000) - 1000.f, -7);
    }
    return v;
}

class Fp32Pool : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
};
class Fp32PoolCode : public ::testing::TestWithParam<Isa> {};

// false when the reference rejects the geometry (a window without input), so the case is skipped.
bool check_pool(Isa isa, bool max, const Shape& xs, const PoolParams& pp, std::mt19937_64& rng, int parts) {
    const int lanes = fp32_gemm_lanes(isa);
    ir::Node node;
    node.name = "pool";
    node.op = max ? ir::Op::MaxPool : ir::Op::AvgPool;
    node.pool = pp;
    Tensor x = Tensor::f32(xs, values(rng, num_elements(xs)));
    Tensor want;
    try {
        want = ref::eval_float_node(node, {&x}, false);
    } catch (const Error&) {
        return false;
    }
    node.shape = want.shape();
    const Fp32PoolPlan p = plan_fp32_pool(node, xs, lanes);
    EXPECT_EQ(p.why_not, "");
    if (!p.why_not.empty()) return false;
    auto step = make_fp32_pool_step(emit_fp32_pool(isa, max), p, lanes, 0, 1);
    Tensor y(ElemType::f32, node.shape);
    std::memset(y.raw(), 0xff, y.bytes());
    uint8_t* slots[2] = {static_cast<uint8_t*>(x.raw()), static_cast<uint8_t*>(y.raw())};
    const int64_t n = step->work_items();
    for (int i = 0; i < parts; ++i) step->run(slots, n * i / parts, n * (i + 1) / parts);
    EXPECT_EQ(std::memcmp(want.raw(), y.raw(), want.bytes()), 0)
        << (max ? "max " : "avg ") << to_string(xs) << " k" << pp.kernel[0] << "x" << pp.kernel[1] << " s"
        << pp.strides[0] << " pads " << pp.pads_begin[0] << pp.pads_begin[1] << pp.pads_end[0] << pp.pads_end[1]
        << (pp.rounding == RoundingType::ceil ? " ceil" : " floor") << (pp.exclude_pad ? " excl" : " incl");
    return true;
}

TEST_P(Fp32Pool, SweepBitExact) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0x9001);
    int checked = 0, rep = 0;
    for (bool max : {true, false})
        for (int64_t k : {1, 2, 3, 5, 7})
            for (int64_t s : {1, 2, 3})
                for (int i = 0; i < 5; ++i, ++rep) {
                    PoolParams pp;
                    pp.kernel = {k, k == 1 ? 1 : k - static_cast<int64_t>(rng() % 2)};
                    pp.strides = {s, 1 + static_cast<int64_t>(rng() % 3)};
                    const int64_t pmax = std::max<int64_t>(k / 2, 1);
                    pp.pads_begin = {static_cast<int64_t>(rng() % (pmax + 1)), static_cast<int64_t>(rng() % (pmax + 1))};
                    pp.pads_end = {static_cast<int64_t>(rng() % (pmax + 1)), static_cast<int64_t>(rng() % (pmax + 1))};
                    pp.rounding = rng() % 2 ? RoundingType::ceil : RoundingType::floor;
                    pp.exclude_pad = rng() % 2;
                    const Shape xs{1 + static_cast<int64_t>(rng() % 2), 1 + static_cast<int64_t>(rng() % 5),
                                   k + static_cast<int64_t>(rng() % 11), k + static_cast<int64_t>(rng() % 37)};
                    checked += check_pool(isa, max, xs, pp, rng, 1 + rep % 3);
                }
    EXPECT_GT(checked, 100);
}

// Global pooling (one output per plane: columns run across planes), and outputs enough for many
// work items whose tiles start and end inside planes.
TEST_P(Fp32Pool, GlobalPoolingAndManyTilesBitExact) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0x610b);
    for (bool max : {true, false}) {
        PoolParams pp;
        pp.kernel = {3, 2};
        pp.strides = {1, 2};
        pp.pads_begin = {1, 0};
        pp.pads_end = {1, 1};
        pp.rounding = RoundingType::ceil;
        pp.exclude_pad = max;
        EXPECT_TRUE(check_pool(isa, max, {2, 5, 41, 53}, pp, rng, 3));
        PoolParams pg;
        pg.kernel = {5, 6}; // global over a padded 4x5 input (window from -1)
        pg.pads_begin = {1, 1};
        EXPECT_TRUE(check_pool(isa, max, {1, 40, 4, 5}, pg, rng, 2));
    }
    for (bool max : {true, false})
        for (const Shape& xs : {Shape{1, 9, 7, 7}, Shape{2, 3, 13, 5}, Shape{1, 17, 1, 1}}) {
            PoolParams pp;
            pp.kernel = {xs[2], xs[3]};
            pp.strides = {1, 1};
            EXPECT_TRUE(check_pool(isa, max, xs, pp, rng, 3));
        }
}

TEST_P(Fp32PoolCode, InstructionAudit) {
    const Isa isa = GetParam();
    for (bool max : {true, false}) {
        const std::unique_ptr<JitKernel> k = emit_fp32_pool(isa, max);
        EXPECT_EQ(k->name, fp32_pool_kernel_name(max, isa));
        const ZAudit z = expect_clean_kernel(*k, isa);
        for (const char* banned : {"vrcpps", "vrcp14ps", "vmaxps"}) EXPECT_EQ(z.count(banned), 0) << k->name;
        if (!max) {
            EXPECT_GT(z.count("vdivps"), 0) << k->name;
        }
    }
}

// FQ -> conv (quantized, f32 out) -> fp32 MaxPool (ceil, pads) -> fp32 AvgPool (include pad) ->
// fp32 global AvgPool -> Result: the pools run as fp32 JIT kernels; output == Oracle B.
TEST_P(Fp32Pool, GraphPoolsRunAsJitKernelsAndEqualOracleB) {
    const Isa isa = GetParam();
    Graph g;
    NodeRef x = g.parameter("input", {1, 3, 12, 10});
    auto scalar = [&](const std::string& n, float v) { return g.constant(n, Tensor::f32({1}, {v})); };
    NodeRef lo = scalar("lo", -1.f), hi = scalar("hi", 1.f);
    NodeRef q = g.fake_quantize("fq", x, lo, hi, lo, hi, 256);
    std::vector<float> wv(9 * 27);
    std::mt19937_64 rng(3);
    for (float& f : wv) f = static_cast<float>(static_cast<int>(rng() % 17) - 8) / 8.f;
    NodeRef w = g.fake_quantize("w_fq", g.constant("w", Tensor::f32({9, 3, 3, 3}, wv)), lo, hi, lo, hi, 255);
    NodeRef c = g.convolution("conv", q, w);
    NodeRef mp = g.max_pool("mp_f", c, {3, 3}, {2, 2}, {1, 1}, {1, 1}, RoundingType::ceil);
    NodeRef ap = g.avg_pool("ap_f", mp, {2, 2}, {1, 1}, {1, 0}, {0, 1}, false);
    NodeRef gp = g.avg_pool("gap_f", ap, {5, 4}, {1, 1}, {0, 0}, {0, 0}, true);
    g.result("out", gp);
    g.result("mid", ap);
    for (int threads : {1, 2, 3}) {
        CompileOptions opt;
        opt.max_isa = isa;
        opt.threads = threads;
        CompiledModel m = compile(g, opt);
        const std::string text = m.describe();
        SCOPED_TRACE(text);
        for (const char* n : {"mp_f", "ap_f", "gap_f"}) EXPECT_TRUE(tsupport::runs_as_jit(m, n, "fp32_")) << n;
        EXPECT_EQ(text.find("fallback nodes"), std::string::npos);
        std::uniform_real_distribution<float> u(-1.2f, 1.2f);
        std::vector<float> v(120 * 3);
        for (float& f : v) f = u(rng);
        const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, {Tensor::f32({1, 3, 12, 10}, v)});
        EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, Fp32Pool, ::testing::ValuesIn(test_isas()), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, Fp32PoolCode, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
