#include "isa/isa.hpp"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

namespace qjit {
namespace {

// Feature bits of the levels.
enum : unsigned { kAvx2 = 1, kAvxVnni = 2, kAvx512 = 4, kAvx512Vnni = 8 };

unsigned features(Isa isa) {
    switch (isa) {
    case Isa::avx2: return kAvx2;
    case Isa::avx2_vnni: return kAvx2 | kAvxVnni;
    case Isa::avx512_core: return kAvx2 | kAvx512;
    case Isa::avx512_core_vnni: return kAvx2 | kAvx512 | kAvx512Vnni;
    case Isa::native: break;
    }
    throw Error(ErrorCode::InvalidArgument, "<isa>", "Isa::native is not a level of the ISA lattice");
}

unsigned long long xgetbv0() {
    unsigned eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<unsigned long long>(edx) << 32) | eax;
}

HostCpu read_host_cpu() {
    HostCpu h;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return h;
    const unsigned max_leaf = a;
    __cpuid(1, a, b, c, d);
    h.fma = (c >> 12) & 1;
    h.osxsave = (c >> 27) & 1;
    const bool avx = (c >> 28) & 1;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        h.avx2 = avx && ((b >> 5) & 1);
        h.avx512f = (b >> 16) & 1;
        h.avx512dq = (b >> 17) & 1;
        h.avx512bw = (b >> 30) & 1;
        h.avx512vl = (b >> 31) & 1;
        h.avx512_vnni = (c >> 11) & 1;
        h.amx_tile = (d >> 24) & 1;
        h.amx_int8 = (d >> 25) & 1;
        const unsigned sub = a;
        if (sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            h.avx_vnni = (a >> 4) & 1;
        }
    }
    if (h.osxsave) {
        h.xcr0 = xgetbv0();
        h.os_ymm = (h.xcr0 & 0x6) == 0x6;
        h.os_zmm = (h.xcr0 & 0xE6) == 0xE6;
        h.os_amx = (h.xcr0 & 0x60000) == 0x60000;
    }
    char brand[49] = {};
    __get_cpuid(0x80000000, &a, &b, &c, &d);
    if (a >= 0x80000004)
        for (unsigned i = 0; i < 3; ++i) {
            __cpuid(0x80000002 + i, a, b, c, d);
            std::memcpy(brand + 16 * i, &a, 4);
            std::memcpy(brand + 16 * i + 4, &b, 4);
            std::memcpy(brand + 16 * i + 8, &c, 4);
            std::memcpy(brand + 16 * i + 12, &d, 4);
        }
    h.brand = brand;
    while (!h.brand.empty() && h.brand.back() == ' ') h.brand.pop_back();
    return h;
}

unsigned host_features() {
    const HostCpu& h = host_cpu();
    unsigned f = 0;
    if (h.avx2 && h.fma && h.os_ymm) f |= kAvx2;
    if ((f & kAvx2) && h.avx_vnni) f |= kAvxVnni;
    if ((f & kAvx2) && h.avx512f && h.avx512bw && h.avx512vl && h.avx512dq && h.os_zmm) f |= kAvx512;
    if ((f & kAvx512) && h.avx512_vnni) f |= kAvx512Vnni;
    return f;
}

} // namespace

const char* to_string(Isa isa) {
    switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx2_vnni: return "avx2_vnni";
    case Isa::avx512_core: return "avx512_core";
    case Isa::avx512_core_vnni: return "avx512_core_vnni";
    case Isa::native: return "native";
    }
    return "?";
}

const std::vector<Isa>& all_isas() {
    static const std::vector<Isa> v = {Isa::avx2, Isa::avx2_vnni, Isa::avx512_core, Isa::avx512_core_vnni};
    return v;
}

bool isa_includes(Isa a, Isa b) { return (features(a) & features(b)) == features(b); }

const HostCpu& host_cpu() {
    static const HostCpu h = read_host_cpu();
    return h;
}

bool isa_supported(Isa isa) {
    if (isa == Isa::native) return true;
    return (host_features() & features(isa)) == features(isa);
}

Isa max_isa_supported() {
    const auto& all = all_isas();
    for (auto it = all.rbegin(); it != all.rend(); ++it)
        if (isa_supported(*it)) return *it;
    throw Error(ErrorCode::UnsupportedOp, "<cpu>", "qjit needs a CPU (and OS) with AVX2 and FMA");
}

std::optional<Isa> parse_isa(std::string_view s) {
    for (Isa isa : {Isa::avx2, Isa::avx2_vnni, Isa::avx512_core, Isa::avx512_core_vnni, Isa::native})
        if (s == to_string(isa)) return isa;
    return std::nullopt;
}

Isa isa_meet(Isa requested, Isa cap) {
    const auto& all = all_isas();
    for (auto it = all.rbegin(); it != all.rend(); ++it)
        if ((requested == Isa::native || isa_includes(requested, *it)) && (cap == Isa::native || isa_includes(cap, *it)))
            return *it;
    return Isa::avx2;
}

Isa resolve_isa(Isa requested, bool allow_unsupported) {
    Isa cap = Isa::native;
    if (const char* env = std::getenv("QJIT_MAX_ISA"); env != nullptr && *env != '\0') {
        const std::optional<Isa> v = parse_isa(env);
        if (!v)
            throw Error(ErrorCode::InvalidArgument, "QJIT_MAX_ISA",
                        std::string("unknown ISA '") + env +
                            "' (expected avx2, avx2_vnni, avx512_core, avx512_core_vnni or native)");
        cap = *v;
    }
    const Isa target = isa_meet(requested, cap);
    if (allow_unsupported && requested != Isa::native) return target;
    max_isa_supported(); // throws on a host without AVX2 + FMA
    const auto& all = all_isas();
    for (auto it = all.rbegin(); it != all.rend(); ++it)
        if (isa_supported(*it) && isa_includes(target, *it)) return *it;
    return Isa::avx2;
}

std::string describe_host_isa() {
    const HostCpu& h = host_cpu();
    std::ostringstream o;
    o << (h.brand.empty() ? "unknown CPU" : h.brand) << ":";
    auto f = [&](const char* n, bool v) {
        if (v) o << ' ' << n;
    };
    f("avx2", h.avx2);
    f("fma", h.fma);
    f("avx_vnni", h.avx_vnni);
    f("avx512f", h.avx512f);
    f("avx512bw", h.avx512bw);
    f("avx512vl", h.avx512vl);
    f("avx512dq", h.avx512dq);
    f("avx512_vnni", h.avx512_vnni);
    f("amx_tile", h.amx_tile);
    f("amx_int8", h.amx_int8);
    o << "; xcr0=0x" << std::hex << h.xcr0 << std::dec << " (ymm " << (h.os_ymm ? "on" : "off") << ", zmm "
      << (h.os_zmm ? "on" : "off") << ", amx " << (h.os_amx ? "on" : "off") << "); levels:";
    for (Isa i : all_isas())
        if (isa_supported(i)) o << ' ' << to_string(i);
    try {
        o << "; best " << to_string(max_isa_supported());
    } catch (const Error&) {
        o << "; no level (qjit needs AVX2+FMA)";
    }
    if (h.amx_int8) o << "; amx_int8 present but unused (no AMX kernels)";
    return o.str();
}

} // namespace qjit
