// Testers of the grouped-conv and pooling emitters (emitters/group_conv, emitters/pool): each
// case is drawn from a seed, run through the generated kernel and through Oracle B's scalar
// definition (ref::qconv, ref::maxpool_levels, ref::qavgpool), and compared byte for byte over the
// whole output buffer (halo and padded channels included). A failure names the case, the seeds and a
// one-line reproducer; a case whose output is (nearly) one value fails as degenerate.
#pragma once
#include <cstdint>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emitters/kernels.hpp"
#include "jit/quant_params.hpp"

namespace qjit::test {

// One grouped QConv case. The geometry's OH/OW are derived (floor mode); the rest is drawn.
struct GroupConvCase {
    ConvGeom g;                 // N, C, H, W, OC, groups, KH, KW, strides, dilations, pads
    enum class Out { Levels, Threshold, Float } out = Out::Levels;
    int in_levels = 256, out_levels = 256;
    bool per_channel_scale = false; // a different activation step per group (per channel when depthwise)
    bool act_ol = false;        // per-channel nonzero activation ol (E border patterns)
    bool per_oc_out = false;    // next FQ per output channel (one channel with ol == oh)
    bool asym_w = false;        // z_w != 0 on some channels (the N*S term)
    bool const_ch = false;      // some constant weight channels
    bool bias = true, relu = false, clamp = false, scale_shift = false;
    bool extreme = false;       // all k = L_a-1 and codes in {-128, -127, 127}
    bool garbage_pad = false;   // input channels >= C hold garbage
    int64_t extra_halo = 0, extra_in_cs = 0, extra_out_cs = 0;
    bool split_calls = false, hostile_mxcsr = false;
    bool onnx_out = false;      // Levels: the next FQ has ONNX rounding (offsets added after rounding)
    bool out_below_zero = false; // Levels: the next FQ's range starts below 0 (under a ReLU, k_lo > 0)
    std::optional<ConvBlocking> blocking; // lanes must match isa
    Isa isa = Isa::avx2; // the level the kernel is generated for
    std::string str() const;
};

// A case made ready to run, natively or in the emulator (tests/emu): the kernel, its packed weights
// (grouped conv), the input, Oracle B's output over a 0xA5-poisoned buffer and the kernel calls
// (offsets into src / dst; ConvArgs when conv, else PoolArgs).
struct WindowCall {
    int64_t src_off = 0, dst_off = 0, oh_begin = 0, oh_end = 0, ocb_begin = 0, ocb_end = 0;
};
struct PreparedWindow {
    Isa isa = Isa::avx2;
    bool conv = false, hostile_mxcsr = false;
    std::unique_ptr<JitKernel> kernel;
    PackedWeights weights;
    std::vector<uint8_t> src, expected;
    std::vector<WindowCall> calls;
    ActLayout out;
    int64_t OH = 0, OW = 0, C = 0;
    size_t need_distinct = 0; // the distinct-value guard (0: off)
    std::string where;        // failure tail: the case, the seeds and the reproducer
};
// prepare + run_window_native. kernel (if set) receives the kernel's name.
::testing::AssertionResult run_group_conv_case(const GroupConvCase& c, uint64_t base, uint64_t index,
                                               std::string* kernel = nullptr);

// One pooling case: MaxPool on level indices or the fused AvgPool.
struct PoolCase {
    bool avg = false;
    int64_t N = 1, C = 1, H = 1, W = 1, KH = 1, KW = 1, SH = 1, SW = 1, PT = 0, PL = 0, PB = 0, PR = 0;
    bool ceil = false, exclude_pad = true;
    enum class Out { Levels, Threshold, Float } out = Out::Levels; // AvgPool
    int in_levels = 256, out_levels = 256;
    bool per_channel_in = false; // per-channel s and ol of the input (AvgPool)
    bool per_channel_out = false;
    bool onnx_out = false; // AvgPool Levels: the next FQ has ONNX rounding (spec §2.5)
    bool garbage_pad = false;
    int64_t extra_halo = 0, extra_in_cs = 0, extra_out_cs = 0;
    bool split_calls = false, hostile_mxcsr = false;
    Isa isa = Isa::avx2; // the level the kernel is generated for
    std::string str() const;
    // The geometry with OH/OW of the rounding mode, and whether every window is well defined (the
    // builder's rule: a valid tap, or for AvgPool with exclude_pad off a tap in the padded input).
    ConvGeom geometry() const;
    bool valid() const;
};

::testing::AssertionResult run_pool_case(const PoolCase& c, uint64_t base, uint64_t index,
                                         std::string* kernel = nullptr);

// A case on geometry g / of shape c with every option a sweep does not pin (output mode, levels,
// per-channel parameters, post-ops, layout extras, call splitting, MXCSR) drawn from `seed`.
GroupConvCase vary_group_conv_case(const ConvGeom& g, uint64_t seed);
PoolCase vary_pool_case(PoolCase c, uint64_t seed);

::testing::AssertionResult prepare_group_conv_case(const GroupConvCase& c, uint64_t base, uint64_t index,
                                                   PreparedWindow* out);
::testing::AssertionResult prepare_pool_case(const PoolCase& c, uint64_t base, uint64_t index, PreparedWindow* out);
// Compares an output buffer with p.expected byte for byte and applies the distinct-value guard.
::testing::AssertionResult check_window_output(const PreparedWindow& p, const std::vector<uint8_t>& got);
// Runs p's calls natively under the case's caller MXCSR and checks the output; succeeds without
// running when the host cannot run p.isa (the kernel was still generated).
::testing::AssertionResult run_window_native(const PreparedWindow& p);

} // namespace qjit::test
