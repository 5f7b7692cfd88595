// Executable memory for generated kernels. Code is generated into an ordinary heap buffer and then
// installed here; a kernel's bytes are never reachable through a writable mapping, before or after.
//
// Why: on the VMs qjit is measured on, giving every kernel its own mmap / mprotect(RX) / mprotect(RW) /
// munmap cost 3 TLB flushes (20-150 us each) and a page fault per touched page (~20 us) per kernel, more
// than generating the code. The arena keeps executable chunks mapped and fills them without any
// protection change:
//
// * memfd mode (default): one memfd ("qjit-code") whose chunks are mapped PROT_READ | PROT_EXEC,
//   MAP_SHARED, and nowhere writable. install() copies the code into the file with pwrite(); the
//   executable view sees the new bytes through the page cache. No mapping is ever W+X, no page is ever
//   flipped back to writable, and reusing a freed block needs no system call but the pwrite.
// * fallback (memfd_create or an executable mapping of it refused, or Options::use_memfd = false): per
//   block an anonymous RW mapping, memcpy, mprotect to RX; free = munmap (never back to RW).
//
// fork(): a child shares the parent's memfd pages, so after a fork (pthread_atfork, both sides) every
// existing chunk is frozen (its live blocks keep running, nothing is written into it again, it is
// unmapped without punching when its last block goes) and new code goes to a fresh memfd. Neither
// process can then overwrite code the other still runs.
//
// Blocks start 64-byte aligned (the constant pool is 64-byte aligned relative to the code start).
// A block is freed when its CodeBlock dies (the kernel that owns it); a chunk whose blocks are all
// free is unmapped and its file range punched out (one empty chunk is kept for the next compile),
// so memory stays bounded by the live kernels. Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace qjit {

class CodeArena;

// A kernel's executable bytes (move-only); returns its block to the arena when destroyed.
class CodeBlock {
public:
    CodeBlock() = default;
    CodeBlock(CodeBlock&& o) noexcept { *this = std::move(o); }
    CodeBlock& operator=(CodeBlock&& o) noexcept;
    ~CodeBlock() { reset(); }
    void reset();
    const uint8_t* data() const { return ptr_; }
    size_t size() const { return size_; }

private:
    friend class CodeArena;
    CodeArena* arena_ = nullptr;
    uint8_t* ptr_ = nullptr;
    size_t size_ = 0;     // the code's bytes
    size_t reserved_ = 0; // the block's bytes (64-byte multiple, or pages in fallback mode)
    bool chunked_ = false; // in a memfd chunk (else a fallback mapping of its own)
};

class CodeArena {
public:
    struct Options {
        size_t chunk_bytes = size_t{1} << 20; // larger blocks get a chunk of their own
        bool use_memfd = true;
    };
    struct Stats {
        bool memfd = false;     // memfd mode (false: fallback)
        size_t chunks = 0;      // mapped chunks (fallback: mapped blocks)
        size_t mapped_bytes = 0;
        size_t live_blocks = 0;
        size_t live_bytes = 0;  // reserved bytes of live blocks
        size_t frozen_chunks = 0; // chunks shared with a forked process (never written again)
    };

    static CodeArena& global(); // never destroyed: kernels may outlive static destructors
    explicit CodeArena(Options o);
    CodeArena() : CodeArena(Options{}) {}
    ~CodeArena();
    CodeArena(const CodeArena&) = delete;
    CodeArena& operator=(const CodeArena&) = delete;

    // Copies n > 0 bytes into executable memory. Throws std::bad_alloc when memory runs out.
    CodeBlock install(const uint8_t* bytes, size_t n);
    Stats stats() const;

private:
    friend class CodeBlock;
    struct Chunk {
        uint8_t* base = nullptr;
        size_t bytes = 0;
        int64_t file_off = 0;
        size_t live = 0;                   // live blocks
        std::map<size_t, size_t> free_at;  // offset -> bytes, coalesced
        bool frozen = false;               // mapped by a forked process too: never written again
    };
    struct ForkHooks;
    void after_fork_locked();
    void release(uint8_t* p, size_t reserved, bool chunked);
    CodeBlock install_fallback(const uint8_t* bytes, size_t n);
    Chunk* new_chunk_locked(size_t bytes); // nullptr: executable memfd mappings refused
    void drop_chunk_locked(size_t i);
    int64_t take_file_range_locked(size_t bytes);

    Options opt_;
    int fd_ = -1;
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<Chunk>> chunks_;
    std::map<int64_t, size_t> file_free_; // punched-out file ranges: offset -> bytes
    int64_t file_end_ = 0;
    size_t fallback_blocks_ = 0, fallback_bytes_ = 0;
};

} // namespace qjit
