#include "tests/support/onnx_testing.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "qjit/error.hpp"

#ifdef QJIT_HAVE_ONNX
#include "import/onnx/onnx_importer.hpp"
#endif

namespace qjit::testing {

PbTensor read_pb(const std::string& path) {
#ifdef QJIT_HAVE_ONNX
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    onnx::TensorProto t;
    if (!f || !t.ParseFromString(ss.str())) throw Error(ErrorCode::InvalidArgument, path, "not a TensorProto file");
    const onnx_import::HostTensor h = onnx_import::from_proto(t, path);
    return {h.dtype, h.shape, h.v};
#else
    throw Error(ErrorCode::UnsupportedOp, path, "built without ONNX");
#endif
}

Tensor to_input(const PbTensor& t) {
    std::vector<float> v(t.values.begin(), t.values.end());
    return Tensor::f32(t.shape, v);
}

std::string compare_exact(const Tensor& got, const PbTensor& want) {
    if (got.shape() != want.shape && num_elements(got.shape()) != num_elements(want.shape))
        return "shape " + to_string(got.shape()) + " vs expected " + to_string(want.shape);
    for (int64_t i = 0; i < got.numel(); ++i) {
        const float g = got.at_f32(i), w = static_cast<float>(want.values[static_cast<size_t>(i)]);
        const bool same = (std::isnan(g) && std::isnan(w)) || std::memcmp(&g, &w, sizeof g) == 0 || (g == 0 && w == 0);
        if (!same) {
            std::ostringstream os;
            os << "element " << i << ": got " << g << ", expected " << w;
            return os.str();
        }
    }
    return "";
}

} // namespace qjit::testing
