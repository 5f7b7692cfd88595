// The one base class of every qjit code generator: owns the calling convention (SysV x86-64), the
// MXCSR discipline of spec §4.5, a RIP-relative constant pool and the W^X life cycle of the code
// buffer. Internal header (Xbyak types); nothing under include/ includes it.
//
// Life cycle: a Generator writes into an ordinary (never executable) heap buffer; finalize() appends the
// constant pool after the code (64-byte aligned relative to the buffer start) and resolves labels;
// build_kernel() then copies code + pool into a 64-byte aligned block of the CodeArena
// (emitters/code_arena.hpp), which is executable and never writable. Generated code embeds no host
// address: constants are reached through `lea reg, [rip + pool]` / `ptr[rip + pool + off]`, arguments
// through rdi, so the copy runs as generated.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <xbyak/xbyak.h>

#include "emitters/code_arena.hpp"
#include "emitters/kernels.hpp"

namespace qjit {

class Generator : public Xbyak::CodeGenerator {
public:
    // Generates into buffer[0, bytes) (64-byte aligned, owned by the caller; Xbyak throws
    // ERR_CODE_IS_TOO_BIG past its end).
    Generator(uint8_t* buffer, size_t bytes);

    // SysV argument registers; every qjit kernel takes one argument-struct pointer.
    static const Xbyak::Reg64& abi_param1() { return Xbyak::util::rdi; }

    // Pushes the callee-saved registers among `used` (rbx, rbp, r12-r15; others are ignored),
    // reserves `scratch_bytes` of stack scratch at [rsp] (see scratch()), saves MXCSR and loads
    // 0x1F80: round to nearest even, no FTZ, no DAZ, all exceptions masked.
    void preamble(std::initializer_list<Xbyak::Reg64> used, int scratch_bytes = 0);
    // Restores MXCSR and the saved registers, vzeroupper, ret. May be emitted once.
    void postamble();
    // Scratch stack slot at byte `offset` (valid between preamble and postamble).
    Xbyak::Address scratch(int offset) const;

    // Constant pool (64-byte aligned). Each vector is 32-byte aligned and zero-padded to a multiple of 32 bytes;
    // the returned value is its byte offset from the pool start.
    int pool_f32(const std::vector<float>& v);
    int pool_i32(const std::vector<int32_t>& v);
    int pool_u8(const std::vector<uint8_t>& v);
    // ptr[rip + pool + offset]: addresses a pool entry without a base register.
    Xbyak::Address pool(int offset) const;
    // lea r, [rip + pool]: base register for indexed pool accesses (ptr[r + idx*4 + off]).
    void load_pool_base(const Xbyak::Reg64& r);

    // Appends the pool (64-byte aligned) and checks that every label is defined (Xbyak::Error if not).
    void finalize();

    size_t text_bytes() const { return text_bytes_; } // instructions only, before the pool
    size_t pool_bytes() const { return pool_data_.size(); }

private:
    int pool_add(const void* data, size_t bytes);

    Xbyak::Label pool_label_;
    std::vector<uint8_t> pool_data_;
    std::vector<Xbyak::Reg64> saved_;
    int frame_bytes_ = 0;
    int scratch_bytes_ = 0;
    size_t text_bytes_ = 0;
    bool finalized_ = false;
};

// A JitKernel that owns its executable block (code, then the constant pool).
class GeneratedKernel final : public JitKernel {
public:
    GeneratedKernel(CodeBlock code, size_t text_bytes) : code_(std::move(code)), text_bytes_(text_bytes) {}
    const void* entry() const override { return code_.data(); }
    size_t code_size() const override { return code_.size(); }
    const uint8_t* code() const override { return code_.data(); }
    size_t text_bytes() const { return text_bytes_; }

private:
    CodeBlock code_;
    size_t text_bytes_;
};

// Runs `emit` on a fresh Generator over a per-thread scratch buffer of `size_hint` bytes (retrying with
// a larger buffer when the code does not fit, up to max_kernel_bytes()), finalizes it, installs the
// bytes in CodeArena::global() and wraps them. `emit` must be
// re-runnable. Xbyak errors, a kernel larger than the cap and running out of memory become
// Error(JitFailure) naming `name`.
std::unique_ptr<GeneratedKernel> build_kernel(const std::string& name, size_t size_hint,
                                              const std::function<void(Generator&)>& emit);

// Process-wide cap on one kernel's code buffer (default 256 MiB); tests lower it.
size_t max_kernel_bytes();
void set_max_kernel_bytes(size_t bytes);

} // namespace qjit
