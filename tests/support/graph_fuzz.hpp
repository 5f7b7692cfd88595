// One random graph (tools/random_graph.hpp) through the differential check of issue #3 item 8:
// compile succeeds or throws only an allowed qjit::Error, JIT == Oracle B bit for bit on every
// Result, every fused layer within spec §4.6 of Oracle A (check_against_oracles), and output bytes
// identical for threads 1 and 2 and under a caller MXCSR of RZ+FTZ+DAZ.
// Used by tests/test_random_graphs.cpp and tools/fuzz_graphs.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tools/random_graph.hpp"

namespace qjit::tsupport {

struct GraphVerdict {
    enum Kind { passed, rejected, failed } kind = passed;
    std::string why;            // rejected: the allowed Error; failed: what broke
    bool all_jit = true;        // every schedule step is a generated kernel
    int64_t layer_outputs = 0;  // outputs compared with Oracle A
    int64_t flips = 0;
    std::vector<std::string> fallback_kernels; // names of the non-JIT steps (e.g. ref_FakeQuantize_f32)
    bool a_checked = true;      // false: a range overflows fp32 (A's check is not meaningful)
};

// Codes compile() may throw on a valid random graph (the generator builds only valid graphs).
bool allowed_compile_error(ErrorCode c);

GraphVerdict check_random_graph(const rgraph::RandomGraph& rg);

// "QJIT_GRAPH_SEED=<seed> ./test_random_graphs"
std::string graph_reproducer(uint64_t seed);

} // namespace qjit::tsupport
