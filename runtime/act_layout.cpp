#include "runtime/act_layout.hpp"

#include <cstring>

#include "qjit/error.hpp"

namespace qjit::rt {

bool has_act_view(const Shape& s) { return s.size() >= 2 && s.size() <= 4; }

int channel_axis(const Shape& s) { return s.size() == 2 ? 1 : 1; }

ActLayout act_layout_for(const Shape& s, int64_t elem_bytes) {
    ActLayout l;
    l.elem_bytes = elem_bytes;
    if (s.size() == 4) {
        l.N = s[0]; l.C = s[1]; l.H = s[2]; l.W = s[3];
    } else if (s.size() == 3) {
        l.N = s[0]; l.C = s[1]; l.H = 1; l.W = s[2];
    } else if (s.size() == 2) {
        l.N = 1; l.H = 1; l.W = s[0]; l.C = s[1];
    } else {
        throw Error(ErrorCode::Internal, "<layout>", "no activation view for shape " + to_string(s));
    }
    l.c_stride = round_up16(l.C);
    return l;
}

template <bool ToAct>
static void convert(const uint8_t* src, const Shape& s, uint8_t* dst, const ActLayout& l) {
    const size_t eb = static_cast<size_t>(l.elem_bytes);
    // Logical index of (n, c, h, w). Rank 2 is pixel-major ([pixels][channels]), whichever of
    // N, H, W the layout spreads the pixels over (FC rows as W, or images as N).
    auto logical = [&](int64_t n, int64_t c, int64_t h, int64_t w) -> int64_t {
        if (s.size() == 2) return ((n * l.H + h) * l.W + w) * l.C + c;
        return ((n * l.C + c) * l.H + h) * l.W + w;
    };
    for (int64_t n = 0; n < l.N; ++n)
        for (int64_t h = 0; h < l.H; ++h)
            for (int64_t w = 0; w < l.W; ++w)
                for (int64_t c = 0; c < l.C; ++c) {
                    const int64_t a = (l.offset(n, h, w) + c) * static_cast<int64_t>(eb);
                    const int64_t g = logical(n, c, h, w) * static_cast<int64_t>(eb);
                    if (ToAct)
                        std::memcpy(dst + a, src + g, eb);
                    else
                        std::memcpy(dst + g, src + a, eb);
                }
}

void logical_to_act(const void* src, const Shape& s, void* dst, const ActLayout& l) {
    convert<true>(static_cast<const uint8_t*>(src), s, static_cast<uint8_t*>(dst), l);
}

void act_to_logical(const void* src, const ActLayout& l, const Shape& s, void* dst) {
    convert<false>(static_cast<const uint8_t*>(src), s, static_cast<uint8_t*>(dst), l);
}

} // namespace qjit::rt
