// One CompiledModel run from 8 threads at once, each with its own input, gives the same bytes as
// serial runs; several models compiled from several threads at once are all correct.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tests/support/chain_check.hpp"
#include "tools/model_zoo.hpp"
#include "tools/random_graph.hpp"

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

// Random graphs (fp32 fallback steps, eltwise, pooling, concat): 8 threads compile their own graph and
// run a shared one at the same time; every output equals the serial run's bytes.
TEST(Concurrency, RandomGraphsCompiledAndRunFromEightThreads) {
    constexpr int kThreads = 8;
    std::vector<rgraph::RandomGraph> graphs;
    std::vector<std::vector<Tensor>> serial;
    std::vector<CompiledModel> shared;
    for (uint64_t seed = 11; graphs.size() < kThreads; ++seed) {
        rgraph::RandomGraph rg = rgraph::build_random_graph(seed);
        try {
            CompiledModel m = compile(rg.graph);
            serial.push_back(m.run(rg.inputs));
            shared.push_back(std::move(m));
            graphs.push_back(std::move(rg));
        } catch (const Error&) {
        }
    }
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            const size_t i = static_cast<size_t>(t);
            try {
                CompiledModel own = compile(graphs[i].graph); // compiles race with the others' runs
                for (int r = 0; r < 3; ++r) {
                    const size_t j = (i + static_cast<size_t>(r)) % kThreads; // a model other threads also run
                    const std::vector<Tensor> a = own.run(graphs[i].inputs), b = shared[j].run(graphs[j].inputs);
                    std::string why;
                    for (size_t k = 0; k < a.size() && errors[i].empty(); ++k)
                        if (!tsupport::same_bytes(serial[i][k], a[k], &why)) errors[i] = "own model: " + why;
                    for (size_t k = 0; k < b.size() && errors[i].empty(); ++k)
                        if (!tsupport::same_bytes(serial[j][k], b[k], &why)) errors[i] = "shared model: " + why;
                }
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t)
        EXPECT_TRUE(errors[static_cast<size_t>(t)].empty()) << "thread " << t << " (seed " << graphs[static_cast<size_t>(t)].seed
                                                            << "): " << errors[static_cast<size_t>(t)];
}
