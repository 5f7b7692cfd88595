// QJIT_VERBOSE=1: one line per executed step on stdout, in the spirit of ONEDNN_VERBOSE:
//   qjit_verbose,exec,<kernel name>,<isa|ref>,<src/dst shapes>,threads:<n>,<ms>
// The environment is read when a model is compiled; with it unset, run() only tests a bool per step.
#pragma once
#include <string>
#include <vector>

#include "jit/ir.hpp"
#include "runtime/plan.hpp"

namespace qjit::rt {

bool verbose_requested(); // QJIT_VERBOSE set to a value other than "" and "0"

// "src:u8[1,3,32,32] dst:f32[1,10]" for each step of plan, from the lowered graph's node names.
std::vector<std::string> step_shapes(const ir::Graph& lowered, const Plan& plan);

void verbose_exec_line(const KernelInfo& k, const std::string& shapes, int threads, double ms);
void verbose_compile_line(const Plan& plan, const char* isa, int threads, double ms);

} // namespace qjit::rt
