// Google Benchmark harness for the generated QConv kernels (conv and FC) against oneDNN (issue #7).
//
// Benchmarks are named <impl>/<shape>/zp:<0|1>/threads:<T>, impl = qjit | onednn (convolution or
// matmul) | onednn_ip (inner product, FC without zero points); for every shape, zero-point setting
// and thread count they are registered (and so run) alternately: qjit, then oneDNN.
//   qjit: the scheduler's path — fold, choose blocking, emit, pack — then a QConv step
//         (jit/kernel_steps make_qconv_step) run by rt::ThreadPool::parallel_for, as the executor does.
//   oneDNN: OMP threads (omp_set_num_threads), u8 src, s8 weights, per-OC output scales (mask 2),
//         f32 bias, ReLU post-op, runtime src/dst zero points for zp:1.
// Every iteration runs on the next copy of (src, dst, weights); the copies span more than the LLC
// (see perf/bench_common.hpp), so no iteration finds its data in cache from the previous one.
//
// Counters: GOPS = 2 x real MACs (padded taps excluded) / wall time; pct_peak = GOPS / measured peak
// of the ISA path on the same thread count (perf/peak_probe); qjit: jit_us (fold + blocking + emit,
// median of 5), pack_us, code_B, maddubs_pct (weight groups on the vpmaddubsw path); oneDNN:
// create_us (primitive creation, its JIT); both: dst_nonzero (a degenerate output proves nothing).
//
// Extra flags (before the Google Benchmark ones):
//   --qjit_rotate_mb=N      rotated bytes per benchmark (0 = one warm copy; default 1.25 x LLC, <= 1 GiB)
//   --onednn_isa=ISA        cap oneDNN: avx2 (default: what qjit targets), avx2_vnni, avx512_core_vnni, all
//   --qjit_isa=ISA          qjit's level: avx2 (default), avx2_vnni, avx512_core, avx512_core_vnni, native
//   --qjit_threads=1,2      thread counts
//   --qjit_dw_blocking=PxV  depthwise tile: P pixels x V vectors of output channels (default: the scheduler's)
//   --qjit_peak_seconds=S   peak probe sample length (default 0.02; 0 = probe lazily)
//   --qjit_hugepages=0      rotated sets on 4 KiB pages (default: madvise(MADV_HUGEPAGE))
// Also dispatch/<pool>/threads:T: the cost of one empty parallel step (rt::ThreadPool vs OpenMP).
//   ./build-h/bench_kernels --benchmark_filter=conv3x3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "emitters/conv.hpp"
#include "emitters/group_conv.hpp"
#include "isa/isa.hpp"
#include "jit/kernel_steps.hpp"
#include "jit/requant_fold.hpp"
#include "perf/bench_common.hpp"
#include "runtime/thread_pool.hpp"
#include "tools/kernel_cases.hpp"
#ifdef QJIT_HAVE_DNNL
#include "perf/onednn_bench.hpp"
#endif

using namespace qjit;
using namespace qjit::perf;

namespace {

using Clock = std::chrono::steady_clock;
double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

std::string g_onednn_isa = "avx2";
// --qjit_isa: the level qjit's kernels are generated for (default avx2; native = the host's best),
// clamped to what the host runs (isa/isa.hpp resolve_isa).
Isa g_qjit_isa = Isa::avx2;
// --qjit_dw_blocking=PxV: the depthwise tile (pixels x oc vectors) instead of the scheduler's choice.
int g_dw_pixels = 0, g_dw_vecs = 0;
// --qjit_conv_blocking=PxV[m|e]: the dense conv / FC tile instead of the scheduler's (ignored when it does not fit);
// a trailing m forces the vpmaddubsw plan, e the exact stream.
int g_conv_pixels = 0, g_conv_vecs = 0;
char g_conv_form = 0; // 'm': the vpmaddubsw plan, 'e': the exact stream, 0: the scheduler's choice

// One fixture alive at a time (the rotated buffers are large); repetitions of one benchmark reuse it.
template <class F> std::shared_ptr<F> fixture(const std::string& key, const std::function<std::shared_ptr<F>()>& make) {
    static std::string cur_key;
    static std::shared_ptr<void> cur;
    if (cur_key != key || !cur) {
        cur.reset(); // free the previous set before allocating the next
        cur = make();
        cur_key = key;
    }
    return std::static_pointer_cast<F>(cur);
}

double fraction_nonzero(const uint8_t* p, int64_t n) {
    int64_t nz = 0;
    for (int64_t i = 0; i < n; ++i) nz += p[i] != 0;
    return n ? static_cast<double>(nz) / static_cast<double>(n) : 0;
}

// ---- qjit ----------------------------------------------------------------------------------

struct QjitFixture {
    QConvDesc d;
    ConvBlocking b;
    std::shared_ptr<JitKernel> k;
    ActLayout in, out;
    std::unique_ptr<RotatingSet> set; // buffers: src, dst, packed weights
    std::vector<std::unique_ptr<rt::Step>> steps;       // one per copy (each owns its weights copy)
    std::vector<std::array<uint8_t*, 2>> slots;         // per copy: {src, dst}
    std::unique_ptr<rt::ThreadPool> pool;
    double fold_us = 0, choose_us = 0, emit_us = 0, jit_us = 0, pack_us = 0, nonzero = 0;
    double maddubs_pct = 0; // weight groups on the vpmaddubsw fast path (the rest take the exact s16 path)
    std::string label;
};

std::shared_ptr<QjitFixture> make_qjit(const BenchShape& s, bool zp, int threads) {
    auto f = std::make_shared<QjitFixture>();
    const zoo::KernelCase kc = kernel_case(s, zp);
    f->d = zoo::make_qconv_case(kc);
    const QConvDesc& d = f->d;
    const bool grouped = d.g.groups > 1; // depthwise: emitters/group_conv, as the scheduler does
    f->in = grouped ? required_group_conv_input_halo(d.g) : required_input_halo(d.g);
    f->out.N = d.g.N; f->out.H = d.g.OH; f->out.W = d.g.OW; f->out.C = d.g.OC;
    f->out.c_stride = round_up16(d.g.OC);

    // JIT time: the scheduler's sequence for one QConv node, median of 5 (the first includes cold caches).
    std::vector<double> fold, choose, emit, total;
    for (int r = 0; r < 5; ++r) {
        const auto t0 = Clock::now();
        const QConvConsts c = fold_qconv(d);
        const double t_fold = us_since(t0);
        const auto t1 = Clock::now();
        ConvBlocking b =
            grouped ? choose_group_conv_blocking(g_qjit_isa, d, c) : choose_conv_blocking(g_qjit_isa, d, c);
        if (grouped && g_dw_pixels > 0) b.pixels = g_dw_pixels, b.oc_vecs = g_dw_vecs;
        if (!grouped && g_conv_pixels > 0) {
            ConvBlocking o = b;
            o.pixels = g_conv_pixels, o.oc_vecs = g_conv_vecs;
            if (g_conv_form) o.maddubs = g_conv_form == 'm';
            if (conv_blocking_fits(o)) b = o;
        }
        const double t_choose = us_since(t1);
        const auto t2 = Clock::now();
        std::shared_ptr<JitKernel> k =
            grouped ? emit_group_conv(g_qjit_isa, d, c, f->in, f->out, b) : emit_conv(d, c, f->in, f->out, b);
        const double t_emit = us_since(t2);
        fold.push_back(t_fold);
        choose.push_back(t_choose);
        emit.push_back(t_emit);
        total.push_back(t_fold + t_choose + t_emit);
        f->k = std::move(k);
        f->b = b;
    }
    f->fold_us = percentile(fold, 50);
    f->choose_us = percentile(choose, 50);
    f->emit_us = percentile(emit, 50);
    f->jit_us = percentile(total, 50);
    const auto tp = Clock::now();
    const PackedWeights w = grouped ? pack_group_conv_weights(d, f->b) : pack_conv_weights(d, f->b);
    f->pack_us = us_since(tp);
    if (f->b.maddubs && !grouped) {
        const ConvMaddubsGroups g = conv_maddubs_groups(d, f->b);
        f->maddubs_pct = g.total ? 100.0 * static_cast<double>(g.fast) / static_cast<double>(g.total) : 0;
    }

    f->set = std::make_unique<RotatingSet>(
        std::vector<int64_t>{f->in.bytes(), f->out.bytes(), static_cast<int64_t>(w.bytes)}, rotate_target_bytes());
    std::mt19937 rng(3);
    uint8_t* src = f->set->buf(0, 0);
    for (int64_t h = 0; h < f->in.H; ++h)
        for (int64_t x = 0; x < f->in.W; ++x)
            for (int64_t ch = 0; ch < f->in.C; ++ch) src[f->in.offset(0, h, x) + ch] = static_cast<uint8_t>(rng());
    std::memcpy(f->set->buf(0, 2), w.data.get(), w.bytes);
    f->set->replicate();
    std::shared_ptr<uint8_t> owner(f->set->buf(0, 0), [](uint8_t*) {}); // the set outlives the steps
    for (int c = 0; c < f->set->copies(); ++c) {
        PackedWeights wc;
        wc.data = std::shared_ptr<uint8_t>(owner, f->set->buf(c, 2));
        wc.bytes = w.bytes;
        f->steps.push_back(make_qconv_step(f->k, wc, d.g, f->b, f->in, f->out, 0, 1));
        f->slots.push_back({f->set->buf(c, 0), f->set->buf(c, 1)});
    }
    f->pool = std::make_unique<rt::ThreadPool>(threads);
    f->steps[0]->run(f->slots[0].data(), 0, f->steps[0]->work_items());
    f->nonzero = fraction_nonzero(f->set->buf(0, 1), f->out.bytes());
    f->label = f->k->name + " tile " + std::to_string(f->b.pixels) + "x" + std::to_string(f->b.oc_block()) +
               " copies " + std::to_string(f->set->copies());
    return f;
}

void set_rate_counters(benchmark::State& st, const BenchShape& s, double seconds, const std::string& isa,
                       int threads) {
    const double ops = 2.0 * static_cast<double>(s.real_macs());
    st.counters["GOPS"] = benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    const double gops = seconds > 0 ? ops * static_cast<double>(st.iterations()) / seconds * 1e-9 : 0;
    const double peak = peak_gops_for_isa(isa, threads);
    st.counters["pct_peak"] = peak > 0 ? 100.0 * gops / peak : 0;
    st.counters["threads"] = threads;
}

void bm_qjit(benchmark::State& st, BenchShape s, bool zp, int threads) {
    const std::string key = "qjit/" + s.name + std::to_string(zp) + "/" + std::to_string(threads);
    std::shared_ptr<QjitFixture> f = fixture<QjitFixture>(key, [&] { return make_qjit(s, zp, threads); });
    rt::ThreadPool& pool = *f->pool;
    const int copies = f->set->copies();
    int copy = 0;
    const auto t0 = Clock::now();
    for (auto _ : st) {
        const rt::Step* step = f->steps[static_cast<size_t>(copy)].get();
        uint8_t* const* slots = f->slots[static_cast<size_t>(copy)].data();
        pool.parallel_for(step->work_items(), [step, slots](int64_t b, int64_t e) { step->run(slots, b, e); });
        if (++copy == copies) copy = 0;
    }
    const double seconds = us_since(t0) * 1e-6;
    set_rate_counters(st, s, seconds, to_string(g_qjit_isa), threads);
    st.counters["jit_us"] = f->jit_us;
    st.counters["fold_us"] = f->fold_us;
    st.counters["choose_us"] = f->choose_us;
    st.counters["emit_us"] = f->emit_us;
    st.counters["pack_us"] = f->pack_us;
    st.counters["code_B"] = static_cast<double>(f->k->code_size());
    st.counters["dst_nonzero"] = f->nonzero;
    st.counters["maddubs_pct"] = f->maddubs_pct;
    st.SetLabel(f->label);
}

// ---- oneDNN --------------------------------------------------------------------------------

#ifdef QJIT_HAVE_DNNL
// The ISA whose measured peak a oneDNN implementation is compared with, from its name.
std::string isa_of_impl(const std::string& impl) {
    auto has = [&impl](const char* s) { return impl.find(s) != std::string::npos; };
    if (has("amx")) return "amx"; // no AMX probe: pct_peak 0
    if (has("avx512_core_vnni") || has("avx512_core_bf16")) return "avx512_core_vnni";
    if (has("avx2_vnni")) return "avx2_vnni";
    if (has("avx512_core")) return "avx512_core";
    if (has("avx2")) return "avx2";
    return g_onednn_isa == "all" ? "avx512_core_vnni" : g_onednn_isa; // gemm:jit etc. name no ISA
}

struct OnednnFixture {
    std::unique_ptr<OnednnKernel> k;
    std::unique_ptr<QConvDesc> d;
};

void bm_onednn(benchmark::State& st, BenchShape s, bool zp, int threads, OnednnPrim prim) {
    const std::string key = "onednn" + std::to_string(static_cast<int>(prim)) + "/" + s.name + std::to_string(zp) +
                            "/" + std::to_string(threads);
    std::shared_ptr<OnednnFixture> f;
    try {
        f = fixture<OnednnFixture>(key, [&] {
            auto x = std::make_shared<OnednnFixture>();
            x->d = std::make_unique<QConvDesc>(zoo::make_qconv_case(kernel_case(s, zp))); // same weights as qjit
            x->k = std::make_unique<OnednnKernel>(s, x->d.get(), zp, threads, prim, rotate_target_bytes());
            return x;
        });
    } catch (const std::exception& e) {
        st.SkipWithError(e.what());
        for (auto _ : st) {}
        return;
    }
    onednn_set_threads(threads);
    OnednnKernel& k = *f->k;
    const int copies = k.copies();
    int copy = 0;
    const auto t0 = Clock::now();
    for (auto _ : st) {
        k.run(copy);
        if (++copy == copies) copy = 0;
    }
    const double seconds = us_since(t0) * 1e-6;
    set_rate_counters(st, s, seconds, isa_of_impl(k.impl()), threads);
    st.counters["create_us"] = k.create_us();
    st.counters["dst_nonzero"] = k.nonzero_fraction();
    st.SetLabel(k.impl() + " copies " + std::to_string(copies));
}
#endif

// Dispatch cost of one parallel step with no work: what every QConv step pays on top of its kernel
// calls (the runtime's condition-variable pool) against oneDNN's OpenMP region.
void bm_dispatch_qjit(benchmark::State& st, int threads) {
    rt::ThreadPool pool(threads);
    std::atomic<int64_t> sink{0};
    for (auto _ : st)
        pool.parallel_for(threads, [&sink](int64_t b, int64_t e) { sink.fetch_add(e - b, std::memory_order_relaxed); });
    st.counters["threads"] = threads;
}

#ifdef QJIT_HAVE_DNNL
void bm_dispatch_omp(benchmark::State& st, int threads) {
    for (auto _ : st) omp_empty_parallel_region(threads);
    st.counters["threads"] = threads;
}
#endif

std::vector<int> g_threads{1, 2};

void register_all() {
    for (int t : g_threads) {
        benchmark::RegisterBenchmark(("dispatch/qjit_threadpool/threads:" + std::to_string(t)).c_str(), bm_dispatch_qjit, t)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
#ifdef QJIT_HAVE_DNNL
        benchmark::RegisterBenchmark(("dispatch/omp/threads:" + std::to_string(t)).c_str(), bm_dispatch_omp, t)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
#endif
    }
    for (const BenchShape& s : bench_shapes())
        for (bool zp : {false, true})
            for (int t : g_threads) {
                const std::string suffix = "/" + s.name + "/zp:" + std::to_string(zp) + "/threads:" + std::to_string(t);
                benchmark::RegisterBenchmark(("qjit" + suffix).c_str(), bm_qjit, s, zp, t)
                    ->Unit(benchmark::kMicrosecond)
                    ->UseRealTime();
#ifdef QJIT_HAVE_DNNL
                benchmark::RegisterBenchmark(("onednn" + suffix).c_str(), bm_onednn, s, zp, t, OnednnPrim::Auto)
                    ->Unit(benchmark::kMicrosecond)
                    ->UseRealTime();
                if (s.kind == BenchShape::FC && !zp)
                    benchmark::RegisterBenchmark(("onednn_ip" + suffix).c_str(), bm_onednn, s, zp, t,
                                                 OnednnPrim::InnerProduct)
                        ->Unit(benchmark::kMicrosecond)
                        ->UseRealTime();
#endif
            }
}

// Takes --name=value out of argv; returns true when found.
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
    double peak_seconds = 0.02;
    if (take_flag(argc, argv, "--qjit_rotate_mb", v)) set_rotate_mb(std::atof(v.c_str()));
    if (take_flag(argc, argv, "--onednn_isa", v)) g_onednn_isa = v;
    if (take_flag(argc, argv, "--qjit_isa", v)) {
        const std::optional<Isa> want = parse_isa(v);
        if (!want) {
            std::fprintf(stderr, "bench_kernels: unknown --qjit_isa=%s\n", v.c_str());
            return 2;
        }
        g_qjit_isa = resolve_isa(*want);
    }
    if (take_flag(argc, argv, "--qjit_dw_blocking", v) && std::sscanf(v.c_str(), "%dx%d", &g_dw_pixels, &g_dw_vecs) != 2)
        g_dw_pixels = 0;
    if (take_flag(argc, argv, "--qjit_conv_blocking", v) &&
        std::sscanf(v.c_str(), "%dx%d%c", &g_conv_pixels, &g_conv_vecs, &g_conv_form) < 2)
        g_conv_pixels = 0;
    if (take_flag(argc, argv, "--qjit_peak_seconds", v)) peak_seconds = std::atof(v.c_str());
    if (take_flag(argc, argv, "--qjit_hugepages", v)) set_rotate_hugepages(std::atoi(v.c_str()) != 0);
    if (take_flag(argc, argv, "--qjit_threads", v)) {
        g_threads.clear();
        std::stringstream ss(v);
        for (std::string t; std::getline(ss, t, ',');) g_threads.push_back(std::max(1, std::atoi(t.c_str())));
    }
#ifdef QJIT_HAVE_DNNL
    if (!onednn_set_max_isa(g_onednn_isa)) {
        std::fprintf(stderr, "bench_kernels: oneDNN refused --onednn_isa=%s\n", g_onednn_isa.c_str());
        return 2;
    }
    benchmark::AddCustomContext("onednn_version", onednn_version());
    benchmark::AddCustomContext("onednn_max_isa", g_onednn_isa);
    benchmark::AddCustomContext("qjit_isa", to_string(g_qjit_isa));
#else
    benchmark::AddCustomContext("onednn_version", "not built (libdnnl not found)");
#endif
    benchmark::Initialize(&argc, argv);
    if (peak_seconds > 0) probe_peaks(*std::max_element(g_threads.begin(), g_threads.end()), peak_seconds);
    add_bench_context();
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
