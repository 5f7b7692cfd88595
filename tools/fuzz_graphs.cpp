// Long random-graph campaign (issue #3 item 8; not run by ctest): checks random graphs from
// tools/random_graph.hpp like tests/test_random_graphs.cpp does, for N graphs or T seconds, and prints
// statistics (passed / rejected / failed, fallback, flips, feature coverage) and every failing seed.
//   fuzz-graphs [--graphs N] [--seconds T] [--first-seed S] [--seed S] [--quiet]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tests/support/graph_fuzz.hpp"

using namespace qjit;

int main(int argc, char** argv) {
    long long graphs = 1000;
    double seconds = 0;
    uint64_t first = 1000000;
    bool single = false, quiet = false;
    for (int i = 1; i < argc; ++i) {
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", argv[i]); std::exit(2); }
            return argv[++i];
        };
        if (!std::strcmp(argv[i], "--graphs")) graphs = std::atoll(next());
        else if (!std::strcmp(argv[i], "--seconds")) { seconds = std::atof(next()); graphs = -1; }
        else if (!std::strcmp(argv[i], "--first-seed")) first = std::strtoull(next(), nullptr, 10);
        else if (!std::strcmp(argv[i], "--seed")) { first = std::strtoull(next(), nullptr, 10); graphs = 1; single = true; }
        else if (!std::strcmp(argv[i], "--quiet")) quiet = true;
        else {
            std::fprintf(stderr, "usage: %s [--graphs N] [--seconds T] [--first-seed S] [--seed S] [--quiet]\n", argv[0]);
            return 2;
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    long long done = 0, passed = 0, rejected = 0, failed = 0, fallback = 0;
    long long outputs = 0, flips = 0;
    std::map<std::string, int> features, reject_kinds, fallback_kinds;
    std::vector<std::string> failures;
    for (uint64_t seed = first;; ++seed) {
        if (graphs >= 0 && done >= graphs) break;
        if (graphs < 0 && elapsed() >= seconds) break;
        ++done;
        rgraph::RandomGraph rg;
        try {
            rg = rgraph::build_random_graph(seed);
        } catch (const std::exception& e) {
            ++failed;
            failures.push_back("seed " + std::to_string(seed) + ": generator threw: " + e.what());
            continue;
        }
        if (single) std::printf("graph: %s\n", rg.summary.c_str());
        const tsupport::GraphVerdict v = tsupport::check_random_graph(rg);
        for (const std::string& f : rg.features) features[f]++;
        switch (v.kind) {
        case tsupport::GraphVerdict::passed: ++passed; break;
        case tsupport::GraphVerdict::rejected: ++rejected; reject_kinds[v.why.substr(0, v.why.find(':'))]++; break;
        case tsupport::GraphVerdict::failed:
            ++failed;
            failures.push_back("seed " + std::to_string(seed) + ": " + v.why + "\n    graph: " + rg.summary +
                               "\n    reproduce: fuzz-graphs --seed " + std::to_string(seed));
            if (!quiet) std::printf("FAIL %s\n", failures.back().c_str());
            break;
        }
        if (!v.all_jit) ++fallback;
        for (const std::string& k : v.fallback_kernels) fallback_kinds[k]++;
        outputs += v.layer_outputs;
        flips += v.flips;
        if (!quiet && done % 100 == 0)
            std::printf("... %lld graphs, %lld failed, %.0f s\n", done, failed, elapsed());
        std::fflush(stdout);
    }
    std::printf("fuzz-graphs: %lld graphs (seeds %llu..%llu) in %.1f s\n", done, static_cast<unsigned long long>(first),
                static_cast<unsigned long long>(first + static_cast<uint64_t>(done) - 1), elapsed());
    std::printf("  passed %lld (%lld with fp32 fallback steps), rejected %lld, failed %lld\n", passed, fallback,
                rejected, failed);
    for (const auto& [k, c] : reject_kinds) std::printf("  rejected %s: %d\n", k.c_str(), c);
    std::printf("  %lld layer outputs within spec 4.6 of Oracle A, %lld one-level flips\n", outputs, flips);
    std::printf("  non-JIT steps by kind:\n");
    for (const auto& [k, c] : fallback_kinds) std::printf("    %-36s %d\n", k.c_str(), c);
    std::printf("  feature coverage:\n");
    for (const auto& [f, c] : features) std::printf("    %-36s %d\n", f.c_str(), c);
    for (const std::string& f : failures) std::printf("FAILED %s\n", f.c_str());
    return failed ? 1 : 0;
}
