// The spine's acceptance: Parameter -> FQ -> Conv KxK (per-channel FQ weights, bias) -> Relu -> FQ
// -> Conv1x1 -> FQ -> Reshape -> MatMul -> fp32 Result compiles into JIT kernels only, equals
// Oracle B bit for bit and stays within spec §4.6 of Oracle A, over random configurations.
// Reproduce one configuration: QJIT_CHAIN_SEED=<seed> ./test_chain_e2e --gtest_filter=Chain.Random*
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <cstdlib>
#include <random>

#include "tests/support/chain_check.hpp"
#include "tools/model_zoo.hpp"

using namespace qjit;

namespace {

int configs_to_run() {
    const char* e = std::getenv("QJIT_CHAIN_CONFIGS");
    return e ? std::atoi(e) : 1000;
}

struct Totals {
    int64_t outputs = 0, flips = 0;
};

void check_config(const zoo::ChainConfig& cfg, int threads, Totals* totals = nullptr) {
    SCOPED_TRACE("reproduce: QJIT_CHAIN_SEED=" + std::to_string(cfg.seed) + " threads=" + std::to_string(threads) +
                 "  " + cfg.str());
    const Graph g = zoo::build_chain(cfg);
    CompileOptions opt;
    opt.threads = threads;
    CompiledModel m = compile(g, opt);
    const Shape in_shape{cfg.n, cfg.c, cfg.h, cfg.w};
    const std::vector<Tensor> inputs{Tensor::f32(in_shape, zoo::random_input(in_shape, cfg.seed ^ 0x5eed, -1.2f, 1.2f))};
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, inputs);
    EXPECT_TRUE(r.all_jit) << "non-JIT step: " << r.fallback << "\n" << m.describe();
    EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
    EXPECT_EQ(r.violations, 0) << r.first_violation;
    EXPECT_GT(r.layer_outputs, 0);
    if (totals) {
        totals->outputs += r.layer_outputs;
        totals->flips += r.flips;
    }
}

} // namespace

TEST(Chain, RandomConfigurationsMatchBothOracles) {
    std::mt19937_64 rng(20261127);
    if (const char* s = std::getenv("QJIT_CHAIN_SEED")) {
        check_config(zoo::random_chain_config(std::strtoull(s, nullptr, 10)), 1);
        return;
    }
    const int n = configs_to_run();
    int done = 0;
    Totals t;
    for (; done < n && !HasFailure(); ++done) check_config(zoo::random_chain_config(rng()), 1 + done % 2, &t);
    std::printf("[chain] %d random configurations: JIT == B bit for bit; %lld layer outputs within spec 4.6 of A "
                "(%lld one-level flips)\n", done, static_cast<long long>(t.outputs), static_cast<long long>(t.flips));
}

TEST(Chain, OutputBytesDoNotDependOnThreadCount) {
    zoo::ChainConfig cfg;
    cfg.h = 19; cfg.w = 23; cfg.c1 = 33; cfg.c2 = 17;
    const Graph g = zoo::build_chain(cfg);
    const Shape in_shape{cfg.n, cfg.c, cfg.h, cfg.w};
    const std::vector<Tensor> inputs{Tensor::f32(in_shape, zoo::random_input(in_shape, 3))};
    Tensor first;
    for (int threads : {1, 2, 3, 4, 7}) {
        CompileOptions opt;
        opt.threads = threads;
        CompiledModel m = compile(g, opt);
        const Tensor y = m.run(inputs).at(0);
        if (first.empty()) first = y;
        std::string why;
        EXPECT_TRUE(tsupport::same_bytes(first, y, &why)) << "threads=" << threads << ": " << why;
    }
}

TEST(Chain, CallerMxcsrDoesNotChangeOutput) {
    zoo::ChainConfig cfg;
    const Graph g = zoo::build_chain(cfg);
    CompiledModel m = compile(g);
    const Shape in_shape{cfg.n, cfg.c, cfg.h, cfg.w};
    const std::vector<Tensor> inputs{Tensor::f32(in_shape, zoo::random_input(in_shape, 11))};
    const Tensor ref = m.run(inputs).at(0);
    const unsigned saved = _mm_getcsr();
    _mm_setcsr((saved & ~0x6000u) | 0x6000u | 0x8040u); // round toward zero, FTZ, DAZ
    const Tensor y = m.run(inputs).at(0);
    _mm_setcsr(saved);
    std::string why;
    EXPECT_TRUE(tsupport::same_bytes(ref, y, &why)) << why;
}
