// Bad input at compile and run time gives qjit::Error naming the node, never a crash; and a node
// that cannot run quantized runs in fp32 (mixed precision) unless the caller refuses fallback.
#include <gtest/gtest.h>

#include "tests/support/chain_check.hpp"
#include "tools/model_zoo.hpp"

using namespace qjit;

namespace {

// Parameter -> FQ -> Conv whose weight FakeQuantize takes its ranges from a Parameter.
Graph conv_with_runtime_weight_ranges() {
    Graph g;
    NodeRef x = g.parameter("x", {1, 2, 5, 5});
    NodeRef wlo = g.parameter("w_lo", {});
    NodeRef lo = g.constant("lo", Tensor::f32({}, {-1.0f})), hi = g.constant("hi", Tensor::f32({}, {1.0f}));
    NodeRef q = g.fake_quantize("fq_x", x, lo, hi, lo, hi, 256);
    NodeRef w = g.constant("w", Tensor::f32({3, 2, 3, 3}, zoo::random_input({3, 2, 3, 3}, 4)));
    NodeRef whi = g.constant("w_hi", Tensor::f32({}, {1.0f}));
    NodeRef wq = g.fake_quantize("fq_w", w, wlo, whi, wlo, whi, 255);
    NodeRef c = g.convolution("conv", q, wq);
    g.result("y", c);
    return g;
}

} // namespace

TEST(CompileErrors, NonConstantWeightRangesAreAnErrorWhenFallbackIsRefused) {
    const Graph g = conv_with_runtime_weight_ranges();
    CompileOptions opt;
    opt.allow_fp32_fallback = false;
    try {
        compile(g, opt);
        FAIL() << "expected qjit::Error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::UnsupportedOp);
        EXPECT_EQ(e.node(), "fq_w") << e.what();
    }
}

TEST(CompileErrors, NonConstantWeightRangesRunInFp32AndEqualOracleB) {
    const Graph g = conv_with_runtime_weight_ranges();
    CompiledModel m = compile(g);
    EXPECT_NE(m.describe().find("fallback"), std::string::npos) << m.describe();
    const std::vector<Tensor> in{Tensor::f32({1, 2, 5, 5}, zoo::random_input({1, 2, 5, 5}, 9)),
                                 Tensor::f32({}, {-0.5f})};
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, in);
    EXPECT_FALSE(r.all_jit);
    EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
}

TEST(CompileErrors, RunRejectsInputsThatDoNotMatchNamingTheParameter) {
    zoo::ChainConfig cfg;
    CompiledModel m = compile(zoo::build_chain(cfg));
    try {
        m.run({Tensor::f32({1, 3, 4, 4}, std::vector<float>(48, 0.0f))});
        FAIL() << "expected qjit::Error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::BadInput);
        EXPECT_EQ(e.node(), "input");
    }
    try {
        m.run({});
        FAIL() << "expected qjit::Error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::BadInput);
    }
}

TEST(CompileErrors, GraphWithoutResultIsAnError) {
    Graph g;
    g.parameter("x", {1, 2});
    EXPECT_THROW(compile(g), Error);
}
