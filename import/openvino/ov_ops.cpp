// OpenVINO IR op conversions: one function per layer type, onto the qjit::Graph builder. Constant
// subgraphs (Const -> Convert -> Subtract/Multiply -> Reshape ...) are folded here in fp32.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "import/openvino/ov_ir.hpp"

namespace qjit::ovir {
namespace {

Value node_value(Builder& b, NodeRef r, const std::string& name) {
    Value v;
    v.ref = r;
    v.shape = b.g.shape_of(r);
    v.name = name;
    return v;
}

Value const_value(Tensor t, const std::string& name) {
    Value v;
    v.is_const = true;
    v.shape = t.shape();
    v.c = std::move(t);
    v.name = name;
    return v;
}

void need_inputs(const Layer& l, const std::vector<Value>& in, size_t lo, size_t hi) {
    if (in.size() < lo || in.size() > hi)
        fail(l, ErrorCode::InvalidArgument,
             "has " + std::to_string(in.size()) + " inputs; expected " + std::to_string(lo) +
                 (hi != lo ? ".." + std::to_string(hi) : ""));
}

std::vector<int64_t> const_ints(const Layer& l, const Value& v, const char* what) {
    if (!v.is_const) fail(l, ErrorCode::UnsupportedOp, std::string(what) + " must be a constant");
    std::vector<int64_t> out;
    for (int64_t i = 0; i < v.c.numel(); ++i) out.push_back(static_cast<int64_t>(std::llround(v.c.data<float>()[i])));
    return out;
}

Tensor with_shape(const Tensor& t, const Shape& s) {
    const float* p = t.data<float>();
    return Tensor::f32(s, std::vector<float>(p, p + t.numel()));
}

// Elementwise op on two constants with numpy broadcasting.
Tensor fold_binary(const Layer& l, const Tensor& a, const Tensor& b, const std::function<float(float, float)>& f) {
    const size_t rank = std::max(a.shape().size(), b.shape().size());
    auto padded = [&](const Shape& s) {
        Shape p(rank - s.size(), 1);
        p.insert(p.end(), s.begin(), s.end());
        return p;
    };
    const Shape sa = padded(a.shape()), sb = padded(b.shape());
    Shape so(rank);
    for (size_t i = 0; i < rank; ++i) {
        if (sa[i] != sb[i] && sa[i] != 1 && sb[i] != 1)
            fail(l, ErrorCode::ShapeMismatch, "cannot broadcast " + to_string(a.shape()) + " with " + to_string(b.shape()));
        so[i] = std::max(sa[i], sb[i]);
    }
    Tensor out(ElemType::f32, so);
    std::vector<int64_t> idx(rank, 0);
    for (int64_t n = 0; n < out.numel(); ++n) {
        int64_t ia = 0, ib = 0;
        for (size_t i = 0; i < rank; ++i) {
            ia = ia * sa[i] + (sa[i] == 1 ? 0 : idx[i]);
            ib = ib * sb[i] + (sb[i] == 1 ? 0 : idx[i]);
        }
        out.data<float>()[n] = f(a.data<float>()[ia], b.data<float>()[ib]);
        for (size_t i = rank; i-- > 0;) {
            if (++idx[i] < so[i]) break;
            idx[i] = 0;
        }
    }
    return out;
}

ConvParams conv_params(const Layer& l, const Shape& x, const Shape& w, bool is_pool = false) {
    ConvParams p;
    const std::vector<int64_t> zero{0, 0}, one{1, 1};
    p.strides = attr_ints(l, "strides");
    p.dilations = is_pool ? one : attr_ints(l, "dilations");
    p.pads_begin = attr_ints(l, "pads_begin", &zero);
    p.pads_end = attr_ints(l, "pads_end", &zero);
    const std::string explicit_pad = "explicit";
    const std::string ap = attr(l, "auto_pad", &explicit_pad);
    if (ap == "valid") {
        p.pads_begin = p.pads_end = zero;
    } else if (ap == "same_upper" || ap == "same_lower") {
        if (x.size() != 4 || w.size() < 4 || p.strides.size() != 2 || p.dilations.size() != 2)
            fail(l, ErrorCode::UnsupportedOp, "auto_pad=" + ap + " needs 2-D data and attributes");
        for (int i = 0; i < 2; ++i) {
            const int64_t in = x[2 + static_cast<size_t>(i)], k = w[w.size() - 2 + static_cast<size_t>(i)];
            const int64_t s = p.strides[static_cast<size_t>(i)], d = p.dilations[static_cast<size_t>(i)];
            if (s <= 0) fail(l, ErrorCode::InvalidArgument, "stride must be positive");
            const int64_t out = (in + s - 1) / s;
            const int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
            const int64_t small = total / 2, big = total - small;
            p.pads_begin[static_cast<size_t>(i)] = ap == "same_upper" ? small : big;
            p.pads_end[static_cast<size_t>(i)] = ap == "same_upper" ? big : small;
        }
    } else if (ap != "explicit" && ap != "notset") {
        fail(l, ErrorCode::UnsupportedOp, "auto_pad=" + ap);
    }
    return p;
}

Value pool(Builder& b, const Layer& l, const std::vector<Value>& in, bool max) {
    need_inputs(l, in, 1, 1);
    NodeRef x = b.materialize(in[0], l.name + "/x");
    const std::vector<int64_t> one{1, 1};
    if (max && attr_ints(l, "dilations", &one) != one) fail(l, ErrorCode::UnsupportedOp, "MaxPool dilations other than 1");
    Shape kernel = attr_ints(l, "kernel");
    ConvParams cp = conv_params(l, b.g.shape_of(x), Shape{1, 1, kernel.size() > 0 ? kernel[0] : 1,
                                                           kernel.size() > 1 ? kernel[1] : 1}, true);
    const std::string floor_s = "floor";
    const std::string rt = attr(l, "rounding_type", &floor_s);
    if (rt != "floor" && rt != "ceil") fail(l, ErrorCode::UnsupportedOp, "rounding_type=" + rt);
    const RoundingType r = rt == "ceil" ? RoundingType::ceil : RoundingType::floor;
    if (max) return node_value(b, b.g.max_pool(l.name, x, kernel, cp.strides, cp.pads_begin, cp.pads_end, r), l.name);
    const std::string no = "false";
    const std::string ex = attr(l, "exclude-pad", &no);
    return node_value(b, b.g.avg_pool(l.name, x, kernel, cp.strides, cp.pads_begin, cp.pads_end, ex == "true", r), l.name);
}

Value reshape_to(Builder& b, const Layer& l, const Value& x, const Shape& target) {
    if (x.is_const) {
        if (num_elements(target) != x.c.numel())
            fail(l, ErrorCode::ShapeMismatch, "cannot reshape " + to_string(x.shape) + " to " + to_string(target));
        return const_value(with_shape(x.c, target), l.name);
    }
    return node_value(b, b.g.reshape(l.name, x.ref, target), l.name);
}

Value binary(Builder& b, const Layer& l, const std::vector<Value>& in, char op) {
    need_inputs(l, in, 2, 2);
    const std::string numpy = "numpy";
    const std::string bc = attr(l, "auto_broadcast", &numpy);
    if (bc != "numpy" && !(bc == "none" && in[0].shape == in[1].shape))
        fail(l, ErrorCode::UnsupportedOp, "auto_broadcast=" + bc);
    if (in[0].is_const && in[1].is_const) {
        auto f = op == '+' ? std::function<float(float, float)>([](float a, float c) { return a + c; })
                 : op == '-' ? std::function<float(float, float)>([](float a, float c) { return a - c; })
                             : std::function<float(float, float)>([](float a, float c) { return a * c; });
        return const_value(fold_binary(l, in[0].c, in[1].c, f), l.name);
    }
    if (op == '*') return node_value(b, b.g.multiply(l.name, b.materialize(in[0], l.name + "/a"), b.materialize(in[1], l.name + "/b")), l.name);
    NodeRef a = b.materialize(in[0], l.name + "/a");
    NodeRef c;
    if (op == '+') c = b.materialize(in[1], l.name + "/b");
    else if (in[1].is_const) // a - c == a + (-c)
        c = b.g.constant(l.name + "/neg_b", fold_binary(l, in[1].c, Tensor::f32({}, {-1.f}), [](float x, float m) { return x * m; }));
    else
        c = b.g.multiply(l.name + "/neg_b", in[1].ref, b.g.constant(l.name + "/minus_one", Tensor::f32({}, {-1.f})));
    return node_value(b, b.g.add(l.name, a, c), l.name);
}

Value convert_op(const Layer& l, const std::vector<Value>& in) {
    need_inputs(l, in, 1, 1);
    const std::string dt = attr(l, "destination_type");
    if (!in[0].is_const) {
        if (dt != "f32") fail(l, ErrorCode::UnsupportedOp, "Convert of an activation to " + dt + " (f32 only)");
        return in[0];
    }
    Tensor t = with_shape(in[0].c, in[0].shape);
    float* p = t.data<float>();
    double lo = -INFINITY, hi = INFINITY;
    if (dt == "i8") lo = -128, hi = 127;
    else if (dt == "u8" || dt == "boolean") lo = 0, hi = 255;
    else if (dt == "i32") lo = -2147483648.0, hi = 2147483647.0;
    else if (dt == "i64") lo = -9.2e18, hi = 9.2e18;
    else if (dt != "f32" && dt != "f16") fail(l, ErrorCode::UnsupportedOp, "Convert to " + dt);
    if (dt != "f32" && dt != "f16")
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(std::clamp<double>(std::trunc(p[i]), lo, hi));
    return const_value(std::move(t), l.name);
}

Value transpose(Builder& b, const Layer& l, const std::vector<Value>& in) {
    need_inputs(l, in, 2, 2);
    const Shape& s = in[0].shape;
    std::vector<int64_t> order = const_ints(l, in[1], "the Transpose order");
    if (order.empty()) for (size_t i = s.size(); i-- > 0;) order.push_back(static_cast<int64_t>(i));
    std::vector<bool> seen(s.size(), false);
    if (order.size() != s.size()) fail(l, ErrorCode::InvalidArgument, "order has " + std::to_string(order.size()) + " entries for rank " + std::to_string(s.size()));
    for (int64_t o : order) {
        if (o < 0 || o >= static_cast<int64_t>(s.size()) || seen[static_cast<size_t>(o)]) fail(l, ErrorCode::InvalidArgument, "order is not a permutation");
        seen[static_cast<size_t>(o)] = true;
    }
    Shape out;
    for (int64_t o : order) out.push_back(s[static_cast<size_t>(o)]);
    if (in[0].is_const) {
        Tensor t(ElemType::f32, out);
        std::vector<int64_t> stride(s.size(), 1), idx(out.size(), 0);
        for (size_t i = s.size(); i-- > 1;) stride[i - 1] = stride[i] * s[i];
        for (int64_t n = 0; n < t.numel(); ++n) {
            int64_t src = 0;
            for (size_t i = 0; i < out.size(); ++i) src += idx[i] * stride[static_cast<size_t>(order[i])];
            t.data<float>()[n] = in[0].c.data<float>()[src];
            for (size_t i = out.size(); i-- > 0;) {
                if (++idx[i] < out[i]) break;
                idx[i] = 0;
            }
        }
        return const_value(std::move(t), l.name);
    }
    // An activation transpose that only moves size-1 axes is a reshape; any other runs in fp32.
    std::vector<int64_t> moved;
    for (int64_t o : order) if (s[static_cast<size_t>(o)] != 1) moved.push_back(o);
    if (!std::is_sorted(moved.begin(), moved.end())) return node_value(b, b.g.transpose(l.name, in[0].ref, order), l.name);
    return reshape_to(b, l, in[0], out);
}

Value squeeze(Builder& b, const Layer& l, const std::vector<Value>& in, bool un) {
    need_inputs(l, in, un ? 2 : 1, 2);
    Shape s = in[0].shape;
    std::vector<int64_t> axes = in.size() > 1 ? const_ints(l, in[1], "the axes") : std::vector<int64_t>{};
    const int64_t rank = static_cast<int64_t>(s.size()) + (un ? static_cast<int64_t>(axes.size()) : 0);
    for (int64_t& a : axes) {
        if (a < 0) a += rank;
        if (a < 0 || a >= rank) fail(l, ErrorCode::InvalidArgument, "axis out of range for rank " + std::to_string(rank));
    }
    std::sort(axes.begin(), axes.end());
    Shape out;
    if (un) {
        out = s;
        for (int64_t a : axes) {
            if (a > static_cast<int64_t>(out.size())) fail(l, ErrorCode::InvalidArgument, "repeated or out-of-range axes");
            out.insert(out.begin() + a, 1);
        }
    } else {
        for (size_t i = 0; i < s.size(); ++i) {
            const bool listed = std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(i));
            if (listed && s[i] != 1) fail(l, ErrorCode::ShapeMismatch, "cannot squeeze axis " + std::to_string(i) + " of " + to_string(s));
            if (!(listed || (axes.empty() && s[i] == 1))) out.push_back(s[i]);
        }
    }
    return reshape_to(b, l, in[0], out);
}

Value parameter(Builder& b, const Layer& l) {
    const std::string f32 = "f32";
    const std::string et = attr(l, "element_type", &f32);
    // u8 / i8 inputs (an image, then Convert to f32) are given to run() as f32 values.
    if (et != "f32" && et != "u8" && et != "i8")
        fail(l, ErrorCode::UnsupportedOp, "Parameter element_type " + et + " (f32, u8 and i8 inputs only)");
    Shape s;
    auto fixed = b.opts->input_shapes.find(l.name);
    if (fixed != b.opts->input_shapes.end()) {
        s = fixed->second;
    } else {
        if (l.data.count("shape")) {
            std::string txt = l.data.at("shape");
            std::string item;
            txt += ',';
            for (char c : txt) {
                if (c == '[' || c == ']' || c == ' ') continue;
                if (c != ',') { item += c; continue; }
                if (item.empty()) continue;
                char* end = nullptr;
                const long long v = std::strtoll(item.c_str(), &end, 10);
                s.push_back(*end == '\0' && v >= 0 ? v : -1);
                item.clear();
            }
        } else if (!l.outputs.empty()) {
            s = l.outputs[0].dims;
        }
        for (size_t i = 0; i < s.size(); ++i) {
            if (s[i] >= 0) continue;
            if (i != 0)
                fail(l, ErrorCode::UnsupportedOp,
                     "dimension " + std::to_string(i) + " is dynamic; fix the shape (ImportOptions::input_shapes, qjit --shape)");
            s[i] = b.opts->default_batch;
        }
    }
    return node_value(b, b.g.parameter(l.name, s), l.name);
}

} // namespace

Value convert_layer(Builder& b, const Layer& l, const std::vector<Value>& in) {
    const std::string& t = l.type;
    auto m = [&](size_t i, const char* role) { return b.materialize(in[i], l.name + "/" + role); };
    auto flag = [&](const char* key) {
        const std::string no = "false";
        const std::string v = attr(l, key, &no);
        if (v != "true" && v != "false" && v != "1" && v != "0") fail(l, ErrorCode::InvalidArgument, std::string(key) + "=" + v);
        return v == "true" || v == "1";
    };
    if (t == "Parameter") return parameter(b, l);
    if (t == "Const") {
        if (!b.bin_missing.empty()) fail(l, ErrorCode::InvalidArgument, "cannot open the weights file " + b.bin_missing);
        return const_value(read_const(l, b.bin, b.bin_size), l.name);
    }
    if (t == "Convert") return convert_op(l, in);
    if (t == "FakeQuantize") {
        need_inputs(l, in, 5, 5);
        const std::string numpy = "numpy";
        const std::string bc = attr(l, "auto_broadcast", &numpy);
        const Broadcast br = bc == "numpy" ? Broadcast::numpy : bc == "none" ? Broadcast::none : bc == "pdpd" ? Broadcast::pdpd
                                                                                                  : (fail(l, ErrorCode::UnsupportedOp, "auto_broadcast=" + bc), Broadcast::none);
        const double levels = attr_num(l, "levels");
        if (levels != std::floor(levels) || levels < 0 || levels > 1e6) fail(l, ErrorCode::InvalidLevels, "levels=" + attr(l, "levels"));
        return node_value(b, b.g.fake_quantize(l.name, m(0, "x"), m(1, "in_low"), m(2, "in_high"), m(3, "out_low"), m(4, "out_high"),
                                               static_cast<int64_t>(levels), br), l.name);
    }
    if (t == "Convolution" || t == "GroupConvolution") {
        need_inputs(l, in, 2, 2);
        const ConvParams p = conv_params(l, in[0].shape, in[1].shape);
        NodeRef x = m(0, "x"), w = m(1, "weights");
        return node_value(b, t == "Convolution" ? b.g.convolution(l.name, x, w, p) : b.g.group_convolution(l.name, x, w, p), l.name);
    }
    if (t == "MatMul") {
        need_inputs(l, in, 2, 2);
        const bool ta = flag("transpose_a"), tb = flag("transpose_b");
        return node_value(b, b.g.matmul(l.name, m(0, "a"), m(1, "b"), ta, tb), l.name);
    }
    if (t == "Add") return binary(b, l, in, '+');
    if (t == "Subtract") return binary(b, l, in, '-');
    if (t == "Multiply") return binary(b, l, in, '*');
    if (t == "Relu") {
        need_inputs(l, in, 1, 1);
        return node_value(b, b.g.relu(l.name, m(0, "x")), l.name);
    }
    if (t == "Clamp") {
        need_inputs(l, in, 1, 1);
        const double lo = attr_num(l, "min"), hi = attr_num(l, "max");
        return node_value(b, b.g.clamp(l.name, m(0, "x"), static_cast<float>(lo), static_cast<float>(hi)), l.name);
    }
    if (t == "Concat") {
        if (in.empty()) fail(l, ErrorCode::InvalidArgument, "Concat has no inputs");
        std::vector<NodeRef> xs;
        for (size_t i = 0; i < in.size(); ++i) xs.push_back(m(i, ("in" + std::to_string(i)).c_str()));
        const std::vector<int64_t> axis = attr_ints(l, "axis");
        if (axis.size() != 1) fail(l, ErrorCode::InvalidArgument, "axis must be one integer");
        return node_value(b, b.g.concat(l.name, xs, axis[0]), l.name);
    }
    if (t == "MaxPool") return pool(b, l, in, true);
    if (t == "AvgPool") return pool(b, l, in, false);
    if (t == "Reshape") {
        need_inputs(l, in, 2, 2);
        Shape target = const_ints(l, in[1], "the Reshape target shape");
        const bool special_zero = flag("special_zero");
        int64_t known = 1, infer = -1;
        for (size_t i = 0; i < target.size(); ++i) {
            if (target[i] == 0 && special_zero) {
                if (i >= in[0].shape.size()) fail(l, ErrorCode::InvalidArgument, "special_zero copies a dimension the input lacks");
                target[i] = in[0].shape[i];
            } else if (target[i] == 0) {
                fail(l, ErrorCode::UnsupportedOp, "a zero-size dimension in the target shape");
            }
            if (target[i] == -1) infer = static_cast<int64_t>(i);
            else if (target[i] < -1) fail(l, ErrorCode::InvalidArgument, "target dimension " + std::to_string(target[i]));
            else known *= target[i];
        }
        if (infer >= 0 && known > 0) target[static_cast<size_t>(infer)] = num_elements(in[0].shape) / known;
        return reshape_to(b, l, in[0], target);
    }
    if (t == "Transpose") return transpose(b, l, in);
    if (t == "Squeeze") return squeeze(b, l, in, false);
    if (t == "Unsqueeze") return squeeze(b, l, in, true);
    if (t == "Result") {
        need_inputs(l, in, 1, 1);
        return node_value(b, b.g.result(l.name, m(0, "x")), l.name);
    }
    fail(l, ErrorCode::UnsupportedOp, "layer type '" + t + "' is not supported");
}

} // namespace qjit::ovir
