// ISA lattice of qjit and host CPU detection.
//
// Levels (qjit::Isa) and the CPU features each needs, every level on top of AVX2 + FMA:
//   avx2             AVX2, FMA                         (OS saves XMM|YMM: XCR0 bits 1, 2)
//   avx2_vnni        avx2 + AVX-VNNI (VEX vpdpbusd)
//   avx512_core      avx2 + AVX512F/BW/VL/DQ           (OS also saves opmask|ZMM_Hi256|Hi16_ZMM: XCR0 bits 5-7)
//   avx512_core_vnni avx512_core + AVX512_VNNI (EVEX vpdpbusd)
// Inclusion (isa_includes) is by features, so it is a lattice, not a chain:
//
//        avx512_core_vnni
//              |
//        avx512_core     avx2_vnni
//                 \       /
//                   avx2
//
// Code for avx2_vnni must not run on an Ice Lake (AVX512_VNNI, no AVX-VNNI), so avx512_core_vnni
// does not include avx2_vnni. The numeric order of the enum (avx2 < avx2_vnni < avx512_core <
// avx512_core_vnni) is a linear extension of the lattice: "the highest level that ..." means the
// largest in that order among the levels that qualify.
//
// QJIT_MAX_ISA (avx2 | avx2_vnni | avx512_core | avx512_core_vnni | native) in the environment caps
// resolve_isa(), so lower-ISA paths can be tested on a higher machine; an unknown value is an error.
// Emitters take an explicit target ISA and never look at the host CPU: code for an ISA the host lacks
// can still be generated (and run in the emulator, tests/emu/).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qjit/qjit.hpp"

namespace qjit {

// Every level, in numeric (preference) order.
const std::vector<Isa>& all_isas();

// True when code for `b` runs wherever code for `a` runs (features(b) is a subset of features(a)).
// Isa::native is not a level: it throws Error(InvalidArgument).
bool isa_includes(Isa a, Isa b);

// Whether the host CPU and OS can run code of level `isa` (CPUID and XCR0, see host_cpu()).
bool isa_supported(Isa isa);

// The highest level the host supports. Throws Error(UnsupportedOp) when the host lacks AVX2+FMA.
Isa max_isa_supported();

// Parses "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni" and "native"; nullopt otherwise.
std::optional<Isa> parse_isa(std::string_view s);

// The highest level that `requested` includes (native: every level) and `cap` includes.
Isa isa_meet(Isa requested, Isa cap);

// The level to generate code for: the highest level included in `requested` (native: the host's
// best), in QJIT_MAX_ISA, and — unless allow_unsupported — supported by the host. Throws
// Error(InvalidArgument) for an unknown QJIT_MAX_ISA value, Error(UnsupportedOp) when the host
// lacks AVX2+FMA (and allow_unsupported is false).
Isa resolve_isa(Isa requested, bool allow_unsupported = false);

// What the host CPU and OS offer, as read from CPUID and XGETBV (also the features no level uses).
struct HostCpu {
    bool avx2 = false, fma = false, avx_vnni = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512_vnni = false;
    bool amx_int8 = false, amx_tile = false;
    bool osxsave = false;
    unsigned long long xcr0 = 0;   // 0 when OSXSAVE is off
    bool os_ymm = false;           // XCR0 bits 1, 2 (SSE, AVX state)
    bool os_zmm = false;           // XCR0 bits 1, 2, 5, 6, 7 (also opmask, ZMM_Hi256, Hi16_ZMM)
    bool os_amx = false;           // XCR0 bits 17, 18 (XTILECFG, XTILEDATA; Linux also needs arch_prctl)
    std::string brand;             // CPUID brand string
};
const HostCpu& host_cpu();
// One line: brand, the features above, XCR0, the levels the host supports and the best one.
std::string describe_host_isa();

} // namespace qjit
