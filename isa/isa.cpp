#include "isa/isa.hpp"

#include <cstdlib>
#include <string>

#include <xbyak/xbyak_util.h>

namespace qjit {
namespace {

int rank(Isa isa) {
    switch (isa) {
    case Isa::avx2: return 0;
    case Isa::avx2_vnni: return 1;
    case Isa::avx512_core_vnni: return 2;
    case Isa::native: break;
    }
    throw Error(ErrorCode::InvalidArgument, "<isa>", "Isa::native is not a level of the ISA lattice");
}

Isa min_isa(Isa a, Isa b) { return rank(a) <= rank(b) ? a : b; }

} // namespace

const char* to_string(Isa isa) {
    switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx2_vnni: return "avx2_vnni";
    case Isa::avx512_core_vnni: return "avx512_core_vnni";
    case Isa::native: return "native";
    }
    return "?";
}

bool isa_includes(Isa a, Isa b) { return rank(a) >= rank(b); }

bool isa_supported(Isa isa) {
    using Cpu = Xbyak::util::Cpu;
    static const Cpu cpu; // Xbyak checks XGETBV: tAVX/tAVX512F only when the OS saves that state
    const bool avx2 = cpu.has(Cpu::tAVX) && cpu.has(Cpu::tAVX2) && cpu.has(Cpu::tFMA);
    switch (isa) {
    case Isa::avx2: return avx2;
    case Isa::avx2_vnni: return avx2 && cpu.has(Cpu::tAVX_VNNI);
    case Isa::avx512_core_vnni:
        return avx2 && cpu.has(Cpu::tAVX512F) && cpu.has(Cpu::tAVX512BW) && cpu.has(Cpu::tAVX512VL) &&
               cpu.has(Cpu::tAVX512DQ) && cpu.has(Cpu::tAVX512_VNNI);
    case Isa::native: return true;
    }
    return false;
}

Isa max_isa_supported() {
    for (Isa isa : {Isa::avx512_core_vnni, Isa::avx2_vnni, Isa::avx2})
        if (isa_supported(isa)) return isa;
    throw Error(ErrorCode::UnsupportedOp, "<cpu>", "qjit needs a CPU with AVX2 and FMA");
}

std::optional<Isa> parse_isa(std::string_view s) {
    for (Isa isa : {Isa::avx2, Isa::avx2_vnni, Isa::avx512_core_vnni, Isa::native})
        if (s == to_string(isa)) return isa;
    return std::nullopt;
}

Isa resolve_isa(Isa requested) {
    const Isa host = max_isa_supported();
    Isa isa = requested == Isa::native ? host : min_isa(requested, host);
    if (const char* env = std::getenv("QJIT_MAX_ISA"); env != nullptr && *env != '\0') {
        const std::optional<Isa> cap = parse_isa(env);
        if (!cap)
            throw Error(ErrorCode::InvalidArgument, "QJIT_MAX_ISA",
                        std::string("unknown ISA '") + env + "' (expected avx2, avx2_vnni or avx512_core_vnni)");
        if (*cap != Isa::native) isa = min_isa(isa, *cap);
    }
    return isa;
}

} // namespace qjit
