// load_model: picks the importer from the file name.
#include <algorithm>
#include <cctype>

#include "qjit/error.hpp"
#include "qjit/import.hpp"

namespace qjit {

Graph load_model(const std::string& path, const ImportOptions& opts) {
    std::string lower = path;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto ends_with = [&](const std::string& s) {
        return lower.size() >= s.size() && lower.compare(lower.size() - s.size(), s.size(), s) == 0;
    };
    if (ends_with(".onnx")) return import_onnx(path, opts);
    if (ends_with(".xml")) return import_openvino_ir(path, "", opts);
    throw Error(ErrorCode::InvalidArgument, path, "unknown model format: expected a .onnx file or an OpenVINO IR .xml file");
}

} // namespace qjit
