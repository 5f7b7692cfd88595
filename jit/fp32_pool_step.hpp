// fp32 JIT step of the float (mixed-precision) MaxPool / AvgPool nodes (NCHW): each work item lays
// out the window tile of a run of outputs in flat NCHW order, across planes (row = window tap,
// column = output; taps outside the input -inf for max, +0 for average; the average's per-pixel
// counts ref::pool_axis_count) in per-thread scratch and calls the fp32 pool kernel
// (emitters/fp32_pool.hpp). Floor / ceil rounding, pads, include / exclude pad and global pooling
// (kernel = input size) are all this one form.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "emitters/fp32_pool.hpp"
#include "jit/ir.hpp"
#include "runtime/plan.hpp"

namespace qjit {

struct Fp32PoolPlan {
    bool max = true;
    int64_t N = 0, C = 0, H = 0, W = 0, OH = 0, OW = 0, P = 0;
    PoolParams pool;
    int64_t tile = 0, tiles = 0; // outputs per work item (flat NCHW, across planes), work items
    std::string why_not;         // non-empty: no fp32 kernel
};

Fp32PoolPlan plan_fp32_pool(const ir::Node& n, const Shape& xs, int lanes);
std::unique_ptr<rt::Step> make_fp32_pool_step(std::shared_ptr<JitKernel> kernel, const Fp32PoolPlan& p, int lanes,
                                              int in_slot, int out_slot);

} // namespace qjit
