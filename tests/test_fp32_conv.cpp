// fp32 JIT Convolution / GroupConvolution / MatMul (emitters/fp32_gemm, jit/fp32_conv_step) against
// the reference ops the fp32 fallback and Oracle B use (ref::eval_float_node, fp64 = false), bit for
// bit (memcmp): swept conv geometries (kernels 1/3/5/7, strides 1/2, pads, dilations, channel counts
// across vector tails), groups incl. depthwise, MatMul shapes (K = 1, N tails, transposes, broadcast
// batch dims), special values (NaN payloads, +-inf, -0, subnormals) in the inputs and finite special
// weights, work split in 1/2/3 ranges; the instruction audit; and a mixed-precision graph
// (quantized conv -> fp32 conv / depthwise / MatMul -> quantized conv) whose fp32 nodes run as JIT
// kernels and whose output equals Oracle B, plus non-finite weights (kept on the fallback when the
// conv pads).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>

#include "emitters/fp32_gemm.hpp"
#include "jit/fp32_conv_step.hpp"
#include "runtime/float_node_eval.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/fp32_values.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

const std::vector<float>& finite_specials() {
    static const std::vector<float> v = {0.f, -0.f, float_bits(0x00000001), float_bits(0x80000001),
                                         float_bits(0x007fffff), FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX, 1.f, -1.f, 0.5f,
                                         1e-30f, -1e30f};
    return v;
}
const std::vector<float>& nonfinite() {
    static const std::vector<float> v = {float_bits(0x7fc00000), float_bits(0xffc00000), float_bits(0x7fc12345),
                                         float_bits(0x7f800001), INFINITY, -INFINITY};
    return v;
}

// Mostly ordinary values; `special` of 8 draws a finite special, and with `nan_inf` a NaN / inf.
std::vector<float> values(std::mt19937_64& rng, int64_t n, bool nan_inf) {
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) {
        const uint64_t r = rng() % 16;
        x = r == 0   ? finite_specials()[rng() % finite_specials().size()]
            : r == 1 && nan_inf ? nonfinite()[rng() % nonfinite().size()]
                                : u(rng);
    }
    return v;
}

std::string hex_diff(const Tensor& want, const Tensor& got) {
    for (int64_t i = 0; i < want.numel(); ++i) {
        uint32_t a, b;
        std::memcpy(&a, want.data<float>() + i, 4);
        std::memcpy(&b, got.data<float>() + i, 4);
        if (a != b) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "element %lld: ref 0x%08x, jit 0x%08x", static_cast<long long>(i), a, b);
            return buf;
        }
    }
    return "";
}

// Runs a step over its work items in `parts` ranges (the thread pool's static split, serially).
void run_split(const rt::Step& s, uint8_t* const* slots, int parts) {
    const int64_t n = s.work_items();
    for (int i = 0; i < parts; ++i) s.run(slots, n * i / parts, n * (i + 1) / parts);
}

class Fp32Conv : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
};
class Fp32ConvCode : public ::testing::TestWithParam<Isa> {};

struct ConvCase {
    int64_t n, c, h, w, g, opg, k, s, d, pt, pl, pb, pr;
};

void check_conv(Isa isa, const ConvCase& cc, std::mt19937_64& rng, int parts) {
    const int lanes = fp32_gemm_lanes(isa);
    ir::Node node;
    node.name = "conv";
    node.op = cc.g > 1 ? ir::Op::GroupConvolution : ir::Op::Convolution;
    node.conv.strides = {cc.s, cc.s};
    node.conv.dilations = {cc.d, 1};
    node.conv.pads_begin = {cc.pt, cc.pl};
    node.conv.pads_end = {cc.pb, cc.pr};
    const int64_t ipg = cc.c / cc.g;
    const Shape xs{cc.n, cc.c, cc.h, cc.w};
    const Shape ws = cc.g > 1 ? Shape{cc.g, cc.opg, ipg, cc.k, cc.k} : Shape{cc.opg, cc.c, cc.k, cc.k};
    const int64_t oh = (cc.h + cc.pt + cc.pb - cc.d * (cc.k - 1) - 1) / node.conv.strides[0] + 1;
    const int64_t ow = (cc.w + cc.pl + cc.pr - (cc.k - 1) - 1) / node.conv.strides[1] + 1;
    if (oh < 1 || ow < 1) return;
    node.shape = {cc.n, cc.g * cc.opg, oh, ow};
    Tensor x = Tensor::f32(xs, values(rng, num_elements(xs), true));
    Tensor w = Tensor::f32(ws, values(rng, num_elements(ws), false));
    const Fp32ConvPlan p = plan_fp32_conv(node, xs, &w, lanes);
    ASSERT_EQ(p.why_not, "");
    Fp32GemmDesc d;
    const std::shared_ptr<JitKernel> k = emit_fp32_gemm(isa, d);
    auto step = make_fp32_conv_step(k, p, lanes, {0, 1}, 2);
    Tensor y(ElemType::f32, node.shape);
    std::memset(y.raw(), 0xff, y.bytes());
    uint8_t* slots[3] = {static_cast<uint8_t*>(x.raw()), static_cast<uint8_t*>(w.raw()), static_cast<uint8_t*>(y.raw())};
    run_split(*step, slots, parts);
    const Tensor want = ref::eval_float_node(node, {&x, &w}, false);
    ASSERT_EQ(std::memcmp(want.raw(), y.raw(), want.bytes()), 0)
        << "x " << to_string(xs) << " w " << to_string(ws) << " s" << cc.s << " d" << cc.d << " pads " << cc.pt
        << cc.pl << cc.pb << cc.pr << " parts " << parts << ": " << hex_diff(want, y);
}

TEST_P(Fp32Conv, ConvSweepBitExact) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0xc0);
    int cases = 0;
    for (int64_t k : {1, 3, 5, 7})
        for (int64_t s : {1, 2})
            for (int64_t d : {1, 2})
                for (int rep = 0; rep < 6; ++rep) {
                    ConvCase cc{};
                    cc.n = 1 + static_cast<int64_t>(rng() % 2);
                    cc.c = 1 + static_cast<int64_t>(rng() % 9);
                    cc.h = k + static_cast<int64_t>(rng() % 12);
                    cc.w = 1 + static_cast<int64_t>(rng() % 40);
                    cc.g = 1, cc.opg = 1 + static_cast<int64_t>(rng() % 19);
                    cc.k = k, cc.s = s, cc.d = d;
                    cc.pt = static_cast<int64_t>(rng() % (k + 1)), cc.pl = static_cast<int64_t>(rng() % (k + 1));
                    cc.pb = static_cast<int64_t>(rng() % (k + 1)), cc.pr = static_cast<int64_t>(rng() % (k + 1));
                    check_conv(isa, cc, rng, 1 + rep % 3);
                    ++cases;
                }
    // A wide reduction (several tiles per image) and a large output plane.
    check_conv(isa, {1, 64, 9, 9, 1, 10, 3, 1, 1, 1, 1, 1, 1}, rng, 3);
    check_conv(isa, {1, 3, 45, 67, 1, 9, 3, 1, 1, 1, 1, 1, 1}, rng, 2);
    EXPECT_GT(cases, 0);
}

TEST_P(Fp32Conv, GroupAndDepthwiseConvBitExact) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0x9c);
    for (int64_t k : {1, 3, 5})
        for (int64_t s : {1, 2})
            for (int rep = 0; rep < 5; ++rep) {
                const int64_t g = rep < 2 ? 3 + static_cast<int64_t>(rng() % 20) : 2 + static_cast<int64_t>(rng() % 3);
                const int64_t ipg = rep < 2 ? 1 : 1 + static_cast<int64_t>(rng() % 4);
                const int64_t opg = rep == 0 ? 1 : 1 + static_cast<int64_t>(rng() % 5);
                ConvCase cc{2, g * ipg, k + static_cast<int64_t>(rng() % 9), 1 + static_cast<int64_t>(rng() % 30),
                            g, opg, k, s, 1 + rep % 2, k / 2, k / 2, k / 2, static_cast<int64_t>(rng() % (k + 1))};
                check_conv(isa, cc, rng, 1 + rep % 3);
            }
}

void check_matmul(Isa isa, const Shape& sa, const Shape& sb, bool ta, bool tb, std::mt19937_64& rng, int parts,
                  const std::vector<float>* fa = nullptr, const std::vector<float>* fb = nullptr) {
    const int lanes = fp32_gemm_lanes(isa);
    Tensor a = Tensor::f32(sa, fa ? *fa : values(rng, num_elements(sa), true));
    Tensor b = Tensor::f32(sb, fb ? *fb : values(rng, num_elements(sb), true));
    ir::Node node;
    node.name = "mm";
    node.op = ir::Op::MatMul;
    node.transpose_a = ta, node.transpose_b = tb;
    const Tensor want = ref::eval_float_node(node, {&a, &b}, false);
    node.shape = want.shape();
    const Fp32MatMulPlan p = plan_fp32_matmul(node, sa, sb, lanes);
    ASSERT_EQ(p.why_not, "");
    Fp32GemmDesc d;
    d.a_first = true;
    // odd parts: B packed at load as for a constant; even: copied per work item
    auto step = make_fp32_matmul_step(emit_fp32_gemm(isa, d), p, lanes, {0, 1}, 2, parts % 2 ? &b : nullptr);
    Tensor y(ElemType::f32, node.shape);
    uint8_t* slots[3] = {static_cast<uint8_t*>(a.raw()), static_cast<uint8_t*>(b.raw()), static_cast<uint8_t*>(y.raw())};
    run_split(*step, slots, parts);
    ASSERT_EQ(std::memcmp(want.raw(), y.raw(), want.bytes()), 0)
        << to_string(sa) << (ta ? "^T" : "") << " x " << to_string(sb) << (tb ? "^T" : "") << ": " << hex_diff(want, y);
}

TEST_P(Fp32Conv, MatMulShapesBitExact) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0x33);
    int rep = 0;
    for (int64_t M : {1, 3, 70})
        for (int64_t K : {1, 5, 33, 300})
            for (int64_t N : {1, 7, 8, 9, 17, 40})
                for (bool ta : {false, true})
                    for (bool tb : {false, true}) {
                        const Shape sa = ta ? Shape{K, M} : Shape{M, K}, sb = tb ? Shape{N, K} : Shape{K, N};
                        check_matmul(isa, sa, sb, ta, tb, rng, 1 + rep++ % 3);
                    }
    // batch dims: equal, broadcast either side, rank 4 against rank 2
    check_matmul(isa, {2, 3, 5, 6}, {2, 3, 6, 9}, false, false, rng, 3);
    check_matmul(isa, {2, 1, 5, 6}, {3, 6, 19}, false, false, rng, 2);
    check_matmul(isa, {4, 5, 6}, {6, 33}, false, false, rng, 1);
    check_matmul(isa, {6, 5}, {3, 33, 6}, true, true, rng, 3);
}

// Both operands NaN: the reference's x * y and acc + x * y fix the payload order; the kernel keeps it.
TEST_P(Fp32Conv, MatMulTwoNaNPayloadsMatchTheReference) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(1);
    const int64_t M = 3, K = 4, N = 11;
    std::vector<float> a(M * K), b(K * N);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float_bits(0x7fc00000u + static_cast<uint32_t>(i));
    for (size_t i = 0; i < b.size(); ++i) b[i] = i % 3 ? float_bits(0xffc10000u + static_cast<uint32_t>(i)) : 1.f;
    check_matmul(isa, {M, K}, {K, N}, false, false, rng, 1, &a, &b);
}

// Non-finite weights with padding, or weights not constant: the fallback, with the reason.
TEST(Fp32ConvPlan, PaddedNonFiniteOrRuntimeWeightsStayOnTheFallback) {
    ir::Node node;
    node.op = ir::Op::Convolution;
    node.shape = {1, 2, 3, 3};
    Tensor w = Tensor::f32({2, 1, 1, 1}, {1.f, INFINITY});
    EXPECT_EQ(plan_fp32_conv(node, {1, 1, 3, 3}, &w, 8).why_not, ""); // no padding
    EXPECT_NE(plan_fp32_conv(node, {1, 1, 3, 3}, nullptr, 8).why_not, "");
    Tensor ok = Tensor::f32({2, 1, 1, 1}, {1.f, -0.f});
    EXPECT_EQ(plan_fp32_conv(node, {1, 1, 3, 3}, &ok, 8).why_not, "");
    node.shape = {1, 2, 5, 5};
    node.conv.pads_begin = {1, 1};
    node.conv.pads_end = {1, 1};
    EXPECT_NE(plan_fp32_conv(node, {1, 1, 3, 3}, &w, 8).why_not.find("non-finite"), std::string::npos);
}

// Without padding no tap is skipped, so inf / NaN weights run in the kernel too (and x * w with two
// NaNs gives x's payload, the reference's rule).
TEST_P(Fp32Conv, NonFiniteWeightsWithoutPaddingBitExact) {
    const Isa isa = GetParam();
    const int lanes = fp32_gemm_lanes(isa);
    std::mt19937_64 rng(0x1f);
    for (int rep = 0; rep < 6; ++rep) {
        const int64_t k = 1 + 2 * (rep % 3), C = 2 + rep, O = 3 + 5 * rep;
        ir::Node node;
        node.op = ir::Op::Convolution;
        node.conv.strides = {1 + rep % 2, 1};
        const Shape xs{1, C, k + 6, k + 20};
        node.shape = {1, O, (xs[2] - k) / node.conv.strides[0] + 1, xs[3] - k + 1};
        std::vector<float> wv = values(rng, O * C * k * k, true);
        wv[static_cast<size_t>(rep)] = float_bits(0x7fc0beef);
        Tensor x = Tensor::f32(xs, values(rng, num_elements(xs), true));
        Tensor w = Tensor::f32({O, C, k, k}, wv);
        const Fp32ConvPlan p = plan_fp32_conv(node, xs, &w, lanes);
        ASSERT_EQ(p.why_not, "");
        auto step = make_fp32_conv_step(emit_fp32_gemm(isa, {}), p, lanes, {0, 1}, 2);
        Tensor y(ElemType::f32, node.shape);
        uint8_t* slots[3] = {static_cast<uint8_t*>(x.raw()), static_cast<uint8_t*>(w.raw()), static_cast<uint8_t*>(y.raw())};
        run_split(*step, slots, 1 + rep % 3);
        const Tensor want = ref::eval_float_node(node, {&x, &w}, false);
        ASSERT_EQ(std::memcmp(want.raw(), y.raw(), want.bytes()), 0) << "k" << k << ": " << hex_diff(want, y);
    }
}

TEST_P(Fp32ConvCode, InstructionAudit) {
    const Isa isa = GetParam();
    for (bool a_first : {false, true}) {
        Fp32GemmDesc d;
        d.a_first = a_first;
        const std::unique_ptr<JitKernel> k = emit_fp32_gemm(isa, d);
        EXPECT_EQ(k->name, fp32_gemm_kernel_name(d, isa));
        const ZAudit z = expect_clean_kernel(*k, isa);
        for (const char* banned : {"vfmadd231ps", "vfmadd213ps", "vfmadd132ps", "vrcpps", "vrcp14ps"})
            EXPECT_EQ(z.count(banned), 0) << k->name << " " << banned;
        EXPECT_GT(z.count("vmulps"), 0) << k->name;
        EXPECT_GT(z.count("vaddps"), 0) << k->name;
    }
}

// FQ -> conv1 (quantized) -> fp32 conv (stride 2, pads) -> fp32 depthwise -> fp32 MatMul over the
// rows -> FQ -> conv2 (quantized): the fp32 nodes run as fp32 JIT kernels, output == Oracle B.
NodeRef scalar(Graph& g, const std::string& name, float v) { return g.constant(name, Tensor::f32({1}, {v})); }

Graph mixed_graph(float poison) {
    std::mt19937_64 rng(77);
    std::normal_distribution<float> nd(0.f, 0.3f);
    auto normal = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = nd(rng);
        return v;
    };
    Graph g;
    NodeRef x = g.parameter("input", {1, 3, 13, 11});
    NodeRef lo = scalar(g, "in_lo", -1.f), hi = scalar(g, "in_hi", 1.f);
    NodeRef q0 = g.fake_quantize("fq_in", x, lo, hi, lo, hi, 256);
    NodeRef wl = scalar(g, "w_lo", -1.f), wh = scalar(g, "w_hi", 1.f);
    NodeRef w1 = g.fake_quantize("w1_fq", g.constant("w1", Tensor::f32({12, 3, 3, 3}, normal(12 * 27))), wl, wh,
                                 wl, wh, 255);
    ConvParams p1;
    p1.pads_begin = p1.pads_end = {1, 1};
    NodeRef c1 = g.convolution("conv1", q0, w1, p1);
    ConvParams pf;
    pf.strides = {2, 2};
    pf.pads_begin = {1, 2};
    pf.pads_end = {2, 1};
    std::vector<float> wf = normal(10 * 12 * 9);
    wf[5] = poison;
    NodeRef cf = g.convolution("conv_f", c1, g.constant("wf", Tensor::f32({10, 12, 3, 3}, wf)), pf);
    ConvParams pd;
    pd.pads_begin = pd.pads_end = {1, 1};
    pd.dilations = {2, 1};
    NodeRef dw = g.group_convolution("dw_f", cf, g.constant("wd", Tensor::f32({10, 1, 1, 3, 3}, normal(90))), pd);
    NodeRef mm = g.matmul("mm_f", dw, g.constant("wm", Tensor::f32({6, 6}, normal(36))));
    NodeRef l2 = scalar(g, "fq2_lo", -2.f), h2 = scalar(g, "fq2_hi", 2.f);
    NodeRef q2 = g.fake_quantize("fq2", mm, l2, h2, l2, h2, 256);
    NodeRef w2 = g.fake_quantize("w2_fq", g.constant("w2", Tensor::f32({7, 10, 1, 1}, normal(70))), wl, wh, wl, wh,
                                 255);
    g.result("out", g.convolution("conv2", q2, w2));
    return g;
}

void check_mixed_graph(Isa isa, float poison, bool expect_jit) {
    const Graph g = mixed_graph(poison);
    for (int threads : {1, 2, 3}) {
        CompileOptions opt;
        opt.max_isa = isa;
        opt.threads = threads;
        CompiledModel m = compile(g, opt);
        const std::string text = m.describe();
        SCOPED_TRACE(text);
        for (const char* n : {"conv_f", "dw_f", "mm_f"})
            EXPECT_EQ(tsupport::runs_as_jit(m, n, "fp32_gemm_"), std::string(n) != "conv_f" || expect_jit) << n;
        if (expect_jit) {
            EXPECT_EQ(text.find("fallback nodes"), std::string::npos);
            EXPECT_NE(text.find(std::string("fp32_gemm_ba__") + to_string(isa)), std::string::npos);
            EXPECT_NE(text.find(std::string("fp32_gemm_ab__") + to_string(isa)), std::string::npos);
        } else {
            EXPECT_NE(text.find("fallback nodes: conv_f"), std::string::npos);
            EXPECT_NE(text.find("[no fp32 kernel: non-finite weights"), std::string::npos);
        }
        std::mt19937_64 rng(5);
        const Shape in{1, 3, 13, 11};
        for (int t = 0; t < 2; ++t) {
            std::uniform_real_distribution<float> u(-1.2f, 1.2f);
            std::vector<float> v(static_cast<size_t>(num_elements(in)));
            for (float& f : v) f = u(rng);
            const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, {Tensor::f32(in, v)});
            EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
        }
    }
}

TEST_P(Fp32Conv, MixedPrecisionGraphRunsFp32ConvAsJitAndEqualsOracleB) { check_mixed_graph(GetParam(), 0.25f, true); }

TEST_P(Fp32Conv, NonFiniteWeightsStayOnTheFallbackWithTheReason) { check_mixed_graph(GetParam(), INFINITY, false); }

INSTANTIATE_TEST_SUITE_P(Isa, Fp32Conv, ::testing::ValuesIn(test_isas()), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, Fp32ConvCode, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
