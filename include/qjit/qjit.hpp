// qjit public C++ API: build a graph, compile it to x86 kernels, run it.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "qjit/error.hpp"
#include "qjit/graph.hpp"
#include "qjit/tensor.hpp"

namespace qjit {

// ISA levels of generated code. The numeric order avx2 < avx2_vnni < avx512_core < avx512_core_vnni
// is the order of preference (higher = faster where the host has it). Inclusion is by features
// (isa/isa.hpp: isa_includes): avx2_vnni adds AVX-VNNI (VEX) to avx2, avx512_core adds AVX-512
// F/BW/VL/DQ, avx512_core_vnni adds AVX512_VNNI to avx512_core; avx2_vnni and the AVX-512 levels are
// not comparable (Ice Lake and Tiger Lake have AVX512_VNNI but no AVX-VNNI).
enum class Isa { avx2 = 0, avx2_vnni = 1, avx512_core = 2, avx512_core_vnni = 3, native = 99 };
const char* to_string(Isa isa);

struct CompileOptions {
    int threads = 1;              // worker threads for run(); output bytes never depend on it
    Isa max_isa = Isa::native;    // cap; QJIT_MAX_ISA in the environment caps it further
    // false: the target is clamped to what the host runs. true: max_isa is taken as the target even
    // if the host lacks it (code generation for an emulator, describe(), dumps); run() then throws
    // Error(UnsupportedOp) on a host that cannot execute it.
    bool allow_unsupported_isa = false;
    bool allow_fp32_fallback = true; // false: a node that cannot run quantized is an Error
    // Bound on the bytes compile() and one run() may hold: the graph's constants plus one run's
    // workspace (every tensor buffer of the plan). Above it: Error(ResourceLimit), before allocating.
    size_t max_memory_bytes = size_t{16} << 30;
};

// One generated (or fallback) kernel of a compiled model.
struct KernelInfo {
    std::string name;        // grammar: op_srctype_dsttype[_postops]_tile__isa
    std::string fused_nodes; // names of the graph nodes it executes
    size_t code_bytes = 0;   // 0 for a non-JIT path
    int constants = 0;       // per-channel constants embedded in the code buffer
    bool jit = false;        // false: runs the interpreted fp32 fallback
};

class CompiledModel {
public:
    CompiledModel();
    ~CompiledModel();
    CompiledModel(CompiledModel&&) noexcept;
    CompiledModel& operator=(CompiledModel&&) noexcept;

    // Inputs in the order of the graph's Parameters; outputs in the order of its Results.
    // May be called from several threads at once; output bytes never depend on concurrency or threads.
    std::vector<Tensor> run(const std::vector<Tensor>& inputs);
    std::string describe() const;
    const std::vector<KernelInfo>& kernels() const;
    Isa isa() const;

    struct Impl;
    explicit CompiledModel(std::unique_ptr<Impl> impl);
    Impl& impl() { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

CompiledModel compile(const Graph& graph, const CompileOptions& options = {});

} // namespace qjit
