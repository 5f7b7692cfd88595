// Executable memory for generated kernels (see code_arena.hpp).
#include "emitters/code_arena.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <new>
#include <set>

namespace qjit {

namespace {

constexpr size_t kAlign = 64;

size_t page_bytes() {
    static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return p;
}

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// A memfd for code, or -1 where the kernel refuses one (then the arena uses its fallback).
int open_code_memfd() {
#ifdef MFD_EXEC
    // Kernels with vm.memfd_noexec want executable memfds to say so; older ones reject the flag.
    int fd = memfd_create("qjit-code", MFD_CLOEXEC | MFD_EXEC);
    if (fd >= 0 || errno != EINVAL) return fd;
#endif
    return memfd_create("qjit-code", MFD_CLOEXEC);
}

bool write_all(int fd, const uint8_t* p, size_t n, int64_t off) {
    while (n > 0) {
        const ssize_t w = pwrite(fd, p, n, static_cast<off_t>(off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
        off += w;
    }
    return true;
}

} // namespace

CodeBlock& CodeBlock::operator=(CodeBlock&& o) noexcept {
    if (this != &o) {
        reset();
        arena_ = o.arena_;
        ptr_ = o.ptr_;
        size_ = o.size_;
        reserved_ = o.reserved_;
        chunked_ = o.chunked_;
        o.arena_ = nullptr;
        o.ptr_ = nullptr;
        o.size_ = o.reserved_ = 0;
    }
    return *this;
}

void CodeBlock::reset() {
    if (arena_ != nullptr) arena_->release(ptr_, reserved_, chunked_);
    arena_ = nullptr;
    ptr_ = nullptr;
    size_ = reserved_ = 0;
}

CodeArena& CodeArena::global() {
    static CodeArena* a = new CodeArena(); // leaked on purpose: kernels in static models outlive exit
    return *a;
}

// Every arena, for the fork handlers: prepare locks them all, parent and child freeze their chunks.
struct CodeArena::ForkHooks {
    static std::mutex& mu() {
        static std::mutex m;
        return m;
    }
    static std::set<CodeArena*>& arenas() {
        static std::set<CodeArena*> s;
        return s;
    }
    static void prepare() {
        mu().lock();
        for (CodeArena* a : arenas()) a->mu_.lock();
    }
    static void after() {
        for (CodeArena* a : arenas()) {
            a->after_fork_locked();
            a->mu_.unlock();
        }
        mu().unlock();
    }
    static void add(CodeArena* a) {
        static const int registered = pthread_atfork(&prepare, &after, &after);
        (void)registered;
        const std::lock_guard<std::mutex> lk(mu());
        arenas().insert(a);
    }
    static void remove(CodeArena* a) {
        const std::lock_guard<std::mutex> lk(mu());
        arenas().erase(a);
    }
};

CodeArena::CodeArena(Options o) : opt_(o) {
    opt_.chunk_bytes = round_up(std::max(opt_.chunk_bytes, page_bytes()), page_bytes());
    if (opt_.use_memfd) fd_ = open_code_memfd();
    ForkHooks::add(this);
}

CodeArena::~CodeArena() {
    ForkHooks::remove(this);
    for (auto& c : chunks_) munmap(c->base, c->bytes);
    if (fd_ >= 0) close(fd_);
}

// Both sides of a fork: the memfd and its chunks are now shared with the other process. Freeze the
// chunks (their live blocks stay; no block in them is handed out again, no hole punched) and put new
// code in a memfd of our own.
void CodeArena::after_fork_locked() {
    if (fd_ < 0) return;
    for (auto& c : chunks_) c->frozen = true;
    for (size_t i = chunks_.size(); i-- > 0;)
        if (chunks_[i]->live == 0) {
            munmap(chunks_[i]->base, chunks_[i]->bytes);
            chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(i));
        }
    close(fd_);
    fd_ = open_code_memfd();
    file_free_.clear();
    file_end_ = 0;
}

int64_t CodeArena::take_file_range_locked(size_t bytes) {
    for (auto it = file_free_.begin(); it != file_free_.end(); ++it)
        if (it->second >= bytes) {
            const int64_t off = it->first;
            const size_t rest = it->second - bytes;
            file_free_.erase(it);
            if (rest) file_free_[off + static_cast<int64_t>(bytes)] = rest;
            return off;
        }
    const int64_t off = file_end_;
    if (ftruncate(fd_, static_cast<off_t>(off + static_cast<int64_t>(bytes))) != 0) throw std::bad_alloc();
    file_end_ += static_cast<int64_t>(bytes);
    return off;
}

CodeArena::Chunk* CodeArena::new_chunk_locked(size_t bytes) {
    const int64_t off = take_file_range_locked(bytes);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_EXEC, MAP_SHARED, fd_, static_cast<off_t>(off));
    if (p == MAP_FAILED) {
        const int err = errno;
        file_free_[off] = bytes;
        if (err == ENOMEM) throw std::bad_alloc();
        return nullptr; // EACCES / EPERM: executable memfds are refused here (SELinux, vm.memfd_noexec)
    }
    auto c = std::make_unique<Chunk>();
    c->base = static_cast<uint8_t*>(p);
    c->bytes = bytes;
    c->file_off = off;
    c->free_at[0] = bytes;
    chunks_.push_back(std::move(c));
    return chunks_.back().get();
}

// Unmaps an empty chunk and gives its pages back (the file range becomes a hole, reusable). A frozen
// chunk's file is another process's too (and no longer ours): only unmapped.
void CodeArena::drop_chunk_locked(size_t i) {
    Chunk& c = *chunks_[i];
    munmap(c.base, c.bytes);
    if (c.frozen) {
        chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(i));
        return;
    }
    fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(c.file_off),
              static_cast<off_t>(c.bytes));
    file_free_[c.file_off] = c.bytes;
    chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(i));
}

CodeBlock CodeArena::install(const uint8_t* bytes, size_t n) {
    if (n == 0) throw std::bad_alloc();
    const size_t need = round_up(n, kAlign);
    CodeBlock b;
    std::unique_lock<std::mutex> lk(mu_);
    if (fd_ < 0) {
        lk.unlock();
        return install_fallback(bytes, n);
    }
    Chunk* chunk = nullptr;
    size_t at = 0;
    for (auto& c : chunks_) {
        if (c->frozen) continue;
        for (const auto& [off, len] : c->free_at)
            if (len >= need) {
                chunk = c.get();
                at = off;
                break;
            }
        if (chunk) break;
    }
    if (chunk == nullptr) {
        chunk = new_chunk_locked(std::max(opt_.chunk_bytes, round_up(need, page_bytes())));
        if (chunk == nullptr) { // the system refuses executable memfd mappings: fallback mode from now on
            close(fd_);
            fd_ = -1;
            lk.unlock();
            return install_fallback(bytes, n);
        }
        at = 0;
    }
    const size_t len = chunk->free_at[at];
    chunk->free_at.erase(at);
    if (len > need) chunk->free_at[at + need] = len - need;
    chunk->live++;
    b.arena_ = this;
    b.ptr_ = chunk->base + at;
    b.size_ = n;
    b.reserved_ = need;
    b.chunked_ = true;
    // Written under the lock (a few us): the fork handlers take it, so no write into a memfd that
    // fork is about to share, or whose fd a handler closes, is ever in flight. The executable view
    // sees the page cache.
    const bool ok = write_all(fd_, bytes, n, chunk->file_off + static_cast<int64_t>(at));
    lk.unlock();
    if (!ok) throw std::bad_alloc(); // b returns the block
    return b;
}

CodeBlock CodeArena::install_fallback(const uint8_t* bytes, size_t n) {
    const size_t len = round_up(n, page_bytes());
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    std::memcpy(p, bytes, n);
    if (mprotect(p, len, PROT_READ | PROT_EXEC) != 0) {
        munmap(p, len);
        throw std::bad_alloc();
    }
    CodeBlock b;
    b.arena_ = this;
    b.ptr_ = static_cast<uint8_t*>(p);
    b.size_ = n;
    b.reserved_ = len;
    const std::lock_guard<std::mutex> lk(mu_);
    fallback_blocks_++;
    fallback_bytes_ += len;
    return b;
}

void CodeArena::release(uint8_t* p, size_t reserved, bool chunked) {
    if (!chunked) {
        munmap(p, reserved); // never made writable again
        const std::lock_guard<std::mutex> lk(mu_);
        fallback_blocks_--;
        fallback_bytes_ -= reserved;
        return;
    }
    const std::lock_guard<std::mutex> lk(mu_);
    for (size_t i = 0; i < chunks_.size(); ++i) {
        Chunk& c = *chunks_[i];
        if (p < c.base || p >= c.base + c.bytes) continue;
        size_t off = static_cast<size_t>(p - c.base), len = reserved;
        auto next = c.free_at.lower_bound(off);
        if (next != c.free_at.end() && next->first == off + len) {
            len += next->second;
            next = c.free_at.erase(next);
        }
        if (next != c.free_at.begin()) {
            auto prev = std::prev(next);
            if (prev->first + prev->second == off) {
                off = prev->first;
                len += prev->second;
                c.free_at.erase(prev);
            }
        }
        c.free_at[off] = len;
        if (--c.live > 0) return;
        // Empty: keep one empty standard chunk for the next kernels, give the rest back.
        bool other_empty = false;
        for (size_t j = 0; j < chunks_.size(); ++j)
            if (j != i && chunks_[j]->live == 0 && chunks_[j]->bytes == opt_.chunk_bytes) other_empty = true;
        if (other_empty || c.bytes != opt_.chunk_bytes || c.frozen) drop_chunk_locked(i);
        return;
    }
}

CodeArena::Stats CodeArena::stats() const {
    const std::lock_guard<std::mutex> lk(mu_);
    Stats s;
    s.memfd = fd_ >= 0;
    s.chunks = chunks_.size() + fallback_blocks_;
    s.live_blocks = fallback_blocks_;
    s.mapped_bytes = s.live_bytes = fallback_bytes_;
    for (const auto& c : chunks_) {
        s.frozen_chunks += c->frozen ? 1 : 0;
        s.mapped_bytes += c->bytes;
        s.live_blocks += c->live;
        size_t free = 0;
        for (const auto& [off, len] : c->free_at) free += len;
        s.live_bytes += c->bytes - free;
    }
    return s;
}

} // namespace qjit
