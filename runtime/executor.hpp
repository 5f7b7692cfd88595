// Runs a Plan: allocates every buffer once (zeroed halos stay zero), then executes steps in order,
// each as a static parallel-for over its work items.
// run() may be called from several threads at once: each concurrent call gets its own workspace
// (created on first need, then reused), and a call that finds the thread pool busy runs its steps
// on the calling thread. Output bytes never depend on which of these happened.
#pragma once
#include <memory>
#include <mutex>
#include <string>
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
    // QJIT_VERBOSE (runtime/verbose.hpp), read when the executor is built: the step shapes to print.
    bool verbose() const { return verbose_; }
    void set_step_shapes(std::vector<std::string> shapes) { step_shapes_ = std::move(shapes); }

private:
    struct Workspace {
        std::vector<std::unique_ptr<uint8_t[], void (*)(uint8_t*)>> buffers;
        std::vector<uint8_t*> ptrs;
    };
    std::unique_ptr<Workspace> make_workspace() const;
    std::unique_ptr<Workspace> acquire();
    void release(std::unique_ptr<Workspace> ws);

    Plan plan_;
    ThreadPool pool_;
    std::mutex pool_mu_; // held by the run that uses the pool
    std::mutex ws_mu_;
    std::vector<std::unique_ptr<Workspace>> free_;
    bool verbose_ = false;
    std::vector<std::string> step_shapes_;
};

} // namespace qjit::rt
