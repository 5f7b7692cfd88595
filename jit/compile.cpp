// qjit::compile and CompiledModel: import -> passes -> schedule -> emit -> runtime executor.
#include <sstream>

#include "isa/isa.hpp"
#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "jit/scheduler.hpp"
#include "qjit/qjit.hpp"
#include "runtime/executor.hpp"

namespace qjit {

struct CompiledModel::Impl {
    Impl(rt::Plan plan, int threads, Isa isa) : exec(std::move(plan), threads), isa(isa) {
        for (const auto& s : exec.plan().steps) kernels.push_back(s->info);
    }
    rt::Executor exec;
    Isa isa;
    std::vector<KernelInfo> kernels;
    std::vector<std::string> fallback_nodes;
};

CompiledModel::CompiledModel() = default;
CompiledModel::~CompiledModel() = default;
CompiledModel::CompiledModel(CompiledModel&&) noexcept = default;
CompiledModel& CompiledModel::operator=(CompiledModel&&) noexcept = default;
CompiledModel::CompiledModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::vector<Tensor> CompiledModel::run(const std::vector<Tensor>& inputs) {
    if (!impl_) throw Error(ErrorCode::InvalidArgument, "<model>", "run() on an empty CompiledModel");
    if (!isa_supported(impl_->isa))
        throw Error(ErrorCode::UnsupportedOp, "<model>",
                    std::string("compiled for ") + to_string(impl_->isa) +
                        " (allow_unsupported_isa), which this host cannot run");
    // Safe from several threads at once: each concurrent run gets its own executor workspace.
    return impl_->exec.run(inputs);
}

const std::vector<KernelInfo>& CompiledModel::kernels() const { return impl_->kernels; }
Isa CompiledModel::isa() const { return impl_->isa; }

std::string CompiledModel::describe() const {
    std::ostringstream os;
    os << impl_->exec.plan().schedule_text;
    int jit = 0, fallback = 0;
    for (const KernelInfo& k : impl_->kernels) (k.jit ? jit : fallback)++;
    os << "  " << jit << " JIT kernels, " << fallback << " non-JIT steps";
    if (!impl_->fallback_nodes.empty()) {
        os << "; fp32 fallback nodes:";
        for (const auto& n : impl_->fallback_nodes) os << ' ' << n;
    }
    os << '\n';
    return os.str();
}

CompiledModel compile(const Graph& graph, const CompileOptions& options) {
    ir::Graph g = graph.ir();
    if (g.results().empty()) throw Error(ErrorCode::InvalidArgument, "<model>", "graph has no Result");
    LowerOptions lo;
    lo.allow_fp32_fallback = options.allow_fp32_fallback;
    lower(g, lo);
    ScheduleOptions so;
    so.isa = resolve_isa(options.max_isa, options.allow_unsupported_isa);
    so.threads = options.threads < 1 ? 1 : options.threads;
    rt::Plan plan = schedule(g, so);
    auto impl = std::make_unique<CompiledModel::Impl>(std::move(plan), so.threads, so.isa);
    impl->fallback_nodes = fp32_fallback_nodes(g);
    return CompiledModel(std::move(impl));
}

} // namespace qjit
