// The exponential the reference and the fp32 kernels share (jit/exp_math) against the C library, and
// the Sigmoid and Softmax kernels (emitters/fp32_transcendental) against the reference ops, bit for
// bit (memcmp): sizes across the vector body and every tail, specials (NaN payloads, inf, -0,
// subnormals), a hostile caller MXCSR, rows with several NaNs; and a graph whose Sigmoid and Softmax run
// as these kernels between quantized layers and equal Oracle B. The kernels are AVX2 code; they run on
// every level the host has.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <cmath>
#include <cstring>
#include <random>

#include "emitters/fp32_eltwise.hpp"
#include "emitters/fp32_transcendental.hpp"
#include "jit/exp_math.hpp"
#include "jit/fp32_softmax_step.hpp"
#include "runtime/ref_ops_extra.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/fp32_values.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

// Distance in units in the last place between two finite doubles of the same sign.
int64_t ulps(double a, double b) {
    int64_t ia, ib;
    std::memcpy(&ia, &a, 8);
    std::memcpy(&ib, &b, 8);
    return ia > ib ? ia - ib : ib - ia;
}

TEST(ExpFixed, WithinTwoUlpOfTheCLibraryAndExactAtTheEnds) {
    std::mt19937_64 rng(0xe4);
    std::uniform_real_distribution<double> wide(fpm::kExpMin, fpm::kExpMax), narrow(-2.0, 2.0);
    int64_t worst = 0;
    for (int i = 0; i < 400000; ++i) {
        const double x = i % 2 ? wide(rng) : narrow(rng);
        const int64_t d = ulps(fpm::exp_fixed(x), std::exp(x));
        worst = std::max(worst, d);
        ASSERT_LE(d, 2) << "x = " << x;
    }
    std::printf("exp_fixed: worst %lld ulp over 400000 points\n", static_cast<long long>(worst));
    EXPECT_EQ(fpm::exp_fixed(0.0), 1.0);
    EXPECT_EQ(fpm::exp_fixed(-0.0), 1.0);
    EXPECT_EQ(fpm::exp_fixed(710.0), INFINITY);
    EXPECT_EQ(fpm::exp_fixed(INFINITY), INFINITY);
    EXPECT_EQ(fpm::exp_fixed(-709.0), 0.0);
    EXPECT_EQ(fpm::exp_fixed(-INFINITY), 0.0);
    EXPECT_TRUE(std::isnan(fpm::exp_fixed(NAN)));
    EXPECT_LE(ulps(fpm::exp_fixed(fpm::kExpMax), std::exp(fpm::kExpMax)), 2);
    EXPECT_LE(ulps(fpm::exp_fixed(fpm::kExpMin), std::exp(fpm::kExpMin)), 2);
}

// The reference Sigmoid is the correctly rounded float of 1 / (1 + e^-v) but for rare double ties:
// at most one float ulp from the same formula with the C library's exp.
TEST(ExpFixed, ReferenceSigmoidWithinOneFloatUlpOfTheCLibraryFormula) {
    std::mt19937_64 rng(0x516);
    std::uniform_real_distribution<float> u(-30.f, 30.f);
    for (int i = 0; i < 200000; ++i) {
        const float v = u(rng);
        const float want = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(v))));
        const float got = fpm::sigmoid(v);
        ASSERT_LE(std::fabs(got - want), std::nextafter(want, INFINITY) - want) << "v = " << v;
    }
}

class Fp32Transcendental : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
};

// Runs kernel k on x with args(x, out) under MXCSR csr, into a poisoned buffer 16 floats longer than x;
// the floats past x must stay poisoned.
template <class Args, class MakeArgs>
std::vector<float> call_poisoned(const JitKernel& k, const std::vector<float>& x, unsigned csr, MakeArgs make_args) {
    std::vector<float> got(x.size() + 16, float_bits(0x7f8dead0));
    const Args a = make_args(got.data());
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(csr);
    k.call(&a);
    _mm_setcsr(saved);
    for (size_t i = x.size(); i < got.size(); ++i) EXPECT_EQ(std::memcmp(&got[i], &got.back(), 4), 0) << i;
    got.resize(x.size());
    return got;
}

std::vector<float> call_sigmoid(const JitKernel& k, const std::vector<float>& x, unsigned csr) {
    return call_poisoned<Fp32EltwiseArgs>(k, x, csr, [&](float* out) {
        return Fp32EltwiseArgs{x.data(), nullptr, out, static_cast<int64_t>(x.size())};
    });
}

TEST_P(Fp32Transcendental, SigmoidEverySizeSpecialValuesBitExact) {
    Fp32EltwiseDesc d;
    d.op = Fp32Op::Sigmoid;
    const std::unique_ptr<JitKernel> k = emit_fp32_eltwise(GetParam(), d);
    EXPECT_EQ(k->name, "fp32_sigmoid__avx2");
    std::mt19937_64 rng(0x5167);
    std::uniform_real_distribution<float> u(-120.f, 120.f);
    for (int64_t n = 1; n <= 70; ++n)
        for (int rep = 0; rep < 3; ++rep) {
            std::vector<float> x = random_floats(rng, n);
            if (rep == 1)
                for (float& f : x) f = u(rng);
            const Tensor xt = Tensor::f32({n}, x);
            const Tensor want = ref::sigmoid(xt);
            const std::vector<float> got = call_sigmoid(*k, x, rep == 2 ? 0xFFC0u : 0x1F80u);
            ASSERT_EQ(std::memcmp(want.raw(), got.data(), want.bytes()), 0)
                << "n " << n << " rep " << rep << ": " << first_bit_difference(want, got);
        }
}

std::vector<float> call_softmax(const JitKernel& k, const std::vector<float>& x, unsigned csr) {
    return call_poisoned<Fp32SoftmaxArgs>(
        k, x, csr, [&](float* out) { return Fp32SoftmaxArgs{x.data(), out, static_cast<int64_t>(x.size())}; });
}

TEST_P(Fp32Transcendental, SoftmaxRowEveryLengthSpecialValuesBitExact) {
    const std::unique_ptr<JitKernel> k = emit_fp32_softmax_row();
    std::mt19937_64 rng(0x50f7);
    std::normal_distribution<float> nd(0.f, 4.f);
    std::vector<int64_t> lengths;
    for (int64_t n = 1; n <= 41; ++n) lengths.push_back(n);
    lengths.insert(lengths.end(), {1000, 1001});
    for (int64_t n : lengths)
        for (int rep = 0; rep < 5; ++rep) {
            std::vector<float> x(static_cast<size_t>(n));
            for (float& f : x) f = nd(rng);
            if (rep == 1) x = random_floats(rng, n); // NaNs of several payloads, infs, extremes
            if (rep == 2) x[rng() % x.size()] = INFINITY;
            if (rep == 3) x[rng() % x.size()] = -0.f, x[rng() % x.size()] = 0.f;
            const Tensor xt = Tensor::f32({1, n}, x);
            const Tensor want = ref::softmax(xt, 1);
            const std::vector<float> got = call_softmax(*k, x, rep == 4 ? 0xFFC0u : 0x1F80u);
            ASSERT_EQ(std::memcmp(want.raw(), got.data(), want.bytes()), 0)
                << "n " << n << " rep " << rep << ": " << first_bit_difference(want, got);
        }
}

TEST(Fp32TranscendentalCode, InstructionAudit) {
    Fp32EltwiseDesc d;
    d.op = Fp32Op::Sigmoid;
    for (const std::unique_ptr<JitKernel>& k :
         {emit_fp32_eltwise(Isa::avx2, d), emit_fp32_softmax_row(), emit_fp32_softmax_cols()}) {
        const ZAudit z = expect_clean_kernel(*k, Isa::avx2);
        for (const char* banned : {"vfmadd231pd", "vfmadd213pd", "vrcpps", "vrcp14ps", "vrsqrtps"})
            EXPECT_EQ(z.count(banned), 0) << k->name << " " << banned;
        EXPECT_GT(z.count("vdivpd"), 0) << k->name;
    }
}

// Softmax along every axis of a 4-D tensor through the step (row or strided kernel), inner sizes
// across the 4-lane blocks and their tails, work split in two, against ref::softmax.
TEST_P(Fp32Transcendental, SoftmaxStepEveryAxisBitExact) {
    const std::shared_ptr<JitKernel> row = emit_fp32_softmax_row(), cols = emit_fp32_softmax_cols();
    std::mt19937_64 rng(0xa515);
    std::normal_distribution<float> nd(0.f, 3.f);
    for (const Shape& s : {Shape{2, 5, 3, 7}, Shape{1, 9, 1, 1}, Shape{3, 1, 4, 2}, Shape{1, 33, 2, 5}})
        for (int64_t axis = 0; axis < 4; ++axis)
            for (int rep = 0; rep < 2; ++rep) {
                ir::Node n;
                n.op = ir::Op::Softmax;
                n.type = ElemType::f32;
                n.shape = s;
                n.axis = axis;
                const std::optional<Fp32SoftmaxPlan> p = plan_fp32_softmax(n, s);
                ASSERT_TRUE(p.has_value());
                SCOPED_TRACE(to_string(s) + " axis " + std::to_string(axis) + " rep " + std::to_string(rep));
                std::vector<float> v(static_cast<size_t>(num_elements(s)));
                for (float& f : v) f = nd(rng);
                if (rep == 1) v = random_floats(rng, num_elements(s));
                Tensor x = Tensor::f32(s, v), y(ElemType::f32, s);
                auto step = make_fp32_softmax_step(p->rows() ? row : cols, *p, 0, 1);
                uint8_t* slots[2] = {static_cast<uint8_t*>(x.raw()), static_cast<uint8_t*>(y.raw())};
                const int64_t items = step->work_items(), mid = items / 2;
                step->run(slots, 0, mid);
                step->run(slots, mid, items);
                const Tensor want = ref::softmax(x, axis);
                std::vector<float> got(y.data<float>(), y.data<float>() + y.numel());
                ASSERT_EQ(std::memcmp(want.raw(), y.raw(), want.bytes()), 0) << first_bit_difference(want, got);
            }
}

// FQ -> conv -> Sigmoid -> Multiply (swish-like gate) -> FQ -> conv -> flatten -> Softmax.
Graph sigmoid_softmax_graph() {
    std::mt19937_64 rng(21);
    std::normal_distribution<float> nd(0.f, 0.3f);
    auto normal = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = nd(rng);
        return v;
    };
    auto scalar = [](Graph& g, const std::string& name, float v) { return g.constant(name, Tensor::f32({1}, {v})); };
    Graph g;
    NodeRef x = g.parameter("input", {1, 3, 8, 9});
    NodeRef lo = scalar(g, "in_lo", -1.f), hi = scalar(g, "in_hi", 1.f);
    NodeRef q0 = g.fake_quantize("fq_in", x, lo, hi, lo, hi, 256);
    NodeRef wl = scalar(g, "w_lo", -1.f), wh = scalar(g, "w_hi", 1.f);
    NodeRef w1 = g.fake_quantize("w1_fq", g.constant("w1", Tensor::f32({11, 3, 3, 3}, normal(11 * 27))), wl, wh,
                                 wl, wh, 255);
    ConvParams p;
    p.pads_begin = {1, 1};
    p.pads_end = {1, 1};
    NodeRef c1 = g.convolution("conv1", q0, w1, p);
    NodeRef sg = g.sigmoid("sigmoid", c1);
    NodeRef gate = g.multiply("gate", sg, c1);
    NodeRef l2 = scalar(g, "fq2_lo", -0.5f), h2 = scalar(g, "fq2_hi", 1.5f);
    NodeRef q2 = g.fake_quantize("fq2", gate, l2, h2, l2, h2, 256);
    NodeRef w2 = g.fake_quantize("w2_fq", g.constant("w2", Tensor::f32({5, 11, 8, 9}, normal(5 * 11 * 72))), wl, wh,
                                 wl, wh, 255);
    NodeRef c2 = g.convolution("conv2", q2, w2); // 1x1 spatial output: logits [1, 5, 1, 1]
    g.result("probs", g.softmax("softmax", c2, 1));
    return g;
}

TEST_P(Fp32Transcendental, GraphSigmoidAndSoftmaxRunAsJitKernelsAndEqualOracleB) {
    const Isa isa = GetParam();
    const Graph g = sigmoid_softmax_graph();
    CompileOptions opt;
    opt.max_isa = isa;
    CompiledModel m = compile(g, opt);
    const std::string text = m.describe();
    SCOPED_TRACE(text);
    EXPECT_NE(text.find("fp32_sigmoid__avx2"), std::string::npos);
    EXPECT_NE(text.find("fp32_softmax_row__avx2"), std::string::npos);
    std::mt19937_64 rng(8);
    std::uniform_real_distribution<float> u(-1.2f, 1.2f);
    for (int t = 0; t < 4; ++t) {
        std::vector<float> v(1 * 3 * 8 * 9);
        for (float& f : v) f = u(rng);
        const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, {Tensor::f32({1, 3, 8, 9}, v)});
        EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
        if (!r.all_jit) {
            EXPECT_EQ(r.fallback.rfind("reorder_nhwc_to_nchw_f32", 0), 0u) << r.fallback;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, Fp32Transcendental, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
