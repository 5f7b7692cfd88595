// The kernel cache (jit/code_cache.*): each kernel generated once under contention, shared by models,
// keyed by everything that shapes its code (verify mode regenerates on every hit and compares bytes),
// errors reach every waiter, kernels die with the last model. Outputs are checked against Oracle B.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "jit/code_cache.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/graph_fuzz.hpp"
#include "tools/model_zoo.hpp"

using namespace qjit;

namespace {

Tensor input_for(const zoo::ChainConfig& cfg, uint64_t seed) {
    const Shape s{cfg.n, cfg.c, cfg.h, cfg.w};
    return Tensor::f32(s, zoo::random_input(s, seed));
}

// A stand-in kernel for the table tests (never executed).
class FakeKernel final : public JitKernel {
public:
    explicit FakeKernel(uint8_t b) : code_(16, b) { name = "fake"; }
    const void* entry() const override { return code_.data(); }
    size_t code_size() const override { return code_.size(); }
    const uint8_t* code() const override { return code_.data(); }

private:
    std::vector<uint8_t> code_;
};

// Restores the mode and forgets the test's keys.
struct CacheScope {
    CodeCache::Mode saved = CodeCache::global().mode();
    CacheScope() { CodeCache::global().clear(); }
    ~CacheScope() {
        CodeCache::global().set_mode(saved);
        CodeCache::global().clear();
    }
};

} // namespace

TEST(CodeCache, OneKeyIsGeneratedOnceUnderContention) {
    CacheScope scope;
    CodeCache::global().set_mode(CodeCache::Mode::on);
    std::atomic<int> calls{0};
    constexpr int kThreads = 8;
    std::vector<std::shared_ptr<JitKernel>> got(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> th;
    for (int t = 0; t < kThreads; ++t)
        th.emplace_back([&, t] {
            ready++;
            while (ready.load() < kThreads) std::this_thread::yield();
            got[static_cast<size_t>(t)] = CodeCache::global().get_or_create("test/contended", [&] {
                calls++;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                return std::make_shared<FakeKernel>(0xC3);
            });
        });
    for (auto& x : th) x.join();
    EXPECT_EQ(calls.load(), 1);
    for (const auto& k : got) EXPECT_EQ(k.get(), got[0].get());
    EXPECT_EQ(CodeCache::global().stats().generated, 1);
}

TEST(CodeCache, ErrorReachesEveryWaiterAndTheNextCallRetries) {
    CacheScope scope;
    CodeCache::global().set_mode(CodeCache::Mode::on);
    std::atomic<int> calls{0}, errors{0};
    std::vector<std::thread> th;
    for (int t = 0; t < 4; ++t)
        th.emplace_back([&] {
            try {
                CodeCache::global().get_or_create("test/failing", [&]() -> std::shared_ptr<JitKernel> {
                    calls++;
                    std::this_thread::sleep_for(std::chrono::milliseconds(30));
                    throw Error(ErrorCode::JitFailure, "fake", "code buffer exhausted");
                });
            } catch (const Error& e) {
                if (e.code() == ErrorCode::JitFailure) errors++;
            }
        });
    for (auto& x : th) x.join();
    EXPECT_EQ(errors.load(), 4);
    EXPECT_GE(calls.load(), 1);
    auto k = CodeCache::global().get_or_create("test/failing", [] { return std::make_shared<FakeKernel>(1); });
    EXPECT_EQ(k->code()[0], 1);
}

TEST(CodeCache, KernelsLiveWithTheirUsersOnly) {
    CacheScope scope;
    CodeCache::global().set_mode(CodeCache::Mode::on);
    int calls = 0;
    auto make = [&] { calls++; return std::make_shared<FakeKernel>(2); };
    {
        auto a = CodeCache::global().get_or_create("test/weak", make);
        auto b = CodeCache::global().get_or_create("test/weak", make);
        EXPECT_EQ(a.get(), b.get());
        EXPECT_EQ(calls, 1);
    }
    CodeCache::global().get_or_create("test/weak", make); // the first one died with a and b
    EXPECT_EQ(calls, 2);
}

TEST(CodeCache, VerifyModeCatchesAKeyThatMissesAnInput) {
    CacheScope scope;
    CodeCache::global().set_mode(CodeCache::Mode::verify);
    uint8_t byte = 3;
    auto make = [&] { return std::make_shared<FakeKernel>(byte); };
    auto a = CodeCache::global().get_or_create("test/verify", make);
    EXPECT_NO_THROW(CodeCache::global().get_or_create("test/verify", make));
    byte = 4; // the same key, other code
    try {
        CodeCache::global().get_or_create("test/verify", make);
        ADD_FAILURE() << "verify mode accepted different code under one key";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Internal);
    }
}

TEST(CodeCache, ModelsCompiledConcurrentlyShareEachKernelAndMatchOracleB) {
    CacheScope scope;
    CodeCache::global().set_mode(CodeCache::Mode::on);
    zoo::ChainConfig cfg;
    cfg.h = 12; cfg.w = 10; cfg.c1 = 20; cfg.c2 = 17;
    const Graph g = zoo::build_chain(cfg);
    int64_t distinct = 0;
    {
        CompiledModel m = compile(g);
        distinct = CodeCache::global().stats().generated;
        ASSERT_GT(distinct, 0);
        CompiledModel again = compile(g); // shared: nothing new while m lives
        EXPECT_EQ(CodeCache::global().stats().generated, distinct);
    }
    CodeCache::global().clear();
    constexpr int kThreads = 8;
    std::vector<CompiledModel> models(kThreads);
    std::vector<std::string> errors(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> th;
    for (int t = 0; t < kThreads; ++t)
        th.emplace_back([&, t] {
            ready++;
            while (ready.load() < kThreads) std::this_thread::yield();
            try {
                models[static_cast<size_t>(t)] = compile(g);
            } catch (const std::exception& e) {
                errors[static_cast<size_t>(t)] = e.what();
            }
        });
    for (auto& x : th) x.join();
    EXPECT_EQ(CodeCache::global().stats().generated, distinct) << "a kernel was generated more than once";
    for (int t = 0; t < kThreads; ++t) {
        ASSERT_TRUE(errors[static_cast<size_t>(t)].empty()) << errors[static_cast<size_t>(t)];
        const tsupport::OracleAgreement r =
            tsupport::check_against_oracles(g, models[static_cast<size_t>(t)], {input_for(cfg, 40 + t)});
        EXPECT_TRUE(r.jit_equals_b) << "model " << t << ": " << r.mismatch;
    }
}

TEST(CodeCache, DifferentWeightsGetDifferentKernels) {
    CacheScope scope;
    CodeCache::global().set_mode(CodeCache::Mode::on);
    zoo::ChainConfig a, b;
    b.seed = a.seed + 1; // same shapes, other weights and ranges
    const Graph ga = zoo::build_chain(a), gb = zoo::build_chain(b);
    CompiledModel ma = compile(ga);
    const int64_t first = CodeCache::global().stats().generated;
    CompiledModel mb = compile(gb);
    EXPECT_GT(CodeCache::global().stats().generated, first);
    EXPECT_TRUE(tsupport::check_against_oracles(ga, ma, {input_for(a, 1)}).jit_equals_b);
    EXPECT_TRUE(tsupport::check_against_oracles(gb, mb, {input_for(b, 1)}).jit_equals_b);
}

// Every hit regenerates and compares bytes: random graphs compiled twice (and sharing kernels with
// each other) prove the keys hold every input that shapes the code.
TEST(CodeCache, VerifyModeOnRandomGraphs) {
    CacheScope scope;
    CodeCache::global().set_mode(CodeCache::Mode::verify);
    std::vector<CompiledModel> keep;
    for (uint64_t seed = 1; seed <= 120; ++seed) {
        const rgraph::RandomGraph rg = rgraph::build_random_graph(seed);
        for (int rep = 0; rep < 2; ++rep) {
            try {
                keep.push_back(compile(rg.graph));
            } catch (const Error& e) {
                ASSERT_TRUE(tsupport::allowed_compile_error(e.code())) << "seed " << seed << ": " << e.what();
            }
        }
    }
    EXPECT_GT(CodeCache::global().stats().hits, 0);
}
