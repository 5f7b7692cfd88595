// Google Benchmark harness for the generated QConv kernels (conv and FC), one thread.
// Counters: GOPS = 2 * real MACs (padded taps excluded) / time, JIT time and code bytes per kernel.
//   ./build/bench_kernels --benchmark_filter=conv3x3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

#include "emitters/conv_avx2.hpp"
#include "jit/requant_fold.hpp"
#include "tools/kernel_cases.hpp"

using namespace qjit;

namespace {

struct Buffer {
    explicit Buffer(int64_t bytes) : p(static_cast<uint8_t*>(std::aligned_alloc(64, static_cast<size_t>((bytes + 63) / 64 * 64)))) {
        std::memset(p, 0, static_cast<size_t>((bytes + 63) / 64 * 64));
    }
    ~Buffer() { std::free(p); }
    uint8_t* p;
};

void run_case(benchmark::State& st, zoo::KernelCase kc) {
    const QConvDesc d = zoo::make_qconv_case(kc);
    const auto t0 = std::chrono::steady_clock::now();
    const QConvConsts c = fold_qconv(d);
    ActLayout in = required_input_halo(d.g);
    ActLayout out;
    out.N = d.g.N; out.H = d.g.OH; out.W = d.g.OW; out.C = d.g.OC;
    out.c_stride = round_up16(d.g.OC);
    const ConvBlocking b = choose_conv_blocking_avx2(d, c);
    auto k = emit_conv_avx2(d, c, in, out, b);
    const double jit_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    const PackedWeights w = pack_conv_weights_avx2(d, b);

    Buffer src(in.bytes()), dst(out.bytes());
    std::mt19937 rng(3);
    for (int64_t n = 0; n < in.N; ++n)
        for (int64_t h = 0; h < in.H; ++h)
            for (int64_t x = 0; x < in.W; ++x)
                for (int64_t ch = 0; ch < in.C; ++ch) src.p[in.offset(n, h, x) + ch] = static_cast<uint8_t>(rng());
    const int64_t ocb = conv_oc_blocks(out, b);
    for (auto _ : st) {
        for (int64_t n = 0; n < d.g.N; ++n) {
            ConvArgs a{src.p + in.offset(n, 0, 0), dst.p + out.offset(n, 0, 0), w.data.get(), 0, d.g.OH, 0, ocb};
            k->call(&a);
        }
        benchmark::ClobberMemory();
    }
    const double ops = 2.0 * static_cast<double>(kc.real_macs());
    st.counters["GOPS"] = benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["jit_us"] = jit_us;
    st.counters["code_B"] = static_cast<double>(k->code_size());
    st.SetLabel(k->name + " tile " + std::to_string(b.pixels) + "x" + std::to_string(b.oc_block()));
}

void register_all() {
    std::vector<zoo::KernelCase> cases;
    auto fc = [](const char* name, int64_t m, int64_t k, int64_t n) {
        zoo::KernelCase c;
        c.name = name; c.fc = true; c.w = m; c.c = k; c.oc = n;
        return c;
    };
    auto conv = [](const char* name, int64_t hw, int64_t ci, int64_t co, int64_t k) {
        zoo::KernelCase c;
        c.name = name; c.h = c.w = hw; c.c = ci; c.oc = co; c.k = k; c.pad = k / 2;
        return c;
    };
    cases.push_back(fc("fc_128x768x768", 128, 768, 768));
    cases.push_back(fc("fc_1x2048x1000", 1, 2048, 1000));
    cases.push_back(fc("fc_256x1024x1024", 256, 1024, 1024));
    cases.push_back(conv("conv3x3_56x56_64to64", 56, 64, 64, 3));
    cases.push_back(conv("conv1x1_56x56_64to256", 56, 64, 256, 1));
    cases.push_back(conv("conv3x3_14x14_256to256", 14, 256, 256, 3));
    for (auto c : cases) {
        for (bool zp : {false, true}) {
            c.zero_points = zp;
            benchmark::RegisterBenchmark((c.name + (zp ? "/zp" : "")).c_str(), run_case, c)
                ->Unit(benchmark::kMicrosecond)
                ->MinTime(0.2);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
