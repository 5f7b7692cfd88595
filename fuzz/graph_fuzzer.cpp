// libFuzzer target: fuzzer bytes -> a random valid graph (tools/random_graph) -> compile -> run ->
// JIT == Oracle B bit for bit, identical bytes for 1 and 2 threads and under a caller MXCSR of
// RZ+FTZ+DAZ (tests/support/graph_fuzz). Bytes 0-7: the generator seed; 8: blocks; 9: largest H/W;
// 10: flags (edge inputs, NaN inputs, non-constant ranges). Oracle A's §4.6 check is counted, not
// fatal here: test_random_graphs asserts them (the CHECK-DELTA reports of tests/README.md are fixed).
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz/fuzz_common.hpp"
#include "tests/support/graph_fuzz.hpp"

using namespace qjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    uint8_t b[11] = {};
    std::memcpy(b, data, size < sizeof b ? size : sizeof b);
    uint64_t seed = 0;
    std::memcpy(&seed, b, 8);
    rgraph::GenOptions opt;
    opt.max_blocks = 1 + b[8] % 5;
    opt.max_hw = 1 + b[9] % 12;
    opt.edge_inputs = (b[10] & 1) == 0;
    opt.allow_nan_inputs = (b[10] & 2) == 0;
    opt.allow_nonconstant_ranges = (b[10] & 4) == 0;
    rgraph::RandomGraph rg;
    try {
        rg = rgraph::build_random_graph(seed, opt);
    } catch (const std::exception& e) {
        fuzz::bug(("generator threw for seed " + std::to_string(seed)).c_str(), e.what());
    }
    const tsupport::GraphVerdict v = tsupport::check_random_graph(rg);
    if (v.kind == tsupport::GraphVerdict::failed && v.why.rfind("outside spec 4.6", 0) != 0)
        fuzz::bug(("seed " + std::to_string(seed) + " (" + rg.summary + ")").c_str(), v.why.c_str());
    return 0;
}
