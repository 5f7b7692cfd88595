#include "emitters/disasm.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#ifdef QJIT_HAVE_ZYDIS
#include <Zydis/Zydis.h>
#endif

namespace qjit {

bool have_disassembler() {
#ifdef QJIT_HAVE_ZYDIS
    return true;
#else
    return false;
#endif
}

bool disassemble(const uint8_t* code, size_t size, std::vector<DecodedInsn>* out, std::string* error) {
#ifdef QJIT_HAVE_ZYDIS
    ZydisDecoder dec;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    ZydisFormatter fmt;
    ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
    size_t off = 0;
    while (off < size) {
        ZydisDecodedInstruction ins;
        ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code + off, size - off, &ins, ops))) {
            if (error) *error = "undecodable bytes at offset " + std::to_string(off);
            return false;
        }
        DecodedInsn d;
        d.offset = off;
        d.length = ins.length;
        d.mnemonic = ZydisMnemonicGetString(ins.mnemonic);
        d.isa_set = ZydisISASetGetString(ins.meta.isa_set);
        d.vex = ins.encoding == ZYDIS_INSTRUCTION_ENCODING_VEX;
        d.evex = ins.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX;
        char buf[256];
        if (ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&fmt, &ins, ops, ins.operand_count_visible, buf, sizeof(buf),
                                                         ZYDIS_RUNTIME_ADDRESS_NONE, ZYAN_NULL)))
            d.text = buf;
        out->push_back(std::move(d));
        off += ins.length;
    }
    return true;
#else
    (void)code, (void)size, (void)out;
    if (error) *error = "qjit was built without Zydis (libzydis-dev)";
    return false;
#endif
}

std::string disassembly_text(const uint8_t* code, size_t size) {
    std::vector<DecodedInsn> v;
    std::string err;
    const bool ok = disassemble(code, size, &v, &err);
    std::ostringstream o;
    for (const DecodedInsn& d : v) {
        char head[32];
        std::snprintf(head, sizeof(head), "%6zx: ", d.offset);
        std::string bytes;
        for (size_t i = 0; i < d.length; ++i) {
            char b[4];
            std::snprintf(b, sizeof(b), "%02x", code[d.offset + i]);
            bytes += b;
        }
        o << head << bytes << std::string(bytes.size() < 24 ? 24 - bytes.size() : 1, ' ') << d.text;
        if (d.text.size() < 56) o << std::string(56 - d.text.size(), ' ');
        o << " ; " << d.isa_set << '\n';
    }
    if (!ok) o << "; " << err << '\n';
    return o.str();
}

void dump_kernel_if_requested(const std::string& name, const uint8_t* code, size_t size, size_t text_bytes) {
    const char* dir = std::getenv("QJIT_DUMP");
    if (dir == nullptr || *dir == '\0') return;
    static std::mutex mu;
    static std::map<std::string, int> seen;
    std::string base;
    {
        std::lock_guard<std::mutex> lk(mu);
        mkdir(dir, 0755);
        const int n = ++seen[name];
        std::string safe;
        for (char c : name) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') ? c : '_';
        base = std::string(dir) + "/" + safe + (n > 1 ? "-" + std::to_string(n) : "");
    }
    std::ofstream bin(base + ".bin", std::ios::binary | std::ios::trunc);
    bin.write(reinterpret_cast<const char*>(code), static_cast<std::streamsize>(size));
    std::ofstream s(base + ".s", std::ios::trunc);
    s << "; " << name << ": " << text_bytes << " bytes of code, " << size - text_bytes
      << " bytes of constant pool (after alignment) at the end; position independent, base 0\n";
    s << disassembly_text(code, text_bytes);
}

} // namespace qjit
