#include "perf/peak_probe.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include <xbyak/xbyak.h>
#include <xbyak/xbyak_util.h>

namespace qjit::perf {
namespace {

using namespace Xbyak;

// void loop(uint64_t iterations): `rounds` rounds of `chains` independent groups per iteration.
// Register operands only; each chain's accumulator is its only loop-carried dependency.
class ProbeGen : public CodeGenerator {
public:
    explicit ProbeGen(PeakPath p) : CodeGenerator(8192, DontSetProtectRWE) {
        const Reg64& n = util::rdi;
        switch (p) {
        case PeakPath::avx2_maddubs: maddubs<Ymm>(n, 6, 6, 12, 13, 14, 15); break;
        case PeakPath::avx512bw_maddubs: maddubs<Zmm>(n, 10, 10, 28, 29, 30, 31); break;
        case PeakPath::avx2_exact: exact(n); break;
        case PeakPath::avx2_exact_split: exact_split(n, util::rsi); break;
        case PeakPath::avx_vnni_ymm: vnni<Ymm>(n, 12, 12, 13, 14, VexEncoding); break;
        case PeakPath::avx512_vnni_zmm: vnni<Zmm>(n, 24, 28, 29, 30, EvexEncoding); break;
        }
        readyRE();
        setProtectModeRE(); // with DontSetProtectRWE, readyRE() only resolves labels: RW -> RX here
    }
    using loop_fn = void (*)(uint64_t, const void*);
    loop_fn fn() const { return getCode<loop_fn>(); }
    int groups_per_iteration = 0;

private:
    static constexpr int kRounds = 2;

    // All ones, then a shift: a value that is not zero (timing does not depend on it anyway).
    template <class V> void fill(int idx, int shift) {
        const V v(idx);
        if constexpr (std::is_same_v<V, Zmm>) vpternlogd(v, v, v, 0xff);
        else vpcmpeqb(v, v, v);
        vpsrlw(v, v, static_cast<uint8_t>(shift));
    }

    template <class V> void zero(int idx) {
        if constexpr (std::is_same_v<V, Zmm>) vpxord(Zmm(idx), Zmm(idx), Zmm(idx));
        else vpxor(Ymm(idx), Ymm(idx), Ymm(idx));
    }

    template <class V> void maddubs(const Reg64& n, int chains, int tmp0, int w0, int w1, int a, int ones) {
        for (int i = 0; i < chains; ++i) zero<V>(i);
        fill<V>(w0, 2);
        fill<V>(w1, 3);
        fill<V>(a, 1);
        fill<V>(ones, 15); // s16 (1, 1)
        Label top;
        L(top);
        for (int r = 0; r < kRounds; ++r) {
            for (int i = 0; i < chains; ++i) vpmaddubsw(V(tmp0 + i), V(a), V(i % 2 ? w1 : w0));
            for (int i = 0; i < chains; ++i) vpmaddwd(V(tmp0 + i), V(tmp0 + i), V(ones));
            for (int i = 0; i < chains; ++i) vpaddd(V(i), V(i), V(tmp0 + i));
        }
        dec(n);
        jnz(top);
        vzeroupper();
        ret();
        groups_per_iteration = kRounds * chains;
    }

    void exact(const Reg64& n) {
        const int chains = 6, tmp0 = 6, w0 = 12, w1 = 13, a = 14;
        for (int i = 0; i < chains; ++i) zero<Ymm>(i);
        fill<Ymm>(w0, 2);
        fill<Ymm>(w1, 3);
        fill<Ymm>(a, 1);
        Label top;
        L(top);
        for (int r = 0; r < kRounds; ++r) {
            for (int i = 0; i < chains; ++i) vpmovzxbw(Ymm(tmp0 + i), Xmm(a));
            for (int i = 0; i < chains; ++i) vpmaddwd(Ymm(tmp0 + i), Ymm(tmp0 + i), Ymm(i % 2 ? w1 : w0));
            for (int i = 0; i < chains; ++i) vpaddd(Ymm(i), Ymm(i), Ymm(tmp0 + i));
        }
        dec(n);
        jnz(top);
        vzeroupper();
        ret();
        groups_per_iteration = kRounds * chains;
    }

    // qjit's exact kernel, one 3 x 4-vector tile: per pixel, broadcast a channel quad from memory,
    // split it into the s16 pairs (vpand 0x00FF / vpsrlw 8), then per output vector two vpmaddwd
    // with s16 weight pairs from memory (L1) and two vpaddd. 16 MACs per vpmaddwd (the group).
    void exact_split(const Reg64& n, const Reg64& buf) {
        const int pixels = 3, vecs = 4, lo = 12, hi = 13, tmp = 14, mask = 15;
        for (int i = 0; i < pixels * vecs; ++i) zero<Ymm>(i);
        vpcmpeqw(Ymm(mask), Ymm(mask), Ymm(mask));
        vpsrlw(Ymm(mask), Ymm(mask), 8);
        Label top;
        L(top);
        for (int r = 0; r < kRounds; ++r)
            for (int p = 0; p < pixels; ++p) {
                vpbroadcastd(Ymm(lo), ptr[buf + 256 + 4 * p]);
                vpsrlw(Ymm(hi), Ymm(lo), 8);
                vpand(Ymm(lo), Ymm(lo), Ymm(mask));
                for (int v = 0; v < vecs; ++v) {
                    vpmaddwd(Ymm(tmp), Ymm(lo), ptr[buf + 64 * v]);
                    vpaddd(Ymm(p * vecs + v), Ymm(p * vecs + v), Ymm(tmp));
                    vpmaddwd(Ymm(tmp), Ymm(hi), ptr[buf + 64 * v + 32]);
                    vpaddd(Ymm(p * vecs + v), Ymm(p * vecs + v), Ymm(tmp));
                }
            }
        dec(n);
        jnz(top);
        vzeroupper();
        ret();
        groups_per_iteration = kRounds * pixels * vecs * 2;
    }

    template <class V> void vnni(const Reg64& n, int chains, int w0, int w1, int a, PreferredEncoding enc) {
        for (int i = 0; i < chains; ++i) zero<V>(i);
        fill<V>(w0, 2);
        fill<V>(w1, 3);
        fill<V>(a, 1);
        Label top;
        L(top);
        for (int r = 0; r < kRounds; ++r)
            for (int i = 0; i < chains; ++i) vpdpbusd(V(i), V(a), V(i % 2 ? w1 : w0), enc);
        dec(n);
        jnz(top);
        vzeroupper();
        ret();
        groups_per_iteration = kRounds * chains;
    }
};

// Operands of the paths that read memory (weights and inputs, L1-resident).
alignas(64) const uint8_t kOperands[512] = {1, 2, 3, 4, 5, 6, 7, 8};

double seconds_of(const ProbeGen& g, uint64_t iterations) {
    const auto t0 = std::chrono::steady_clock::now();
    g.fn()(iterations, kOperands);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Wall time of `threads` threads each running `iterations` at once (released together).
double run_threads(const ProbeGen& g, uint64_t iterations, int threads) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    for (int t = 1; t < threads; ++t)
        ts.emplace_back([&] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) {}
            g.fn()(iterations, kOperands);
        });
    while (ready.load() != threads - 1) {}
    const auto t0 = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    g.fn()(iterations, kOperands);
    for (auto& t : ts) t.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

const char* to_string(PeakPath p) {
    switch (p) {
    case PeakPath::avx2_maddubs: return "avx2_maddubs";
    case PeakPath::avx2_exact: return "avx2_exact";
    case PeakPath::avx2_exact_split: return "avx2_exact_split";
    case PeakPath::avx_vnni_ymm: return "avx_vnni_ymm";
    case PeakPath::avx512bw_maddubs: return "avx512bw_maddubs";
    case PeakPath::avx512_vnni_zmm: return "avx512_vnni_zmm";
    }
    return "?";
}

std::vector<PeakPath> all_peak_paths() {
    return {PeakPath::avx2_maddubs, PeakPath::avx2_exact, PeakPath::avx2_exact_split, PeakPath::avx_vnni_ymm, PeakPath::avx512bw_maddubs,
            PeakPath::avx512_vnni_zmm};
}

int macs_per_group(PeakPath p) {
    switch (p) {
    case PeakPath::avx2_maddubs: return 32;
    case PeakPath::avx2_exact: return 16;
    case PeakPath::avx2_exact_split: return 16;
    case PeakPath::avx_vnni_ymm: return 32;
    case PeakPath::avx512bw_maddubs: return 64;
    case PeakPath::avx512_vnni_zmm: return 64;
    }
    return 0;
}

bool peak_path_supported(PeakPath p) {
    static const util::Cpu cpu;
    switch (p) {
    case PeakPath::avx2_maddubs:
    case PeakPath::avx2_exact:
    case PeakPath::avx2_exact_split: return cpu.has(util::Cpu::tAVX2);
    case PeakPath::avx_vnni_ymm: return cpu.has(util::Cpu::tAVX_VNNI);
    case PeakPath::avx512bw_maddubs: return cpu.has(util::Cpu::tAVX512BW);
    case PeakPath::avx512_vnni_zmm: return cpu.has(util::Cpu::tAVX512BW) && cpu.has(util::Cpu::tAVX512_VNNI);
    }
    return false;
}

PeakResult measure_peak(PeakPath p, int threads, double seconds, int samples) {
    if (!peak_path_supported(p)) throw std::runtime_error(std::string("peak probe: ") + to_string(p) + " not supported");
    threads = std::max(1, threads);
    const ProbeGen g(p);
    // Calibrate on one thread: iterations for about `seconds`.
    uint64_t n = 1024;
    double t = seconds_of(g, n);
    while (t < seconds / 8) {
        n *= 2;
        t = seconds_of(g, n);
    }
    n = std::max<uint64_t>(1, static_cast<uint64_t>(static_cast<double>(n) * seconds / t));
    const double ops_per_thread = 2.0 * macs_per_group(p) * g.groups_per_iteration * static_cast<double>(n);
    double best = 0;
    for (int s = 0; s < std::max(1, samples); ++s) best = std::max(best, ops_per_thread * threads / run_threads(g, n, threads));
    PeakResult r;
    r.path = p;
    r.threads = threads;
    r.gops = best * 1e-9;
    r.gops_per_core = r.gops / threads;
    r.groups_per_ns = r.gops_per_core / (2.0 * macs_per_group(p));
    return r;
}

} // namespace qjit::perf
