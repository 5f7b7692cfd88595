#include "jit/fold_util.hpp"

#include <cfloat>
#include <cmath>

#include "jit/fq_math.hpp"
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

void level_clamp(const ActQuant& out, int64_t channels, int64_t pad, float* v_min, float* v_max,
                 std::vector<int32_t>* k_off) {
    const int top = out.levels - 1;
    k_off->clear();
    *v_min = 0.0f;
    *v_max = static_cast<float>(top);
    if (!out.onnx()) return;
    std::vector<int32_t> off(static_cast<size_t>(pad), 0);
    int32_t lo = top, hi = 0;
    bool any = false;
    for (int64_t ch = 0; ch < channels; ++ch) {
        if (out.ol.at(ch) == out.oh.at(ch)) continue; // constant channel: k = 0 (spec §8.4)
        const int32_t o = out.offset(ch);
        off[static_cast<size_t>(ch)] = o;
        lo = o < lo ? o : lo;
        hi = o > hi ? o : hi;
        any = any || o != 0;
    }
    if (!any) return;
    *v_min = static_cast<float>(-hi);
    *v_max = static_cast<float>(top - (lo < hi ? lo : hi)); // lo > hi only when every channel is constant
    *k_off = std::move(off);
}

int32_t round_level(float v, float v_min, float v_max, const std::vector<int32_t>& k_off, size_t ch, int levels) {
    v = v > v_min ? v : v_min; // vmaxps(v, v_min): NaN -> v_min
    v = v < v_max ? v : v_max;
    int32_t q = fq::round_rne(v);
    if (k_off.empty()) return q;
    q += k_off[ch];
    q = q > 0 ? q : 0;
    return q < levels - 1 ? q : levels - 1;
}

} // namespace qjit::fold
