// The fp32 JIT step of a FakeQuantize that stays in float (emitters/fp32_fake_quantize.hpp): maps the
// node's constant ranges, numpy-broadcast to x, onto kernel calls over the plain NCHW f32 slots.
#pragma once
#include <memory>
#include <optional>

#include "emitters/fp32_fake_quantize.hpp"
#include "jit/ir.hpp"
#include "runtime/plan.hpp"

namespace qjit {

// Item r covers `n` elements at offset `off` of x and of the output, with parameter index `p` (see
// Fp32FqArgs). The output shape splits into outer x mid x inner, where mid is the one block of axes
// along which any range varies: Rows mode when inner > 1 (one set per row of `inner`), Lanes mode when
// the ranges vary along the innermost axes. Rows are cut into chunks for the thread pool.
struct Fp32FqPlan {
    Fp32FqDesc desc;
    int64_t outer = 1, mid = 1, inner = 1, chunk = 0, chunks_per_row = 1, items = 0;
    void item(int64_t r, int64_t* off, int64_t* n, int64_t* p) const;
};

// The plan for FakeQuantize node n of x shape x_shape and range constants il, ih, ol, oh (f32), or nullopt
// when no kernel applies (non-f32 or empty tensors, ranges that do not broadcast to x).
std::optional<Fp32FqPlan> plan_fp32_fake_quantize(const ir::Node& n, const Shape& x_shape, const Tensor& il,
                                                  const Tensor& ih, const Tensor& ol, const Tensor& oh);

std::unique_ptr<rt::Step> make_fp32_fq_step(std::shared_ptr<JitKernel> kernel, const Fp32FqPlan& p, int in_slot,
                                            int out_slot);

} // namespace qjit
