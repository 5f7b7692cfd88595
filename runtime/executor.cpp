#include "runtime/executor.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <xmmintrin.h>

#include "runtime/act_layout.hpp"
#include "runtime/verbose.hpp"

namespace qjit::rt {

static void free_aligned(uint8_t* p) { std::free(p); }

namespace {

// Every step, generated or interpreted, runs under MXCSR = 0x1F80 (round to nearest even, no
// FTZ/DAZ, exceptions masked, spec §4.5) whatever the caller set; the caller's value comes back.
class MxcsrScope {
public:
    MxcsrScope() : saved_(_mm_getcsr()) { _mm_setcsr(0x1F80); }
    ~MxcsrScope() { _mm_setcsr(saved_); }
    MxcsrScope(const MxcsrScope&) = delete;
    MxcsrScope& operator=(const MxcsrScope&) = delete;

private:
    unsigned saved_;
};

} // namespace

Tensor read_slot_f32(const SlotDesc& s, const uint8_t* data) {
    Tensor t(ElemType::f32, s.shape);
    float* dst = t.data<float>();
    if (s.kind == SlotDesc::F32Plain) {
        std::memcpy(dst, data, static_cast<size_t>(t.numel()) * 4);
        return t;
    }
    if (s.kind != SlotDesc::F32Act)
        throw Error(ErrorCode::Internal, "<slot>", "u8 slot read as f32");
    act_to_logical(data, s.layout, s.shape, dst);
    return t;
}

Executor::Executor(Plan plan, int threads) : plan_(std::move(plan)), pool_(threads), verbose_(verbose_requested()) {
    free_.push_back(make_workspace());
}

std::unique_ptr<Executor::Workspace> Executor::make_workspace() const {
    auto ws = std::make_unique<Workspace>();
    for (const SlotDesc& s : plan_.slots) {
        if (s.param_index >= 0) {
            ws->buffers.emplace_back(nullptr, free_aligned);
            ws->ptrs.push_back(nullptr);
            continue;
        }
        const size_t bytes = static_cast<size_t>((s.bytes + 63) / 64 * 64 + 64);
        uint8_t* p = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
        if (!p)
            throw Error(ErrorCode::ResourceLimit, "<executor>",
                        "cannot allocate a " + std::to_string(bytes) + "-byte workspace buffer");
        std::memset(p, 0, bytes);
        if (!s.init.empty()) std::memcpy(p, s.init.data(), s.init.size());
        ws->buffers.emplace_back(p, free_aligned);
        ws->ptrs.push_back(p);
    }
    return ws;
}

std::unique_ptr<Executor::Workspace> Executor::acquire() {
    {
        std::lock_guard<std::mutex> lk(ws_mu_);
        if (!free_.empty()) {
            auto ws = std::move(free_.back());
            free_.pop_back();
            return ws;
        }
    }
    return make_workspace();
}

void Executor::release(std::unique_ptr<Workspace> ws) {
    std::lock_guard<std::mutex> lk(ws_mu_);
    free_.push_back(std::move(ws));
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs) {
    if (inputs.size() != plan_.param_slots.size())
        throw Error(ErrorCode::BadInput, "<model>",
                    "expected " + std::to_string(plan_.param_slots.size()) + " inputs, got " +
                        std::to_string(inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i) {
        const SlotDesc& s = plan_.slots[static_cast<size_t>(plan_.param_slots[i])];
        if (inputs[i].type() != ElemType::f32 || inputs[i].shape() != s.shape)
            throw Error(ErrorCode::BadInput, plan_.param_names[i],
                        "expected f32 " + to_string(s.shape) + ", got " + to_string(inputs[i].type()) + " " +
                            to_string(inputs[i].shape()));
    }
    std::unique_ptr<Workspace> ws = acquire();
    for (size_t i = 0; i < inputs.size(); ++i)
        ws->ptrs[static_cast<size_t>(plan_.param_slots[i])] =
            const_cast<uint8_t*>(static_cast<const uint8_t*>(inputs[i].raw()));
    uint8_t* const* slots = ws->ptrs.data();
    std::unique_lock<std::mutex> pool_lock(pool_mu_, std::try_to_lock);
    for (size_t si = 0; si < plan_.steps.size(); ++si) {
        const Step* st = plan_.steps[si].get();
        const auto t0 = verbose_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        if (pool_lock.owns_lock()) {
            pool_.parallel_for(st->work_items(), [st, slots](int64_t b, int64_t e) {
                const MxcsrScope mx;
                st->run(slots, b, e);
            });
        } else if (st->work_items() > 0) {
            const MxcsrScope mx;
            st->run(slots, 0, st->work_items());
        }
        if (verbose_)
            verbose_exec_line(st->info, si < step_shapes_.size() ? step_shapes_[si] : "",
                              pool_lock.owns_lock() ? pool_.threads() : 1,
                              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    if (pool_lock.owns_lock()) pool_lock.unlock();
    std::vector<Tensor> out;
    for (int slot : plan_.result_slots)
        out.push_back(read_slot_f32(plan_.slots[static_cast<size_t>(slot)], ws->ptrs[static_cast<size_t>(slot)]));
    release(std::move(ws));
    return out;
}

} // namespace qjit::rt
