// The fp32 JIT step of a Softmax (emitters/fp32_transcendental) on plain f32 slots: the row kernel when
// the axis is innermost (one call per row), else the strided kernel (one call per four neighbouring
// positions of the inner dims).
#pragma once
#include <memory>
#include <optional>

#include "emitters/kernels.hpp"
#include "jit/ir.hpp"
#include "runtime/plan.hpp"

namespace qjit {

// The tensor as [outer, n, inner] around the axis.
struct Fp32SoftmaxPlan {
    int64_t outer = 0, n = 0, inner = 0;
    bool rows() const { return inner == 1; }
    int64_t items() const { return rows() ? outer : outer * ((inner + 3) / 4); }
};

// nullopt for an axis out of range or an empty tensor (such a Softmax stays interpreted).
std::optional<Fp32SoftmaxPlan> plan_fp32_softmax(const ir::Node& n, const Shape& x_shape);

// `kernel` must be emit_fp32_softmax_row() when p.rows(), else emit_fp32_softmax_cols().
std::unique_ptr<rt::Step> make_fp32_softmax_step(std::shared_ptr<JitKernel> kernel, const Fp32SoftmaxPlan& p,
                                                 int in_slot, int out_slot);

} // namespace qjit
