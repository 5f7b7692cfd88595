#include "jit/fp32_softmax_step.hpp"

#include <algorithm>

#include "emitters/fp32_transcendental.hpp"

namespace qjit {
namespace {

class Fp32SoftmaxStep final : public rt::Step {
public:
    Fp32SoftmaxStep(std::shared_ptr<JitKernel> k, const Fp32SoftmaxPlan& p, int in, int out)
        : k_(std::move(k)), p_(p), in_(in), out_(out) {}
    int64_t work_items() const override { return p_.items(); }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const float* x = reinterpret_cast<const float*>(slots[in_]);
        float* y = reinterpret_cast<float*>(slots[out_]);
        const int64_t blocks = (p_.inner + 3) / 4;
        for (int64_t r = begin; r < end; ++r) {
            if (p_.rows()) {
                const Fp32SoftmaxArgs a{x + r * p_.n, y + r * p_.n, p_.n};
                k_->call(&a);
                continue;
            }
            const int64_t q = (r % blocks) * 4, off = (r / blocks) * p_.n * p_.inner + q;
            const Fp32SoftmaxColsArgs a{x + off, y + off, p_.n, p_.inner * 4, std::min<int64_t>(4, p_.inner - q)};
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
    Fp32SoftmaxPlan p;
    p.outer = p.inner = 1;
    for (int64_t d = 0; d < rank; ++d) {
        const int64_t e = x_shape[static_cast<size_t>(d)];
        if (d < n.axis) p.outer *= e;
        else if (d > n.axis) p.inner *= e;
        else p.n = e;
    }
    if (p.n <= 0 || p.outer <= 0 || p.inner <= 0) return std::nullopt;
    return p;
}

std::unique_ptr<rt::Step> make_fp32_softmax_step(std::shared_ptr<JitKernel> kernel, const Fp32SoftmaxPlan& p,
                                                 int in_slot, int out_slot) {
    return std::make_unique<Fp32SoftmaxStep>(std::move(kernel), p, in_slot, out_slot);
}

} // namespace qjit
