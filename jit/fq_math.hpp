// FakeQuantize element arithmetic of spec §1.1, shared by Oracle A, Oracle B and the constant
// folding. Compiled with -ffp-contract=off; every operation is one IEEE fp32 rounding.
#pragma once
#include <cstdint>

namespace qjit::fq {

// Asserts the FPU rounds to nearest-even (spec §1.1); throws qjit::Error otherwise.
void require_round_to_nearest();

// The full §1.1 formula: the fp32 value Oracle A produces.
float fake_quantize(float x, float il, float ih, float ol, float oh, int levels);

// Level index k of §1.1 steps 1-3 (0 and L-1 on the branches) for il <= ih or il > ih.
// NaN gives 0 (the clamp of §4.2 step 4 / §8.5).
int level_index(float x, float il, float ih, int levels);

// fake_quantize and level_index of one x in one pass: returns the former, stores the latter in *k.
float fake_quantize_and_level(float x, float il, float ih, float ol, float oh, int levels, int* k);

// fake_quantize_and_level of x[0, n) for one channel with il < ih: y[i] and k[i]. Bit-identical to the
// scalar form (the same fp32 operations in the same order, 8 lanes at a time where the CPU has AVX2;
// groups holding a NaN take the scalar form). Weight folding's hot loop.
void fake_quantize_and_level_n(const float* x, int64_t n, float il, float ih, float ol, float oh, int levels, float* y,
                               int* k);

// Float value of level k: fl(fl(fl(k/(L-1)) * fl(oh-ol)) + ol).
float level_value(int k, float ol, float oh, int levels);

// ONNX QuantizeLinear rounding (spec §2.5) as a level index: clamp(RNE(fl(x / scale)) + off, 0, L-1)
// with one IEEE division (never a reciprocal) and the integer offset off = zp - qmin added after
// rounding. NaN gives 0 (as the JIT's clamp of v to [-off, L-1-off] does).
int onnx_level_index(float x, float scale, int off, int levels);

// The FakeQuantize value of that level: level_value(onnx_level_index(...)); NaN stays NaN (Oracle A).
float onnx_fake_quantize(float x, float scale, int off, float ol, float oh, int levels);

// RNE of a float already clamped to [0, 255]: the scalar model of vcvtps2dq under MXCSR=RNE.
int round_rne(float v);

} // namespace qjit::fq
