// qjit::Graph (include/qjit/graph.hpp): the builder of the float graph. Each call validates its
// arguments at once, infers the output shape and type, and appends one ir::Node. Every problem is
// a qjit::Error that names the node being built.
#include <cmath>
#include <string>

#include "jit/ir.hpp"
#include "qjit/graph.hpp"
#include "runtime/ref_ops.hpp" // ref::broadcast_shape: the one definition of numpy broadcasting

namespace qjit {

namespace {

// The graph of a live builder; a moved-from builder throws instead of dereferencing null.
ir::Graph& checked(const std::unique_ptr<ir::Graph>& g, const std::string& name) {
    if (!g) throw Error(ErrorCode::InvalidArgument, name, "the Graph was moved from");
    if (name.empty()) throw Error(ErrorCode::InvalidArgument, name, "node name is empty");
    return *g;
}

// An existing node usable as an input (`role` says which input, for the message).
const ir::Node& input(const ir::Graph& g, const std::string& name, NodeRef r, const char* role) {
    if (r.id < 0 || r.id >= g.size())
        throw Error(ErrorCode::InvalidArgument, name,
                    std::string("input ") + role + " refers to unknown node id " + std::to_string(r.id));
    const ir::Node& n = g.node(r.id);
    if (n.dead)
        throw Error(ErrorCode::InvalidArgument, name, std::string("input ") + role + " '" + n.name + "' is dead");
    if (n.op == ir::Op::Result)
        throw Error(ErrorCode::InvalidArgument, name,
                    std::string("input ") + role + " '" + n.name + "' is a Result, which has no consumers");
    return n;
}

// Every op other than Parameter and Constant takes f32 inputs only.
const ir::Node& f32_input(const ir::Graph& g, const std::string& name, NodeRef r, const char* role) {
    const ir::Node& n = input(g, name, r, role);
    if (n.type != ElemType::f32)
        throw Error(ErrorCode::UnsupportedOp, name,
                    std::string("input ") + role + " '" + n.name + "' is " + to_string(n.type) +
                        "; this op takes f32 only");
    return n;
}

// Arithmetic on attribute values and dimensions: an overflow is an Error naming the node.
int64_t add_ck(const std::string& name, int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        throw Error(ErrorCode::InvalidArgument, name, "attribute values and dimensions overflow int64");
    return r;
}
int64_t mul_ck(const std::string& name, int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        throw Error(ErrorCode::InvalidArgument, name, "attribute values and dimensions overflow int64");
    return r;
}

// Every node's output shape must have an element count that fits int64.
void require_countable(const std::string& name, const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n = mul_ck(name, n, d);
}

ir::Node make(ir::Op op, const std::string& name, std::vector<int> inputs, Shape shape) {
    require_countable(name, shape);
    ir::Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.type = ElemType::f32;
    n.shape = std::move(shape);
    return n;
}

NodeRef append(ir::Graph& g, ir::Node n) { return NodeRef{g.add(std::move(n))}; }

void require_positive_dims(const std::string& name, const Shape& s, const char* what) {
    for (int64_t d : s)
        if (d < 1)
            throw Error(ErrorCode::InvalidArgument, name,
                        std::string(what) + " shape " + to_string(s) + " has a dimension < 1 (zero-sized tensors are not supported)");
}

void require_pair(const std::string& name, const std::vector<int64_t>& v, int64_t min, const char* what) {
    if (v.size() != 2)
        throw Error(ErrorCode::InvalidArgument, name, std::string(what) + " needs 2 values, got " + std::to_string(v.size()));
    // Kernel sizes, strides, pads and dilations above 2^24 are refused: no model needs them, and the
    // layouts' halos and index arithmetic stay far from int64 overflow.
    constexpr int64_t kMaxAttribute = int64_t{1} << 24;
    for (int64_t e : v) {
        if (e < min)
            throw Error(ErrorCode::InvalidArgument, name,
                        std::string(what) + " " + to_string(v) + " has a value < " + std::to_string(min));
        if (e > kMaxAttribute)
            throw Error(ErrorCode::InvalidArgument, name,
                        std::string(what) + " " + to_string(v) + " has a value > 2^24");
    }
}

// numpy rule for one operand: `from` stretches to `to` without changing `to`.
bool broadcasts_to(const Shape& from, const Shape& to) {
    if (from.size() > to.size()) return false;
    const size_t lead = to.size() - from.size();
    for (size_t i = 0; i < from.size(); ++i)
        if (from[i] != 1 && from[i] != to[lead + i]) return false;
    return true;
}

// Output size of one spatial conv axis, or 0 when the (dilated) kernel does not fit.
int64_t conv_out(const std::string& name, int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pb, int64_t pe) {
    const int64_t span = add_ck(name, add_ck(name, in, pb), pe), eff = add_ck(name, mul_ck(name, dil, k - 1), 1);
    return span < eff ? 0 : (span - eff) / stride + 1;
}

// Output size of one pooling axis (the kernel must fit the padded input; checked by the caller).
int64_t pool_out(const std::string& name, int64_t in, int64_t k, int64_t stride, int64_t pb, int64_t pe, RoundingType r) {
    const int64_t span = add_ck(name, add_ck(name, in, pb), pe) - k;
    return (r == RoundingType::ceil ? span / stride + (span % stride != 0) : span / stride) + 1;
}

// The first output index of one pooling axis whose window holds no element of [lo, hi) (input
// coordinates), or -1 when every window holds one. Windows move right with the index, so only a
// prefix can lie left of lo and only a suffix right of hi (closed form: no loop over the outputs).
int64_t empty_window(int64_t n_out, int64_t k, int64_t stride, int64_t pb, int64_t lo, int64_t hi) {
    using i128 = __int128;
    if (n_out < 1) return -1;
    if (i128{-pb} + k - 1 < lo) return 0;
    if (i128{n_out - 1} * stride - pb >= hi) {
        const i128 o = (i128{hi} + pb + stride - 1) / stride; // first o with o*stride - pb >= hi
        return static_cast<int64_t>(o < 0 ? 0 : o);
    }
    return -1;
}

// Validates pooling attributes for data x and returns the output shape; every window must cover an
// input element (MaxPool, AvgPool exclude_pad) or an element of the padded input (AvgPool include).
Shape pool_shape(const std::string& name, const Shape& xs, const PoolParams& p, bool avg) {
    if (xs.size() != 4)
        throw Error(ErrorCode::ShapeMismatch, name, "data shape " + to_string(xs) + " is not rank 4 (NCHW)");
    require_pair(name, p.kernel, 1, "kernel");
    require_pair(name, p.strides, 1, "strides");
    require_pair(name, p.pads_begin, 0, "pads_begin");
    require_pair(name, p.pads_end, 0, "pads_end");
    Shape out{xs[0], xs[1], 0, 0};
    for (size_t a = 0; a < 2; ++a) {
        const int64_t in = xs[2 + a];
        if (add_ck(name, add_ck(name, in, p.pads_begin[a]), p.pads_end[a]) < p.kernel[a])
            throw Error(ErrorCode::ShapeMismatch, name,
                        "kernel " + to_string(p.kernel) + " does not fit the padded input " + to_string(xs));
        out[2 + a] = pool_out(name, in, p.kernel[a], p.strides[a], p.pads_begin[a], p.pads_end[a], p.rounding);
        const bool padded_counts = avg && !p.exclude_pad;
        const int64_t lo = padded_counts ? -p.pads_begin[a] : 0, hi = padded_counts ? add_ck(name, in, p.pads_end[a]) : in;
        const int64_t bad = empty_window(out[2 + a], p.kernel[a], p.strides[a], p.pads_begin[a], lo, hi);
        if (bad >= 0)
            throw Error(ErrorCode::InvalidArgument, name,
                        std::string("the window of output ") + (a == 0 ? "row " : "column ") + std::to_string(bad) +
                            " covers no " + (padded_counts ? "element of the padded input" : "input element") +
                            " (kernel " + to_string(p.kernel) + ", strides " + to_string(p.strides) + ", pads " +
                            to_string(p.pads_begin) + "/" + to_string(p.pads_end) + ", input " + to_string(xs) + ")");
    }
    return out;
}

} // namespace

Graph::Graph() : g_(std::make_unique<ir::Graph>()) {}
Graph::~Graph() = default;
Graph::Graph(const Graph& other) : g_(std::make_unique<ir::Graph>(other.g_ ? *other.g_ : ir::Graph{})) {}
Graph& Graph::operator=(const Graph& other) {
    if (this != &other) g_ = std::make_unique<ir::Graph>(other.g_ ? *other.g_ : ir::Graph{});
    return *this;
}
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;

NodeRef Graph::parameter(const std::string& name, Shape shape, ElemType type) {
    ir::Graph& g = checked(g_, name);
    require_positive_dims(name, shape, "parameter");
    require_countable(name, shape);
    if (type != ElemType::f32)
        throw Error(ErrorCode::UnsupportedOp, name,
                    std::string("parameter type ") + to_string(type) + ": non-f32 parameters need an importer");
    return append(g, make(ir::Op::Parameter, name, {}, std::move(shape)));
}

NodeRef Graph::constant(const std::string& name, Tensor value) {
    ir::Graph& g = checked(g_, name);
    if (value.empty()) throw Error(ErrorCode::InvalidArgument, name, "constant has no value");
    require_positive_dims(name, value.shape(), "constant");
    ir::Node n = make(ir::Op::Constant, name, {}, value.shape());
    n.type = value.type();
    n.value = std::move(value);
    return append(g, std::move(n));
}

NodeRef Graph::fake_quantize(const std::string& name, NodeRef x, NodeRef in_low, NodeRef in_high, NodeRef out_low,
                             NodeRef out_high, int64_t levels, Broadcast broadcast) {
    ir::Graph& g = checked(g_, name);
    static const char* const roles[5] = {"x", "input_low", "input_high", "output_low", "output_high"};
    const NodeRef refs[5] = {x, in_low, in_high, out_low, out_high};
    for (int i = 0; i < 5; ++i) input(g, name, refs[i], roles[i]);
    if (levels < 2 || levels > 256)
        throw Error(ErrorCode::InvalidLevels, name, "levels = " + std::to_string(levels) + "; qjit supports 2..256");
    if (broadcast == Broadcast::pdpd)
        throw Error(ErrorCode::UnsupportedOp, name,
                    "auto_broadcast pdpd is not supported (spec §1.3); use numpy or none");
    const Shape& xs = f32_input(g, name, x, "x").shape;
    for (int i = 1; i < 5; ++i) {
        const ir::Node& r = f32_input(g, name, refs[i], roles[i]);
        // Non-constant ranges are legal here; the lowering passes keep such a FakeQuantize in fp32.
        if (r.op == ir::Op::Constant)
            for (int64_t e = 0; e < r.value.numel(); ++e)
                if (!std::isfinite(r.value.data<float>()[e]))
                    throw Error(ErrorCode::NonFiniteRange, name,
                                std::string(roles[i]) + " '" + r.name + "' holds a NaN or infinite value");
        const bool fits = broadcast == Broadcast::none ? r.shape == xs : broadcasts_to(r.shape, xs);
        if (!fits)
            throw Error(ErrorCode::ShapeMismatch, name,
                        std::string(roles[i]) + " shape " + to_string(r.shape) + " does not " +
                            (broadcast == Broadcast::none ? "equal" : "broadcast to") + " x shape " + to_string(xs));
    }
    ir::Node n = make(ir::Op::FakeQuantize, name, {x.id, in_low.id, in_high.id, out_low.id, out_high.id}, xs);
    n.levels = levels;
    n.broadcast = broadcast;
    return append(g, std::move(n));
}

NodeRef Graph::fake_quantize_onnx(const std::string& name, NodeRef x, NodeRef in_low, NodeRef in_high,
                                  NodeRef out_low, NodeRef out_high, NodeRef scale, NodeRef offset) {
    const NodeRef fq = fake_quantize(name, x, in_low, in_high, out_low, out_high, 256);
    ir::Graph& g = checked(g_, name);
    const Shape& xs = g.node(x.id).shape;
    static const char* const roles[2] = {"scale", "offset"};
    const NodeRef refs[2] = {scale, offset};
    for (int i = 0; i < 2; ++i) {
        input(g, name, refs[i], roles[i]);
        const ir::Node& r = f32_input(g, name, refs[i], roles[i]);
        if (r.op != ir::Op::Constant)
            throw Error(ErrorCode::InvalidArgument, name, std::string(roles[i]) + " '" + r.name + "' is not a constant");
        if (!broadcasts_to(r.shape, xs))
            throw Error(ErrorCode::ShapeMismatch, name,
                        std::string(roles[i]) + " shape " + to_string(r.shape) + " does not broadcast to x shape " +
                            to_string(xs));
        for (int64_t e = 0; e < r.value.numel(); ++e) {
            const float v = r.value.data<float>()[e];
            const bool ok = i == 0 ? (v > 0.0f && std::isfinite(v)) : (v >= 0.0f && v <= 255.0f && v == std::nearbyint(v));
            if (!ok)
                throw Error(ErrorCode::InvalidArgument, name,
                            i == 0 ? "scale must be positive and finite" : "offset must be an integer in 0..255");
        }
    }
    ir::Node& n = g.node(fq.id);
    n.inputs.push_back(scale.id);
    n.inputs.push_back(offset.id);
    return fq;
}

NodeRef Graph::convolution(const std::string& name, NodeRef x, NodeRef weights, const ConvParams& p) {
    ir::Graph& g = checked(g_, name);
    const Shape& xs = f32_input(g, name, x, "x").shape;
    const Shape& ws = f32_input(g, name, weights, "weights").shape;
    if (xs.size() != 4)
        throw Error(ErrorCode::ShapeMismatch, name, "data shape " + to_string(xs) + " is not rank 4 (NCHW)");
    if (ws.size() != 4)
        throw Error(ErrorCode::ShapeMismatch, name, "weights shape " + to_string(ws) + " is not rank 4 (OIHW)");
    if (xs[1] != ws[1])
        throw Error(ErrorCode::ShapeMismatch, name,
                    "data has " + std::to_string(xs[1]) + " channels but weights expect " + std::to_string(ws[1]));
    require_pair(name, p.strides, 1, "strides");
    require_pair(name, p.dilations, 1, "dilations");
    require_pair(name, p.pads_begin, 0, "pads_begin");
    require_pair(name, p.pads_end, 0, "pads_end");
    const int64_t oh = conv_out(name, xs[2], ws[2], p.strides[0], p.dilations[0], p.pads_begin[0], p.pads_end[0]);
    const int64_t ow = conv_out(name, xs[3], ws[3], p.strides[1], p.dilations[1], p.pads_begin[1], p.pads_end[1]);
    if (oh < 1 || ow < 1)
        throw Error(ErrorCode::ShapeMismatch, name,
                    "kernel " + to_string(ws) + " does not fit the padded input " + to_string(xs));
    ir::Node n = make(ir::Op::Convolution, name, {x.id, weights.id}, {xs[0], ws[0], oh, ow});
    n.conv = p;
    return append(g, std::move(n));
}

NodeRef Graph::group_convolution(const std::string& name, NodeRef x, NodeRef weights, const ConvParams& p) {
    ir::Graph& g = checked(g_, name);
    const Shape& xs = f32_input(g, name, x, "x").shape;
    const Shape& ws = f32_input(g, name, weights, "weights").shape;
    if (xs.size() != 4)
        throw Error(ErrorCode::ShapeMismatch, name, "data shape " + to_string(xs) + " is not rank 4 (NCHW)");
    if (ws.size() != 5)
        throw Error(ErrorCode::ShapeMismatch, name,
                    "weights shape " + to_string(ws) + " is not rank 5 ([G, O/G, I/G, KH, KW])");
    if (xs[1] != mul_ck(name, ws[0], ws[2]))
        throw Error(ErrorCode::ShapeMismatch, name,
                    "data has " + std::to_string(xs[1]) + " channels but weights " + to_string(ws) + " expect G*I/G = " +
                        std::to_string(ws[0] * ws[2]));
    require_pair(name, p.strides, 1, "strides");
    require_pair(name, p.dilations, 1, "dilations");
    require_pair(name, p.pads_begin, 0, "pads_begin");
    require_pair(name, p.pads_end, 0, "pads_end");
    const int64_t oh = conv_out(name, xs[2], ws[3], p.strides[0], p.dilations[0], p.pads_begin[0], p.pads_end[0]);
    const int64_t ow = conv_out(name, xs[3], ws[4], p.strides[1], p.dilations[1], p.pads_begin[1], p.pads_end[1]);
    if (oh < 1 || ow < 1)
        throw Error(ErrorCode::ShapeMismatch, name,
                    "kernel " + to_string(ws) + " does not fit the padded input " + to_string(xs));
    ir::Node n = make(ir::Op::GroupConvolution, name, {x.id, weights.id}, {xs[0], ws[0] * ws[1], oh, ow});
    n.conv = p;
    return append(g, std::move(n));
}

NodeRef Graph::max_pool(const std::string& name, NodeRef x, const std::vector<int64_t>& kernel,
                        const std::vector<int64_t>& strides, const std::vector<int64_t>& pads_begin,
                        const std::vector<int64_t>& pads_end, RoundingType rounding) {
    ir::Graph& g = checked(g_, name);
    const Shape& xs = f32_input(g, name, x, "x").shape;
    PoolParams p{kernel, strides, pads_begin, pads_end, rounding, true};
    ir::Node n = make(ir::Op::MaxPool, name, {x.id}, pool_shape(name, xs, p, false));
    n.pool = std::move(p);
    return append(g, std::move(n));
}

NodeRef Graph::avg_pool(const std::string& name, NodeRef x, const std::vector<int64_t>& kernel,
                        const std::vector<int64_t>& strides, const std::vector<int64_t>& pads_begin,
                        const std::vector<int64_t>& pads_end, bool exclude_pad, RoundingType rounding) {
    ir::Graph& g = checked(g_, name);
    const Shape& xs = f32_input(g, name, x, "x").shape;
    PoolParams p{kernel, strides, pads_begin, pads_end, rounding, exclude_pad};
    ir::Node n = make(ir::Op::AvgPool, name, {x.id}, pool_shape(name, xs, p, true));
    n.pool = std::move(p);
    return append(g, std::move(n));
}

NodeRef Graph::matmul(const std::string& name, NodeRef a, NodeRef b, bool transpose_a, bool transpose_b) {
    ir::Graph& g = checked(g_, name);
    const Shape& sa = f32_input(g, name, a, "a").shape;
    const Shape& sb = f32_input(g, name, b, "b").shape;
    if (sa.size() < 2 || sb.size() < 2)
        throw Error(ErrorCode::ShapeMismatch, name,
                    "operands " + to_string(sa) + " and " + to_string(sb) + " need rank >= 2");
    const size_t ra = sa.size(), rb = sb.size();
    const int64_t M = transpose_a ? sa[ra - 1] : sa[ra - 2], K = transpose_a ? sa[ra - 2] : sa[ra - 1];
    const int64_t Kb = transpose_b ? sb[rb - 1] : sb[rb - 2], N = transpose_b ? sb[rb - 2] : sb[rb - 1];
    if (K != Kb)
        throw Error(ErrorCode::ShapeMismatch, name,
                    "reduction sizes differ: " + to_string(sa) + (transpose_a ? "^T" : "") + " * " + to_string(sb) +
                        (transpose_b ? "^T" : "") + " has K = " + std::to_string(K) + " vs " + std::to_string(Kb));
    Shape out = ref::broadcast_shape(Shape(sa.begin(), sa.end() - 2), Shape(sb.begin(), sb.end() - 2), name);
    out.push_back(M);
    out.push_back(N);
    ir::Node n = make(ir::Op::MatMul, name, {a.id, b.id}, std::move(out));
    n.transpose_a = transpose_a;
    n.transpose_b = transpose_b;
    return append(g, std::move(n));
}

NodeRef Graph::add(const std::string& name, NodeRef a, NodeRef b) {
    ir::Graph& g = checked(g_, name);
    const Shape& sa = f32_input(g, name, a, "a").shape;
    const Shape& sb = f32_input(g, name, b, "b").shape;
    return append(g, make(ir::Op::Add, name, {a.id, b.id}, ref::broadcast_shape(sa, sb, name)));
}

NodeRef Graph::multiply(const std::string& name, NodeRef a, NodeRef b) {
    ir::Graph& g = checked(g_, name);
    const Shape& sa = f32_input(g, name, a, "a").shape;
    const Shape& sb = f32_input(g, name, b, "b").shape;
    return append(g, make(ir::Op::Multiply, name, {a.id, b.id}, ref::broadcast_shape(sa, sb, name)));
}

NodeRef Graph::relu(const std::string& name, NodeRef x) {
    ir::Graph& g = checked(g_, name);
    const Shape& s = f32_input(g, name, x, "x").shape;
    return append(g, make(ir::Op::Relu, name, {x.id}, s));
}

NodeRef Graph::clamp(const std::string& name, NodeRef x, float lo, float hi) {
    ir::Graph& g = checked(g_, name);
    const Shape& s = f32_input(g, name, x, "x").shape;
    if (std::isnan(lo) || std::isnan(hi)) throw Error(ErrorCode::InvalidArgument, name, "clamp bound is NaN");
    if (lo > hi)
        throw Error(ErrorCode::InvalidArgument, name,
                    "clamp bounds inverted: lo " + std::to_string(lo) + " > hi " + std::to_string(hi));
    ir::Node n = make(ir::Op::Clamp, name, {x.id}, s);
    n.clamp_lo = lo;
    n.clamp_hi = hi;
    return append(g, std::move(n));
}

NodeRef Graph::reshape(const std::string& name, NodeRef x, const Shape& target) {
    ir::Graph& g = checked(g_, name);
    const Shape& in = f32_input(g, name, x, "x").shape;
    Shape out = target;
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == -1) {
            if (infer >= 0) throw Error(ErrorCode::InvalidArgument, name, "target " + to_string(target) + " has two -1");
            infer = static_cast<int>(i);
            continue;
        }
        if (out[i] == 0) {
            if (i >= in.size())
                throw Error(ErrorCode::InvalidArgument, name,
                            "target " + to_string(target) + ": 0 at axis " + std::to_string(i) +
                                " has no input dimension to copy from " + to_string(in));
            out[i] = in[i];
        }
        if (out[i] < 1)
            throw Error(ErrorCode::InvalidArgument, name, "target " + to_string(target) + " has a negative dimension");
        known = mul_ck(name, known, out[i]);
    }
    const int64_t count = num_elements(in);
    if (infer >= 0) {
        if (count % known != 0)
            throw Error(ErrorCode::ShapeMismatch, name,
                        "cannot infer -1 in " + to_string(target) + " for input " + to_string(in));
        out[static_cast<size_t>(infer)] = count / known;
    }
    if (num_elements(out) != count)
        throw Error(ErrorCode::ShapeMismatch, name,
                    "target " + to_string(target) + " has " + std::to_string(num_elements(out)) +
                        " elements, input " + to_string(in) + " has " + std::to_string(count));
    return append(g, make(ir::Op::Reshape, name, {x.id}, std::move(out)));
}

NodeRef Graph::concat(const std::string& name, const std::vector<NodeRef>& inputs, int64_t axis) {
    ir::Graph& g = checked(g_, name);
    if (inputs.empty()) throw Error(ErrorCode::InvalidArgument, name, "concat needs at least one input");
    std::vector<int> ids;
    Shape out;
    int64_t rank = 0, ax = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const std::string role = "#" + std::to_string(i);
        const Shape& s = f32_input(g, name, inputs[i], role.c_str()).shape;
        if (i == 0) {
            rank = static_cast<int64_t>(s.size());
            if (rank == 0) throw Error(ErrorCode::ShapeMismatch, name, "cannot concatenate rank-0 tensors");
            if (axis < -rank || axis >= rank)
                throw Error(ErrorCode::InvalidArgument, name,
                            "axis " + std::to_string(axis) + " is outside [" + std::to_string(-rank) + ", " +
                                std::to_string(rank) + ") for input shape " + to_string(s));
            ax = axis < 0 ? axis + rank : axis;
            out = s;
        } else {
            bool same = static_cast<int64_t>(s.size()) == rank;
            for (int64_t d = 0; same && d < rank; ++d)
                same = d == ax || s[static_cast<size_t>(d)] == out[static_cast<size_t>(d)];
            if (!same)
                throw Error(ErrorCode::ShapeMismatch, name,
                            "input " + role + " shape " + to_string(s) + " differs from " + to_string(g.node(inputs[0].id).shape) +
                                " outside axis " + std::to_string(ax));
            out[static_cast<size_t>(ax)] = add_ck(name, out[static_cast<size_t>(ax)], s[static_cast<size_t>(ax)]);
        }
        ids.push_back(inputs[i].id);
    }
    ir::Node n = make(ir::Op::Concat, name, std::move(ids), std::move(out));
    n.concat_axis = ax;
    return append(g, std::move(n));
}

NodeRef Graph::result(const std::string& name, NodeRef x) {
    ir::Graph& g = checked(g_, name);
    const Shape& s = f32_input(g, name, x, "x").shape;
    return append(g, make(ir::Op::Result, name, {x.id}, s));
}

const Shape& Graph::shape_of(NodeRef r) const {
    const std::string who = "<node id " + std::to_string(r.id) + ">";
    if (!g_ || r.id < 0 || r.id >= g_->size())
        throw Error(ErrorCode::InvalidArgument, who, "no such node in this graph");
    return g_->node(r.id).shape;
}

ElemType Graph::type_of(NodeRef r) const {
    const std::string who = "<node id " + std::to_string(r.id) + ">";
    if (!g_ || r.id < 0 || r.id >= g_->size())
        throw Error(ErrorCode::InvalidArgument, who, "no such node in this graph");
    return g_->node(r.id).type;
}

} // namespace qjit
