// Shared by the libFuzzer targets: compile an imported graph under tight limits, run it on small
// inputs, and treat anything but a typed qjit::Error as a bug (abort, so libFuzzer keeps the input).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

#include "qjit/qjit.hpp"

namespace qjit::fuzz {

// A finding: print it and abort (libFuzzer saves the input as a crash-* file).
[[noreturn]] inline void bug(const char* what, const char* detail) {
    std::fprintf(stderr, "qjit fuzz: BUG: %s: %s\n", what, detail);
    std::abort();
}

// Limits that keep one input cheap: 256 MiB of constants + workspace, one thread.
inline CompileOptions fuzz_compile_options() {
    CompileOptions o;
    o.threads = 1;
    o.max_memory_bytes = size_t{256} << 20;
    return o;
}

// Compiles `g` and runs it once on zero-filled inputs when they are small. A qjit::Error anywhere
// is an accepted outcome; any other exception is a bug.
void compile_and_run(const Graph& g);

} // namespace qjit::fuzz
