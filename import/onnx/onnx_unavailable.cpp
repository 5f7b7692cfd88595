// Built when qjit has no ONNX importer (libonnx-dev missing at configure time).
#include "qjit/error.hpp"
#include "qjit/import.hpp"

namespace qjit {

Graph import_onnx(const std::string& path, const ImportOptions&) {
    throw Error(ErrorCode::UnsupportedOp, path, "qjit was built without the ONNX importer (libonnx-dev)");
}

Graph import_onnx_bytes(const void*, size_t, const ImportOptions&) {
    throw Error(ErrorCode::UnsupportedOp, "<memory>", "qjit was built without the ONNX importer (libonnx-dev)");
}

} // namespace qjit
