// Built when qjit has no OpenVINO IR importer (libpugixml-dev missing at configure time).
#include "qjit/error.hpp"
#include "qjit/import.hpp"

namespace qjit {

Graph import_openvino_ir(const std::string& xml_path, const std::string&, const ImportOptions&) {
    throw Error(ErrorCode::UnsupportedOp, xml_path, "qjit was built without the OpenVINO IR importer (libpugixml-dev)");
}

Graph import_openvino_ir_bytes(const std::string&, const void*, size_t, const ImportOptions&) {
    throw Error(ErrorCode::UnsupportedOp, "<memory>", "qjit was built without the OpenVINO IR importer (libpugixml-dev)");
}

} // namespace qjit
