// QJIT_VERBOSE lines (see verbose.hpp).
#include "runtime/verbose.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>

namespace qjit::rt {
namespace {

std::string typed(const ir::Node& n) { return std::string(to_string(n.type)) + to_string(n.shape); }

// The ISA suffix of a kernel name ("..._tile__avx2" -> "avx2"); "ref" for non-JIT steps.
std::string isa_of(const KernelInfo& k) {
    const size_t p = k.name.rfind("__");
    return k.jit && p != std::string::npos ? k.name.substr(p + 2) : "ref";
}

} // namespace

bool verbose_requested() {
    const char* v = std::getenv("QJIT_VERBOSE");
    return v != nullptr && *v != '\0' && std::string(v) != "0";
}

std::vector<std::string> step_shapes(const ir::Graph& g, const Plan& plan) {
    std::map<std::string, int> by_name;
    for (int id : g.topo_order()) by_name.emplace(g.node(id).name, id);
    std::vector<std::string> out;
    for (const auto& step : plan.steps) {
        std::vector<int> ids;
        const std::string& f = step->info.fused_nodes;
        size_t b = 0;
        while (b <= f.size()) {
            size_t e = f.find('+', b);
            if (e == std::string::npos) e = f.size();
            auto it = by_name.find(f.substr(b, e - b));
            if (it != by_name.end()) ids.push_back(it->second);
            b = e + 1;
        }
        std::string s;
        if (!ids.empty()) {
            for (int in : g.node(ids.front()).inputs)
                if (g.node(in).op != ir::Op::Constant) s += (s.empty() ? "src:" : " src:") + typed(g.node(in));
            s += (s.empty() ? "dst:" : " dst:") + typed(g.node(ids.back()));
        }
        out.push_back(s);
    }
    return out;
}

void verbose_exec_line(const KernelInfo& k, const std::string& shapes, int threads, double ms) {
    std::printf("qjit_verbose,exec,%s,%s,%s,threads:%d,%.4f\n", k.name.c_str(), isa_of(k).c_str(), shapes.c_str(), threads, ms);
}

void verbose_compile_line(const Plan& plan, const char* isa, int threads, double ms) {
    std::printf("qjit_verbose,compile,%zu steps,%s,threads:%d,%.4f\n", plan.steps.size(), isa, threads, ms);
}

} // namespace qjit::rt
