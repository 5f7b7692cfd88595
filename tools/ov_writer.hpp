// Writes a builder graph (its float ops) as OpenVINO IR v11: XML text plus the weights blob.
// Used by the demo (a model file for `qjit run`) and by the IR round-trip tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qjit/graph.hpp"

namespace qjit::tools {

struct OpenVinoIr {
    std::string xml;
    std::vector<uint8_t> bin;
};

// Throws Error(UnsupportedOp) for an op the writer does not know (only float graph ops are written).
OpenVinoIr to_openvino_ir(const Graph& g, const std::string& model_name = "qjit_model");
// Writes xml_path and, next to it, the same name with ".bin".
void write_openvino_ir(const Graph& g, const std::string& xml_path, const std::string& model_name = "qjit_model");

} // namespace qjit::tools
