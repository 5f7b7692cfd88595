// Peak u8 x s8 multiply-accumulate throughput of this CPU, measured rather than assumed.
//
// Each path is a generated loop (Xbyak) of independent accumulator chains with register operands
// only, enough of them to cover the instruction latencies and saturate the vector ports; it counts
// real MACs per instruction group:
//   avx2_maddubs      vpmaddubsw -> vpmaddwd(1,1) -> vpaddd, ymm    32 MACs per group (qjit fast path)
//   avx2_exact        vpmovzxbw  -> vpmaddwd      -> vpaddd, ymm    16 MACs per group (exact s16 path
//                     as issue #7 states it: one zero-extension per vpmaddwd)
//   avx2_exact_split  qjit's exact tile 3 px x 4 vectors: vpbroadcastd (mem) + vpand + vpsrlw per
//                     pixel quad, then 8 x (vpmaddwd with s16 weights from L1 + vpaddd)
//                                                                   16 MACs per vpmaddwd
//   avx_vnni_ymm      vpdpbusd ymm (VEX)                            32 MACs per instruction
//   avx512bw_maddubs  vpmaddubsw -> vpmaddwd(1,1) -> vpaddd, zmm    64 MACs per group
//   avx512_vnni_zmm   vpdpbusd zmm (EVEX)                           64 MACs per instruction
// GOPS = 2 x MACs / second. The result is an upper bound for a kernel on that path: real kernels
// also load weights (from L2 and beyond when they do not fit L1), broadcast inputs and run an epilogue.
#pragma once
#include <string>
#include <vector>

namespace qjit::perf {

enum class PeakPath { avx2_maddubs, avx2_exact, avx2_exact_split, avx_vnni_ymm, avx512bw_maddubs, avx512_vnni_zmm };

const char* to_string(PeakPath p);
std::vector<PeakPath> all_peak_paths();
int macs_per_group(PeakPath p);
// The host supports the instructions (CPUID and OS-enabled register state, via Xbyak::util::Cpu).
bool peak_path_supported(PeakPath p);

struct PeakResult {
    PeakPath path;
    int threads = 1;
    double gops = 0;          // all threads together
    double gops_per_core = 0; // gops / threads
    double groups_per_ns = 0; // instruction groups retired per ns on one thread
};

// Best of `samples` runs of about `seconds` each, the loop running on `threads` threads at once.
// Throws std::runtime_error when the path is not supported.
PeakResult measure_peak(PeakPath p, int threads, double seconds = 0.02, int samples = 5);

} // namespace qjit::perf
