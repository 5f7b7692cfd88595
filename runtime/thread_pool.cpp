#include "runtime/thread_pool.hpp"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QJIT_CPU_RELAX() _mm_pause()
#else
#define QJIT_CPU_RELAX() ((void)0)
#endif

namespace qjit::rt {

namespace {

// Waits until done(a) or kSpinMicros have passed, spinning first and yielding the CPU after
// kPureSpinMicros (on a loaded host the thread we wait for may need this CPU); returns the last
// value of `a` seen.
template <class Done> uint32_t spin_until(const std::atomic<uint32_t>& a, Done done) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto yield_from = start + std::chrono::microseconds(ThreadPool::kPureSpinMicros);
    const auto deadline = start + std::chrono::microseconds(ThreadPool::kSpinMicros);
    for (;;) {
        for (int i = 0; i < 32; ++i) {
            const uint32_t v = a.load(std::memory_order_acquire);
            if (done(v)) return v;
            QJIT_CPU_RELAX();
        }
        const auto now = Clock::now();
        if (now >= deadline) return a.load(std::memory_order_acquire);
        if (now >= yield_from) std::this_thread::yield();
    }
}

// Sleeps until `a` differs from `old`. `sleeping` is raised first (seq_cst), so a writer that
// changes `a` and then reads `sleeping` either sees the sleeper or is seen by its wait().
void sleep_while_equal(std::atomic<uint32_t>& a, uint32_t old, std::atomic<int>& sleeping) {
    sleeping.fetch_add(1);
    while (a.load() == old) a.wait(old);
    sleeping.fetch_sub(1);
}

void run_share(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int index, int threads) {
    const int64_t b = n * index / threads, e = n * (index + 1) / threads;
    if (b < e) fn(b, e);
}

} // namespace

ThreadPool::ThreadPool(int threads) : threads_(threads < 1 ? 1 : threads) {
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    stop_ = true;
    generation_.fetch_add(1);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    if (threads_ == 1 || n == 1) {
        fn(0, n);
        return;
    }
    job_ = &fn;
    job_n_ = n;
    pending_.store(static_cast<uint32_t>(threads_ - 1), std::memory_order_relaxed);
    generation_.fetch_add(1); // seq_cst: publishes the job, then reads sleeping_workers_
    if (sleeping_workers_.load() > 0) generation_.notify_all();
    run_share(fn, n, 0, threads_);
    if (spin_until(pending_, [](uint32_t p) { return p == 0; }) != 0) {
        // Slow path: sleep until the last worker finishes (it wakes us when it sees the flag).
        caller_sleeping_.store(true);
        for (uint32_t p = pending_.load(); p != 0; p = pending_.load()) pending_.wait(p);
        caller_sleeping_.store(false);
    }
    job_ = nullptr;
}

void ThreadPool::worker(int index) {
    uint32_t seen = 0;
    for (;;) {
        uint32_t gen = spin_until(generation_, [seen](uint32_t g) { return g != seen; });
        if (gen == seen) {
            sleep_while_equal(generation_, seen, sleeping_workers_);
            gen = generation_.load(std::memory_order_acquire);
        }
        seen = gen;
        if (stop_) return;
        run_share(*job_, job_n_, index, threads_);
        if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) pending_.notify_one();
    }
}

} // namespace qjit::rt
