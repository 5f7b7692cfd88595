// A fixed pool of worker threads with a static parallel-for: item ranges are split the same way on
// every run, and every item is computed by exactly one thread, so results never depend on the
// thread count or on timing.
//
// Dispatch: the caller publishes the job and bumps an atomic generation; workers watch it spinning
// for a bounded time (kSpinMicros) after their last job, then sleep on it (futex wait through
// std::atomic::wait) and are woken only when one is asleep. The caller waits for the workers the
// same way. Nothing is allocated per parallel_for and no mutex is taken. On an oversubscribed host
// (a spinning thread finds it lost its CPU) the pool stops spinning for a while and behaves like a
// sleeping pool, whose wake-ups the scheduler serves promptly.
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

    // How long an idle thread spins before it sleeps (covers the gap between the steps of a model).
    // A gap longer than kPreemptedMicros in its spinning (it was descheduled), or an awake worker
    // that has not taken a job kPickupMicros after it was published, turns spinning off for
    // kNoSpinMillis in the whole pool.
    static constexpr int64_t kSpinMicros = 50, kPreemptedMicros = 500, kPickupMicros = 200, kNoSpinMillis = 1000;

private:
    void worker(int index);
    template <class Done> uint32_t spin_until(const std::atomic<uint32_t>& a, Done done);

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
    std::atomic<uint32_t> started_{0}; // workers that took the current job
    std::atomic<int64_t> no_spin_until_ns_{0}; // steady_clock ns; spinning is off before it
};

} // namespace qjit::rt
