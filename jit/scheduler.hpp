// The scheduler: maps every node of the lowered graph to a step of the plan — a generated kernel
// chosen from the op -> emitter table (which also picks the register blocking), or the fp32
// fallback — and lays out every tensor (NHWC u8 activations with the halo their consumers need).
#pragma once
#include "jit/ir.hpp"
#include "qjit/qjit.hpp"
#include "runtime/plan.hpp"

namespace qjit {

struct ScheduleOptions {
    Isa isa = Isa::avx2;  // resolved target ISA (kernels for it or below)
    int threads = 1;
};

rt::Plan schedule(const ir::Graph& lowered, const ScheduleOptions& options);

} // namespace qjit
