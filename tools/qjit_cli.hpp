// The `qjit` command line tool: shared pieces of its subcommands (tools/qjit_cli*.cpp).
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "qjit/import.hpp"
#include "qjit/qjit.hpp"

namespace qjit::cli {

// A command line mistake: printed with the usage hint, exit status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Args {
    std::string command, model;
    std::vector<std::string> inputs, outputs; // .npy files, in Parameter / Result order
    std::map<std::string, Shape> shapes;      // --shape NAME=d0,d1,...
    int threads = 1;
    uint64_t seed = 1;
    float input_lo = -1.f, input_hi = 1.f;    // range of the seeded random inputs
    int runs = 0;                             // bench: 0 = as many as fit in `seconds`
    double seconds = 2.0;
    std::string out_dir;                      // dump
    std::string max_isa;                      // "" = native
};

Args parse_args(int argc, char** argv);
const char* usage();

struct Loaded {
    Graph graph;
    std::vector<Tensor> inputs; // from --input files, else seeded random data
};
Loaded load(const Args& a);
CompiledModel compile_model(const Args& a, const Graph& g);
// "name f32[1,3,32,32]" lines for the graph's parameters and results.
std::string io_summary(const Graph& g);

int cmd_run(const Args& a);
int cmd_bench(const Args& a);
int cmd_describe(const Args& a);
int cmd_dump(const Args& a);
int cmd_check(const Args& a);

} // namespace qjit::cli
