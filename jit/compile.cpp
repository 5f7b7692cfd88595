// qjit::compile and CompiledModel: import -> passes -> schedule -> emit -> runtime executor.
#include <xmmintrin.h>

#include <chrono>
#include <sstream>

#include "isa/isa.hpp"
#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "jit/scheduler.hpp"
#include "qjit/qjit.hpp"
#include "runtime/executor.hpp"
#include "runtime/plan.hpp"
#include "runtime/verbose.hpp"

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
    // fp32 (mixed-precision) nodes: those an fp32 JIT kernel runs, and the interpreted rest.
    std::vector<std::string> fp32_jit, interpreted;
    for (const auto& n : impl_->fallback_nodes) {
        bool jitted = false;
        for (const KernelInfo& k : impl_->kernels)
            jitted = jitted || (k.jit && k.name.rfind("fp32_", 0) == 0 && k.fused_nodes == n);
        (jitted ? fp32_jit : interpreted).push_back(n);
    }
    if (!fp32_jit.empty()) {
        os << "; fp32 JIT nodes:";
        for (const auto& n : fp32_jit) os << ' ' << n;
    }
    if (!interpreted.empty()) {
        os << "; fp32 fallback nodes:";
        for (const auto& n : interpreted) os << ' ' << n;
    }
    os << '\n';
    return os.str();
}

namespace {

// compile() folds constants in fp32/fp64 under MXCSR 0x1F80 (round to nearest even, no FTZ/DAZ)
// whatever the caller set; the caller's value comes back, also when compile() throws.
class CompileMxcsr {
public:
    CompileMxcsr() : saved_(_mm_getcsr()) { _mm_setcsr(0x1F80); }
    ~CompileMxcsr() { _mm_setcsr(saved_); }
    CompileMxcsr(const CompileMxcsr&) = delete;
    CompileMxcsr& operator=(const CompileMxcsr&) = delete;

private:
    unsigned saved_;
};

[[noreturn]] void over_limit(const std::string& what, int64_t bytes, size_t limit) {
    throw Error(ErrorCode::ResourceLimit, "<model>",
                what + " need " + std::to_string(bytes) + " bytes, above CompileOptions::max_memory_bytes = " +
                    std::to_string(limit));
}

int64_t add_bytes(int64_t a, int64_t b) { return b > INT64_MAX - a ? INT64_MAX : a + b; }

// Before lowering: the constants, and each tensor on its own (as f32), fit the limit.
int64_t check_graph_memory(const ir::Graph& g, size_t limit) {
    const int64_t lim = limit > static_cast<size_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(limit);
    int64_t weights = 0;
    for (int id = 0; id < g.size(); ++id)
        if (!g.node(id).dead && g.node(id).op == ir::Op::Constant)
            weights = add_bytes(weights, static_cast<int64_t>(g.node(id).value.bytes()));
    if (weights > lim) over_limit("the graph's constants", weights, limit);
    for (int id = 0; id < g.size(); ++id) {
        const ir::Node& n = g.node(id);
        if (n.dead || n.op == ir::Op::Constant) continue;
        int64_t bytes = 0;
        if (__builtin_mul_overflow(num_elements(n.shape), int64_t{4}, &bytes)) bytes = INT64_MAX;
        if (add_bytes(weights, bytes) > lim) over_limit("the constants and tensor '" + n.name + "'", add_bytes(weights, bytes), limit);
    }
    return weights;
}

// After scheduling, before any buffer exists: the constants plus one run's workspace.
void check_plan_memory(const rt::Plan& plan, int64_t weights, size_t limit) {
    int64_t total = weights;
    for (const rt::SlotDesc& s : plan.slots) {
        if (s.param_index >= 0) continue;
        __int128 bytes = s.bytes; // recomputed wide: a huge halo must not wrap around
        if (s.kind != rt::SlotDesc::F32Plain) {
            const ActLayout& l = s.layout;
            bytes = __int128{l.N} * (l.H + l.halo_t + l.halo_b) * (l.W + l.halo_l + l.halo_r) * l.c_stride * l.elem_bytes;
        }
        total = bytes > INT64_MAX ? INT64_MAX : add_bytes(total, add_bytes(static_cast<int64_t>(bytes), 128));
    }
    if (static_cast<uint64_t>(total) > limit) over_limit("the constants and one run's workspace", total, limit);
}

} // namespace

CompiledModel compile(const Graph& graph, const CompileOptions& options) {
    const auto t_start = std::chrono::steady_clock::now();
    const CompileMxcsr mxcsr;
    const int64_t weights = check_graph_memory(graph.ir(), options.max_memory_bytes);
    ir::Graph g = graph.ir();
    if (g.results().empty()) throw Error(ErrorCode::InvalidArgument, "<model>", "graph has no Result");
    LowerOptions lo;
    lo.allow_fp32_fallback = options.allow_fp32_fallback;
    lower(g, lo);
    ScheduleOptions so;
    so.isa = resolve_isa(options.max_isa, options.allow_unsupported_isa);
    so.threads = options.threads < 1 ? 1 : options.threads;
    rt::Plan plan = schedule(g, so);
    check_plan_memory(plan, weights, options.max_memory_bytes);
    auto impl = std::make_unique<CompiledModel::Impl>(std::move(plan), so.threads, so.isa);
    impl->fallback_nodes = fp32_fallback_nodes(g);
    if (impl->exec.verbose()) { // QJIT_VERBOSE (runtime/verbose.hpp)
        impl->exec.set_step_shapes(rt::step_shapes(g, impl->exec.plan()));
        rt::verbose_compile_line(impl->exec.plan(), to_string(so.isa), so.threads,
                                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start).count());
    }
    return CompiledModel(std::move(impl));
}

} // namespace qjit
