// The process-wide cache of generated kernels (FBGEMM's getOrCreate idea): get_or_create(key, make)
// returns the live kernel of `key` (a KernelKey string, jit/kernel_key.hpp) or runs `make` once, even
// when several threads ask for the same key at the same time (the others wait for that one result,
// or get its exception). Models share kernels through it; the cache holds them weakly, so a kernel's
// code pages go when the last model using it goes (memory stays bounded by the live models).
//
// QJIT_CODE_CACHE (read once): "0" or "off" generates every kernel anew (no sharing), "verify"
// regenerates on every hit and throws Error(Internal) if the bytes differ (a key that misses an
// input); anything else or unset: on.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "emitters/kernels.hpp"

namespace qjit {

class CodeCache {
public:
    enum class Mode { on, off, verify };
    using Factory = std::function<std::shared_ptr<JitKernel>()>;

    struct Stats {
        int64_t generated = 0; // make() calls that produced a kernel for a new or expired key
        int64_t hits = 0;      // a live kernel returned
        int64_t waited = 0;    // a caller waited for another thread's make() of the same key
        int64_t entries = 0;   // keys in the table (live or being built)
    };

    static CodeCache& global();

    std::shared_ptr<JitKernel> get_or_create(const std::string& key, const Factory& make);

    Stats stats() const;
    Mode mode() const;
    void set_mode(Mode m); // tests; default from QJIT_CODE_CACHE
    void clear();          // forgets every key (kernels in use stay alive with their models)

private:
    CodeCache();
    struct Entry;
    void sweep_locked();

    mutable std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<Entry>> map_;
    Stats stats_;
    Mode mode_ = Mode::on;
    size_t sweep_at_ = 256;
};

} // namespace qjit
