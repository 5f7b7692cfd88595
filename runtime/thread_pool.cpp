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

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void run_share(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int index, int threads) {
    const int64_t b = n * index / threads, e = n * (index + 1) / threads;
    if (b < e) fn(b, e);
}

} // namespace

// Spins until done(a), for at most kSpinMicros; returns the last value of `a` seen. A gap of more
// than kPreemptedMicros between two looks at the clock means this thread lost its CPU while
// spinning (more runnable threads than cores): spinning then stops for kNoSpinMillis, because a
// thread that is runnable but not running is not woken by the futex and waits for a whole time
// slice, where a sleeping one is woken (and scheduled) at once. parallel_for detects the same
// from a worker that is slow to take a job.
template <class Done> uint32_t ThreadPool::spin_until(const std::atomic<uint32_t>& a, Done done) {
    const int64_t start = now_ns();
    if (start < no_spin_until_ns_.load(std::memory_order_relaxed)) return a.load(std::memory_order_acquire);
    int64_t last = start;
    for (;;) {
        for (int i = 0; i < 32; ++i) {
            const uint32_t v = a.load(std::memory_order_acquire);
            if (done(v)) return v;
            QJIT_CPU_RELAX();
        }
        const int64_t now = now_ns();
        if (now - last > kPreemptedMicros * 1000) {
            no_spin_until_ns_.store(now + kNoSpinMillis * 1000000, std::memory_order_relaxed);
            return a.load(std::memory_order_acquire);
        }
        if (now - start > kSpinMicros * 1000) return a.load(std::memory_order_acquire);
        last = now;
    }
}

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
    started_.store(0, std::memory_order_relaxed);
    const int64_t published = now_ns();
    generation_.fetch_add(1); // seq_cst: publishes the job, then reads sleeping_workers_
    const bool all_awake = sleeping_workers_.load() == 0;
    if (!all_awake) generation_.notify_all();
    run_share(fn, n, 0, threads_);
    const uint32_t left = spin_until(pending_, [](uint32_t p) { return p == 0; });
    // Awake (spinning) workers take a job within a microsecond; one that has not after
    // kPickupMicros is runnable without a CPU: the host is oversubscribed, stop spinning for a while.
    if (all_awake && left != 0 && started_.load(std::memory_order_relaxed) < static_cast<uint32_t>(threads_ - 1)) {
        const int64_t now = now_ns();
        if (now - published > kPickupMicros * 1000)
            no_spin_until_ns_.store(now + kNoSpinMillis * 1000000, std::memory_order_relaxed);
    }
    if (left != 0) {
        // Sleep until the last worker finishes (it wakes us when it sees the flag; seq_cst on both
        // sides: either it sees caller_sleeping_ or our load sees pending_ == 0).
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
            // Sleep; sleeping_workers_ is raised first (seq_cst), so a caller that bumps the
            // generation and then reads it either sees us or is seen by our wait().
            sleeping_workers_.fetch_add(1);
            while (generation_.load() == seen) generation_.wait(seen);
            sleeping_workers_.fetch_sub(1);
            gen = generation_.load(std::memory_order_acquire);
        }
        seen = gen;
        if (stop_) return;
        started_.fetch_add(1, std::memory_order_relaxed);
        run_share(*job_, job_n_, index, threads_);
        if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) pending_.notify_one();
    }
}

} // namespace qjit::rt
