#include "qjit/error.hpp"

namespace qjit {

const char* to_string(ErrorCode c) {
    switch (c) {
    case ErrorCode::InvalidArgument: return "invalid argument";
    case ErrorCode::ShapeMismatch: return "shape mismatch";
    case ErrorCode::UnsupportedOp: return "unsupported";
    case ErrorCode::NonConstantRange: return "non-constant range";
    case ErrorCode::InvalidLevels: return "invalid levels";
    case ErrorCode::NonFiniteRange: return "non-finite range";
    case ErrorCode::BadInput: return "bad input";
    case ErrorCode::JitFailure: return "jit failure";
    case ErrorCode::Internal: return "internal";
    case ErrorCode::ResourceLimit: return "resource limit";
    }
    return "?";
}

Error::Error(ErrorCode code, std::string node, std::string problem)
    : std::runtime_error("qjit: node '" + node + "': " + to_string(code) + ": " + problem),
      code_(code), node_(std::move(node)), problem_(std::move(problem)) {}

} // namespace qjit
