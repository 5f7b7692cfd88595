#include "jit/passes/pass_util.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "jit/fq_math.hpp"
#include "jit/requant_fold.hpp"
#include "qjit/error.hpp"

namespace qjit::passes::detail {

bool axis_vector(const Tensor& r, const Shape& x, int axis, Broadcast b, std::vector<float>& out) {
    out.clear();
    const Shape& rs = r.shape();
    if (b == Broadcast::pdpd) return false;
    if (b == Broadcast::none && rs != x) return false;
    if (rs.size() > x.size() || r.numel() <= 0) return false;
    const size_t off = x.size() - rs.size();
    for (size_t i = 0; i < rs.size(); ++i) {
        const size_t xi = off + i;
        if (rs[i] == 1) continue;
        if (rs[i] != x[xi]) return false;                       // not broadcastable without growing x
        if (static_cast<int>(xi) != axis) return false;         // varies along another axis
    }
    // All dims but `axis` are 1, so the flat index is the index along `axis`.
    const int64_t n = r.numel();
    out.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = r.at_f32(i);
    bool equal = true;
    for (size_t i = 1; i < out.size() && equal; ++i) equal = std::memcmp(&out[i], &out[0], sizeof(float)) == 0;
    if (equal) out.resize(1);
    return true;
}

bool all_finite(const std::vector<float>& v) {
    for (float f : v)
        if (!std::isfinite(f)) return false;
    return true;
}

bool is_live_constant(const ir::Graph& g, int id) {
    const ir::Node& n = g.node(id);
    return !n.dead && n.op == ir::Op::Constant;
}

int single_consumer(const ir::Graph& g, int id) {
    const std::vector<int> c = g.consumers(id);
    return c.size() == 1 ? c[0] : -1;
}

std::string unique_name(const ir::Graph& g, const std::string& base, int self) {
    auto taken = [&](const std::string& s) {
        for (const ir::Node& n : g.nodes())
            if (!n.dead && n.id != self && n.name == s) return true;
        return false;
    };
    if (!taken(base)) return base;
    for (int i = 2;; ++i) {
        const std::string s = base + "#" + std::to_string(i);
        if (!taken(s)) return s;
    }
}

bool folds(const QConvDesc& d) {
    try {
        (void)fold_qconv(d);
        return true;
    } catch (const Error&) {
        return false;
    }
}

int add_qconv(ir::Graph& g, const std::string& name, int input, const Shape& shape, QConvDesc desc) {
    ir::Node n;
    n.op = ir::Op::QConv;
    n.name = name;
    n.inputs = {input};
    n.type = desc.out_levels ? ElemType::u8 : ElemType::f32;
    n.shape = shape;
    n.qconv = std::make_shared<const QConvDesc>(std::move(desc));
    return g.add(std::move(n));
}

std::vector<float> level_values(const ActQuant& a, int64_t c) {
    std::vector<float> v(static_cast<size_t>(a.levels));
    for (int k = 0; k < a.levels; ++k)
        v[static_cast<size_t>(k)] = fq::level_value(k, a.ol.at(c), a.oh.at(c), a.levels);
    return v;
}

bool post_op_of(const ir::Graph& g, const ir::Node& x, int self, const Shape& shape, PostOp* op) {
    if (x.dead || x.shape != shape || shape.size() < 2) return false;
    *op = PostOp{};
    op->node = x.name;
    switch (x.op) {
    case ir::Op::Add:
    case ir::Op::Multiply: {
        if (x.inputs.size() != 2 || x.inputs[0] == x.inputs[1]) return false;
        if (x.inputs[0] != self && x.inputs[1] != self) return false;
        const int k = x.inputs[0] == self ? x.inputs[1] : x.inputs[0];
        if (!is_live_constant(g, k)) return false;
        if (!axis_vector(g.node(k).value, shape, 1, Broadcast::numpy, op->v) || !all_finite(op->v)) return false;
        op->kind = x.op == ir::Op::Multiply ? PostOp::Scale : PostOp::Shift;
        return true;
    }
    case ir::Op::Relu:
        op->kind = PostOp::Clamp;
        op->lo = 0.0f;
        op->hi = std::numeric_limits<float>::infinity();
        return true;
    case ir::Op::Clamp:
        op->kind = PostOp::Clamp;
        op->lo = x.clamp_lo;
        op->hi = x.clamp_hi;
        return x.clamp_lo <= x.clamp_hi;
    default:
        return false;
    }
}

} // namespace qjit::passes::detail
