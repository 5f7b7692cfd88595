// The fp32 JIT step of a Softmax over the innermost axis (emitters/fp32_transcendental): one kernel
// call per row of the plain f32 slot; rows are the work items.
#pragma once
#include <memory>
#include <optional>

#include "emitters/kernels.hpp"
#include "jit/ir.hpp"
#include "runtime/plan.hpp"

namespace qjit {

struct Fp32SoftmaxPlan {
    int64_t rows = 0, n = 0; // rows of n elements
};

// nullopt when the axis is not the innermost one with more than one element (trailing dims of size 1
// count as innermost), or the tensor is empty: such a Softmax stays interpreted.
std::optional<Fp32SoftmaxPlan> plan_fp32_softmax(const ir::Node& n, const Shape& x_shape);

std::unique_ptr<rt::Step> make_fp32_softmax_step(std::shared_ptr<JitKernel> kernel, const Fp32SoftmaxPlan& p,
                                                 int in_slot, int out_slot);

} // namespace qjit
