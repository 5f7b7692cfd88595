// libFuzzer target: fuzzer bytes -> qjit::import_onnx_bytes -> compile -> run. A typed qjit::Error
// is the only accepted failure; a crash, a sanitizer report, a non-qjit exception or a run past the
// memory limit is a bug. Seeds: fuzz/corpus/onnx (tiny valid models from fuzz/make_seeds.py and
// the peer-data models).
#include <cstdint>

#include "fuzz/fuzz_common.hpp"
#include "qjit/import.hpp"

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
    return 0;
}
