// A small x86-64 decoder for auditing generated AVX2 kernels (tests only). It knows exactly the
// instruction forms qjit's AVX2 generators emit (VEX maps 0F/0F38/0F3A and the general-purpose
// subset used for loops and addressing) and treats anything else as an error, so an audit is also
// a whitelist. It reports VEX instructions by name where the name matters to the spec.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "emitters/kernels.hpp"
#include "qjit/qjit.hpp"

namespace qjit::test {

struct CodeAudit {
    std::string error;                  // empty when every byte decoded
    size_t instructions = 0;
    std::map<std::string, int> vex;     // named VEX ops ("vpmaddwd", "vrcpps", ...), others "vex.M.PP.OP"
    int imm64 = 0;                      // mov r64, imm64 (a host address could hide here)
    int absolute_mem = 0;               // [disp32] without base register (absolute address)
    int rip_relative = 0;               // [rip + disp32]
    int calls = 0;                      // call / indirect jmp (kernels never call out)
    int count(const std::string& name) const {
        auto it = vex.find(name);
        return it == vex.end() ? 0 : it->second;
    }
};

CodeAudit audit_code(const uint8_t* code, size_t size);

// The per-ISA audit with a real decoder (Zydis, emitters/disasm): every instruction of a kernel of
// level `isa` must belong to an ISA set the level includes (AVX_VNNI only on avx2_vnni, AVX512*
// only on the AVX-512 levels, AVX512_VNNI only on avx512_core_vnni) and no EVEX encoding may appear
// below AVX-512. Mnemonics are counted for the callers' own expectations.
struct ZAudit {
    std::map<std::string, int> mnemonics;
    int evex = 0, vex = 0, total = 0;
    std::vector<std::string> violations; // each names the kernel, offset and instruction
    int count(const std::string& m) const {
        auto it = mnemonics.find(m);
        return it == mnemonics.end() ? 0 : it->second;
    }
};
bool zydis_isa_set_allowed(Isa isa, const std::string& set);
// Decodes k's instructions (GeneratedKernel::text_bytes) and checks them against `isa`.
ZAudit zydis_audit(const JitKernel& k, Isa isa);
// zydis_audit plus the rules every kernel keeps whatever its level (spec §4.5, position
// independence): no vpdpbusds / vrcp* / vrsqrt* / vcvttps2dq, the MXCSR save/load/restore, one
// vzeroupper, a name ending in __<isa>, EVEX exactly on the AVX-512 levels. Adds gtest failures.
ZAudit expect_clean_kernel(const JitKernel& k, Isa isa);

} // namespace qjit::test
