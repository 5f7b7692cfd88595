// Model import: ONNX (QDQ / QLinear) and OpenVINO IR (XML + bin) into a qjit::Graph.
// Every importer throws qjit::Error naming the model node and the problem; never a crash.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "qjit/graph.hpp"

namespace qjit {

struct ImportOptions {
    // Fixed shapes for named inputs (overrides the model's, symbolic or not).
    std::map<std::string, std::vector<int64_t>> input_shapes;
    // Value given to a symbolic batch (first) dimension not named in input_shapes.
    int64_t default_batch = 1;
};

// ONNX ModelProto from a file or from memory (import/onnx).
Graph import_onnx(const std::string& path, const ImportOptions& opts = {});
Graph import_onnx_bytes(const void* data, size_t size, const ImportOptions& opts = {});

// OpenVINO IR v10/v11 (import/openvino). bin_path "" means the XML path with ".bin".
Graph import_openvino_ir(const std::string& xml_path, const std::string& bin_path = "",
                         const ImportOptions& opts = {});
Graph import_openvino_ir_bytes(const std::string& xml, const void* bin, size_t bin_size,
                               const ImportOptions& opts = {});

// Dispatch on the file name: ".onnx" -> import_onnx, ".xml" -> import_openvino_ir; anything else
// is Error(InvalidArgument).
Graph load_model(const std::string& path, const ImportOptions& opts = {});

} // namespace qjit
