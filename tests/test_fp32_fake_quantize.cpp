// The float FakeQuantize kernel (emitters/fp32_fake_quantize, jit/fp32_fq_step) against the
// reference (jit/fq_math fake_quantize, ref::fake_quantize), bit for bit: levels 2..256, ranges
// inverted (il > ih), empty (il == ih, ol == oh), mirrored (ol > oh), every size 1..40 (vector body and
// every tail), specials (NaN payloads, inf, -0, subnormals), inputs on and one ulp around the exact
// ties of the grid, a hostile caller MXCSR, both parameter modes; the step's broadcast forms; and
// graphs whose FakeQuantizes stay in float (ranges along the last axis, a rank-5 tensor) and run as
// this kernel, equal to Oracle B. Once per ISA level the host runs.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <cmath>
#include <cstring>
#include <random>

#include "emitters/fp32_fake_quantize.hpp"
#include "jit/fp32_fq_step.hpp"
#include "jit/fq_math.hpp"
#include "runtime/ref_ops.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/fp32_values.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

struct Range {
    float il, ih, ol, oh;
};

// Typical, inverted, empty and mirrored ranges (spec §1.4), one set each.
const std::vector<Range>& ranges() {
    static const std::vector<Range> r = {{-1.f, 1.f, -1.f, 1.f},   {0.f, 6.f, 0.f, 6.f},      {-0.3f, 2.55f, -0.3f, 2.55f},
                                         {2.f, -1.f, 2.f, -1.f},  {0.5f, 0.5f, -1.f, 1.f},   {-1.f, 1.f, 0.7f, 0.7f},
                                         {-2.f, 3.f, 4.f, -4.f},  {1e-6f, 3e-6f, 0.f, 1.f}, {-0.f, 0.f, -0.f, 0.f}};
    return r;
}

// n inputs: a third random (specials, bit patterns, uniform), the rest on the exact ties of the
// grid of `r` and one ulp either side, plus the range ends.
std::vector<float> inputs(std::mt19937_64& rng, const Range& r, int levels, int64_t n) {
    std::vector<float> v = random_floats(rng, n);
    const float step = (r.ih - r.il) / static_cast<float>(levels - 1);
    for (float& x : v) {
        const uint64_t k = rng() % 6;
        if (k < 2) continue;
        const float j = static_cast<float>(static_cast<int64_t>(rng() % static_cast<uint64_t>(levels + 1)) - 1);
        const float tie = r.il + (j + 0.5f) * step;
        x = k == 2 ? tie : k == 3 ? std::nextafter(tie, INFINITY) : k == 4 ? std::nextafter(tie, -INFINITY)
                                                                          : (rng() % 2 ? r.il : r.ih);
    }
    return v;
}

Fp32FqDesc desc_of(Fp32FqMode mode, int levels, const std::vector<Range>& sets) {
    Fp32FqDesc d;
    d.mode = mode;
    d.levels = levels;
    for (const Range& r : sets) d.il.push_back(r.il), d.ih.push_back(r.ih), d.ol.push_back(r.ol), d.oh.push_back(r.oh);
    return d;
}

class Fp32FakeQuantize : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
};
class Fp32FakeQuantizeCode : public ::testing::TestWithParam<Isa> {};

// Rows: one call per set with every size; Lanes: consecutive elements walk the sets.
TEST_P(Fp32FakeQuantize, BothModesEveryLevelRangeAndSizeBitExact) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0xfa4e);
    const std::vector<Range>& sets = ranges();
    const int64_t n_sets = static_cast<int64_t>(sets.size());
    for (int levels : {2, 3, 15, 16, 100, 255, 256})
        for (Fp32FqMode mode : {Fp32FqMode::Rows, Fp32FqMode::Lanes}) {
            const Fp32FqDesc d = desc_of(mode, levels, sets);
            const std::unique_ptr<JitKernel> k = emit_fp32_fake_quantize(isa, d);
            EXPECT_EQ(k->name, fp32_fq_kernel_name(d, isa));
            for (int64_t p = 0; p < n_sets; ++p)
                for (int64_t n = 1; n <= (mode == Fp32FqMode::Rows ? 40 : n_sets - p); ++n) {
                    const unsigned csr = n % 3 == 0 ? 0xFFC0u : 0x1F80u; // RZ + FTZ + DAZ in the caller
                    SCOPED_TRACE(k->name + " set " + std::to_string(p) + " n " + std::to_string(n));
                    auto set_of = [&](int64_t i) { return sets[static_cast<size_t>(mode == Fp32FqMode::Rows ? p : p + i)]; };
                    const std::vector<float> x = inputs(rng, set_of(0), levels, n);
                    std::vector<float> want(static_cast<size_t>(n));
                    for (int64_t i = 0; i < n; ++i) {
                        const Range r = set_of(i);
                        want[static_cast<size_t>(i)] = fq::fake_quantize(x[static_cast<size_t>(i)], r.il, r.ih, r.ol,
                                                                         r.oh, levels);
                    }
                    // guard floats past the end: a tail must not write them
                    std::vector<float> got(static_cast<size_t>(n) + 16, float_bits(0x7f8dead0));
                    const Fp32FqArgs a{x.data(), got.data(), n, p};
                    const unsigned saved = _mm_getcsr();
                    _mm_setcsr(csr);
                    k->call(&a);
                    _mm_setcsr(saved);
                    for (size_t i = static_cast<size_t>(n); i < got.size(); ++i)
                        ASSERT_EQ(std::memcmp(&got[i], &got.back(), 4), 0) << "wrote past n at " << i;
                    got.resize(static_cast<size_t>(n));
                    ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * 4), 0)
                        << first_bit_difference(Tensor::f32({n}, want), got);
                }
        }
}

ir::Node fq_node(const Shape& x, int levels) {
    ir::Node n;
    n.op = ir::Op::FakeQuantize;
    n.name = "fq";
    n.type = ElemType::f32;
    n.shape = x;
    n.levels = levels;
    return n;
}

Tensor range_tensor(std::mt19937_64& rng, const Shape& s, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(static_cast<size_t>(num_elements(s)));
    for (float& f : v) f = u(rng);
    return Tensor::f32(s, v);
}

// Each range broadcast on its own (scalar, per channel, along the last axes, mixed), work split in two.
TEST_P(Fp32FakeQuantize, StepBroadcastFormsMatchTheReference) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0x5e7);
    const Shape x_shape{2, 5, 3, 7};
    struct Form {
        Shape il, ih, ol, oh;
        Fp32FqMode mode;
    };
    const std::vector<Form> forms = {
        {{1}, {}, {1, 1, 1, 1}, {1}, Fp32FqMode::Rows},
        {{1, 5, 1, 1}, {5, 1, 1}, {1}, {1, 5, 1, 1}, Fp32FqMode::Rows},
        {{1, 1, 1, 7}, {7}, {1}, {1, 1, 1, 7}, Fp32FqMode::Lanes},
        {{1, 1, 3, 7}, {1}, {3, 1}, {1, 1, 3, 7}, Fp32FqMode::Lanes},
        {{1, 5, 3, 1}, {1, 5, 1, 1}, {1}, {1}, Fp32FqMode::Rows},
        {{1, 5, 1, 1}, {1}, {1, 1, 1, 7}, {1}, Fp32FqMode::Lanes},
        {{2, 1, 1, 1}, {2, 5, 1, 1}, {1}, {1}, Fp32FqMode::Rows},
        {{2, 5, 3, 7}, {1}, {1}, {2, 5, 3, 7}, Fp32FqMode::Lanes}};
    for (int levels : {2, 16, 255, 256})
        for (const Form& f : forms) {
            const Tensor il = range_tensor(rng, f.il, -1.5f, -0.5f), ih = range_tensor(rng, f.ih, 0.5f, 2.f);
            const Tensor ol = range_tensor(rng, f.ol, -1.f, 0.f), oh = range_tensor(rng, f.oh, 0.f, 3.f);
            const ir::Node node = fq_node(x_shape, levels);
            const std::optional<Fp32FqPlan> p = plan_fp32_fake_quantize(node, x_shape, il, ih, ol, oh);
            ASSERT_TRUE(p.has_value()) << to_string(f.il);
            EXPECT_EQ(p->desc.mode, f.mode) << to_string(f.il) << to_string(f.ol);
            const std::shared_ptr<JitKernel> k = emit_fp32_fake_quantize(isa, p->desc);
            SCOPED_TRACE(k->name + " il " + to_string(f.il) + " ol " + to_string(f.ol));
            Tensor x = Tensor::f32(x_shape, inputs(rng, {-1.f, 1.f, 0.f, 1.f}, levels, num_elements(x_shape)));
            Tensor y(ElemType::f32, x_shape);
            auto step = make_fp32_fq_step(k, *p, 0, 1);
            uint8_t* slots[2] = {static_cast<uint8_t*>(x.raw()), static_cast<uint8_t*>(y.raw())};
            const int64_t items = step->work_items(), mid = items / 2;
            step->run(slots, 0, mid);
            step->run(slots, mid, items);
            const Tensor want = ref::fake_quantize(x, il, ih, ol, oh, levels);
            std::vector<float> got(y.data<float>(), y.data<float>() + y.numel());
            ASSERT_EQ(std::memcmp(want.raw(), y.raw(), want.bytes()), 0) << first_bit_difference(want, got);
        }
    // A range that does not broadcast to x, or a non-f32 range: no plan (the node stays interpreted).
    const Tensor bad = Tensor::f32({1, 4, 1, 1}, {0.f, 1.f, 2.f, 3.f}), one = Tensor::f32({1}, {1.f});
    EXPECT_FALSE(plan_fp32_fake_quantize(fq_node(x_shape, 256), x_shape, bad, one, one, one).has_value());
    EXPECT_FALSE(plan_fp32_fake_quantize(fq_node(x_shape, 256), x_shape, Tensor::u8({1}, {1}), one, one, one)
                     .has_value());
}

TEST_P(Fp32FakeQuantizeCode, InstructionAudit) {
    const Isa isa = GetParam();
    for (Fp32FqMode mode : {Fp32FqMode::Rows, Fp32FqMode::Lanes}) {
        const std::unique_ptr<JitKernel> k = emit_fp32_fake_quantize(isa, desc_of(mode, 256, ranges()));
        const ZAudit z = expect_clean_kernel(*k, isa);
        for (const char* banned : {"vfmadd231ps", "vfmadd213ps", "vrcpps", "vrcp14ps", "vrsqrtps"})
            EXPECT_EQ(z.count(banned), 0) << k->name << " " << banned;
        EXPECT_EQ(z.count("vdivps"), 4) << k->name; // two per vector, in the body and the tail
    }
}

// FakeQuantizes the passes keep in float: ranges along the last axis of a rank-3 tensor (not the
// channel axis) and per-channel ranges of a rank-5 tensor. They run as fp32_fq kernels and the model
// equals Oracle B bit for bit.
Graph float_fq_graph() {
    std::mt19937_64 rng(11);
    Graph g;
    NodeRef x = g.parameter("x", {2, 4, 19});
    NodeRef a = g.fake_quantize("fq_last_axis", x, g.constant("a_il", range_tensor(rng, {1, 1, 19}, -2.f, -1.f)),
                                g.constant("a_ih", range_tensor(rng, {1, 1, 19}, 1.f, 2.f)),
                                g.constant("a_ol", range_tensor(rng, {19}, -1.f, 0.f)),
                                g.constant("a_oh", Tensor::f32({1}, {1.f})), 16);
    g.result("a", a);
    NodeRef y = g.parameter("y", {1, 3, 2, 4, 5});
    NodeRef b = g.fake_quantize("fq_rank5", y, g.constant("b_il", range_tensor(rng, {1, 3, 1, 1, 1}, -2.f, -1.f)),
                                g.constant("b_ih", range_tensor(rng, {1, 3, 1, 1, 1}, 1.f, 2.f)),
                                g.constant("b_ol", Tensor::f32({1}, {0.f})),
                                g.constant("b_oh", range_tensor(rng, {1, 3, 1, 1, 1}, 1.f, 2.f)), 256);
    g.result("b", b);
    return g;
}

TEST_P(Fp32FakeQuantize, GraphFloatFakeQuantizesRunAsJitKernelsAndEqualOracleB) {
    const Isa isa = GetParam();
    const Graph g = float_fq_graph();
    CompileOptions opt;
    opt.max_isa = isa;
    CompiledModel m = compile(g, opt);
    const std::string text = m.describe();
    SCOPED_TRACE(text);
    int fq_kernels = 0;
    for (const KernelInfo& k : m.kernels())
        if (k.name.rfind("fp32_fq_", 0) == 0) {
            ++fq_kernels;
            EXPECT_TRUE(k.jit) << k.name;
            EXPECT_EQ(k.name.substr(k.name.rfind("__") + 2), to_string(isa)) << k.name;
        }
    EXPECT_EQ(fq_kernels, 2);
    EXPECT_NE(text.find("fp32_fq_L16_lanes_p19__"), std::string::npos);
    EXPECT_NE(text.find("fp32_fq_L256_rows_p3__"), std::string::npos);
    std::mt19937_64 rng(3);
    for (int t = 0; t < 4; ++t) {
        const std::vector<Tensor> ins{Tensor::f32({2, 4, 19}, inputs(rng, {-1.5f, 1.5f, -1.f, 1.f}, 16, 152)),
                                      Tensor::f32({1, 3, 2, 4, 5}, inputs(rng, {-1.5f, 1.5f, 0.f, 1.f}, 256, 120))};
        const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, ins);
        EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
        EXPECT_TRUE(r.all_jit) << r.fallback;
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, Fp32FakeQuantize, ::testing::ValuesIn(test_isas()), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, Fp32FakeQuantizeCode, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
