// QJIT_PERF_MAP=1: every generated kernel is appended to /tmp/perf-<pid>.map ("START SIZE name", hex),
// the file `perf report` reads to name JIT code. The environment is read at each kernel build.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace qjit {

void perf_map_if_requested(const std::string& name, const uint8_t* code, size_t size);

} // namespace qjit
