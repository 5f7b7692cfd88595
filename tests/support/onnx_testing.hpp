// Helpers of the ONNX tests: TensorProto (.pb) files read into qjit tensors, and exact comparison.
#pragma once
#include <string>
#include <vector>

#include "qjit/tensor.hpp"

namespace qjit::testing {

struct PbTensor {
    int dtype = 1; // ONNX TensorProto data type
    Shape shape;
    std::vector<double> values;
};

// Reads a serialized TensorProto; throws qjit::Error when unreadable.
PbTensor read_pb(const std::string& path);
// As a model input: f32 (integer types hold their values as f32 codes).
Tensor to_input(const PbTensor& t);
// "" when `got` equals `want` element for element (floats bitwise, NaN == NaN), else the first difference.
std::string compare_exact(const Tensor& got, const PbTensor& want);

} // namespace qjit::testing
