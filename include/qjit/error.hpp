// Typed error raised for every bad input qjit meets: it names the node and the problem.
#pragma once
#include <stdexcept>
#include <string>

namespace qjit {

enum class ErrorCode {
    InvalidArgument,    // a parameter of a builder call is out of its domain
    ShapeMismatch,      // shapes of inputs are inconsistent
    UnsupportedOp,      // an op or attribute qjit cannot run
    NonConstantRange,   // a FakeQuantize range that must be constant is not
    InvalidLevels,      // levels outside 2..256
    NonFiniteRange,     // NaN or infinite FakeQuantize range values
    BadInput,           // run() got tensors that do not match the model
    JitFailure,         // code generation failed
    Internal,           // an invariant of qjit itself broke
    ResourceLimit,      // a tensor, the weights or a workspace exceed a limit (CompileOptions::max_memory_bytes)
};

const char* to_string(ErrorCode c);

class Error : public std::runtime_error {
public:
    Error(ErrorCode code, std::string node, std::string problem);
    ErrorCode code() const { return code_; }
    const std::string& node() const { return node_; }
    const std::string& problem() const { return problem_; }

private:
    ErrorCode code_;
    std::string node_;
    std::string problem_;
};

} // namespace qjit
