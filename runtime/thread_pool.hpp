// A fixed pool of worker threads with a static parallel-for: item ranges are split the same way on
// every run, and every item is computed by exactly one thread, so results never depend on the
// thread count or on timing.
//
// Dispatch: the caller publishes the job and bumps an atomic generation; workers wait for it awake
// for a bounded time (kSpinMicros; they yield the CPU after kPureSpinMicros, which matters on an
// oversubscribed host), then sleep on it (futex wait through std::atomic::wait) and are woken only
// when one is asleep. The caller waits for the workers the same way. Nothing is allocated per
// parallel_for and no mutex is taken.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace qjit::rt {

class ThreadPool {
public:
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int threads() const { return threads_; }
    // Calls fn(begin, end) on disjoint ranges covering [0, n); the calling thread takes part.
    // One caller at a time (the executor serializes its runs on the pool).
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

    // How long an idle thread waits awake before it sleeps (covers the gap between the steps of a
    // model), and for how much of it it spins without yielding the CPU.
    static constexpr int64_t kSpinMicros = 50, kPureSpinMicros = 5;

private:
    void worker(int index);

    int threads_;
    std::vector<std::thread> workers_;
    // Written by the caller before `generation_` is bumped (release), read by workers after (acquire).
    const std::function<void(int64_t, int64_t)>* job_ = nullptr;
    int64_t job_n_ = 0;
    bool stop_ = false;
    alignas(64) std::atomic<uint32_t> generation_{0};
    std::atomic<int> sleeping_workers_{0};
    alignas(64) std::atomic<uint32_t> pending_{0}; // workers still running the current job
    std::atomic<bool> caller_sleeping_{false};
};

} // namespace qjit::rt
