// Quantization parameters carried by lowered ops, and the fused conv/FC description.
// These are plain data: the constant folding that turns them into kernel constants lives in
// jit/requant_fold.* and is shared by Oracle B and the emitters.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "jit/cow_vector.hpp"
#include "qjit/tensor.hpp"

namespace qjit {

// A per-tensor (size 1) or per-channel (size C) vector of float constants.
struct ChannelVec {
    std::vector<float> v;
    float at(int64_t c) const { return v.size() == 1 ? v[0] : v[static_cast<size_t>(c)]; }
    bool per_channel() const { return v.size() > 1; }
    size_t size() const { return v.size(); }
};

// An activation FakeQuantize (il, ih, ol, oh, L), per tensor or per channel along the channel axis.
// Values are stored as the level index k in u8 (spec §1.2).
// With ONNX rounding (spec §2.5; set by the ONNX importer for QuantizeLinear and the QLinear* output
// quantizers) the level index of a real y is clamp(RNE(fl(y / scale)) + off, 0, L-1) instead of §1.1
// step 3: the integer offset off = zp - qmin is added after rounding, never folded into ish. il, ih,
// ol, oh stay the FakeQuantize the quantizer stands for (dequantization reads only ol, oh).
struct ActQuant {
    int levels = 256;
    ChannelVec il, ih, ol, oh;
    int64_t channels = 1; // C when any vector is per-channel, else 1
    ChannelVec onnx_scale, onnx_off; // ONNX rounding when non-empty: scale and off (integer values)
    bool onnx() const { return !onnx_scale.v.empty(); }
    bool per_channel() const {
        return il.per_channel() || ih.per_channel() || ol.per_channel() || oh.per_channel() ||
               onnx_scale.per_channel() || onnx_off.per_channel();
    }
    // Step in fp64: (oh - ol) / (L - 1) for channel c.
    double step(int64_t c) const;
    // Level index of x in channel c: §1.1 step 3, or the ONNX formula.
    int level(int64_t c, float x) const;
    // The quantizer's input map v = y * isc + ish in fp64, without the ONNX offset: (L-1)/(ih-il) and
    // -il*isc, or 1/scale and 0 with ONNX rounding.
    double isc(int64_t c) const;
    double ish(int64_t c) const;
    // The integer added after rounding (0 without ONNX rounding).
    int32_t offset(int64_t c) const { return onnx() ? static_cast<int32_t>(onnx_off.at(c)) : 0; }
    // A's real-valued level before rounding, in fp64 (spec §4.6 t_A): (y - il)*isc, or y/scale + off.
    double pre_round(int64_t c, double y) const;
};

// Convolution geometry in NCHW terms (the kernels use NHWC). FC/MatMul is a 1x1 conv with H = 1,
// W = M rows and C = K, or a full-image conv when a flatten Reshape precedes it.
struct ConvGeom {
    int64_t N = 1, C = 1, H = 1, W = 1; // input
    int64_t OC = 1, KH = 1, KW = 1;
    int64_t OH = 1, OW = 1;
    int64_t SH = 1, SW = 1, DH = 1, DW = 1;
    int64_t PT = 0, PL = 0, PB = 0, PR = 0;
    // GroupConvolution: output channel o reads input channels [g*C/groups, (g+1)*C/groups) with
    // g = o / (OC/groups); depthwise is groups == C. Weights are [OC][C/groups][KH][KW].
    int64_t groups = 1;
    int64_t Cg() const { return C / groups; }   // input channels per group
    int64_t OCg() const { return OC / groups; } // output channels per group
    int64_t K() const { return Cg() * KH * KW; } // reduction length of one output
    std::string str() const;
};

// Weights after FakeQuantize folding (spec §2.4): w = s_w[o] * (q_w - z_w[o]).
// The two per-weight arrays are copy-on-write: copies of a QuantWeights (and of the QConvDesc that
// holds it) share them until one is written.
struct QuantWeights {
    CowVector<int8_t> q;        // OIHW codes q = k - floor(L/2); 0 in constant channels
    std::vector<double> s_w;    // per OC
    std::vector<double> z_w;    // per OC, snapped to 0 when |z_w| <= 2^-16
    std::vector<double> n_dropped; // per OC: the z_w that was snapped away (for §4.6 tolerance)
    std::vector<uint8_t> const_channel; // per OC: ol_w == oh_w
    std::vector<double> w_c;    // per OC: the constant weight value of a constant channel
    CowVector<float> w_float;   // OIHW: Oracle A's fp32 weight values (FakeQuantize output)
    int levels = 256;
    bool symmetric() const; // every z_w == 0 and no constant channel
};

// One fused post-op between the conv accumulator and the next FakeQuantize, in graph order.
struct PostOp {
    enum Kind { Bias, Scale, Shift, Clamp } kind = Bias;
    std::vector<float> v;      // Bias/Scale/Shift: per OC (size 1 or OC)
    float lo = 0, hi = 0;      // Clamp (Relu is Clamp(0, +inf))
    std::string node;          // graph node it came from
};

// The fused quantized conv/FC node: u8 level index in, integer dot product, fp32 requantize epilogue.
struct QConvDesc {
    ConvGeom g;
    ActQuant in;              // input activation FQ (s must be per-tensor; ol may be per-channel)
    QuantWeights w;
    std::vector<PostOp> post; // bias, relu/clamp, scale-shift, in order
    bool out_levels = true;   // true: u8 level index of `out`; false: f32 value y
    ActQuant out;             // next FakeQuantize (when out_levels); per-tensor or per-OC
    std::vector<std::string> fused_nodes; // names of the graph nodes this node executes
};

// A fused quantized elementwise node (spec §3 Add / Multiply / ScaleShift rows, §4.2 eltwise forms):
// u8 level indices in, the op on the dequantized values r_i = ol_i + k_i*s_i (per channel), the
// post-ops, then the next FakeQuantize (u8 levels) or f32. The folding into fp32 constants and the
// scalar definition live in jit/eltwise_fold.*.
struct QEltwiseDesc {
    enum Kind { Add, Mul, Affine } kind = Add; // Affine: one input, y = r0 (its post-ops are the ScaleShift)
    int64_t channels = 1;     // C of the output (axis 1; the last axis for rank 2)
    ActQuant in0, in1;        // dequantization of each input (in1 unused by Affine); size 1 or `channels`
    std::vector<PostOp> post; // Scale / Shift / Clamp after the op, in graph order (size 1 or `channels`)
    bool out_levels = true;   // true: u8 level index of `out`; false: f32 value y
    ActQuant out;             // next FakeQuantize (when out_levels); per tensor or per channel
    std::vector<std::string> fused_nodes; // names of the graph nodes this node executes
    int inputs() const { return kind == Affine ? 1 : 2; }
};

// A fused quantized AvgPool (spec §3 AvgPool row, §4.2 AvgPool form): u8 level indices in, the
// exact integer window sum S = sum of valid k per channel, then v = fma(f32(S), M'[pattern],
// E'[pattern]) with the next FakeQuantize (u8 levels of `out`) or the f32 average. The folding and
// the scalar definition live in jit/pool_fold.*.
struct QAvgPoolDesc {
    ConvGeom g;               // C = OC = groups, KH x KW window, strides, pads_begin (PT, PL), pads_end
                              // (PB, PR) as given, OH/OW of the rounding mode, DH = DW = 1
    bool exclude_pad = true;  // the divisor counts window elements inside the input only
    ActQuant in;              // input activation (per tensor or per channel; any s, ol)
    bool out_levels = false;  // true: u8 level index of `out`; false: f32 average
    ActQuant out;             // next FakeQuantize (when out_levels); per tensor or per channel
    std::vector<std::string> fused_nodes; // names of the graph nodes this node executes
};

} // namespace qjit
