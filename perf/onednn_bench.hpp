// oneDNN (2.6 API) counterparts of the qjit kernel benchmarks: the same shape, weight codes and
// quantization (u8 src, s8 weights with per-output-channel output scales, f32 bias, ReLU, u8 dst,
// runtime src/dst zero points when asked), the same buffer rotation. Built only when libdnnl is
// found (QJIT_HAVE_DNNL); no oneDNN type crosses this header.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "perf/bench_common.hpp"
#include "jit/quant_params.hpp"

namespace qjit::perf {

enum class OnednnPrim { Auto, InnerProduct }; // Auto: convolution for conv shapes, matmul for FC

// Caps the ISA oneDNN may use ("avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "all").
// Must run before the first primitive is created; returns false when oneDNN refuses.
bool onednn_set_max_isa(const std::string& isa);
std::string onednn_version();
// omp_set_num_threads: oneDNN's OpenMP runtime uses this many threads from now on.
void onednn_set_threads(int threads);
// One empty `#pragma omp parallel` region on `threads` threads: the per-primitive dispatch cost of
// oneDNN's OpenMP runtime (compare with rt::ThreadPool::parallel_for in bench_kernels).
void omp_empty_parallel_region(int threads);

class OnednnKernel {
public:
    // `d` supplies the weight codes, scales, bias and activation ranges (null for depthwise: random
    // codes). Creates the primitive with omp_set_num_threads(threads) in effect and fills
    // rotate_bytes worth of (src, dst, weights) copies. Throws std::runtime_error when oneDNN has no
    // implementation for the combination (e.g. inner product with zero points).
    OnednnKernel(const BenchShape& s, const QConvDesc* d, bool zero_points, int threads, OnednnPrim prim,
                 int64_t rotate_bytes);
    ~OnednnKernel();
    void run(int copy); // executes on copy `copy` of the buffers
    int copies() const;
    const std::string& impl() const;   // oneDNN's implementation name, e.g. "jit_uni_int8_1x1:avx2"
    double create_us() const;          // primitive_desc + primitive creation (oneDNN's JIT time)
    double nonzero_fraction() const;   // of the first run's output (a degenerate output proves nothing)

private:
    struct Impl;
    std::unique_ptr<Impl> p_;
};

} // namespace qjit::perf
