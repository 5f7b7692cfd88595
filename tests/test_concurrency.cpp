// One CompiledModel run from 8 threads at once, each with its own input, gives the same bytes as
// serial runs; several models compiled from several threads at once are all correct.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tests/support/chain_check.hpp"
#include "tools/model_zoo.hpp"

using namespace qjit;

namespace {

zoo::ChainConfig config() {
    zoo::ChainConfig cfg;
    cfg.h = 13; cfg.w = 11; cfg.c1 = 24; cfg.c2 = 17;
    return cfg;
}

Tensor input_for(const zoo::ChainConfig& cfg, uint64_t seed) {
    const Shape s{cfg.n, cfg.c, cfg.h, cfg.w};
    return Tensor::f32(s, zoo::random_input(s, seed));
}

} // namespace

TEST(Concurrency, EightThreadsShareOneModel) {
    const zoo::ChainConfig cfg = config();
    const Graph g = zoo::build_chain(cfg);
    CompileOptions opt;
    opt.threads = 2;
    CompiledModel m = compile(g, opt);
    constexpr int kThreads = 8, kRuns = 20;
    std::vector<Tensor> serial;
    for (int t = 0; t < kThreads; ++t) serial.push_back(m.run({input_for(cfg, 100 + t)}).at(0));
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            const Tensor in = input_for(cfg, 100 + t);
            for (int r = 0; r < kRuns; ++r) {
                const Tensor y = m.run({in}).at(0);
                std::string why;
                if (!tsupport::same_bytes(serial[static_cast<size_t>(t)], y, &why)) {
                    errors[static_cast<size_t>(t)] = why;
                    return;
                }
            }
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(errors[static_cast<size_t>(t)].empty()) << "thread " << t << ": " << errors[static_cast<size_t>(t)];
}

TEST(Concurrency, ModelsCompiledOnSeveralThreadsMatchOracleB) {
    constexpr int kThreads = 4;
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            const zoo::ChainConfig cfg = zoo::random_chain_config(7000 + static_cast<uint64_t>(t));
            const Graph g = zoo::build_chain(cfg);
            CompiledModel m = compile(g);
            const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, {input_for(cfg, 5)});
            if (!r.jit_equals_b) errors[static_cast<size_t>(t)] = cfg.str() + ": " + r.mismatch;
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(errors[static_cast<size_t>(t)].empty()) << errors[static_cast<size_t>(t)];
}
