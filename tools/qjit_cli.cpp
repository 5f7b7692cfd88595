// `qjit` — run, time, describe, dump and check a model file (.onnx or OpenVINO IR .xml).
// Every error is one line on stderr and a non-zero exit status (1: qjit error, 2: usage).
#include "tools/qjit_cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "jit/ir.hpp"
#include "tools/model_zoo.hpp"
#include "tools/npy.hpp"

namespace qjit::cli {

const char* usage() {
    return "usage: qjit COMMAND MODEL [options]\n"
           "commands:\n"
           "  run       run once; print each output (--output y.npy writes it)\n"
           "  bench     latency percentiles and throughput\n"
           "  describe  the schedule table (kernels, fused nodes, ISA)\n"
           "  dump      write every kernel's bytes and disassembly to --out DIR\n"
           "  check     compare with Oracle B (bit-exact) and Oracle A (spec 4.6)\n"
           "options:\n"
           "  --input FILE.npy       an input (repeat in input order; f32, u8 or i8); default: seeded random\n"
           "  --output FILE.npy      where run writes an output (repeat in output order)\n"
           "  --shape NAME=d0,d1,..  fix an input's shape\n"
           "  --threads N            worker threads (default 1)\n"
           "  --seed N               seed of the random inputs (default 1)\n"
           "  --range LO,HI          range of the random inputs (default -1,1)\n"
           "  --max-isa ISA          avx2 | avx2_vnni | avx512_core | avx512_core_vnni\n"
           "  --runs N / --seconds S bench length (default 2 seconds)\n"
           "  --out DIR              dump directory\n";
}

namespace {

int64_t to_int(const std::string& s, const std::string& what) {
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0') throw UsageError(what + ": '" + s + "' is not an integer");
    return v;
}

} // namespace

Args parse_args(int argc, char** argv) {
    Args a;
    std::vector<std::string> pos;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw UsageError(k + " needs a value");
            return argv[++i];
        };
        if (k == "--input") a.inputs.push_back(value());
        else if (k == "--output") a.outputs.push_back(value());
        else if (k == "--threads") a.threads = static_cast<int>(to_int(value(), k));
        else if (k == "--seed") a.seed = static_cast<uint64_t>(to_int(value(), k));
        else if (k == "--runs") a.runs = static_cast<int>(to_int(value(), k));
        else if (k == "--seconds") a.seconds = std::atof(value().c_str());
        else if (k == "--out") a.out_dir = value();
        else if (k == "--max-isa") a.max_isa = value();
        else if (k == "--range") {
            const std::string v = value();
            if (std::sscanf(v.c_str(), "%f,%f", &a.input_lo, &a.input_hi) != 2 || !(a.input_lo < a.input_hi))
                throw UsageError("--range: expected LO,HI with LO < HI, got '" + v + "'");
        } else if (k == "--shape") {
            const std::string v = value();
            const size_t eq = v.find('=');
            if (eq == std::string::npos || eq == 0) throw UsageError("--shape: expected NAME=d0,d1,..., got '" + v + "'");
            Shape s;
            std::string item;
            for (char c : v.substr(eq + 1) + ",") {
                if (c != ',') { item += c; continue; }
                s.push_back(to_int(item, "--shape " + v.substr(0, eq)));
                item.clear();
            }
            a.shapes[v.substr(0, eq)] = s;
        } else if (k == "-h" || k == "--help") {
            throw UsageError("");
        } else if (k.size() > 1 && k[0] == '-') {
            throw UsageError("unknown option " + k);
        } else {
            pos.push_back(k);
        }
    }
    if (pos.size() != 2) throw UsageError(pos.empty() ? "" : "expected COMMAND MODEL");
    a.command = pos[0];
    a.model = pos[1];
    if (a.threads < 1) throw UsageError("--threads must be at least 1");
    if (a.command == "dump" && a.out_dir.empty()) throw UsageError("dump needs --out DIR");
    return a;
}

Loaded load(const Args& a) {
    ImportOptions o;
    o.input_shapes = a.shapes;
    Loaded l{load_model(a.model, o), {}};
    const ir::Graph& g = l.graph.ir();
    const std::vector<int> params = g.parameters();
    if (!a.inputs.empty() && a.inputs.size() != params.size())
        throw Error(ErrorCode::BadInput, a.model,
                    "the model has " + std::to_string(params.size()) + " inputs, " + std::to_string(a.inputs.size()) + " --input given");
    for (size_t i = 0; i < params.size(); ++i) {
        const ir::Node& p = g.node(params[i]);
        if (a.inputs.empty()) {
            l.inputs.push_back(Tensor::f32(p.shape, zoo::random_input(p.shape, a.seed + i, a.input_lo, a.input_hi)));
            continue;
        }
        Tensor t = npy::read_f32(a.inputs[i]);
        if (t.shape() != p.shape)
            throw Error(ErrorCode::BadInput, p.name,
                        a.inputs[i] + " has shape " + to_string(t.shape()) + ", the model wants " + to_string(p.shape) +
                            " (--shape " + p.name + "=... fixes the model's)");
        l.inputs.push_back(std::move(t));
    }
    return l;
}

CompiledModel compile_model(const Args& a, const Graph& g) {
    CompileOptions o;
    o.threads = a.threads;
    if (!a.max_isa.empty()) {
        bool found = false;
        for (Isa i : {Isa::avx2, Isa::avx2_vnni, Isa::avx512_core, Isa::avx512_core_vnni})
            if (a.max_isa == to_string(i)) o.max_isa = i, found = true;
        if (!found) throw UsageError("--max-isa: unknown level '" + a.max_isa + "'");
    }
    return compile(g, o);
}

std::string io_summary(const Graph& graph) {
    const ir::Graph& g = graph.ir();
    std::string s;
    for (int id : g.parameters()) s += "  input  " + g.node(id).name + " f32" + to_string(g.node(id).shape) + "\n";
    for (int id : g.results()) s += "  output " + g.node(id).name + " f32" + to_string(g.node(id).shape) + "\n";
    return s;
}

} // namespace qjit::cli

int main(int argc, char** argv) {
    using namespace qjit::cli;
    for (int i = 1; i < argc; ++i)
        if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) return std::fputs(usage(), stdout), 0;
    try {
        const Args a = parse_args(argc, argv);
        if (a.command == "run") return cmd_run(a);
        if (a.command == "bench") return cmd_bench(a);
        if (a.command == "describe") return cmd_describe(a);
        if (a.command == "dump") return cmd_dump(a);
        if (a.command == "check") return cmd_check(a);
        throw UsageError("unknown command '" + a.command + "'");
    } catch (const UsageError& e) {
        if (*e.what()) std::fprintf(stderr, "qjit: %s (qjit --help)\n", e.what());
        else std::fputs(usage(), stderr);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
