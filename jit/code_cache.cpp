#include "jit/code_cache.hpp"

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "qjit/error.hpp"

namespace qjit {

// One key: building (a thread runs make(); others wait on cv) or done (a weak reference).
struct CodeCache::Entry {
    bool building = true;
    std::condition_variable cv;
    std::weak_ptr<JitKernel> kernel;
    std::exception_ptr error; // make() threw: waiters rethrow it
};

namespace {

CodeCache::Mode mode_from_env() {
    const char* e = std::getenv("QJIT_CODE_CACHE");
    if (!e) return CodeCache::Mode::on;
    if (!std::strcmp(e, "0") || !std::strcmp(e, "off")) return CodeCache::Mode::off;
    if (!std::strcmp(e, "verify")) return CodeCache::Mode::verify;
    return CodeCache::Mode::on;
}

bool same_code(const JitKernel& a, const JitKernel& b) {
    return a.code_size() == b.code_size() && std::memcmp(a.code(), b.code(), a.code_size()) == 0 &&
           a.name == b.name && a.constants == b.constants;
}

} // namespace

CodeCache::CodeCache() : mode_(mode_from_env()) {}

CodeCache& CodeCache::global() {
    static CodeCache c;
    return c;
}

CodeCache::Stats CodeCache::stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    Stats s = stats_;
    s.entries = static_cast<int64_t>(map_.size());
    return s;
}

CodeCache::Mode CodeCache::mode() const {
    std::lock_guard<std::mutex> lk(mu_);
    return mode_;
}

void CodeCache::set_mode(Mode m) {
    std::lock_guard<std::mutex> lk(mu_);
    mode_ = m;
}

void CodeCache::clear() {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = map_.begin(); it != map_.end();)
        it = it->second->building ? std::next(it) : map_.erase(it); // builders still publish theirs
    stats_ = {};
}

// Drops the keys whose kernels have died; runs when the table has doubled since the last sweep.
void CodeCache::sweep_locked() {
    if (map_.size() < sweep_at_) return;
    for (auto it = map_.begin(); it != map_.end();)
        it = !it->second->building && it->second->kernel.expired() ? map_.erase(it) : std::next(it);
    sweep_at_ = std::max<size_t>(256, 2 * map_.size());
}

std::shared_ptr<JitKernel> CodeCache::get_or_create(const std::string& key, const Factory& make) {
    std::shared_ptr<Entry> mine;
    {
        std::unique_lock<std::mutex> lk(mu_);
        if (mode_ == Mode::off) {
            lk.unlock();
            return make();
        }
        for (;;) {
            auto it = map_.find(key);
            if (it == map_.end()) break;
            std::shared_ptr<Entry> e = it->second;
            if (e->building) {
                stats_.waited++;
                e->cv.wait(lk, [&] { return !e->building; });
                if (e->error) std::rethrow_exception(e->error);
                continue; // look again: the entry now holds the kernel (or was cleared)
            }
            if (std::shared_ptr<JitKernel> k = e->kernel.lock()) {
                stats_.hits++;
                if (mode_ != Mode::verify) return k;
                lk.unlock();
                const std::shared_ptr<JitKernel> again = make();
                if (!same_code(*k, *again))
                    throw Error(ErrorCode::Internal, k->name,
                                "code cache: two kernels with one key have different code (the key misses an input)");
                return k;
            }
            map_.erase(it); // expired: build it again below
            break;
        }
        sweep_locked();
        mine = std::make_shared<Entry>();
        map_[key] = mine;
    }
    std::shared_ptr<JitKernel> k;
    try {
        k = make();
    } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        mine->error = std::current_exception();
        mine->building = false;
        auto it = map_.find(key);
        if (it != map_.end() && it->second == mine) map_.erase(it); // the next caller tries again
        mine->cv.notify_all();
        throw;
    }
    std::lock_guard<std::mutex> lk(mu_);
    stats_.generated++;
    mine->kernel = k;
    mine->building = false;
    mine->cv.notify_all();
    return k;
}

} // namespace qjit
