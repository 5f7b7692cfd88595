// Shared helpers of the emitter tests: seeds, MXCSR control and the QConv tester (random QConvDesc,
// fold_qconv, JIT vs ref::qconv at tolerance 0 over the whole output buffer).
#pragma once
// Skips the current test (GTEST_SKIP, with the reason) when the host cannot run ISA level `isa`.
#define QJIT_SKIP_UNLESS_HOST_RUNS(isa)                                                                  \
    do {                                                                                                 \
        if (!::qjit::test::host_runs(isa))                                                               \
            GTEST_SKIP() << "host CPU/OS (or QJIT_MAX_ISA) excludes " << ::qjit::to_string(isa)          \
                         << ": native run skipped (tests/emu covers the AVX-512 levels in Bochs)";       \
    } while (0)
#include <cstdint>
#include <memory>
#include <vector>
#include <optional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "emitters/kernels.hpp"
#include "jit/quant_params.hpp"
#include "qjit/qjit.hpp"

namespace qjit::test {

// Base seed of a test: QJIT_TEST_SEED from the environment, else `fallback`. A test draws all of its
// cases from its base seed, so the base seed and the test name reproduce a failure.
uint64_t base_seed(uint64_t fallback);
// Seed of case `index` of a test with base seed `base`.
uint64_t case_seed(uint64_t base, uint64_t index);
// "QJIT_TEST_SEED=<base> <binary> --gtest_filter=<current test>".
std::string reproducer(uint64_t base);

// MXCSR of the calling thread.
uint32_t get_mxcsr();
void set_mxcsr(uint32_t v);
// Round toward zero, FTZ, DAZ, exceptions masked: what a hostile caller may leave behind.
constexpr uint32_t kHostileMxcsr = 0x1F80 | (3u << 13) | (1u << 15) | (1u << 6);

// One QConv test case. Unset optionals are drawn from the seed.
struct ConvCase {
    ConvGeom g;                 // N, C, H, W, OC, KH, KW, strides, dilations, pads; OH/OW are derived
    enum class Out { Levels, Threshold, Float } out = Out::Levels;
    int in_levels = 256;        // L_a
    int out_levels = 256;       // next FQ L (Levels / Threshold)
    bool per_oc_out = false;    // next FQ per output channel (Levels: one channel gets ol == oh)
    bool asym_w = false;        // z_w != 0 on some channels (the N*S term)
    bool const_ch = false;      // some constant weight channels (ol_w == oh_w)
    bool act_ol = false;        // per-channel nonzero activation ol (E border patterns)
    int segments = 1;           // > 1: that many runs of input channels with their own step (spec §8.2)
    bool bias = true, relu = false, clamp = false, scale_shift = false;
    bool out_below_zero = false; // Levels: the next FQ's range starts below 0 (an output zero point;
                                 // under a ReLU every channel's k_lo > 0: fold_uniform_klo)
    bool extreme = false;       // all k = L_a-1 and weight codes in {-128, -127, 127}
    bool small_weights = false; // codes in [-60, 60] with rare +-127/-128 outliers (mixed vpmaddubsw groups)
    bool normal_weights = false; // per-channel symmetric codes of N(0, 1) floats, every 7th quad zero
    bool maddubs = false;       // set ConvBlocking::maddubs (the vpmaddubsw fast path)
    bool garbage_pad = false;   // input padded channels (>= C) hold garbage (must not matter)
    int64_t extra_halo = 0;     // more halo than required on every side
    int64_t extra_in_cs = 0, extra_out_cs = 0; // c_stride beyond round_up16 (multiples of 16)
    bool split_calls = false;   // run the kernel as several calls over oh / oc block sub-ranges
    bool hostile_mxcsr = false; // caller's MXCSR is round-toward-zero + FTZ + DAZ
    Isa isa = Isa::avx2;        // the level to generate for (ConvBlocking::isa, lanes set from it)
    std::optional<ConvBlocking> blocking; // pixels / oc_vecs / maddubs; shrunk to fit `isa` if needed
    std::string str() const;
};

// Conv geometry C x H x W -> OC with a KH x KW kernel, stride S, dilation D and padding P on every
// side; OH / OW derived (with_output).
ConvGeom conv_geom(int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t S = 1,
                   int64_t D = 1, int64_t P = 0);

// The vpmaddubsw plan's case `shape` (0..2) at oc_vecs v (conv_maddubs.hpp): realistic weights at
// L_a = 256 and a 12/v x v blocking, so the three perms, mixed and all-exact units and zero units
// all occur. The native sweep and the emulator run the same cases.
ConvCase maddubs_plan_case(Isa isa, int v, int shape, uint64_t seed);
// The segment split's case `shape` (0..2) with `segs` runs of channels (spec §8.2), asymmetric
// weights on every other case.
ConvCase segment_split_case(int segs, int shape, uint64_t seed);

// A case on geometry g with every option a sweep does not pin (output mode, levels, weights,
// post-ops, layout extras, call splitting, MXCSR, vpmaddubsw) drawn from `seed`.
ConvCase vary_conv_case(ConvGeom g, uint64_t seed);

// Output geometry of g from its input and padding (floor mode).
ConvGeom with_output(ConvGeom g);
// Fraction of output pixels with at least one tap inside the image (random geometries with pads
// beyond the kernel can leave almost every output without data; such a case proves little).
double covered_fraction(const ConvGeom& g);

// One conv case made ready to run: the kernel, its packed weights, the input, the poisoned output
// buffer, Oracle B's output and the kernel calls (argument structs with pointers as offsets into
// src / dst / wei). Native runs and the emulator (tests/emu/) execute the same calls.
struct ConvCall {
    int64_t src_off = 0, dst_off = 0; // bytes into src / dst
    int64_t oh_begin = 0, oh_end = 0, ocb_begin = 0, ocb_end = 0;
};
struct PreparedConv {
    ConvCase cc;
    uint64_t base = 0, index = 0, seed = 0;
    QConvDesc d;
    ConvBlocking blocking;
    std::unique_ptr<JitKernel> kernel;
    PackedWeights weights;
    ActLayout in, out;
    std::vector<uint8_t> src, expected; // expected: Oracle B over a 0xA5-poisoned buffer
    std::vector<ConvCall> calls;
    size_t raw_distinct = 0;
    int64_t fast_groups = 0, total_groups = 0;
    int64_t perm_units[3] = {0, 0, 0}, mixed_units = 0, exact_units = 0;
    // Failure message tail: the case, the seeds and the reproducer.
    std::string where() const;
};
// Builds case `index` of a test with base seed `base`; false (with the message) on an exception.
::testing::AssertionResult prepare_conv_case(const ConvCase& c, uint64_t base, uint64_t index, PreparedConv* out);
// Runs p's calls natively (the host must support p.blocking.isa) under the case's caller MXCSR;
// returns the output buffer, or a failure when the kernel did not restore MXCSR.
::testing::AssertionResult run_conv_native(const PreparedConv& p, std::vector<uint8_t>* out);
// Compares an output buffer with p.expected byte for byte and applies the distinct-value guard.
::testing::AssertionResult check_conv_output(const PreparedConv& p, const std::vector<uint8_t>& got);

// Runs case `index` of a test with base seed `base`: JIT vs Oracle B, byte for byte, plus the
// distinct-value guard. The message of a failure names the case, the seeds and the reproducer.
// When the host lacks c.isa the kernel is still generated and packed, but not run (info->ran false).
struct ConvRunInfo {
    std::string kernel;
    int64_t fast_groups = 0, total_groups = 0; // vpmaddubsw groups (ConvBlocking::maddubs)
    // The vpmaddubsw plan's units (conv_maddubs.hpp): per perm, those mixing both forms, all-exact ones.
    int64_t perm_units[3] = {0, 0, 0}, mixed_units = 0, exact_units = 0;
    bool ran = false;
};
::testing::AssertionResult run_conv_case(const ConvCase& c, uint64_t base, uint64_t index, ConvRunInfo* info = nullptr);

// Every ISA level; host_runs(isa) = the host CPU and OS can execute it and QJIT_MAX_ISA (if set)
// includes it. The value-parameterized suites' SetUp uses QJIT_SKIP_UNLESS_HOST_RUNS(GetParam()).
const std::vector<Isa>& test_isas();
bool host_runs(Isa isa);
std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info);

} // namespace qjit::test
