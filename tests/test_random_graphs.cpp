// Random-graph differential test (issue #3 item 8): graphs from tools/random_graph.hpp (every row of
// spec §5 the builder can express, see tests/README.md) must compile or throw an allowed
// qjit::Error, equal Oracle B bit for bit on every Result, keep every fused layer within spec §4.6
// of Oracle A, and give identical bytes for threads 1 and 2. Bounded for CI; the long campaign is
// tools/fuzz_graphs.cpp (fuzz-graphs).
// Reproduce one graph: QJIT_GRAPH_SEED=<seed> ./test_random_graphs   (QJIT_GRAPH_COUNT=<n> for more)
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "tests/support/graph_fuzz.hpp"

using namespace qjit;

namespace {

// Seeds that expose a known qjit bug, skipped until it is fixed (each names the bug). Empty: the
// seven CHECK-DELTA seeds of 2026-11-27 (50, 1451, 2125, 2313, 2476, 2224, 2528) were the §4.6
// check missing Oracle A's fp32 rounding of post-op results (active Clamp -> ScaleShift values large
// against the next FQ's width) and fp32 underflow of products (runtime/oracle_check*.cpp now
// include both); they run again.
const std::map<uint64_t, const char*>& known_bug_seeds() {
    static const std::map<uint64_t, const char*> m = {};
    return m;
}

int graphs_to_run() {
    const char* e = std::getenv("QJIT_GRAPH_COUNT");
    return e ? std::atoi(e) : 1000;
}

constexpr uint64_t kFirstSeed = 1;

struct Stats {
    int passed = 0, rejected = 0, skipped = 0, fallback = 0;
    int64_t outputs = 0, flips = 0;
    std::map<std::string, int> features;
};

void run_seed(uint64_t seed, Stats* st) {
    if (auto it = known_bug_seeds().find(seed); it != known_bug_seeds().end()) {
        std::printf("[random_graphs] seed %llu skipped: %s\n", static_cast<unsigned long long>(seed), it->second);
        st->skipped++;
        return;
    }
    const std::string repro = tsupport::graph_reproducer(seed);
    rgraph::RandomGraph rg;
    try {
        rg = rgraph::build_random_graph(seed);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "generator threw for seed " << seed << ": " << e.what() << "\nreproduce: " << repro;
        return;
    }
    const tsupport::GraphVerdict v = tsupport::check_random_graph(rg);
    if (v.kind == tsupport::GraphVerdict::failed) {
        ADD_FAILURE() << "seed " << seed << ": " << v.why << "\ngraph: " << rg.summary << "\nreproduce: " << repro;
        return;
    }
    if (v.kind == tsupport::GraphVerdict::rejected) st->rejected++;
    else st->passed++;
    if (!v.all_jit) st->fallback++;
    st->outputs += v.layer_outputs;
    st->flips += v.flips;
    for (const std::string& f : rg.features) st->features[f]++;
}

} // namespace

TEST(RandomGraphs, JitEqualsOracleBAndWithinSpecOfA) {
    Stats st;
    if (const char* s = std::getenv("QJIT_GRAPH_SEED")) {
        const uint64_t seed = std::strtoull(s, nullptr, 10);
        const rgraph::RandomGraph rg = rgraph::build_random_graph(seed);
        std::printf("[random_graphs] seed %llu: %s\n", static_cast<unsigned long long>(seed), rg.summary.c_str());
        run_seed(seed, &st);
        return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const int n = graphs_to_run();
    int done = 0;
    for (; done < n; ++done) run_seed(kFirstSeed + static_cast<uint64_t>(done), &st);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[random_graphs] %d graphs in %.1f s: %d passed (%d with fp32 fallback steps), %d rejected with an "
                "allowed Error, %d skipped (known bugs); %lld layer outputs within spec 4.6 of A (%lld flips)\n",
                done, secs, st.passed, st.fallback, st.rejected, st.skipped, static_cast<long long>(st.outputs),
                static_cast<long long>(st.flips));
    std::printf("[random_graphs] feature coverage:");
    for (const auto& [f, c] : st.features) std::printf(" %s=%d", f.c_str(), c);
    std::printf("\n");
}
