// fp32 JIT steps of the float (mixed-precision) regions for Convolution, GroupConvolution and
// MatMul: each work item lays out one tile of the reduction operand (an im2col tile of the input in
// the reference's (c, kh, kw) row order, or a block of MatMul's B) in per-thread scratch, padded to
// whole vectors, and calls the fp32 GEMM kernel (emitters/fp32_gemm.hpp), which writes the plain
// NCHW / row-major output in place. Padded taps become +0 inputs: x * w = +-0 added to an
// accumulator that started at +0 leaves it unchanged exactly when w is finite, so a conv plan needs
// its weights constant, and finite if it pads (else the node stays on the interpreted fallback,
// with the reason).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "emitters/fp32_gemm.hpp"
#include "jit/ir.hpp"
#include "runtime/plan.hpp"

namespace qjit {

struct Fp32ConvPlan {
    int64_t N = 0, C = 0, H = 0, W = 0, G = 1, OPG = 0, IPG = 0, KH = 0, KW = 0;
    int64_t SH = 1, SW = 1, DH = 1, DW = 1, PT = 0, PL = 0, OH = 0, OW = 0;
    int64_t K = 0, P = 0;        // reduction length IPG*KH*KW, output pixels OH*OW
    int64_t tile = 0, tiles = 0; // output pixels per work item (a multiple of the lanes), tiles per (n, g)
    std::string why_not;         // non-empty: no fp32 kernel (the reason describe() shows)
};

struct Fp32MatMulPlan {
    int64_t M = 0, K = 0, N = 0;
    bool ta = false, tb = false;
    std::vector<int64_t> a_mat, b_mat; // per output batch: the matrix index of a and of b
    int64_t m_block = 0, m_blocks = 0, tile = 0, tiles = 0;
    std::string why_not;
};

// Conv / GroupConvolution node n with input shape xs and weights w (nullptr: not a constant).
// `lanes`: the kernel's vector width.
Fp32ConvPlan plan_fp32_conv(const ir::Node& n, const Shape& xs, const Tensor* w, int lanes);
Fp32MatMulPlan plan_fp32_matmul(const ir::Node& n, const Shape& as, const Shape& bs, int lanes);

// in_slots: {x, weights} / {a, b}.
std::unique_ptr<rt::Step> make_fp32_conv_step(std::shared_ptr<JitKernel> gemm, const Fp32ConvPlan& p, int lanes,
                                              std::vector<int> in_slots, int out_slot);
// b_const: B when it is a constant (packed once here, no copy per run), else nullptr.
std::unique_ptr<rt::Step> make_fp32_matmul_step(std::shared_ptr<JitKernel> gemm, const Fp32MatMulPlan& p,
                                                int lanes, std::vector<int> in_slots, int out_slot,
                                                const Tensor* b_const = nullptr);

} // namespace qjit
