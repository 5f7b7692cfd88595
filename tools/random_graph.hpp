// Random valid quantized graphs for differential testing (issue #3 item 8): from a seed, an input
// FakeQuantize with edge-case levels and ranges, then a random chain/DAG of blocks (Conv, GroupConv /
// depthwise, bias, Relu/Clamp, ScaleShift, FQ variants, Add/Multiply of branches, Concat, pooling,
// FC head, Results on FQ and float values), built with the public builder. Ranges of intermediate
// FakeQuantizes are calibrated on Oracle A's values of the float graph built so far; the returned
// inputs then get edge values (range ends, ±1 ulp, grid/half-grid points, ±0, ±inf, NaN,
// subnormals, far outside). Some graphs legitimately contain fp32 fallback.
// Reproduce one graph: QJIT_GRAPH_SEED=<seed> ./test_random_graphs (or ./fuzz-graphs --seed <seed>).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qjit/graph.hpp"
#include "qjit/tensor.hpp"

namespace qjit::rgraph {

struct GenOptions {
    int max_blocks = 5;          // blocks after the input FakeQuantize (1..max_blocks)
    int64_t max_hw = 9;          // largest input H, W
    bool edge_inputs = true;     // inject edge values into the inputs
    bool allow_nan_inputs = true;
    bool allow_nonconstant_ranges = true; // rarely, an FQ range from a Parameter (-> generic path)
};

struct RandomGraph {
    uint64_t seed = 0;
    Graph graph;
    std::vector<Tensor> inputs;  // in Parameter order
    std::string summary;         // one line per block: what the generator chose
    std::vector<std::string> features; // tags of the spec §5 rows this graph exercises
};

RandomGraph build_random_graph(uint64_t seed, const GenOptions& opt = {});

} // namespace qjit::rgraph
