#include "jit/fp32_fq_step.hpp"

#include <algorithm>

#include "runtime/ref_ops.hpp"

namespace qjit {
namespace {

constexpr int64_t kChunk = 16384; // elements per work item

Shape aligned(const Shape& s, size_t r) {
    Shape o(r - s.size(), 1);
    o.insert(o.end(), s.begin(), s.end());
    return o;
}

class Fp32FqStep final : public rt::Step {
public:
    Fp32FqStep(std::shared_ptr<JitKernel> k, const Fp32FqPlan& p, int in, int out)
        : k_(std::move(k)), p_(p), in_(in), out_(out) {
        p_.desc.il = p_.desc.ih = p_.desc.ol = p_.desc.oh = {}; // the kernel holds the constants
    }
    int64_t work_items() const override { return p_.items; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const float* x = reinterpret_cast<const float*>(slots[in_]);
        float* y = reinterpret_cast<float*>(slots[out_]);
        for (int64_t r = begin; r < end; ++r) {
            int64_t off = 0;
            Fp32FqArgs a;
            p_.item(r, &off, &a.n, &a.p);
            a.src = x + off;
            a.dst = y + off;
            k_->call(&a);
        }
    }

private:
    std::shared_ptr<JitKernel> k_;
    Fp32FqPlan p_;
    int in_, out_;
};

} // namespace

void Fp32FqPlan::item(int64_t r, int64_t* off, int64_t* n, int64_t* p) const {
    const int64_t row = r / chunks_per_row, c = r % chunks_per_row;
    if (desc.mode == Fp32FqMode::Rows) { // row = outer index * mid + set, `inner` elements
        *off = row * inner + c * chunk;
        *n = std::min(chunk, inner - c * chunk);
        *p = row % mid;
    } else { // row = outer index, `mid` elements, one set each
        *off = row * mid + c * chunk;
        *n = std::min(chunk, mid - c * chunk);
        *p = c * chunk;
    }
}

std::optional<Fp32FqPlan> plan_fp32_fake_quantize(const ir::Node& n, const Shape& x_shape, const Tensor& il,
                                                  const Tensor& ih, const Tensor& ol, const Tensor& oh) {
    const Tensor* r[4] = {&il, &ih, &ol, &oh};
    const size_t rank = x_shape.size();
    if (n.type != ElemType::f32 || x_shape != n.shape || num_elements(x_shape) <= 0) return std::nullopt;
    int lo = -1, hi = -1;
    for (const Tensor* t : r) {
        if (t->type() != ElemType::f32 || t->shape().size() > rank || t->numel() <= 0) return std::nullopt;
        const Shape s = aligned(t->shape(), rank);
        for (size_t j = 0; j < rank; ++j) {
            if (s[j] != 1 && s[j] != x_shape[j]) return std::nullopt;
            if (s[j] != 1 && x_shape[j] != 1) {
                if (lo < 0 || static_cast<int>(j) < lo) lo = static_cast<int>(j);
                hi = std::max(hi, static_cast<int>(j));
            }
        }
    }
    Fp32FqPlan p;
    for (size_t j = 0; j < rank; ++j) {
        const int jj = static_cast<int>(j);
        if (lo < 0 || jj > hi) p.inner *= x_shape[j];
        else if (jj < lo) p.outer *= x_shape[j];
        else p.mid *= x_shape[j];
    }
    if (lo < 0) p.inner = num_elements(x_shape); // one set for every element
    p.desc.levels = static_cast<int>(n.levels);
    p.desc.mode = p.inner > 1 || p.mid == 1 ? Fp32FqMode::Rows : Fp32FqMode::Lanes;
    // Set m: the ranges at the first element of block index m.
    std::vector<float>* dst[4] = {&p.desc.il, &p.desc.ih, &p.desc.ol, &p.desc.oh};
    for (int i = 0; i < 4; ++i) {
        const ref::BroadcastIndex at(r[i]->shape(), x_shape);
        dst[i]->resize(static_cast<size_t>(p.mid));
        for (int64_t m = 0; m < p.mid; ++m) (*dst[i])[static_cast<size_t>(m)] = r[i]->data<float>()[at(m * p.inner)];
    }
    const int64_t row = p.desc.mode == Fp32FqMode::Rows ? p.inner : p.mid;
    const int64_t rows = p.desc.mode == Fp32FqMode::Rows ? p.outer * p.mid : p.outer;
    p.chunk = std::min(kChunk, row);
    p.chunks_per_row = (row + p.chunk - 1) / p.chunk;
    p.items = rows * p.chunks_per_row;
    return p;
}

std::unique_ptr<rt::Step> make_fp32_fq_step(std::shared_ptr<JitKernel> kernel, const Fp32FqPlan& p, int in_slot,
                                            int out_slot) {
    return std::make_unique<Fp32FqStep>(std::move(kernel), p, in_slot, out_slot);
}

} // namespace qjit
