// libFuzzer target: fuzzer bytes -> qjit::import_openvino_ir_bytes -> compile -> run. Input format
// (fuzz/README.md): a 4-byte little-endian XML length, the XML, then the weights (.bin) bytes; a
// length past the end takes all bytes as XML and no weights. A typed qjit::Error is the only
// accepted failure. Seeds: fuzz/corpus/openvino (fuzz/make_seeds.py, peer-data IR models).
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz/fuzz_common.hpp"
#include "qjit/import.hpp"

using namespace qjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    uint32_t xml_len = 0;
    if (size >= 4) std::memcpy(&xml_len, data, 4);
    const uint8_t* rest = size >= 4 ? data + 4 : data;
    const size_t rest_size = size >= 4 ? size - 4 : size;
    if (xml_len > rest_size) xml_len = static_cast<uint32_t>(rest_size);
    const std::string xml(reinterpret_cast<const char*>(rest), xml_len);
    const uint8_t* bin = rest + xml_len;
    const size_t bin_size = rest_size - xml_len;
    Graph g;
    try {
        g = import_openvino_ir_bytes(xml, bin_size ? bin : nullptr, bin_size);
    } catch (const Error&) {
        return 0;
    } catch (const std::exception& e) {
        fuzz::bug("import_openvino_ir_bytes threw a non-qjit exception", e.what());
    }
    fuzz::compile_and_run(g);
    return 0;
}
