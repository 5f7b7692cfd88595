#include "jit/quant_params.hpp"

namespace qjit {

double ActQuant::step(int64_t c) const {
    return (static_cast<double>(oh.at(c)) - static_cast<double>(ol.at(c))) / static_cast<double>(levels - 1);
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
