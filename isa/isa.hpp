// ISA lattice of qjit and host CPU detection.
//
// The levels are totally ordered, each includes every level before it:
//   avx2  <  avx2_vnni  <  avx512_core_vnni
// avx2             = AVX2 + FMA (+ OS-enabled YMM state)
// avx2_vnni        = avx2 + AVX-VNNI (VEX vpdpbusd)
// avx512_core_vnni = avx2 + AVX512F/BW/VL/DQ + AVX512_VNNI (+ OS-enabled ZMM/opmask state)
//
// QJIT_MAX_ISA (avx2 | avx2_vnni | avx512_core_vnni) in the environment caps what resolve_isa()
// returns, so lower-ISA paths can be tested on a higher machine. Emitters take an explicit target ISA
// and never look at the host CPU: code for an ISA the host lacks can still be generated (emulator).
#pragma once
#include <optional>
#include <string_view>

#include "qjit/qjit.hpp"

namespace qjit {

// True when `a` includes `b` (a >= b in the lattice). Isa::native is not a level: it throws.
bool isa_includes(Isa a, Isa b);

// Whether the host CPU (and OS) can run code of level `isa`.
bool isa_supported(Isa isa);

// The highest level the host supports. Throws Error(UnsupportedOp) when the host lacks AVX2+FMA.
Isa max_isa_supported();

// Parses "avx2", "avx2_vnni", "avx512_core_vnni" (and "native"); nullopt for anything else.
std::optional<Isa> parse_isa(std::string_view s);

// The level to generate code for: min(requested (native = max_isa_supported()), QJIT_MAX_ISA,
// max_isa_supported()). Throws Error(InvalidArgument) for an unknown QJIT_MAX_ISA value.
Isa resolve_isa(Isa requested);

} // namespace qjit
