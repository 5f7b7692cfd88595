#include "emitters/generator.hpp"

#include <algorithm>
#include <atomic>
#include <new>
#include <cstdlib>
#include <cstring>

#include "emitters/disasm.hpp"
#include "emitters/perf_map.hpp"
#include "qjit/error.hpp"

namespace qjit {

using namespace Xbyak::util;

namespace {

bool callee_saved(const Xbyak::Reg64& r) {
    const int i = r.getIdx();
    return i == rbx.getIdx() || i == rbp.getIdx() || i >= 12;
}

constexpr uint32_t kMxcsrRne = 0x1F80; // RC = nearest, FTZ = DAZ = 0, all exceptions masked

} // namespace

Generator::Generator(uint8_t* buffer, size_t bytes) : Xbyak::CodeGenerator(bytes, buffer) {}

void Generator::preamble(std::initializer_list<Xbyak::Reg64> used, int scratch_bytes) {
    for (const Xbyak::Reg64& r : used)
        if (callee_saved(r) && std::none_of(saved_.begin(), saved_.end(), [&](const Xbyak::Reg64& s) {
                return s.getIdx() == r.getIdx();
            }))
            saved_.push_back(r);
    for (const Xbyak::Reg64& r : saved_) push(r);
    scratch_bytes_ = (std::max(scratch_bytes, 0) + 7) / 8 * 8;
    // scratch | saved MXCSR | RNE MXCSR; keep rsp 16-byte aligned (entry rsp = 8 mod 16).
    frame_bytes_ = scratch_bytes_ + 8;
    if ((frame_bytes_ + 8 * static_cast<int>(saved_.size()) + 8) % 16 != 0) frame_bytes_ += 8;
    sub(rsp, frame_bytes_);
    vstmxcsr(ptr[rsp + scratch_bytes_]);
    mov(dword[rsp + scratch_bytes_ + 4], kMxcsrRne);
    vldmxcsr(ptr[rsp + scratch_bytes_ + 4]);
}

void Generator::postamble() {
    vldmxcsr(ptr[rsp + scratch_bytes_]);
    add(rsp, frame_bytes_);
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) pop(*it);
    vzeroupper();
    ret();
}

Xbyak::Address Generator::scratch(int offset) const { return ptr[rsp + offset]; }

int Generator::pool_add(const void* data, size_t bytes) {
    const size_t off = pool_data_.size();
    const size_t padded = std::max<size_t>((bytes + 31) / 32 * 32, 32);
    pool_data_.resize(off + padded, 0);
    if (bytes) std::memcpy(pool_data_.data() + off, data, bytes);
    return static_cast<int>(off);
}

int Generator::pool_f32(const std::vector<float>& v) { return pool_add(v.data(), v.size() * sizeof(float)); }
int Generator::pool_i32(const std::vector<int32_t>& v) { return pool_add(v.data(), v.size() * sizeof(int32_t)); }
int Generator::pool_u8(const std::vector<uint8_t>& v) { return pool_add(v.data(), v.size()); }

Xbyak::Address Generator::pool(int offset) const { return ptr[rip + pool_label_ + offset]; }

void Generator::load_pool_base(const Xbyak::Reg64& r) { lea(r, ptr[rip + pool_label_]); }

void Generator::finalize() {
    if (finalized_) throw Error(ErrorCode::Internal, "<jit>", "Generator::finalize called twice");
    text_bytes_ = getSize();
    align(64);
    L(pool_label_);
    // The pool in one copy (Xbyak's db(ptr, n) stores byte by byte: ~1/3 of an FC kernel's emission).
    if (getSize() + pool_data_.size() > maxSize_) throw Xbyak::Error(Xbyak::ERR_CODE_IS_TOO_BIG);
    if (!pool_data_.empty()) std::memcpy(const_cast<uint8_t*>(getCurr()), pool_data_.data(), pool_data_.size());
    setSize(getSize() + pool_data_.size());
    ready(); // on a user buffer: only checks that no label is left undefined (jumps are patched as labels are defined)
    finalized_ = true;
}

namespace {
std::atomic<size_t> g_max_kernel_bytes{size_t{1} << 28};

// The heap buffer a thread generates into (64-byte aligned, never executable). Kept between kernels up
// to kKeepBytes, so its pages are touched once per thread rather than once per kernel; a nested
// build_kernel on the same thread gets a buffer of its own.
class ScratchBuffer {
public:
    explicit ScratchBuffer(size_t bytes) {
        Slot& s = slot();
        if (s.busy) {
            own_ = alloc(bytes);
            data_ = own_;
            return;
        }
        if (s.cap < bytes) {
            std::free(s.p);
            s.p = nullptr;
            s.cap = 0;
            s.p = alloc(bytes);
            s.cap = bytes;
        }
        s.busy = true;
        data_ = s.p;
    }
    ~ScratchBuffer() {
        if (own_) {
            std::free(own_);
            return;
        }
        Slot& s = slot();
        s.busy = false;
        if (s.cap > kKeepBytes) {
            std::free(s.p);
            s.p = nullptr;
            s.cap = 0;
        }
    }
    ScratchBuffer(const ScratchBuffer&) = delete;
    ScratchBuffer& operator=(const ScratchBuffer&) = delete;
    uint8_t* data() const { return data_; }

private:
    static constexpr size_t kKeepBytes = size_t{4} << 20;
    struct Slot {
        uint8_t* p = nullptr;
        size_t cap = 0;
        bool busy = false;
        ~Slot() { std::free(p); }
    };
    static Slot& slot() {
        thread_local Slot s;
        return s;
    }
    static uint8_t* alloc(size_t bytes) {
        void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (p == nullptr) throw std::bad_alloc();
        return static_cast<uint8_t*>(p);
    }
    uint8_t* data_ = nullptr;
    uint8_t* own_ = nullptr;
};
} // namespace

size_t max_kernel_bytes() { return g_max_kernel_bytes.load(); }
void set_max_kernel_bytes(size_t bytes) { g_max_kernel_bytes.store(std::max<size_t>(bytes, 4096)); }

std::unique_ptr<GeneratedKernel> build_kernel(const std::string& name, size_t size_hint,
                                              const std::function<void(Generator&)>& emit) {
    const size_t cap = max_kernel_bytes();
    size_t size = std::min(std::max<size_t>(size_hint, 4096), cap);
    for (;;) {
        try {
            const ScratchBuffer buf(size);
            Generator gen(buf.data(), size);
            emit(gen);
            gen.finalize();
            CodeBlock code = CodeArena::global().install(gen.getCode(), gen.getSize());
            auto k = std::make_unique<GeneratedKernel>(std::move(code), gen.text_bytes());
            k->name = name;
            dump_kernel_if_requested(name, k->code(), k->code_size(), k->text_bytes()); // QJIT_DUMP=DIR
            perf_map_if_requested(name, k->code(), k->text_bytes());                   // QJIT_PERF_MAP=1
            return k;
        } catch (const Xbyak::Error& e) {
            if (static_cast<int>(e) == Xbyak::ERR_CODE_IS_TOO_BIG && size < cap) {
                size = std::min(size * 4, cap);
                continue;
            }
            if (static_cast<int>(e) == Xbyak::ERR_CODE_IS_TOO_BIG)
                throw Error(ErrorCode::JitFailure, name,
                            "code buffer exhausted: the kernel needs more than " + std::to_string(cap) + " bytes");
            throw Error(ErrorCode::JitFailure, name, std::string("xbyak: ") + e.what());
        } catch (const std::bad_alloc&) {
            throw Error(ErrorCode::JitFailure, name, "out of memory while generating the kernel");
        }
    }
}

} // namespace qjit
