// B-versus-A acceptance of spec §4.6 for one QConv layer, with teacher forcing: A's operands are
// the fp32 values of B's input levels, A's conv runs in fp64 over them and A's fp32 weights.
#pragma once
#include <cstdint>
#include <string>

#include "jit/quant_params.hpp"
#include "qjit/tensor.hpp"

namespace qjit::oracle {

struct LayerCheck {
    int64_t outputs = 0;     // values compared
    int64_t flips = 0;       // B differs from A's nearest level (allowed within delta)
    int64_t violations = 0;  // outside the §4.6 bound: a bug
    int64_t max_abs_dk = 0;  // largest |k_B - round(t_A)|
    double worst_ratio = 0;  // max over outputs of (|diff| - 1/2) / delta for levels, |diff| / bound for floats
    std::string first_violation;
};

// k_in: the logical u8 input levels B fed the layer; out_b: B's logical output (u8 levels or f32).
LayerCheck check_qconv_against_a(const QConvDesc& d, const Tensor& k_in, const Tensor& out_b);

// The same acceptance for one QEltwise node (runtime/oracle_check_eltwise.cpp): A's operands are the
// fp32 values of B's input levels, the op and the post-ops run in fp64 over them; delta is spec §4.6
// with the eltwise terms |P'*k0*k1| + |A0'*k0| + |A1'*k1| + |E'| and the operand term
// 2^-22*|isc*alpha|*(R0 + R1) for Add, (R0*|r1| + |r0|*R1) for Multiply, R0 for Affine.
// k1 is null for Affine.
LayerCheck check_qeltwise_against_a(const QEltwiseDesc& d, const Tensor& k0, const Tensor* k1, const Tensor& out_b);

// Pooling layers (runtime/oracle_check_pool.cpp), teacher-forced like the others.
// AvgPool: A's average of the dequantized input levels in fp64 (divisor per PoolParams); delta is
// spec §4.6 with |M'*S| + |E'| + |t_A| and the operand term 2^-22*|isc|*sum_valid R_a/cnt.
LayerCheck check_avgpool_against_a(const QAvgPoolDesc& d, const Tensor& k_in, const Tensor& out_b);
// MaxPool on level indices (g a pool_geometry, `a` the dequantization of its input and output): the
// value of B's output level must equal A's max of the dequantized valid taps bit for bit (s >= 0
// makes it exact; every difference is a violation).
LayerCheck check_maxpool_against_a(const ConvGeom& g, const ActQuant& a, const Tensor& k_in, const Tensor& k_out);

} // namespace qjit::oracle
