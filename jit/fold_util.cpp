#include "jit/fold_util.hpp"

#include <cfloat>
#include <cmath>

#include "qjit/error.hpp"

namespace qjit::fold {

const std::string& node_name(const std::vector<std::string>& fused_nodes, const std::string& fallback) {
    return fused_nodes.empty() ? fallback : fused_nodes.front();
}

float to_f32_checked(double v, const std::string& node, const char* what) {
    const float f = static_cast<float>(v);
    if (!std::isfinite(f) || (f != 0.0f && std::fabs(f) < FLT_MIN))
        throw Error(ErrorCode::UnsupportedOp, node, std::string("folded constant ") + what + " is not a normal fp32 value");
    return f;
}

EpilogueMode output_mode(bool out_levels, const ActQuant& out, int64_t channels, const std::string& node) {
    if (!out_levels) return EpilogueMode::Float;
    bool any_eq = false, any_lt = false;
    for (int64_t ch = 0; ch < channels; ++ch) {
        const double il = out.il.at(ch), ih = out.ih.at(ch);
        if (!(il <= ih)) throw Error(ErrorCode::UnsupportedOp, node, "next FakeQuantize has input_low > input_high");
        (il == ih ? any_eq : any_lt) = true;
    }
    if (any_eq && any_lt)
        throw Error(ErrorCode::UnsupportedOp, node, "next FakeQuantize mixes il == ih and il < ih channels");
    return any_eq ? EpilogueMode::Threshold : EpilogueMode::Levels;
}

} // namespace qjit::fold
