// The perf map file of QJIT_PERF_MAP (see perf_map.hpp).
#include "emitters/perf_map.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace qjit {

void perf_map_if_requested(const std::string& name, const uint8_t* code, size_t size) {
    const char* v = std::getenv("QJIT_PERF_MAP");
    if (v == nullptr || *v == '\0' || (v[0] == '0' && v[1] == '\0')) return;
    static std::mutex mu;
    const std::lock_guard<std::mutex> lk(mu);
    const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    if (FILE* f = std::fopen(path.c_str(), "a")) {
        std::fprintf(f, "%lx %zx %s\n", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(code)), size, name.c_str());
        std::fclose(f);
    }
}

} // namespace qjit
