// Shared pieces of the perf/ benchmarks: what machine this is, how big its last-level cache is,
// rotating buffer sets that keep a benchmark's working set out of that cache, the benchmark shape
// list, and small statistics helpers. Benchmarks only; nothing in the library includes this.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/kernel_cases.hpp"

namespace qjit::perf {

// ---- the host --------------------------------------------------------------------------------

struct HostInfo {
    std::string model_name;  // /proc/cpuinfo "model name"
    std::string family_model; // "family 26 model 2"
    std::string simd_flags;  // the SIMD flags that matter here (avx2, avx512*, vnni, amx)
    int cpus = 1;            // online CPUs
    int64_t llc_bytes = 0;   // last-level cache as the OS reports it (see llc_source)
    std::string llc_source;  // "sysfs", "sysconf", "cpuid", or "default"
    std::string str() const; // one line for logs and the README
};
const HostInfo& host_info();

// ---- buffer rotation -------------------------------------------------------------------------

// Bytes a benchmark's rotated buffers should span: --qjit_rotate_mb when given (0: no rotation,
// one warm copy), else 1.25 x the reported LLC, capped at 1 GiB (a VM may report the whole
// socket's L3; the cap keeps CI memory bounded).
int64_t rotate_target_bytes();
void set_rotate_mb(double mb); // from the command line; negative = automatic
void set_rotate_hugepages(bool on); // madvise(MADV_HUGEPAGE) on rotated sets (default on)

// A set of `copies` copies of a group of buffers (e.g. src, dst, weights), laid out back to back
// and 64-byte aligned (the whole set 2 MiB aligned, on transparent huge pages where the kernel
// allows), so that cycling through the copies touches rotate_target_bytes() of memory
// before a copy is reused. Copy 0 is filled by the caller; replicate() copies it to the others.
class RotatingSet {
public:
    // sizes: bytes of each buffer of the group.
    RotatingSet(const std::vector<int64_t>& sizes, int64_t target_bytes, int max_copies = 4096);
    int copies() const { return copies_; }
    uint8_t* buf(int copy, int index) const;
    int64_t group_bytes() const { return group_bytes_; }
    int64_t total_bytes() const { return group_bytes_ * copies_; }
    void replicate(); // copy 0 -> 1..copies-1

private:
    std::vector<int64_t> offsets_;
    int64_t group_bytes_ = 0;
    int copies_ = 1;
    std::unique_ptr<uint8_t, void (*)(void*)> mem_{nullptr, nullptr};
};

// ---- shapes ----------------------------------------------------------------------------------

// One benchmark shape of issue #7: NHWC, batch 1, u8 src, s8 per-output-channel weights, u8 dst.
struct BenchShape {
    enum Kind { FC, Conv, Depthwise } kind = Conv;
    std::string name;
    int64_t m = 1;                        // FC rows
    int64_t h = 1, w = 1, c = 1, oc = 1;  // conv input H, W, C and output channels (FC: K = c, N = oc)
    int64_t k = 1, stride = 1, pad = 0;
    int64_t real_macs() const;            // padded taps excluded
    int64_t oh() const { return (h + 2 * pad - k) / stride + 1; }
    int64_t ow() const { return (w + 2 * pad - k) / stride + 1; }
};
std::vector<BenchShape> bench_shapes(); // the list, depthwise last (a hook: qjit has none yet)
// The QConv case of a shape (tools/kernel_cases): the same weights in every benchmark.
zoo::KernelCase kernel_case(const BenchShape& s, bool zero_points);

// ---- statistics ------------------------------------------------------------------------------

// p in [0, 100]; nearest-rank on a sorted copy.
double percentile(std::vector<double> v, double p);

// Peak u8 x s8 GOPS of the path a given ISA's int8 kernels are built on, measured by the peak
// probe on `threads` threads (cached after the first call): avx2 -> vpmaddubsw chain,
// avx2_vnni -> vpdpbusd ymm, avx512_core_vnni -> vpdpbusd zmm. 0 when not measurable here.
double peak_gops_for_isa(const std::string& isa, int threads);
// Runs the peak probe for every supported path on 1..max_threads threads and caches the results.
void probe_peaks(int max_threads, double seconds_per_sample);
// Registers host, cache, rotation and peak facts as Google Benchmark context entries.
void add_bench_context();

} // namespace qjit::perf
