// Decoding generated code (Zydis, when qjit was built with it: QJIT_HAVE_ZYDIS) for the instruction
// audit, the dumps (QJIT_DUMP) and debugging. Internal header; no Zydis type crosses it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qjit {

struct DecodedInsn {
    size_t offset = 0, length = 0;
    std::string mnemonic; // "vpdpbusd"
    std::string isa_set;  // Zydis ISA set: "AVX2", "AVX_VNNI", "AVX512_VNNI_512", "AVX512F_512", "I86", ...
    std::string text;     // Intel syntax, e.g. "vpdpbusd zmm0, zmm31, zmmword ptr [rdx+0x40]"
    bool vex = false, evex = false;
};

// True when qjit can decode (built with Zydis).
bool have_disassembler();

// Decodes [code, code + size) instruction by instruction. Returns false (with *error naming the
// offset) when a byte sequence does not decode or qjit was built without Zydis.
bool disassemble(const uint8_t* code, size_t size, std::vector<DecodedInsn>* out, std::string* error);

// One line per instruction: "  offset: bytes    text    ; isa_set".
std::string disassembly_text(const uint8_t* code, size_t size);

// QJIT_DUMP=DIR: writes <DIR>/<name>.bin (all code bytes, constant pool included) and <DIR>/<name>.s
// (the disassembly of the first text_bytes, then the pool size). A name seen before in this process
// gets a -2, -3, ... suffix. Does nothing when QJIT_DUMP is unset or empty; never throws.
void dump_kernel_if_requested(const std::string& name, const uint8_t* code, size_t size, size_t text_bytes);

} // namespace qjit
