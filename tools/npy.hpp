// NumPy .npy files (format 1.0-3.0, C order): read f32 / u8 / i8 arrays as f32 tensors, write f32.
#pragma once
#include <string>

#include "qjit/tensor.hpp"

namespace qjit::npy {

// Throws Error(InvalidArgument) naming the file for anything else (dtype, Fortran order, short data).
Tensor read_f32(const std::string& path);
void write_f32(const std::string& path, const Tensor& t);

} // namespace qjit::npy
