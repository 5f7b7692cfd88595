// Platform hygiene (issue #6 item 5): no mapping of the process is ever writable and executable at
// once — /proc/self/maps is scanned from another thread while models compile and run, and after;
// a caller's MXCSR (round toward zero / up / down, FTZ, DAZ) changes neither compile() nor run(),
// and the caller gets its MXCSR back (also when compile() throws). Outputs are checked against
// Oracle B and against the same model compiled and run under the default MXCSR.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/chain_check.hpp"
#include "tools/model_zoo.hpp"
#include "tools/random_graph.hpp"

using namespace qjit;

namespace {

// Lines of /proc/self/maps whose permissions hold both 'w' and 'x', and writable views of the code
// arena's memfd (emitters/code_arena: its chunks are mapped read+execute only, code arrives by pwrite).
std::vector<std::string> wx_mappings() {
    std::vector<std::string> bad;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        const size_t sp = line.find(' ');
        if (sp == std::string::npos || sp + 5 > line.size()) continue;
        const std::string perms = line.substr(sp + 1, 4);
        const bool w = perms.find('w') != std::string::npos;
        if ((w && perms.find('x') != std::string::npos) || (w && line.find("qjit-code") != std::string::npos))
            bad.push_back(line);
    }
    return bad;
}

Tensor input_for(const zoo::ChainConfig& cfg, uint64_t seed) {
    const Shape s{cfg.n, cfg.c, cfg.h, cfg.w};
    return Tensor::f32(s, zoo::random_input(s, seed));
}

class CallerMxcsr {
public:
    explicit CallerMxcsr(unsigned v) : saved_(_mm_getcsr()) { _mm_setcsr(v); }
    ~CallerMxcsr() { _mm_setcsr(saved_); }

private:
    unsigned saved_;
};

constexpr unsigned kDefault = 0x1F80;
constexpr unsigned kFtz = 0x8000, kDaz = 0x0040;
constexpr unsigned kRoundDown = 0x2000, kRoundUp = 0x4000, kRoundZero = 0x6000;

} // namespace

TEST(PlatformHygiene, NoWritableAndExecutableMappingDuringOrAfterCompilation) {
    ASSERT_TRUE(std::ifstream("/proc/self/maps").good());
    ASSERT_TRUE(wx_mappings().empty()) << "before any compile: " << wx_mappings().front();
    std::atomic<bool> done{false};
    std::atomic<int> scans{0};
    std::vector<std::string> seen;
    std::thread scanner([&] {
        while (!done.load()) {
            for (const std::string& l : wx_mappings())
                if (seen.size() < 10) seen.push_back(l);
            scans++;
        }
    });
    std::vector<CompiledModel> models;
    for (uint64_t seed = 1; seed <= 40; ++seed) {
        const rgraph::RandomGraph rg = rgraph::build_random_graph(seed);
        try {
            models.push_back(compile(rg.graph));
            models.back().run(rg.inputs);
        } catch (const Error&) {
            // allowed rejections (UnsupportedOp, NonConstantRange) are test_random_graphs' business
        }
    }
    for (uint64_t seed = 1; seed <= 5; ++seed) {
        const zoo::ChainConfig cfg = zoo::random_chain_config(seed);
        models.push_back(compile(zoo::build_chain(cfg)));
        models.back().run({input_for(cfg, seed)});
    }
    done = true;
    scanner.join();
    EXPECT_GT(scans.load(), 0);
    for (const std::string& l : seen) ADD_FAILURE() << "W+X mapping during compilation: " << l;
    for (const std::string& l : wx_mappings()) ADD_FAILURE() << "W+X mapping after compilation: " << l;
}

TEST(PlatformHygiene, CallerMxcsrChangesNothingAndComesBack) {
    zoo::ChainConfig cfg;
    cfg.h = 9; cfg.w = 7; cfg.c1 = 19;
    const Graph g = zoo::build_chain(cfg);
    const std::vector<Tensor> in{input_for(cfg, 21)};
    CompiledModel ref = compile(g);
    const tsupport::OracleAgreement agree = tsupport::check_against_oracles(g, ref, in);
    ASSERT_TRUE(agree.jit_equals_b) << agree.mismatch;
    const Tensor want = ref.run(in).at(0);
    for (unsigned mode : {kRoundZero | kFtz | kDaz, kRoundZero, kRoundUp, kRoundDown | kDaz, kFtz, kDaz}) {
        const unsigned caller = kDefault | mode;
        Tensor got;
        {
            CallerMxcsr scope(caller);
            CompiledModel m = compile(g); // constant folding must not follow the caller's rounding
            EXPECT_EQ(_mm_getcsr(), caller) << "compile() did not restore MXCSR";
            got = m.run(in).at(0);
            EXPECT_EQ(_mm_getcsr(), caller) << "run() did not restore MXCSR";
            Graph bad;
            bad.parameter("x", {1});
            EXPECT_THROW(compile(bad), Error);
            EXPECT_EQ(_mm_getcsr(), caller) << "a throwing compile() did not restore MXCSR";
        }
        std::string why;
        EXPECT_TRUE(tsupport::same_bytes(want, got, &why)) << "caller MXCSR 0x" << std::hex << caller << ": " << why;
    }
}

// The same on random graphs (fp32 fallback steps, every folding): compiled under RZ+FTZ+DAZ, run under it.
TEST(PlatformHygiene, CallerMxcsrOnRandomGraphs) {
    for (uint64_t seed = 1; seed <= 60; ++seed) {
        const rgraph::RandomGraph rg = rgraph::build_random_graph(seed);
        std::vector<Tensor> want, got;
        try {
            CompiledModel m = compile(rg.graph);
            want = m.run(rg.inputs);
        } catch (const Error&) {
            continue;
        }
        {
            CallerMxcsr scope(kDefault | kRoundZero | kFtz | kDaz);
            CompiledModel m = compile(rg.graph);
            got = m.run(rg.inputs);
            EXPECT_EQ(_mm_getcsr(), kDefault | kRoundZero | kFtz | kDaz);
        }
        ASSERT_EQ(want.size(), got.size());
        for (size_t i = 0; i < want.size(); ++i) {
            std::string why;
            EXPECT_TRUE(tsupport::same_bytes(want[i], got[i], &why))
                << "seed " << seed << " result " << i << ": " << why << "\n" << rg.summary;
        }
    }
}
