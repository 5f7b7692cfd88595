// Half-grid inputs for an imported model, and the JIT == Oracle B check on them (spec §2.5: "fuzz
// the importer with half-grid inputs"). Used by fuzz/onnx_fuzzer.cpp and tests/test_onnx_rounding.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qjit/qjit.hpp"

namespace qjit::tsupport {

// One f32 tensor per graph parameter: (j + 1/2) * 2^-e with j in [-256, 255] and e in {3, 4, 5, 6},
// so every quantizer with a power-of-two scale (down to 2^-6) sees exact ties; two of every three
// values are moved one ulp up or down. Empty when the inputs would exceed `max_elements` in all.
std::vector<Tensor> half_grid_inputs(const Graph& g, int64_t max_elements);

// Compiles `g` with `o`, runs it on half_grid_inputs and returns "" when the JIT equals Oracle B bit
// for bit (or the inputs are too large), else the first difference. qjit::Error propagates.
std::string half_grid_jit_vs_b(const Graph& g, const CompileOptions& o, int64_t max_elements);

} // namespace qjit::tsupport
