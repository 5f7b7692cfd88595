// The subcommands of `qjit` (see qjit_cli.cpp for the arguments).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "jit/ir.hpp"
#include "tests/support/chain_check.hpp"
#include "tools/npy.hpp"
#include "tools/qjit_cli.hpp"

namespace qjit::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Multiply-accumulates of the graph's Convolution / GroupConvolution / MatMul nodes.
double graph_macs(const Graph& graph) {
    const ir::Graph& g = graph.ir();
    double macs = 0;
    for (int id : g.topo_order()) {
        const ir::Node& n = g.node(id);
        const double out = static_cast<double>(num_elements(n.shape));
        if (n.op == ir::Op::Convolution) {
            const Shape& w = g.node(n.inputs[1]).shape; // O I KH KW
            macs += out * static_cast<double>(w[1] * w[2] * w[3]);
        } else if (n.op == ir::Op::GroupConvolution) {
            const Shape& w = g.node(n.inputs[1]).shape; // G O/G I/G KH KW
            macs += out * static_cast<double>(w[2] * w[3] * w[4]);
        } else if (n.op == ir::Op::MatMul) {
            const Shape& a = g.node(n.inputs[0]).shape;
            macs += out * static_cast<double>(n.transpose_a ? a[a.size() - 2] : a.back());
        }
    }
    return macs;
}

void print_tensor(const std::string& name, const Tensor& t) {
    const float* p = t.data<float>();
    const int64_t n = t.numel();
    double sum = 0;
    int64_t arg = 0;
    for (int64_t i = 0; i < n; ++i) {
        sum += p[i];
        if (p[i] > p[arg]) arg = i;
    }
    std::printf("%s f32%s sum=%.6g max=%.6g at %lld:", name.c_str(), to_string(t.shape()).c_str(), sum,
                n ? static_cast<double>(p[arg]) : 0.0, static_cast<long long>(arg));
    for (int64_t i = 0; i < std::min<int64_t>(n, 8); ++i) std::printf(" %.6g", static_cast<double>(p[i]));
    std::printf(n > 8 ? " ...\n" : "\n");
}

} // namespace

int cmd_run(const Args& a) {
    Loaded l = load(a);
    CompiledModel m = compile_model(a, l.graph);
    const auto t0 = Clock::now();
    const std::vector<Tensor> out = m.run(l.inputs);
    const double ms = ms_since(t0);
    const std::vector<int> results = l.graph.ir().results();
    if (a.outputs.size() > out.size())
        throw UsageError(std::to_string(a.outputs.size()) + " --output given, the model has " + std::to_string(out.size()) + " outputs");
    for (size_t i = 0; i < out.size(); ++i) {
        print_tensor(l.graph.ir().node(results[i]).name, out[i]);
        if (i < a.outputs.size()) npy::write_f32(a.outputs[i], out[i]);
    }
    std::printf("%s: %zu kernels on %s, %d thread(s), first run %.3f ms\n", a.model.c_str(), m.kernels().size(),
                to_string(m.isa()), a.threads, ms);
    return 0;
}

int cmd_bench(const Args& a) {
    Loaded l = load(a);
    const auto tc = Clock::now();
    CompiledModel m = compile_model(a, l.graph);
    const double compile_ms = ms_since(tc);
    for (int i = 0; i < 3; ++i) m.run(l.inputs); // warm-up
    std::vector<double> t;
    const auto start = Clock::now();
    const bool tty = isatty(fileno(stderr));
    double last_report = 0;
    while (a.runs > 0 ? static_cast<int>(t.size()) < a.runs : ms_since(start) < a.seconds * 1000.0) {
        const auto t0 = Clock::now();
        m.run(l.inputs);
        t.push_back(ms_since(t0));
        const double now = ms_since(start);
        if (now - last_report > 250) {
            last_report = now;
            std::fprintf(stderr, "%sbench: %zu runs, %.1f s%s", tty ? "\r" : "", t.size(), now / 1000.0, tty ? "" : "\n");
        }
    }
    if (tty) std::fprintf(stderr, "\r%40s\r", "");
    std::vector<double> s = t;
    std::sort(s.begin(), s.end());
    auto pct = [&](double p) { return s[std::min(s.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(s.size())))]; };
    double total = 0;
    for (double v : t) total += v;
    const double mean = total / static_cast<double>(t.size());
    const double macs = graph_macs(l.graph);
    std::printf("model      %s (%zu kernels, %s, %d thread(s), compile %.1f ms)\n", a.model.c_str(), m.kernels().size(),
                to_string(m.isa()), a.threads, compile_ms);
    std::printf("runs       %zu\n", t.size());
    std::printf("latency ms min %.4f  p50 %.4f  p90 %.4f  p99 %.4f  max %.4f  mean %.4f\n", s.front(), pct(50), pct(90),
                pct(99), s.back(), mean);
    std::printf("throughput %.1f inferences/s", 1000.0 / mean);
    if (macs > 0) std::printf(", %.2f GOP/s (%.3g MAC per inference, 2 ops per MAC)", 2 * macs / mean / 1e6, macs);
    std::printf("\n");
    return 0;
}

int cmd_describe(const Args& a) {
    Loaded l = load(a);
    CompiledModel m = compile_model(a, l.graph);
    std::printf("%s\n%s%s", a.model.c_str(), io_summary(l.graph).c_str(), m.describe().c_str());
    return 0;
}

int cmd_dump(const Args& a) {
    mkdir(a.out_dir.c_str(), 0755);
    struct stat st {};
    if (stat(a.out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw Error(ErrorCode::InvalidArgument, a.out_dir, "cannot create the dump directory");
    setenv("QJIT_DUMP", a.out_dir.c_str(), 1); // read by every kernel build (emitters/disasm.cpp)
    Loaded l = load(a);
    CompiledModel m = compile_model(a, l.graph);
    const std::string sched = a.out_dir + "/schedule.txt";
    if (FILE* f = std::fopen(sched.c_str(), "w")) {
        std::fprintf(f, "%s\n%s%s", a.model.c_str(), io_summary(l.graph).c_str(), m.describe().c_str());
        std::fclose(f);
    }
    int jit = 0;
    for (const KernelInfo& k : m.kernels()) jit += k.jit;
    std::printf("%s: %d JIT kernels written to %s (<kernel>.bin, <kernel>.s), schedule in %s\n", a.model.c_str(), jit,
                a.out_dir.c_str(), sched.c_str());
    return 0;
}

int cmd_check(const Args& a) {
    Loaded l = load(a);
    CompiledModel m = compile_model(a, l.graph);
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(l.graph, m, l.inputs);
    std::printf("%s: %zu kernels on %s\n", a.model.c_str(), m.kernels().size(), to_string(m.isa()));
    std::printf("oracle B (integer reference): %s\n", r.jit_equals_b ? "bit-exact" : ("MISMATCH: " + r.mismatch).c_str());
    std::printf("oracle A (float FakeQuantize graph): %lld layer outputs checked, %lld one-level flips, %lld violations%s%s\n",
                static_cast<long long>(r.layer_outputs), static_cast<long long>(r.flips),
                static_cast<long long>(r.violations), r.violations ? ": " : "", r.first_violation.c_str());
    if (!r.all_jit) std::printf("note: non-JIT steps run (first: %s)\n", r.fallback.c_str());
    const bool ok = r.jit_equals_b && r.violations == 0;
    std::printf("%s\n", ok ? "AGREE" : "DISAGREE");
    return ok ? 0 : 1;
}

} // namespace qjit::cli
