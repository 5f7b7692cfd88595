// A small x86-64 decoder for auditing generated AVX2 kernels (tests only). It knows exactly the
// instruction forms qjit's AVX2 generators emit (VEX maps 0F/0F38/0F3A and the general-purpose
// subset used for loops and addressing) and treats anything else as an error, so an audit is also
// a whitelist. It reports VEX instructions by name where the name matters to the spec.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

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

} // namespace qjit::test
