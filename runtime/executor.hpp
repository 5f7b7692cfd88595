// Runs a Plan: allocates every buffer once (zeroed halos stay zero), then executes steps in order,
// each as a static parallel-for over its work items.
#pragma once
#include <memory>
#include <vector>

#include "runtime/plan.hpp"
#include "runtime/thread_pool.hpp"

namespace qjit::rt {

class Executor {
public:
    Executor(Plan plan, int threads);
    std::vector<Tensor> run(const std::vector<Tensor>& inputs);
    const Plan& plan() const { return plan_; }
    int threads() const { return pool_.threads(); }

private:
    Plan plan_;
    ThreadPool pool_;
    std::vector<std::unique_ptr<uint8_t[], void (*)(uint8_t*)>> buffers_;
    std::vector<uint8_t*> ptrs_;
};

} // namespace qjit::rt
