// fp32 JIT steps of the float (mixed-precision) regions: the elementwise nodes whose reference is a
// fixed sequence of single fp32 operations (emitters/fp32_eltwise.hpp) run a generated kernel on
// the plain NCHW f32 slots instead of the interpreted ref::eval_float_node.
#pragma once
#include <memory>
#include <optional>

#include "emitters/fp32_eltwise.hpp"
#include "jit/ir.hpp"
#include "runtime/plan.hpp"

namespace qjit {

// How one node maps to kernel calls. Item r of `items` calls the kernel on `len` elements at
// a + r * a_step, b + (r % b_mod) * b_step (binary), dst + r * len (the last item may be shorter:
// `total` elements in all).
struct Fp32EltwisePlan {
    Fp32EltwiseDesc desc;
    int64_t total = 0, len = 0, items = 0;
    int64_t a_step = 0, a_mod = 0, b_step = 0, b_mod = 0; // mod 0: no modulo
    std::string pattern; // "", "bcast_scalar", "bcast_c" (one value per row), "bcast_rows"
};

// The plan for float node n (inputs of shapes in_shapes), or nullopt when no fp32 kernel applies
// (other ops, non-f32, both operands broadcast, a broadcast whose dims are not one block, empty).
std::optional<Fp32EltwisePlan> plan_fp32_eltwise(const ir::Node& n, const std::vector<Shape>& in_shapes);

std::unique_ptr<rt::Step> make_fp32_eltwise_step(std::shared_ptr<JitKernel> kernel, const Fp32EltwisePlan& p,
                                                 std::vector<int> in_slots, int out_slot);

} // namespace qjit
