#include "jit/quant_params.hpp"

#include "jit/fq_math.hpp"

namespace qjit {

double ActQuant::step(int64_t c) const {
    return (static_cast<double>(oh.at(c)) - static_cast<double>(ol.at(c))) / static_cast<double>(levels - 1);
}

int ActQuant::level(int64_t c, float x) const {
    if (onnx()) return fq::onnx_level_index(x, onnx_scale.at(c), offset(c), levels);
    return fq::level_index(x, il.at(c), ih.at(c), levels);
}

double ActQuant::isc(int64_t c) const {
    if (onnx()) return 1.0 / static_cast<double>(onnx_scale.at(c));
    return static_cast<double>(levels - 1) / (static_cast<double>(ih.at(c)) - static_cast<double>(il.at(c)));
}

double ActQuant::ish(int64_t c) const { return onnx() ? 0.0 : -static_cast<double>(il.at(c)) * isc(c); }

double ActQuant::pre_round(int64_t c, double y) const {
    if (onnx()) return y / static_cast<double>(onnx_scale.at(c)) + offset(c);
    return (y - static_cast<double>(il.at(c))) * isc(c);
}

bool QuantWeights::symmetric() const {
    for (size_t o = 0; o < z_w.size(); ++o)
        if (z_w[o] != 0.0 || const_channel[o]) return false;
    return true;
}

static std::string group_suffix(int64_t groups) {
    std::string s;
    if (groups != 1) {
        s = "_G";
        s += std::to_string(groups);
    }
    return s;
}

std::string ConvGeom::str() const {
    return "N" + std::to_string(N) + "C" + std::to_string(C) + "H" + std::to_string(H) + "W" + std::to_string(W) +
           "_OC" + std::to_string(OC) + "_K" + std::to_string(KH) + "x" + std::to_string(KW) + "_S" +
           std::to_string(SH) + "x" + std::to_string(SW) + "_D" + std::to_string(DH) + "x" + std::to_string(DW) +
           "_P" + std::to_string(PT) + "," + std::to_string(PL) + "," + std::to_string(PB) + "," + std::to_string(PR) +
           group_suffix(groups);
}

} // namespace qjit
