// Model-level benchmarks (issue #7): latency percentiles of C++-built models on 1 and 2 threads and
// model compile time (qjit::compile: copy + passes + schedule + emit + pack + executor buffers).
//
//   latency/<model>/threads:T   p50_ms, p90_ms, p99_ms of single inferences (nearest rank over the
//                               repetition's runs), nominal GOPS at p50 (padded taps included)
//   compile/<model>             ms per compile (wall; compile_cpu_ms: CPU time of the compiling thread);
//                               us_per_kernel = compile time / generated kernels
// Models: resnet50 (ResNet-50's 50-layer bottleneck structure without residual adds,
// tools/model_zoo_resnet), mobilenetv2 (MobileNetV2 at 224x224 with its residual adds and depthwise
// convs, tools/model_zoo_mobilenet), stack50 (50 layers, conv3x3 64ch 14x14 + FC: deep with few weights),
// chain (the spine chain of tools/model_zoo at 56x56, the demo's layer sequence).
//
// Extra flags: --qjit_small=1 (small models, for the smoke test), --qjit_threads=1,2, --qjit_describe=1
// (print the first compiled model's schedule to stderr),
// --qjit_latency_runs=N (runs per latency repetition; default 60 resnet50, 200 mobilenetv2 and stack50,
// 500 chain).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "perf/bench_common.hpp"
#include "qjit/qjit.hpp"
#include "tools/model_zoo.hpp"
#include "tools/model_zoo_mobilenet.hpp"
#include "tools/model_zoo_resnet.hpp"

using namespace qjit;

namespace {

using Clock = std::chrono::steady_clock;

bool g_small = false;
bool g_describe = false; // --qjit_describe=1: print each compiled model's schedule (CompiledModel::describe)
int g_runs = 0; // 0: per-model default
std::vector<int> g_threads{1, 2};

struct ModelSpec {
    std::string name;
    int default_runs;
};

zoo::BuiltModel build(const std::string& name) {
    if (name == "resnet50") return zoo::build_resnet(g_small ? zoo::resnet_small() : zoo::resnet50_like());
    if (name == "mobilenetv2")
        return zoo::build_mobilenet_v2(g_small ? zoo::mobilenet_v2_small() : zoo::mobilenet_v2());
    if (name == "stack50") return zoo::build_conv_stack(g_small ? 10 : 50, g_small ? 16 : 64, g_small ? 8 : 14);
    zoo::ChainConfig c; // chain
    c.n = 1; c.c = 3;
    c.h = c.w = g_small ? 16 : 56;
    c.c1 = g_small ? 16 : 64;
    c.c2 = 16; // the FC's K = h*w*c2 must stay <= kMaxConvK (65793)
    c.classes = 10;
    c.seed = 2026;
    zoo::BuiltModel m;
    m.graph = zoo::build_chain(c);
    m.input = {c.n, c.c, c.h, c.w};
    m.layers = 3;
    const int64_t oh = (c.h + 2 * c.pad - c.k) / c.stride + 1, ow = (c.w + 2 * c.pad - c.k) / c.stride + 1;
    m.macs = oh * ow * c.c1 * c.c * c.k * c.k + oh * ow * c.c2 * c.c1 + oh * ow * c.c2 * c.classes;
    m.description = "spine chain (" + c.str() + ")";
    return m;
}

// Graphs are built once per process (the big one holds ~25M float weights).
const zoo::BuiltModel& model(const std::string& name) {
    static std::vector<std::pair<std::string, std::unique_ptr<zoo::BuiltModel>>> cache;
    for (auto& [n, m] : cache)
        if (n == name) return *m;
    cache.emplace_back(name, std::make_unique<zoo::BuiltModel>(build(name)));
    return *cache.back().second;
}

void bm_latency(benchmark::State& st, std::string name, int threads) {
    const zoo::BuiltModel& m = model(name);
    CompileOptions opt;
    opt.threads = threads;
    CompiledModel cm = compile(m.graph, opt);
    int jit = 0;
    for (const KernelInfo& k : cm.kernels()) jit += k.jit;
    const std::vector<Tensor> in{Tensor::f32(m.input, zoo::random_input(m.input, 7))};
    for (int i = 0; i < 2; ++i) cm.run(in); // first runs fault the buffers in
    std::vector<double> ms;
    for (auto _ : st) {
        const auto t0 = Clock::now();
        std::vector<Tensor> out = cm.run(in);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        benchmark::DoNotOptimize(out.data());
    }
    const double p50 = perf::percentile(ms, 50);
    st.counters["p50_ms"] = p50;
    st.counters["p90_ms"] = perf::percentile(ms, 90);
    st.counters["p99_ms"] = perf::percentile(ms, 99);
    st.counters["GOPS_p50"] = p50 > 0 ? 2.0 * static_cast<double>(m.macs) / (p50 * 1e-3) * 1e-9 : 0;
    st.counters["threads"] = threads;
    st.counters["layers"] = m.layers;
    st.counters["jit_kernels"] = jit;
    st.SetLabel(m.description);
}

// CPU time of the calling thread (compile is single-threaded): robust where other processes share the cores.
double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

void bm_compile(benchmark::State& st, std::string name) {
    const zoo::BuiltModel& m = model(name);
    size_t kernels = 0, jit = 0, code = 0;
    std::vector<double> ms, cpu_ms;
    for (auto _ : st) {
        const auto t0 = Clock::now();
        const double c0 = thread_cpu_ms();
        CompiledModel cm = compile(m.graph, {});
        cpu_ms.push_back(thread_cpu_ms() - c0);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        kernels = cm.kernels().size();
        if (g_describe) {
            std::fprintf(stderr, "%s\n", cm.describe().c_str());
            g_describe = false;
        }
        jit = 0;
        code = 0;
        for (const KernelInfo& k : cm.kernels()) {
            jit += k.jit;
            code += k.code_bytes;
        }
    }
    const double med = perf::percentile(ms, 50);
    st.counters["compile_ms"] = med; // median of this repetition's compiles
    st.counters["compile_cpu_ms"] = perf::percentile(cpu_ms, 50);
    st.counters["us_per_kernel"] = med * 1e3 / static_cast<double>(std::max<size_t>(jit, 1));
    st.counters["layers"] = m.layers;
    st.counters["steps"] = static_cast<double>(kernels);
    st.counters["jit_kernels"] = static_cast<double>(jit);
    st.counters["code_KB"] = static_cast<double>(code) / 1024.0;
    st.SetLabel(m.description);
}

void register_all() {
    const std::vector<ModelSpec> models{{"resnet50", 60}, {"mobilenetv2", 200}, {"stack50", 200}, {"chain", 500}};
    for (const ModelSpec& s : models)
        for (int t : g_threads)
            benchmark::RegisterBenchmark(("latency/" + s.name + "/threads:" + std::to_string(t)).c_str(), bm_latency,
                                         s.name, t)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime()
                ->Iterations(g_runs > 0 ? g_runs : s.default_runs);
    for (const ModelSpec& s : models)
        benchmark::RegisterBenchmark(("compile/" + s.name).c_str(), bm_compile, s.name)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
}

bool take_flag(int& argc, char** argv, const char* name, std::string& value) {
    const size_t n = std::strlen(name);
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') {
            value = argv[i] + n + 1;
            for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
            --argc;
            return true;
        }
    return false;
}

} // namespace

int main(int argc, char** argv) {
    std::string v;
    if (take_flag(argc, argv, "--qjit_small", v)) g_small = std::atoi(v.c_str()) != 0;
    if (take_flag(argc, argv, "--qjit_describe", v)) g_describe = std::atoi(v.c_str()) != 0;
    if (take_flag(argc, argv, "--qjit_latency_runs", v)) g_runs = std::atoi(v.c_str());
    if (take_flag(argc, argv, "--qjit_threads", v)) {
        g_threads.clear();
        std::stringstream ss(v);
        for (std::string t; std::getline(ss, t, ',');) g_threads.push_back(std::max(1, std::atoi(t.c_str())));
    }
    benchmark::Initialize(&argc, argv);
    perf::add_bench_context();
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
