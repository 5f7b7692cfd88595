// libFuzzer target: fuzzer bytes -> qjit::import_onnx_bytes -> compile -> run. A typed qjit::Error
// is the only accepted failure; a crash, a sanitizer report, a non-qjit exception, a run past the
// memory limit or a JIT != Oracle B output on half-grid inputs (tests/support/half_grid) is a bug. Seeds: fuzz/corpus/onnx (tiny valid models from fuzz/make_seeds.py and
// the peer-data models).
#include <cstdint>

#include "fuzz/fuzz_common.hpp"
#include "qjit/import.hpp"
#include "tests/support/half_grid.hpp"

using namespace qjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Graph g;
    try {
        g = import_onnx_bytes(data, size);
    } catch (const Error&) {
        return 0;
    } catch (const std::exception& e) {
        fuzz::bug("import_onnx_bytes threw a non-qjit exception", e.what());
    }
    fuzz::compile_and_run(g);
    // Half-grid inputs (spec §2.5): the ties of ONNX rounding, JIT == Oracle B bit for bit.
    try {
        const std::string why = tsupport::half_grid_jit_vs_b(g, fuzz::fuzz_compile_options(), int64_t{1} << 16);
        if (!why.empty()) fuzz::bug("JIT != Oracle B on half-grid inputs", why.c_str());
    } catch (const Error&) {
    } catch (const std::bad_alloc&) {
        fuzz::bug("half-grid check", "std::bad_alloc escaped (a limit is missing)");
    } catch (const std::exception& e) {
        fuzz::bug("half-grid check threw a non-qjit exception", e.what());
    }
    return 0;
}
