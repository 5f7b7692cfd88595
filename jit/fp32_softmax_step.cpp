#include "jit/fp32_softmax_step.hpp"

#include "emitters/fp32_transcendental.hpp"

namespace qjit {
namespace {

class Fp32SoftmaxStep final : public rt::Step {
public:
    Fp32SoftmaxStep(std::shared_ptr<JitKernel> k, const Fp32SoftmaxPlan& p, int in, int out)
        : k_(std::move(k)), p_(p), in_(in), out_(out) {}
    int64_t work_items() const override { return p_.rows; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const float* x = reinterpret_cast<const float*>(slots[in_]);
        float* y = reinterpret_cast<float*>(slots[out_]);
        for (int64_t r = begin; r < end; ++r) {
            const Fp32SoftmaxArgs a{x + r * p_.n, y + r * p_.n, p_.n};
            k_->call(&a);
        }
    }

private:
    std::shared_ptr<JitKernel> k_;
    Fp32SoftmaxPlan p_;
    int in_, out_;
};

} // namespace

std::optional<Fp32SoftmaxPlan> plan_fp32_softmax(const ir::Node& n, const Shape& x_shape) {
    const int64_t rank = static_cast<int64_t>(x_shape.size());
    if (n.op != ir::Op::Softmax || n.type != ElemType::f32 || x_shape != n.shape || n.axis < 0 || n.axis >= rank)
        return std::nullopt;
    for (int64_t d = n.axis + 1; d < rank; ++d)
        if (x_shape[static_cast<size_t>(d)] != 1) return std::nullopt;
    Fp32SoftmaxPlan p;
    p.n = x_shape[static_cast<size_t>(n.axis)];
    const int64_t total = num_elements(x_shape);
    if (p.n <= 0 || total <= 0) return std::nullopt;
    p.rows = total / p.n;
    return p;
}

std::unique_ptr<rt::Step> make_fp32_softmax_step(std::shared_ptr<JitKernel> kernel, const Fp32SoftmaxPlan& p,
                                                 int in_slot, int out_slot) {
    return std::make_unique<Fp32SoftmaxStep>(std::move(kernel), p, in_slot, out_slot);
}

} // namespace qjit
