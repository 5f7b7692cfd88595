#include "runtime/fallback_steps.hpp"

#include <cstring>

#include "runtime/act_layout.hpp"
#include "runtime/float_node_eval.hpp"
#include "runtime/oracle_b.hpp"
#include "runtime/ref_ops_extra.hpp"

namespace qjit::rt {
namespace {

// Logical (dense) copy of a slot: f32 or u8 depending on the slot kind.
Tensor read_logical(const SlotDesc& s, const uint8_t* p) {
    if (s.kind == SlotDesc::U8Act) {
        Tensor t(ElemType::u8, s.shape);
        act_to_logical(p, s.layout, s.shape, t.raw());
        return t;
    }
    return read_slot_f32(s, p);
}

void write_logical(const SlotDesc& s, const Tensor& t, uint8_t* p) {
    if (s.kind == SlotDesc::F32Plain)
        std::memcpy(p, t.raw(), t.bytes());
    else
        logical_to_act(t.raw(), s.shape, p, s.layout);
}

class FloatNodeStep final : public Step {
public:
    FloatNodeStep(const ir::Node& n, std::vector<int> in, std::vector<SlotDesc> descs, int out)
        : node_(n), in_(std::move(in)), descs_(std::move(descs)), out_(out) {}
    int64_t work_items() const override { return 1; }
    void run(uint8_t* const* slots, int64_t, int64_t) const override {
        std::vector<Tensor> vals;
        vals.reserve(in_.size());
        for (size_t i = 0; i < in_.size(); ++i) vals.push_back(read_logical(descs_[i], slots[in_[i]]));
        std::vector<const Tensor*> ptrs;
        for (const Tensor& t : vals) ptrs.push_back(&t);
        const Tensor r = ref::eval_float_node(node_, ptrs);
        std::memcpy(slots[out_], r.raw(), r.bytes());
    }

private:
    ir::Node node_;
    std::vector<int> in_;
    std::vector<SlotDesc> descs_;
    int out_;
};

class RelayoutStep final : public Step {
public:
    RelayoutStep(SlotDesc from, int f, SlotDesc to, int t, std::vector<int64_t> perm = {})
        : from_(std::move(from)), to_(std::move(to)), f_(f), t_(t), perm_(std::move(perm)) {
        from_.init.clear();
        to_.init.clear();
    }
    int64_t work_items() const override { return 1; }
    void run(uint8_t* const* slots, int64_t, int64_t) const override {
        Tensor v = read_logical(from_, slots[f_]);
        if (!perm_.empty()) {
            write_logical(to_, ref::transpose(v, perm_), slots[t_]);
            return;
        }
        Tensor r(v.type(), to_.shape);
        std::memcpy(r.raw(), v.raw(), v.bytes());
        write_logical(to_, r, slots[t_]);
    }

private:
    SlotDesc from_, to_;
    int f_, t_;
    std::vector<int64_t> perm_;
};

class QuantRefStep final : public Step {
public:
    QuantRefStep(const ir::Node& n, bool quantize, SlotDesc from, int f, SlotDesc to, int t)
        : act_(n.act), quantize_(quantize), from_(std::move(from)), to_(std::move(to)), f_(f), t_(t) {}
    int64_t work_items() const override { return 1; }
    void run(uint8_t* const* slots, int64_t, int64_t) const override {
        const Tensor v = read_logical(from_, slots[f_]);
        const Tensor r = quantize_ ? oracle::quantize_logical(*act_, v) : oracle::dequantize_logical(*act_, v);
        write_logical(to_, r, slots[t_]);
    }

private:
    std::shared_ptr<const ActQuant> act_;
    bool quantize_;
    SlotDesc from_, to_;
    int f_, t_;
};

KernelInfo fallback_info(const std::string& name, const std::string& nodes) {
    KernelInfo k;
    k.name = name;
    k.fused_nodes = nodes;
    k.jit = false;
    return k;
}

} // namespace

std::unique_ptr<Step> make_float_node_step(const ir::Node& node, std::vector<int> in_slots,
                                           std::vector<SlotDesc> in_descs, int out_slot) {
    for (SlotDesc& d : in_descs) d.init.clear();
    auto s = std::make_unique<FloatNodeStep>(node, std::move(in_slots), std::move(in_descs), out_slot);
    s->info = fallback_info(std::string("ref_") + ir::to_string(node.op) + "_f32", node.name);
    return s;
}

std::unique_ptr<Step> make_act_to_plain_step(const SlotDesc& from, int from_slot, int to_slot) {
    SlotDesc to = from;
    to.kind = SlotDesc::F32Plain;
    auto s = std::make_unique<RelayoutStep>(from, from_slot, to, to_slot);
    s->info = fallback_info("reorder_nhwc_to_nchw_f32", "");
    return s;
}

std::unique_ptr<Step> make_relayout_step(const SlotDesc& from, int from_slot, const SlotDesc& to, int to_slot,
                                         const std::string& node, const std::vector<int64_t>& perm) {
    auto s = std::make_unique<RelayoutStep>(from, from_slot, to, to_slot, perm);
    s->info = fallback_info(std::string(perm.empty() ? "reshape_" : "transpose_") +
                                (from.kind == SlotDesc::U8Act ? "u8" : "f32"),
                            node);
    return s;
}

std::unique_ptr<Step> make_quantize_ref_step(const ir::Node& node, const SlotDesc& from, int from_slot,
                                             const SlotDesc& to, int to_slot) {
    auto s = std::make_unique<QuantRefStep>(node, true, from, from_slot, to, to_slot);
    s->info = fallback_info("ref_quantize_f32_u8", node.name);
    return s;
}

std::unique_ptr<Step> make_dequantize_ref_step(const ir::Node& node, const SlotDesc& from, int from_slot,
                                               const SlotDesc& to, int to_slot) {
    auto s = std::make_unique<QuantRefStep>(node, false, from, from_slot, to, to_slot);
    s->info = fallback_info("ref_dequantize_u8_f32", node.name);
    return s;
}

} // namespace qjit::rt
