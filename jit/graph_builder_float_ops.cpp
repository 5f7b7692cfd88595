// qjit::Graph builder calls of the float-only ops (Subtract, Sigmoid, HardSigmoid, HardSwish,
// LeakyRelu, Softmax, Transpose, Pad, Resize, Tile). They have no quantized kernel: the lowering
// leaves them on the fp32 path (fp32_fallback_nodes names them). Each call checks its arguments and
// throws qjit::Error naming the node.
#include <cmath>
#include <string>

#include "jit/ir.hpp"
#include "qjit/graph.hpp"
#include "runtime/ref_ops.hpp" // ref::broadcast_shape

namespace qjit {

namespace {

const ir::Node& float_input(const std::unique_ptr<ir::Graph>& g, const std::string& name, NodeRef r) {
    if (!g) throw Error(ErrorCode::InvalidArgument, name, "the Graph was moved from");
    if (name.empty()) throw Error(ErrorCode::InvalidArgument, name, "node name is empty");
    if (r.id < 0 || r.id >= g->size())
        throw Error(ErrorCode::InvalidArgument, name, "input refers to unknown node id " + std::to_string(r.id));
    const ir::Node& n = g->node(r.id);
    if (n.dead || n.op == ir::Op::Result)
        throw Error(ErrorCode::InvalidArgument, name, "input '" + n.name + "' is dead or a Result");
    if (n.type != ElemType::f32)
        throw Error(ErrorCode::UnsupportedOp, name,
                    "input '" + n.name + "' is " + to_string(n.type) + "; this op takes f32 only");
    return n;
}

NodeRef add_node(ir::Graph& g, ir::Op op, const std::string& name, std::vector<int> inputs, Shape shape,
                 ir::Node proto = {}) {
    int64_t count = 1;
    for (int64_t d : shape)
        if (d < 1 || __builtin_mul_overflow(count, d, &count))
            throw Error(ErrorCode::InvalidArgument, name, "output shape " + to_string(shape) + " is empty or overflows int64");
    proto.op = op;
    proto.name = name;
    proto.inputs = std::move(inputs);
    proto.type = ElemType::f32;
    proto.shape = std::move(shape);
    return NodeRef{g.add(std::move(proto))};
}

// One value per axis of a rank-r tensor.
void require_rank(const std::string& name, const std::vector<int64_t>& v, size_t r, const char* what) {
    if (v.size() != r)
        throw Error(ErrorCode::InvalidArgument, name,
                    std::string(what) + " has " + std::to_string(v.size()) + " values for a rank-" +
                        std::to_string(r) + " input");
}

} // namespace

NodeRef Graph::subtract(const std::string& name, NodeRef a, NodeRef b) {
    const Shape& sa = float_input(g_, name, a).shape;
    const Shape& sb = float_input(g_, name, b).shape;
    return add_node(*g_, ir::Op::Subtract, name, {a.id, b.id}, ref::broadcast_shape(sa, sb, name));
}

NodeRef Graph::sigmoid(const std::string& name, NodeRef x) {
    return add_node(*g_, ir::Op::Sigmoid, name, {x.id}, float_input(g_, name, x).shape);
}

NodeRef Graph::hard_sigmoid(const std::string& name, NodeRef x, float alpha, float beta) {
    const Shape& s = float_input(g_, name, x).shape;
    if (!std::isfinite(alpha) || !std::isfinite(beta))
        throw Error(ErrorCode::InvalidArgument, name, "alpha and beta must be finite");
    ir::Node p;
    p.alpha = alpha;
    p.beta = beta;
    return add_node(*g_, ir::Op::HardSigmoid, name, {x.id}, s, std::move(p));
}

NodeRef Graph::hard_swish(const std::string& name, NodeRef x) {
    return add_node(*g_, ir::Op::HardSwish, name, {x.id}, float_input(g_, name, x).shape);
}

NodeRef Graph::leaky_relu(const std::string& name, NodeRef x, float alpha) {
    const Shape& s = float_input(g_, name, x).shape;
    if (!std::isfinite(alpha)) throw Error(ErrorCode::InvalidArgument, name, "alpha must be finite");
    ir::Node p;
    p.alpha = alpha;
    return add_node(*g_, ir::Op::LeakyRelu, name, {x.id}, s, std::move(p));
}

NodeRef Graph::softmax(const std::string& name, NodeRef x, int64_t axis) {
    const Shape& s = float_input(g_, name, x).shape;
    const int64_t r = static_cast<int64_t>(s.size());
    if (r == 0 || axis < -r || axis >= r)
        throw Error(ErrorCode::InvalidArgument, name,
                    "axis " + std::to_string(axis) + " is outside the rank of " + to_string(s));
    ir::Node p;
    p.axis = axis < 0 ? axis + r : axis;
    return add_node(*g_, ir::Op::Softmax, name, {x.id}, s, std::move(p));
}

NodeRef Graph::transpose(const std::string& name, NodeRef x, const std::vector<int64_t>& perm) {
    const Shape& s = float_input(g_, name, x).shape;
    require_rank(name, perm, s.size(), "perm");
    std::vector<bool> seen(s.size(), false);
    Shape out(s.size());
    for (size_t i = 0; i < perm.size(); ++i) {
        if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(s.size()) || seen[static_cast<size_t>(perm[i])])
            throw Error(ErrorCode::InvalidArgument, name, "perm " + to_string(perm) + " is not a permutation");
        seen[static_cast<size_t>(perm[i])] = true;
        out[i] = s[static_cast<size_t>(perm[i])];
    }
    ir::Node p;
    p.ints = perm;
    return add_node(*g_, ir::Op::Transpose, name, {x.id}, std::move(out), std::move(p));
}

NodeRef Graph::pad(const std::string& name, NodeRef x, const std::vector<int64_t>& pads_begin,
                   const std::vector<int64_t>& pads_end, float value) {
    const Shape& s = float_input(g_, name, x).shape;
    require_rank(name, pads_begin, s.size(), "pads_begin");
    require_rank(name, pads_end, s.size(), "pads_end");
    Shape out = s;
    for (size_t i = 0; i < s.size(); ++i) {
        if (pads_begin[i] < 0 || pads_end[i] < 0)
            throw Error(ErrorCode::UnsupportedOp, name,
                        "negative pads " + to_string(pads_begin) + "/" + to_string(pads_end) + " (cropping) are not supported");
        if (__builtin_add_overflow(out[i], pads_begin[i], &out[i]) || __builtin_add_overflow(out[i], pads_end[i], &out[i]))
            throw Error(ErrorCode::InvalidArgument, name, "pads overflow the output shape");
    }
    ir::Node p;
    p.ints = pads_begin;
    p.ints.insert(p.ints.end(), pads_end.begin(), pads_end.end());
    p.alpha = value;
    return add_node(*g_, ir::Op::Pad, name, {x.id}, std::move(out), std::move(p));
}

NodeRef Graph::resize(const std::string& name, NodeRef x, const Shape& out_shape, const ResizeParams& rp) {
    const Shape& s = float_input(g_, name, x).shape;
    if (s.size() != 4 || out_shape.size() != 4)
        throw Error(ErrorCode::ShapeMismatch, name,
                    "resize takes rank-4 NCHW data and output, got " + to_string(s) + " -> " + to_string(out_shape));
    if (out_shape[0] != s[0] || out_shape[1] != s[1])
        throw Error(ErrorCode::UnsupportedOp, name,
                    "resize of N or C (" + to_string(s) + " -> " + to_string(out_shape) + ") is not supported");
    if (out_shape[2] < 1 || out_shape[3] < 1)
        throw Error(ErrorCode::InvalidArgument, name, "output shape " + to_string(out_shape) + " has an empty axis");
    if (rp.scales.size() != 2 || !(rp.scales[0] > 0) || !(rp.scales[1] > 0) || !std::isfinite(rp.scales[0]) ||
        !std::isfinite(rp.scales[1]))
        throw Error(ErrorCode::InvalidArgument, name, "resize needs two positive finite scales (H, W)");
    ir::Node p;
    p.resize = rp;
    return add_node(*g_, ir::Op::Resize, name, {x.id}, out_shape, std::move(p));
}

NodeRef Graph::tile(const std::string& name, NodeRef x, const std::vector<int64_t>& repeats) {
    const Shape& s = float_input(g_, name, x).shape;
    require_rank(name, repeats, s.size(), "repeats");
    Shape out = s;
    for (size_t i = 0; i < s.size(); ++i) {
        if (repeats[i] < 1 || __builtin_mul_overflow(out[i], repeats[i], &out[i]))
            throw Error(ErrorCode::InvalidArgument, name, "repeats " + to_string(repeats) + " has a value < 1 or overflows");
    }
    ir::Node p;
    p.ints = repeats;
    return add_node(*g_, ir::Op::Tile, name, {x.id}, std::move(out), std::move(p));
}

} // namespace qjit
