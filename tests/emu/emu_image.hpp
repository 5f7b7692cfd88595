// Host side of the bare-metal Bochs batch runner (boot.asm): builds one disk image holding many
// position-independent kernels, their argument structs, inputs and poisoned output buffers, runs
// Bochs headless on it, and reads back what the guest wrote (outputs, per-call result records, the
// fault report). See README.md in this folder.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qjit::emu {

// A place in the payload: arena (inputs or outputs) and byte offset; the guest address is known
// once the image is laid out (EmuImage::finalize).
struct Ref {
    int arena = 0; // 0: inputs (code, weights, args, sources), 1: outputs (written back)
    uint64_t off = 0;
    Ref plus(uint64_t d) const { return Ref{arena, off + d}; }
};

// What the guest recorded for one call.
struct CallResult {
    bool done = false;
    uint32_t preserved = 0; // bit 0 rbx, 1 rbp, 2 r12, 3 r13, 4 r14, 5 r15, 6 rsp
    uint64_t cycles = 0;
    uint32_t mxcsr_after = 0;
    static constexpr uint32_t kAllPreserved = 0x7F;
};

struct RunReport {
    bool ran = false;          // Bochs started and the guest wrote a header back
    std::string error;         // why not (emulator missing, timeout, no write-back, ...)
    int status = 0;            // 1 running (never finished), 2 fault, 3 done
    uint64_t tests_done = 0;
    uint64_t fault_vector = 0, fault_error = 0, fault_rip = 0, fault_test = 0;
    uint64_t xcr0 = 0, cpuid7_ebx = 0, cpuid7_ecx = 0;
    double seconds = 0;
    std::string log;           // Bochs' stdout/stderr (port 0xE9 lines included)
};

class EmuImage {
public:
    static constexpr uint64_t kPayloadBase = 0x1000000; // guest address of the payload (boot.asm)
    static constexpr uint32_t kHostileMxcsr = 0xFFC0;   // what each call starts under

    // Bytes in the inputs arena (aligned to `align`).
    Ref add_input(const void* data, size_t bytes, size_t align = 64);
    // An output buffer filled with `poison`, written back after the run.
    Ref add_output(size_t bytes, uint8_t poison, size_t align = 64);
    // An argument struct (inputs arena) whose 8-byte fields at `ptr_fields` are set to the guest
    // addresses of `targets` at finalize().
    Ref add_args(std::vector<uint8_t> bytes, std::vector<std::pair<size_t, Ref>> ptr_fields);
    // A call: rdi = args, entry = code (+ entry offset); returns the call index.
    size_t add_call(Ref code, Ref args);

    size_t calls() const { return calls_.size(); }
    uint64_t payload_bytes() const;

    // Lays out the payload, writes boot sectors + payload into `path`.
    void write(const std::string& boot_bin, const std::string& path);
    // Runs Bochs with CPU model `cpu` on the image at `path` (written by write()), reads it back.
    RunReport run(const std::string& path, const std::string& cpu, double timeout_s);

    // After run(): an output range (as the guest left it) and each call's record.
    std::vector<uint8_t> output(Ref r, size_t bytes) const;
    CallResult result(size_t call) const;
    uint64_t guest_address(Ref r) const;

private:
    struct Call {
        Ref code, args;
    };
    struct Args {
        Ref at;
        std::vector<std::pair<size_t, Ref>> ptrs;
    };
    std::vector<uint8_t> in_, out_;
    std::vector<Args> args_;
    std::vector<Call> calls_;
    // Layout (set by write()): header | descriptors | results | outputs | inputs.
    uint64_t desc_off_ = 0, res_off_ = 0, out_off_ = 0, in_off_ = 0, wb_bytes_ = 0, total_bytes_ = 0;
    std::vector<uint8_t> payload_, back_;
};

// Paths of the tools, from the environment (QJIT_BOCHS, QJIT_BOCHS_BIOS, QJIT_BOCHS_VGABIOS) or the
// Debian defaults; empty string when one is missing (the caller fails with a clear message).
std::string find_bochs();
std::string bochs_missing_reason();

} // namespace qjit::emu
