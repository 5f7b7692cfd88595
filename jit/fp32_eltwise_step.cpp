#include "jit/fp32_eltwise_step.hpp"

#include <algorithm>

namespace qjit {
namespace {

constexpr int64_t kChunk = 16384; // elements per work item of the unbroadcast forms

std::optional<Fp32EltwiseDesc> desc_of(const ir::Node& n) {
    Fp32EltwiseDesc d;
    switch (n.op) {
    case ir::Op::Relu: d.op = Fp32Op::Relu; break;
    case ir::Op::Clamp: d.op = Fp32Op::Clamp, d.p0 = n.clamp_lo, d.p1 = n.clamp_hi; break;
    case ir::Op::LeakyRelu: d.op = Fp32Op::LeakyRelu, d.p0 = n.alpha; break;
    case ir::Op::HardSigmoid: d.op = Fp32Op::HardSigmoid, d.p0 = n.alpha, d.p1 = n.beta; break;
    case ir::Op::HardSwish: d.op = Fp32Op::HardSwish; break;
    case ir::Op::Add: d.op = Fp32Op::Add; break;
    case ir::Op::Subtract: d.op = Fp32Op::Subtract; break;
    case ir::Op::Multiply: d.op = Fp32Op::Multiply; break;
    case ir::Op::Sigmoid: d.op = Fp32Op::Sigmoid; break;
    default: return std::nullopt;
    }
    return d;
}

// s right-aligned to rank r (leading 1s).
Shape aligned(const Shape& s, size_t r) {
    Shape o(r - s.size(), 1);
    o.insert(o.end(), s.begin(), s.end());
    return o;
}

class Fp32EltwiseStep final : public rt::Step {
public:
    Fp32EltwiseStep(std::shared_ptr<JitKernel> k, const Fp32EltwisePlan& p, std::vector<int> in, int out)
        : k_(std::move(k)), p_(p), in_(std::move(in)), out_(out) {}
    int64_t work_items() const override { return p_.items; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const float* a = reinterpret_cast<const float*>(slots[in_[0]]);
        const float* b = in_.size() > 1 ? reinterpret_cast<const float*>(slots[in_[1]]) : nullptr;
        float* d = reinterpret_cast<float*>(slots[out_]);
        for (int64_t r = begin; r < end; ++r) {
            Fp32EltwiseArgs args;
            args.a = a + (p_.a_mod ? r % p_.a_mod : r) * p_.a_step;
            args.b = b ? b + (p_.b_mod ? r % p_.b_mod : r) * p_.b_step : nullptr;
            args.dst = d + r * p_.len;
            args.n = std::min(p_.len, p_.total - r * p_.len);
            k_->call(&args);
        }
    }

private:
    std::shared_ptr<JitKernel> k_;
    Fp32EltwisePlan p_;
    std::vector<int> in_;
    int out_;
};

} // namespace

std::optional<Fp32EltwisePlan> plan_fp32_eltwise(const ir::Node& n, const std::vector<Shape>& in_shapes) {
    const std::optional<Fp32EltwiseDesc> d = desc_of(n);
    if (!d || n.type != ElemType::f32) return std::nullopt;
    const bool binary = fp32_op_binary(d->op);
    if (in_shapes.size() != (binary ? 2u : 1u)) return std::nullopt;
    Fp32EltwisePlan p;
    p.desc = *d;
    p.total = num_elements(n.shape);
    if (p.total <= 0) return std::nullopt;
    const size_t rank = n.shape.size();
    for (const Shape& s : in_shapes)
        if (s.size() > rank) return std::nullopt;
    const bool full_a = aligned(in_shapes[0], rank) == n.shape;
    const bool full_b = binary && aligned(in_shapes[1], rank) == n.shape;
    if (!full_a && !full_b) return std::nullopt;
    auto chunked = [&] {
        p.len = std::min(kChunk, p.total);
        p.items = (p.total + p.len - 1) / p.len;
        p.a_step = p.b_step = p.len;
    };
    if (!binary || (full_a && full_b)) {
        chunked();
        return p;
    }
    // S: the broadcast operand. Its non-trivial dims must be one block [lo, hi] of the output's.
    const bool s_is_a = !full_a;
    const Shape s = aligned(in_shapes[s_is_a ? 0 : 1], rank);
    int lo = -1, hi = -1;
    for (size_t j = 0; j < rank; ++j) {
        if (s[j] != 1 && s[j] != n.shape[j]) return std::nullopt;
        if (s[j] != 1) {
            if (lo < 0) lo = static_cast<int>(j);
            hi = static_cast<int>(j);
        }
    }
    int64_t& s_step = s_is_a ? p.a_step : p.b_step;
    int64_t& s_mod = s_is_a ? p.a_mod : p.b_mod;
    int64_t& f_step = s_is_a ? p.b_step : p.a_step;
    const Fp32Bcast scalar_side = s_is_a ? Fp32Bcast::A : Fp32Bcast::B;
    if (lo < 0) { // one value
        chunked();
        s_step = 0;
        p.desc.bcast = scalar_side;
        p.pattern = "bcast_scalar";
        return p;
    }
    int64_t outer = 1, mid = 1, inner = 1;
    for (size_t j = 0; j < rank; ++j) {
        const int jj = static_cast<int>(j);
        if (jj < lo) outer *= n.shape[j];
        else if (jj > hi) inner *= n.shape[j];
        else if (s[j] != n.shape[j]) return std::nullopt; // a broadcast dim inside the block
        else mid *= n.shape[j];
    }
    if (inner == 1) { // S repeats as a vector of `mid` elements
        p.len = mid;
        p.items = outer;
        f_step = mid;
        s_step = 0;
        p.pattern = "bcast_rows";
        return p;
    }
    p.len = inner; // one S value per row of `inner` elements (per-channel [1,C,1,1])
    p.items = outer * mid;
    f_step = inner;
    s_step = 1;
    s_mod = mid;
    p.desc.bcast = scalar_side;
    p.pattern = "bcast_c";
    return p;
}

std::unique_ptr<rt::Step> make_fp32_eltwise_step(std::shared_ptr<JitKernel> kernel, const Fp32EltwisePlan& p,
                                                 std::vector<int> in_slots, int out_slot) {
    return std::make_unique<Fp32EltwiseStep>(std::move(kernel), p, std::move(in_slots), out_slot);
}

} // namespace qjit
