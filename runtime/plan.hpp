// An executable plan: buffers (slots) and the steps that read and write them. The scheduler in
// jit/ builds it; runtime/ executes it without knowing which emitter produced a step.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jit/layout.hpp"
#include "qjit/qjit.hpp"

namespace qjit::rt {

// How a slot holds a tensor.
struct SlotDesc {
    enum Kind { F32Plain, U8Act, F32Act } kind = F32Plain; // plain: logical row-major f32
    ActLayout layout;        // U8Act / F32Act (NHWC, padded channels, halo)
    Shape shape;             // logical shape
    int64_t bytes = 0;
    std::vector<uint8_t> init; // constant contents (Constant nodes), else zero-filled
    int param_index = -1;    // >= 0: the user's input tensor is read in place
};

class Step {
public:
    virtual ~Step() = default;
    // Number of independent work items; run() is called on disjoint ranges of them.
    virtual int64_t work_items() const = 0;
    virtual void run(uint8_t* const* slots, int64_t begin, int64_t end) const = 0;
    KernelInfo info;
};

struct Plan {
    std::vector<SlotDesc> slots;
    std::vector<std::unique_ptr<Step>> steps;
    std::vector<int> param_slots;  // per graph Parameter
    std::vector<std::string> param_names;
    std::vector<int> result_slots; // per graph Result
    std::vector<std::string> result_names;
    std::string schedule_text;     // human-readable schedule (describe())
};

// Copies a slot's contents into a logical f32 tensor (converting NHWC activation layouts).
Tensor read_slot_f32(const SlotDesc& s, const uint8_t* data);

} // namespace qjit::rt
