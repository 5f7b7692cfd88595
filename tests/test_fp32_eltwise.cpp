// fp32 JIT elementwise kernels (emitters/fp32_eltwise, jit/fp32_eltwise_step) against the reference
// the fp32 fallback and Oracle B use (ref::eval_float_node), bit for bit (memcmp): every op, sizes
// 1..70 (vector body + every tail), one operand broadcast as a scalar, special values (NaN payloads,
// +-inf, -0, subnormals, FLT_MAX) and a hostile caller MXCSR; the step's broadcast forms
// (per-channel, scalar constant on either side, repeated rows); and a graph whose fp32 region runs
// as fp32 JIT kernels and equals Oracle B. Once per ISA level the host runs.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <cstring>
#include <random>

#include "emitters/fp32_eltwise.hpp"
#include "emitters/generator.hpp"
#include "jit/fp32_eltwise_step.hpp"
#include "runtime/float_node_eval.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/fp32_values.hpp"
#include "tests/support/x86_audit.hpp"

namespace qjit::test {
namespace {

float bits(uint32_t u) { return float_bits(u); }
std::vector<float> values(std::mt19937_64& rng, int64_t n) { return random_floats(rng, n); }

ir::Op ir_op(Fp32Op op) {
    switch (op) {
    case Fp32Op::Relu: return ir::Op::Relu;
    case Fp32Op::Clamp: return ir::Op::Clamp;
    case Fp32Op::LeakyRelu: return ir::Op::LeakyRelu;
    case Fp32Op::HardSigmoid: return ir::Op::HardSigmoid;
    case Fp32Op::HardSwish: return ir::Op::HardSwish;
    case Fp32Op::Add: return ir::Op::Add;
    case Fp32Op::Subtract: return ir::Op::Subtract;
    case Fp32Op::Multiply: return ir::Op::Multiply;
    case Fp32Op::Sigmoid: return ir::Op::Sigmoid;
    }
    return ir::Op::Relu;
}

ir::Node node_for(const Fp32EltwiseDesc& d, const Shape& out) {
    ir::Node n;
    n.op = ir_op(d.op);
    n.name = fp32_op_name(d.op);
    n.shape = out;
    n.clamp_lo = d.p0, n.clamp_hi = d.p1;
    n.alpha = d.p0, n.beta = d.p1;
    return n;
}

// Every op with a few parameter sets (Clamp with lo > hi and +-0 bounds, LeakyRelu alpha < 0 ...).
std::vector<Fp32EltwiseDesc> descs() {
    std::vector<Fp32EltwiseDesc> v;
    auto add = [&](Fp32Op op, float p0 = 0.f, float p1 = 0.f) {
        Fp32EltwiseDesc d;
        d.op = op, d.p0 = p0, d.p1 = p1;
        v.push_back(d);
    };
    add(Fp32Op::Relu);
    add(Fp32Op::Clamp, -1.f, 2.5f);
    add(Fp32Op::Clamp, 0.f, 6.f);
    add(Fp32Op::Clamp, -0.f, 0.f);
    add(Fp32Op::Clamp, 3.f, -2.f);
    add(Fp32Op::LeakyRelu, 0.1f);
    add(Fp32Op::LeakyRelu, -2.f);
    add(Fp32Op::HardSigmoid, 0.2f, 0.5f);
    add(Fp32Op::HardSigmoid, 1.f / 6.f, 0.5f);
    add(Fp32Op::HardSwish);
    for (Fp32Op op : {Fp32Op::Add, Fp32Op::Subtract, Fp32Op::Multiply})
        for (Fp32Bcast b : {Fp32Bcast::None, Fp32Bcast::A, Fp32Bcast::B}) {
            add(op);
            v.back().bcast = b;
        }
    return v;
}

std::string hex_diff(const Tensor& want, const std::vector<float>& got) { return first_bit_difference(want, got); }

class Fp32Eltwise : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override { QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()); }
};
class Fp32EltwiseCode : public ::testing::TestWithParam<Isa> {};

TEST_P(Fp32Eltwise, EveryOpEverySizeSpecialValuesBitExact) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0xf32e17);
    for (const Fp32EltwiseDesc& d : descs()) {
        const std::unique_ptr<JitKernel> k = emit_fp32_eltwise(isa, d);
        EXPECT_EQ(k->name, fp32_eltwise_kernel_name(d, isa));
        const bool binary = fp32_op_binary(d.op);
        for (int64_t n = 1; n <= 70; ++n)
            for (int rep = 0; rep < 3; ++rep) {
                SCOPED_TRACE(k->name + " n=" + std::to_string(n) + " rep=" + std::to_string(rep));
                const int64_t na = d.bcast == Fp32Bcast::A ? 1 : n, nb = d.bcast == Fp32Bcast::B ? 1 : n;
                Tensor a = Tensor::f32({na}, values(rng, na)), b = Tensor::f32({nb}, values(rng, nb));
                const ir::Node node = node_for(d, {n});
                std::vector<const Tensor*> in{&a};
                if (binary) in.push_back(&b);
                const Tensor want = ref::eval_float_node(node, in);
                // guard floats past the end: a tail must not write them
                std::vector<float> got(static_cast<size_t>(n) + 16, bits(0x7f8dead0));
                Fp32EltwiseArgs args{a.data<float>(), binary ? b.data<float>() : nullptr, got.data(), n};
                const unsigned saved = _mm_getcsr();
                _mm_setcsr(rep == 2 ? 0xFFC0u : 0x1F80u); // rep 2: RZ + FTZ + DAZ in the caller
                k->call(&args);
                _mm_setcsr(saved);
                for (size_t i = static_cast<size_t>(n); i < got.size(); ++i)
                    ASSERT_EQ(std::memcmp(&got[i], &got.back(), 4), 0) << "wrote past n at " << i;
                got.resize(static_cast<size_t>(n));
                ASSERT_EQ(std::memcmp(want.raw(), got.data(), want.bytes()), 0) << hex_diff(want, got);
            }
    }
}

// Both operands NaN (different payloads): the kernel returns the reference's payload, x's (ref::add
// and ref::multiply fix it; a compiler may order the operands of x + y either way).
TEST_P(Fp32Eltwise, BinaryOpsWithTwoNaNsKeepTheReferencePayload) {
    const Isa isa = GetParam();
    for (Fp32Op op : {Fp32Op::Add, Fp32Op::Subtract, Fp32Op::Multiply}) {
        Fp32EltwiseDesc d;
        d.op = op;
        const std::unique_ptr<JitKernel> k = emit_fp32_eltwise(isa, d);
        const int64_t n = 19;
        std::vector<float> va(n), vb(n);
        for (int64_t i = 0; i < n; ++i) {
            va[static_cast<size_t>(i)] = bits(0x7fc00000u + static_cast<uint32_t>(i));
            vb[static_cast<size_t>(i)] = bits(0xffc10000u + static_cast<uint32_t>(i));
        }
        Tensor a = Tensor::f32({n}, va), b = Tensor::f32({n}, vb);
        const Tensor want = ref::eval_float_node(node_for(d, {n}), {&a, &b});
        std::vector<float> got(static_cast<size_t>(n));
        Fp32EltwiseArgs args{a.data<float>(), b.data<float>(), got.data(), n};
        k->call(&args);
        EXPECT_EQ(std::memcmp(want.raw(), got.data(), want.bytes()), 0) << k->name << ": " << hex_diff(want, got);
        for (int64_t i = 0; i < n; ++i) { // and that payload is x's
            uint32_t u;
            std::memcpy(&u, &got[static_cast<size_t>(i)], 4);
            EXPECT_EQ(u, 0x7fc00000u + static_cast<uint32_t>(i)) << k->name << " element " << i;
        }
    }
}

// The step's broadcast forms (plan_fp32_eltwise): per-channel [1,C,1,1] and [C,1,1], scalar constants
// [1] / [] / [1,1,1,1] on either side, repeated rows [1,1,H,W], the same shape, several images, and
// work ranges split across calls.
TEST_P(Fp32Eltwise, StepBroadcastFormsMatchTheReference) {
    const Isa isa = GetParam();
    std::mt19937_64 rng(0xb0ad);
    const Shape out{2, 5, 3, 7};
    const std::vector<std::pair<Shape, std::string>> forms = {
        {{2, 5, 3, 7}, ""},        {{1, 5, 1, 1}, "bcast_c"},      {{5, 1, 1}, "bcast_c"},
        {{1}, "bcast_scalar"},     {{}, "bcast_scalar"},           {{1, 1, 1, 1}, "bcast_scalar"},
        {{1, 1, 3, 7}, "bcast_rows"}, {{3, 7}, "bcast_rows"},      {{2, 1, 1, 1}, "bcast_c"},
        {{1, 5, 3, 1}, "bcast_c"}};
    for (Fp32Op op : {Fp32Op::Add, Fp32Op::Subtract, Fp32Op::Multiply})
        for (const auto& [s, pattern] : forms)
            for (bool s_first : {false, true}) {
                Fp32EltwiseDesc d;
                d.op = op;
                ir::Node node = node_for(d, out);
                const Shape sa = s_first ? s : out, sb = s_first ? out : s;
                const std::optional<Fp32EltwisePlan> p = plan_fp32_eltwise(node, {sa, sb});
                ASSERT_TRUE(p.has_value()) << to_string(sa) << " " << to_string(sb);
                EXPECT_EQ(p->pattern, pattern) << to_string(s);
                const std::shared_ptr<JitKernel> k = emit_fp32_eltwise(isa, p->desc);
                SCOPED_TRACE(k->name + " " + to_string(sa) + " op " + to_string(sb));
                Tensor a = Tensor::f32(sa, values(rng, num_elements(sa)));
                Tensor b = Tensor::f32(sb, values(rng, num_elements(sb)));
                Tensor y(ElemType::f32, out);
                auto step = make_fp32_eltwise_step(k, *p, {0, 1}, 2);
                uint8_t* slots[3] = {static_cast<uint8_t*>(a.raw()), static_cast<uint8_t*>(b.raw()),
                                     static_cast<uint8_t*>(y.raw())};
                const int64_t items = step->work_items(), mid = items / 2;
                step->run(slots, 0, mid);
                step->run(slots, mid, items);
                const Tensor want = ref::eval_float_node(node, {&a, &b});
                std::vector<float> got(y.data<float>(), y.data<float>() + y.numel());
                ASSERT_EQ(std::memcmp(want.raw(), y.raw(), want.bytes()), 0) << hex_diff(want, got);
            }
    // Neither operand has the output's shape, or a broadcast dim inside the block: stays interpreted.
    Fp32EltwiseDesc d;
    d.op = Fp32Op::Add;
    EXPECT_FALSE(plan_fp32_eltwise(node_for(d, {2, 5}), {{2, 1}, {1, 5}}).has_value());
    EXPECT_FALSE(plan_fp32_eltwise(node_for(d, {2, 5, 3}), {{2, 5, 3}, {2, 1, 3}}).has_value());
}

TEST_P(Fp32EltwiseCode, InstructionAudit) {
    const Isa isa = GetParam();
    for (const Fp32EltwiseDesc& d : descs()) {
        const std::unique_ptr<JitKernel> k = emit_fp32_eltwise(isa, d);
        const ZAudit z = expect_clean_kernel(*k, isa);
        for (const char* banned : {"vfmadd231ps", "vfmadd213ps", "vrcpps", "vrcp14ps", "vrsqrtps"})
            EXPECT_EQ(z.count(banned), 0) << k->name << " " << banned;
        if (d.op == Fp32Op::HardSwish) {
            EXPECT_GT(z.count("vdivps"), 0) << k->name;
        }
    }
}

// Graph: FQ -> conv -> fp32 region (HardSwish, LeakyRelu, per-channel Subtract, scalar Multiply,
// same-shape Add, Relu, Clamp, HardSigmoid, scalar-first Subtract) -> FQ -> conv. The fp32 nodes
// run as fp32 JIT kernels of the target level and the outputs equal Oracle B.
NodeRef scalar(Graph& g, const std::string& name, float v) { return g.constant(name, Tensor::f32({1}, {v})); }

Graph fp32_region_graph() {
    std::mt19937_64 rng(77);
    std::normal_distribution<float> nd(0.f, 0.3f);
    auto normal = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = nd(rng);
        return v;
    };
    Graph g;
    const int64_t C = 19;
    NodeRef x = g.parameter("input", {1, 3, 9, 11});
    NodeRef lo = scalar(g, "in_lo", -1.f), hi = scalar(g, "in_hi", 1.f);
    NodeRef q0 = g.fake_quantize("fq_in", x, lo, hi, lo, hi, 256);
    NodeRef w1 = g.constant("w1", Tensor::f32({C, 3, 3, 3}, normal(C * 27)));
    NodeRef wl = scalar(g, "w_lo", -1.f), wh = scalar(g, "w_hi", 1.f);
    NodeRef w1q = g.fake_quantize("w1_fq", w1, wl, wh, wl, wh, 255);
    ConvParams p;
    p.pads_begin = {1, 1};
    p.pads_end = {1, 1};
    NodeRef c1 = g.convolution("conv1", q0, w1q, p);
    NodeRef hs = g.hard_swish("hswish", c1);
    NodeRef lr = g.leaky_relu("lrelu", hs, 0.1f);
    NodeRef sub = g.subtract("sub_c", lr, g.constant("sub_k", Tensor::f32({1, C, 1, 1}, normal(C))));
    NodeRef mul = g.multiply("mul_s", sub, scalar(g, "mul_k", 1.5f));
    NodeRef add = g.add("add_same", mul, hs);
    NodeRef rl = g.relu("relu", add);
    NodeRef cl = g.clamp("clamp", rl, 0.f, 2.f);
    NodeRef hsg = g.hard_sigmoid("hsigmoid", cl, 0.25f, 0.5f);
    NodeRef rs = g.subtract("rsub", scalar(g, "one", 1.f), hsg);
    NodeRef l2 = scalar(g, "fq2_lo", 0.f), h2 = scalar(g, "fq2_hi", 1.f);
    NodeRef q2 = g.fake_quantize("fq2", rs, l2, h2, l2, h2, 256);
    NodeRef w2 = g.constant("w2", Tensor::f32({7, C, 1, 1}, normal(7 * C)));
    NodeRef w2q = g.fake_quantize("w2_fq", w2, wl, wh, wl, wh, 255);
    g.result("out", g.convolution("conv2", q2, w2q));
    return g;
}

TEST_P(Fp32Eltwise, GraphFp32RegionRunsAsJitKernelsAndEqualsOracleB) {
    const Isa isa = GetParam();
    const Graph g = fp32_region_graph();
    CompileOptions opt;
    opt.max_isa = isa;
    CompiledModel m = compile(g, opt);
    const std::string text = m.describe();
    SCOPED_TRACE(text);
    const std::vector<std::string> fp32 = {"hswish", "lrelu", "sub_c", "mul_s", "add_same",
                                           "relu",   "clamp", "hsigmoid", "rsub"};
    int fp32_kernels = 0;
    for (const KernelInfo& k : m.kernels()) {
        if (k.name.rfind("fp32_", 0) != 0) continue;
        ++fp32_kernels;
        EXPECT_TRUE(k.jit) << k.name;
        EXPECT_EQ(k.name.substr(k.name.rfind("__") + 2), to_string(isa)) << k.name;
    }
    EXPECT_GE(fp32_kernels, 1);
    for (const std::string& n : fp32) {
        bool found = false;
        for (const KernelInfo& k : m.kernels())
            if (k.fused_nodes == n) {
                found = true;
                EXPECT_TRUE(k.jit) << n << " runs as " << k.name;
            }
        (void)found; // a node folded into a quantized kernel is fine too (none left interpreted: below)
    }
    EXPECT_EQ(text.find("fallback nodes"), std::string::npos);
    EXPECT_NE(text.find("fp32 JIT nodes:"), std::string::npos);
    EXPECT_NE(text.find(std::string("fp32_hard_swish__") + to_string(isa)), std::string::npos);
    EXPECT_NE(text.find(std::string("fp32_sub_bcast_b__") + to_string(isa)), std::string::npos);
    EXPECT_NE(text.find(std::string("fp32_sub_bcast_a__") + to_string(isa)), std::string::npos);
    std::mt19937_64 rng(5);
    const Shape in{1, 3, 9, 11};
    for (int t = 0; t < 3; ++t) {
        const std::vector<Tensor> inputs{Tensor::f32(in, values(rng, num_elements(in)))};
        std::uniform_real_distribution<float> u(-1.2f, 1.2f);
        std::vector<float> v(static_cast<size_t>(num_elements(in)));
        for (float& f : v) f = u(rng);
        for (const std::vector<Tensor>& ins : {inputs, std::vector<Tensor>{Tensor::f32(in, v)}}) {
            const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, ins);
            EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
            // the only non-JIT step: the relayout of conv1's NHWC f32 output for the fp32 region
            if (!r.all_jit) {
                EXPECT_EQ(r.fallback.rfind("reorder_nhwc_to_nchw_f32", 0), 0u) << r.fallback;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, Fp32Eltwise, ::testing::ValuesIn(test_isas()), isa_param_name);
INSTANTIATE_TEST_SUITE_P(Isa, Fp32EltwiseCode, ::testing::ValuesIn(test_isas()), isa_param_name);

} // namespace
} // namespace qjit::test
