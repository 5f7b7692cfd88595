#include "jit/kernel_steps.hpp"

#include <algorithm>

namespace qjit {
namespace {

class QConvStep final : public rt::Step {
public:
    QConvStep(std::shared_ptr<JitKernel> k, PackedWeights w, const ConvGeom& g, const ConvBlocking& b,
              const ActLayout& in, const ActLayout& out, int in_slot, int out_slot)
        : k_(std::move(k)), w_(std::move(w)), g_(g), in_(in), out_(out), in_slot_(in_slot), out_slot_(out_slot) {
        n_ocb_ = (g.OC + b.oc_block() - 1) / b.oc_block();
    }
    int64_t work_items() const override { return g_.N * g_.OH * n_ocb_; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const uint8_t* src = slots[in_slot_];
        uint8_t* dst = slots[out_slot_];
        int64_t i = begin;
        while (i < end) {
            const int64_t row = i / n_ocb_, ocb = i % n_ocb_;
            const int64_t n = row / g_.OH, oh = row % g_.OH;
            ConvArgs a{};
            a.src = src + in_.offset(n, 0, 0) * in_.elem_bytes;
            a.dst = dst + out_.offset(n, 0, 0) * out_.elem_bytes;
            a.wei = w_.data.get();
            if (ocb == 0 && end - i >= n_ocb_) {
                // Whole rows of image n.
                const int64_t rows = std::min((end - i) / n_ocb_, g_.OH - oh);
                a.oh_begin = oh;
                a.oh_end = oh + rows;
                a.ocb_begin = 0;
                a.ocb_end = n_ocb_;
                i += rows * n_ocb_;
            } else {
                const int64_t last = std::min(end - i, n_ocb_ - ocb);
                a.oh_begin = oh;
                a.oh_end = oh + 1;
                a.ocb_begin = ocb;
                a.ocb_end = ocb + last;
                i += last;
            }
            k_->call(&a);
        }
    }

private:
    std::shared_ptr<JitKernel> k_;
    PackedWeights w_;
    ConvGeom g_;
    ActLayout in_, out_;
    int in_slot_, out_slot_;
    int64_t n_ocb_ = 1;
};

// Items are (image, channel); a range becomes one call per image.
template <class Args, bool ToAct>
class ElementwiseStep final : public rt::Step {
public:
    ElementwiseStep(std::shared_ptr<JitKernel> k, const ActLayout& act, int64_t channels, int in_slot, int out_slot)
        : k_(std::move(k)), act_(act), c_(channels), in_slot_(in_slot), out_slot_(out_slot) {}
    int64_t work_items() const override { return act_.N * c_; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        const int64_t plane = act_.H * act_.W * c_;
        for (int64_t i = begin; i < end;) {
            const int64_t n = i / c_, c0 = i % c_;
            const int64_t c1 = std::min(c_, c0 + (end - i));
            Args a{};
            if constexpr (ToAct) {
                a.src = reinterpret_cast<const float*>(slots[in_slot_]) + n * plane;
                a.dst = slots[out_slot_] + act_.offset(n, 0, 0);
            } else {
                a.src = slots[in_slot_] + act_.offset(n, 0, 0);
                a.dst = reinterpret_cast<float*>(slots[out_slot_]) + n * plane;
            }
            a.c_begin = c0;
            a.c_end = c1;
            k_->call(&a);
            i += c1 - c0;
        }
    }

private:
    std::shared_ptr<JitKernel> k_;
    ActLayout act_;
    int64_t c_;
    int in_slot_, out_slot_;
};

class QEltwiseStep final : public rt::Step {
public:
    QEltwiseStep(std::shared_ptr<JitKernel> k, const BroadcastOperand& in0, const BroadcastOperand* in1,
                 const ActLayout& out, int s0, int s1, int so)
        : k_(std::move(k)), in0_(in0), in1_(in1 ? *in1 : in0), binary_(in1 != nullptr), out_(out), s0_(s0), s1_(s1),
          so_(so) {}
    int64_t work_items() const override { return out_.N * out_.H; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        for (int64_t i = begin; i < end;) {
            const int64_t n = i / out_.H, h = i % out_.H;
            const int64_t h_end = std::min(out_.H, h + (end - i));
            EltwiseArgs a{};
            a.src0 = slots[s0_] + in0_.offset(n, 0, 0);
            a.src1 = binary_ ? slots[s1_] + in1_.offset(n, 0, 0) : nullptr;
            a.dst = slots[so_] + out_.offset(n, 0, 0) * out_.elem_bytes;
            a.h_begin = h;
            a.h_end = h_end;
            k_->call(&a);
            i += h_end - h;
        }
    }

private:
    std::shared_ptr<JitKernel> k_;
    BroadcastOperand in0_, in1_;
    bool binary_;
    ActLayout out_;
    int s0_, s1_, so_;
};

class ConcatStep final : public rt::Step {
public:
    ConcatStep(std::vector<ConcatPiece> pieces, const ActLayout& out, int so) : p_(std::move(pieces)), out_(out), so_(so) {
        int64_t n = 0;
        for (const ConcatPiece& p : p_) {
            first_.push_back(n);
            n += p.src.N * p.src.H;
        }
        items_ = n;
    }
    int64_t work_items() const override { return items_; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        size_t pi = 0;
        for (int64_t i = begin; i < end;) {
            while (pi + 1 < p_.size() && i >= first_[pi + 1]) ++pi;
            const ConcatPiece& p = p_[pi];
            const int64_t local = i - first_[pi];
            const int64_t n = local / p.src.H, h = local % p.src.H;
            const int64_t h_end = std::min(p.src.H, h + (end - i));
            ConcatCopyArgs a{};
            a.src = slots[p.src_slot] + p.src.offset(n, 0, 0);
            a.dst = slots[so_] + out_.offset(n + p.n_off, p.h_off, p.w_off) + p.c_off;
            a.h_begin = h;
            a.h_end = h_end;
            p.kernel->call(&a);
            i += h_end - h;
        }
    }

private:
    std::vector<ConcatPiece> p_;
    std::vector<int64_t> first_;
    ActLayout out_;
    int so_;
    int64_t items_ = 0;
};

} // namespace

std::unique_ptr<rt::Step> make_qeltwise_step(std::shared_ptr<JitKernel> kernel, const BroadcastOperand& in0,
                                             const BroadcastOperand* in1, const ActLayout& out, int in0_slot,
                                             int in1_slot, int out_slot) {
    return std::make_unique<QEltwiseStep>(std::move(kernel), in0, in1, out, in0_slot, in1_slot, out_slot);
}

std::unique_ptr<rt::Step> make_concat_step(std::vector<ConcatPiece> pieces, const ActLayout& out, int out_slot) {
    return std::make_unique<ConcatStep>(std::move(pieces), out, out_slot);
}

namespace {

// MaxPool / AvgPool: items are (image, output row); a range becomes one call per image.
class PoolStep final : public rt::Step {
public:
    PoolStep(std::shared_ptr<JitKernel> k, const ActLayout& in, const ActLayout& out, int in_slot, int out_slot)
        : k_(std::move(k)), in_(in), out_(out), in_slot_(in_slot), out_slot_(out_slot) {}
    int64_t work_items() const override { return out_.N * out_.H; }
    void run(uint8_t* const* slots, int64_t begin, int64_t end) const override {
        for (int64_t i = begin; i < end;) {
            const int64_t n = i / out_.H, h = i % out_.H;
            const int64_t h_end = std::min(out_.H, h + (end - i));
            PoolArgs a{};
            a.src = slots[in_slot_] + in_.offset(n, 0, 0);
            a.dst = slots[out_slot_] + out_.offset(n, 0, 0) * out_.elem_bytes;
            a.oh_begin = h;
            a.oh_end = h_end;
            k_->call(&a);
            i += h_end - h;
        }
    }

private:
    std::shared_ptr<JitKernel> k_;
    ActLayout in_, out_;
    int in_slot_, out_slot_;
};

} // namespace

std::unique_ptr<rt::Step> make_pool_step(std::shared_ptr<JitKernel> kernel, const ActLayout& in, const ActLayout& out,
                                         int in_slot, int out_slot) {
    return std::make_unique<PoolStep>(std::move(kernel), in, out, in_slot, out_slot);
}

std::unique_ptr<rt::Step> make_qconv_step(std::shared_ptr<JitKernel> kernel, PackedWeights weights,
                                          const ConvGeom& g, const ConvBlocking& b, const ActLayout& in,
                                          const ActLayout& out, int in_slot, int out_slot) {
    return std::make_unique<QConvStep>(std::move(kernel), std::move(weights), g, b, in, out, in_slot, out_slot);
}

std::unique_ptr<rt::Step> make_quantize_step(std::shared_ptr<JitKernel> kernel, const ActLayout& act,
                                             int64_t channels, int in_slot, int out_slot) {
    return std::make_unique<ElementwiseStep<QuantizeArgs, true>>(std::move(kernel), act, channels, in_slot, out_slot);
}

std::unique_ptr<rt::Step> make_dequantize_step(std::shared_ptr<JitKernel> kernel, const ActLayout& act,
                                               int64_t channels, int in_slot, int out_slot) {
    return std::make_unique<ElementwiseStep<DequantizeArgs, false>>(std::move(kernel), act, channels, in_slot,
                                                                   out_slot);
}

} // namespace qjit
