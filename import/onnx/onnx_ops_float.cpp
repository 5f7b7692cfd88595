// Float compute ops: Conv, Gemm, MatMul, elementwise arithmetic and activations, pooling,
// Softmax, BatchNormalization (folded into a per-channel Multiply + Add).
#include <cmath>

#include "import/onnx/onnx_importer.hpp"

namespace qjit::onnx_import {

NodeRef channel_vector(Importer& im, const Value& v, size_t rank) {
    Shape s(rank, 1);
    if (v.kind == Value::Const || v.kind == Value::ConstDQ) {
        if (v.c.shape.size() != 1) im.fail(ErrorCode::ShapeMismatch, "per-channel vector of shape " + to_string(v.c.shape));
        s[1] = v.c.shape[0];
        HostTensor c = v.kind == Value::ConstDQ ? dequantize_host(v.c, v.q) : v.c;
        c.shape = s;
        return im.constant(c, "channels");
    }
    NodeRef r = im.as_float(v);
    s[1] = num_elements(im.g.shape_of(r));
    return im.g.reshape(im.fresh("channels"), r, s);
}

NodeRef build_conv(Importer& im, NodeRef x, const Value& w, const Value* bias) {
    const Shape xs = im.g.shape_of(x);
    const Shape ws = w.shape;
    if (xs.size() != 4 || ws.size() != 4)
        im.fail(ErrorCode::UnsupportedOp, "only 2-D convolution (rank-4 data and weights) is supported, got data " +
                                              to_string(xs) + ", weights " + to_string(ws));
    ConvParams p;
    p.strides = im.attr_ints("strides", {1, 1});
    p.dilations = im.attr_ints("dilations", {1, 1});
    const std::vector<int64_t> pads = im.attr_ints("pads", {0, 0, 0, 0});
    if (pads.size() != 4) im.fail(ErrorCode::InvalidArgument, "pads needs 4 values");
    p.pads_begin = {pads[0], pads[1]};
    p.pads_end = {pads[2], pads[3]};
    auto extra = im.conv_extra_pads.find(im.cur);
    if (extra != im.conv_extra_pads.end()) {
        for (size_t a = 0; a < 2; ++a) {
            p.pads_begin[a] += extra->second[a];
            p.pads_end[a] += extra->second[2 + a];
        }
    }
    const std::string auto_pad = im.attr_s("auto_pad", "NOTSET");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        for (size_t a = 0; a < 2; ++a) {
            const int64_t in = xs[2 + a], st = p.strides[a], k = (ws[2 + a] - 1) * p.dilations[a] + 1;
            const int64_t out = (in + st - 1) / st, total = std::max<int64_t>(0, (out - 1) * st + k - in);
            const int64_t small = total / 2;
            p.pads_begin[a] = auto_pad == "SAME_UPPER" ? small : total - small;
            p.pads_end[a] = total - p.pads_begin[a];
        }
    } else if (auto_pad == "VALID") {
        p.pads_begin = p.pads_end = {0, 0};
    } else if (auto_pad != "NOTSET") {
        im.fail(ErrorCode::InvalidArgument, "auto_pad " + auto_pad);
    }
    const int64_t group = im.attr_i("group", 1);
    NodeRef y;
    if (group == 1) {
        y = im.g.convolution(im.node_name(), x, im.weights(w, ws, 0), p);
    } else {
        if (group < 1 || ws[0] % group != 0)
            im.fail(ErrorCode::InvalidArgument, "group " + std::to_string(group) + " does not divide " + std::to_string(ws[0]));
        const Shape gs{group, ws[0] / group, ws[1], ws[2], ws[3]};
        y = im.g.group_convolution(im.node_name(), x, im.weights(w, gs, 0), p);
    }
    if (bias) y = im.g.add(im.fresh("bias"), y, channel_vector(im, *bias, 4));
    return y;
}

namespace {

void conv(Importer& im, const onnx::NodeProto&) {
    NodeRef x = im.as_float(im.in(0));
    Value b;
    if (im.has_input(2)) b = im.in(2);
    im.set_out(0, im.float_value(build_conv(im, x, im.in(1), im.has_input(2) ? &b : nullptr)));
}

void matmul(Importer& im, const onnx::NodeProto&) {
    NodeRef a = im.as_float(im.in(0));
    const Value& b = im.in(1);
    NodeRef bf = b.shape.size() == 2 ? im.weights(b, b.shape, 1) : im.as_float(b);
    if (im.g.shape_of(a).size() < 2 || im.g.shape_of(bf).size() < 2)
        im.fail(ErrorCode::UnsupportedOp, "MatMul of a rank-1 operand");
    im.set_out(0, im.float_value(im.g.matmul(im.node_name(), a, bf)));
}

void gemm(Importer& im, const onnx::NodeProto&) {
    NodeRef a = im.as_float(im.in(0));
    const Value& b = im.in(1);
    const bool ta = im.attr_i("transA", 0) != 0, tb = im.attr_i("transB", 0) != 0;
    NodeRef bf = im.weights(b, b.shape, tb ? 0 : 1);
    NodeRef y = im.g.matmul(im.node_name(), a, bf, ta, tb);
    const float alpha = im.attr_f("alpha", 1.f), beta = im.attr_f("beta", 1.f);
    if (alpha != 1.f)
        y = im.g.multiply(im.fresh("alpha"), y, im.g.constant(im.fresh("alpha_value"), Tensor::f32({}, {alpha})));
    if (im.has_input(2)) {
        NodeRef c = im.as_float(im.in(2));
        if (beta != 1.f)
            c = im.g.multiply(im.fresh("beta"), c, im.g.constant(im.fresh("beta_value"), Tensor::f32({}, {beta})));
        y = im.g.add(im.fresh("plus_c"), y, c);
    }
    im.set_out(0, im.float_value(y));
}

// Integer operands of arithmetic: ONNX wraps around; quantized models never rely on it.
NodeRef arith_operand(Importer& im, size_t i) {
    const Value& v = im.in(i);
    const bool integer = v.kind == Value::Quant || v.kind == Value::Codes || (v.kind == Value::Const && is_int(v.c.dtype));
    if (integer && !(v.kind == Value::Const))
        im.fail(ErrorCode::UnsupportedOp, "integer arithmetic (ONNX wraps around) is not supported; quantized "
                                          "models compute on dequantized tensors");
    return im.as_float(v);
}

template <NodeRef (Graph::*Op)(const std::string&, NodeRef, NodeRef)> void binary(Importer& im, const onnx::NodeProto& n) {
    if (fold_constant_arith(im, n.op_type())) return;
    NodeRef a = arith_operand(im, 0), b = arith_operand(im, 1);
    im.set_out(0, im.float_value((im.g.*Op)(im.node_name(), a, b)));
}

// Elementwise op on any value: on codes it keeps the integer type (Clip, Relu of int8).
template <class F> void unary(Importer& im, F f, bool keeps_codes) {
    const Value& x = im.in(0);
    if (x.kind == Value::Codes || x.kind == Value::Quant) {
        if (!keeps_codes) im.fail(ErrorCode::UnsupportedOp, "this op on an integer tensor");
        Value v;
        v.kind = Value::Codes;
        v.dtype = x.dtype;
        v.ref = f(im.as_codes(x));
        im.set_out(0, std::move(v));
        return;
    }
    im.set_out(0, im.float_value(f(im.as_float(x))));
}

void clip(Importer& im, const onnx::NodeProto&) {
    float lo = -INFINITY, hi = INFINITY;
    if (im.opset < 11) {
        lo = im.attr_f("min", lo);
        hi = im.attr_f("max", hi);
    } else {
        if (im.has_input(1)) lo = static_cast<float>(im.const_in(1, "min").v.at(0));
        if (im.has_input(2)) hi = static_cast<float>(im.const_in(2, "max").v.at(0));
    }
    const Value& x = im.in(0);
    if (x.kind == Value::Codes || x.kind == Value::Quant) {
        const double tmin = x.dtype == U8 ? 0 : x.dtype == S8 ? -128 : -2147483648.0;
        const double tmax = x.dtype == U8 ? 255 : x.dtype == S8 ? 127 : 2147483647.0;
        if (!im.has_input(1)) lo = static_cast<float>(tmin);
        if (!im.has_input(2)) hi = static_cast<float>(tmax);
    }
    unary(im, [&](NodeRef r) { return im.g.clamp(im.node_name(), r, lo, hi); }, true);
}

void pool_attrs(Importer& im, const Shape& xs, std::vector<int64_t>& k, std::vector<int64_t>& st,
                std::vector<int64_t>& pb, std::vector<int64_t>& pe, RoundingType& r) {
    if (xs.size() != 4) im.fail(ErrorCode::UnsupportedOp, "only 2-D pooling (rank-4 data) is supported");
    k = im.attr_ints("kernel_shape", {});
    if (k.size() != 2) im.fail(ErrorCode::InvalidArgument, "kernel_shape needs 2 values");
    st = im.attr_ints("strides", {1, 1});
    const std::vector<int64_t> pads = im.attr_ints("pads", {0, 0, 0, 0});
    if (pads.size() != 4) im.fail(ErrorCode::InvalidArgument, "pads needs 4 values");
    pb = {pads[0], pads[1]};
    pe = {pads[2], pads[3]};
    if (im.attr_ints("dilations", {1, 1}) != std::vector<int64_t>{1, 1})
        im.fail(ErrorCode::UnsupportedOp, "dilated pooling");
    r = im.attr_i("ceil_mode", 0) ? RoundingType::ceil : RoundingType::floor;
    const std::string ap = im.attr_s("auto_pad", "NOTSET");
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
        for (size_t a = 0; a < 2; ++a) {
            const int64_t in = xs[2 + a], out = (in + st[a] - 1) / st[a];
            const int64_t total = std::max<int64_t>(0, (out - 1) * st[a] + k[a] - in);
            pb[a] = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
            pe[a] = total - pb[a];
        }
    } else if (ap == "VALID") {
        pb = pe = {0, 0};
    }
}

void max_pool(Importer& im, const onnx::NodeProto& n) {
    if (n.output_size() > 1 && !n.output(1).empty()) im.fail(ErrorCode::UnsupportedOp, "MaxPool Indices output");
    if (im.attr_i("storage_order", 0) != 0) im.fail(ErrorCode::UnsupportedOp, "storage_order = 1");
    const Value& x = im.in(0);
    std::vector<int64_t> k, st, pb, pe;
    RoundingType r;
    pool_attrs(im, x.shape, k, st, pb, pe, r);
    auto f = [&](NodeRef v) { return im.g.max_pool(im.node_name(), v, k, st, pb, pe, r); };
    if (x.kind == Value::Quant) { // quantization is monotone: MaxPool(Q(x)) = Q(MaxPool(x))
        Value v = x;
        v.ref = f(x.ref);
        im.set_out(0, std::move(v));
        return;
    }
    unary(im, f, true);
}

void avg_pool(Importer& im, const onnx::NodeProto&) {
    NodeRef x = arith_operand(im, 0);
    std::vector<int64_t> k, st, pb, pe;
    RoundingType r;
    pool_attrs(im, im.g.shape_of(x), k, st, pb, pe, r);
    const bool exclude = im.attr_i("count_include_pad", 0) == 0;
    im.set_out(0, im.float_value(im.g.avg_pool(im.node_name(), x, k, st, pb, pe, exclude, r)));
}

void global_avg_pool(Importer& im, const onnx::NodeProto&) {
    NodeRef x = arith_operand(im, 0);
    const Shape s = im.g.shape_of(x);
    if (s.size() != 4) im.fail(ErrorCode::UnsupportedOp, "only rank-4 GlobalAveragePool is supported");
    im.set_out(0, im.float_value(im.g.avg_pool(im.node_name(), x, {s[2], s[3]}, {1, 1}, {0, 0}, {0, 0}, true)));
}

void softmax(Importer& im, const onnx::NodeProto&) {
    NodeRef x = arith_operand(im, 0);
    const Shape s = im.g.shape_of(x);
    const int64_t axis = norm_axis(im.attr_i("axis", im.opset < 13 ? 1 : -1), s.size(), im);
    if (im.opset < 13 && axis != static_cast<int64_t>(s.size()) - 1) {
        // Softmax-1/11 flattens to 2-D at `axis`.
        int64_t inner = 1;
        for (size_t d = static_cast<size_t>(axis); d < s.size(); ++d) inner *= s[d];
        NodeRef flat = im.g.reshape(im.fresh("flatten"), x, {num_elements(s) / inner, inner});
        NodeRef y = im.g.softmax(im.node_name(), flat, 1);
        im.set_out(0, im.float_value(im.g.reshape(im.fresh("unflatten"), y, s)));
        return;
    }
    im.set_out(0, im.float_value(im.g.softmax(im.node_name(), x, axis)));
}

void batch_norm(Importer& im, const onnx::NodeProto&) {
    NodeRef x = arith_operand(im, 0);
    const std::vector<float> gamma = to_f32(im.const_in(1, "scale")), beta = to_f32(im.const_in(2, "bias"));
    const std::vector<float> mean = to_f32(im.const_in(3, "mean")), var = to_f32(im.const_in(4, "var"));
    const double eps = im.attr_f("epsilon", 1e-5f);
    const size_t c = gamma.size();
    if (beta.size() != c || mean.size() != c || var.size() != c)
        im.fail(ErrorCode::ShapeMismatch, "scale, bias, mean and var differ in size");
    std::vector<float> mul(c), add(c);
    for (size_t i = 0; i < c; ++i) {
        const double m = gamma[i] / std::sqrt(static_cast<double>(var[i]) + eps);
        mul[i] = static_cast<float>(m);
        add[i] = static_cast<float>(beta[i] - mean[i] * m);
    }
    const size_t rank = im.g.shape_of(x).size();
    NodeRef y = im.g.multiply(im.fresh("scale"), x, im.g.constant(im.fresh("bn_scale"), range_tensor(mul, 1, rank)));
    y = im.g.add(im.node_name(), y, im.g.constant(im.fresh("bn_shift"), range_tensor(add, 1, rank)));
    im.set_out(0, im.float_value(y));
}

} // namespace

void register_float_ops(std::map<std::string, Translator>& t) {
    t["Conv"] = conv;
    t["MatMul"] = matmul;
    t["Gemm"] = gemm;
    t["Add"] = binary<&Graph::add>;
    t["Sub"] = binary<&Graph::subtract>;
    t["Mul"] = binary<&Graph::multiply>;
    t["Clip"] = clip;
    t["Relu"] = [](Importer& im, const onnx::NodeProto&) {
        unary(im, [&](NodeRef r) { return im.g.relu(im.node_name(), r); }, false);
    };
    t["LeakyRelu"] = [](Importer& im, const onnx::NodeProto&) {
        const float a = im.attr_f("alpha", 0.01f);
        unary(im, [&](NodeRef r) { return im.g.leaky_relu(im.node_name(), r, a); }, false);
    };
    t["Sigmoid"] = [](Importer& im, const onnx::NodeProto&) {
        unary(im, [&](NodeRef r) { return im.g.sigmoid(im.node_name(), r); }, false);
    };
    t["HardSigmoid"] = [](Importer& im, const onnx::NodeProto&) {
        const float a = im.attr_f("alpha", 0.2f), b = im.attr_f("beta", 0.5f);
        unary(im, [&](NodeRef r) { return im.g.hard_sigmoid(im.node_name(), r, a, b); }, false);
    };
    t["HardSwish"] = [](Importer& im, const onnx::NodeProto&) {
        unary(im, [&](NodeRef r) { return im.g.hard_swish(im.node_name(), r); }, false);
    };
    t["Softmax"] = softmax;
    t["MaxPool"] = max_pool;
    t["AveragePool"] = avg_pool;
    t["GlobalAveragePool"] = global_avg_pool;
    t["BatchNormalization"] = batch_norm;
}

} // namespace qjit::onnx_import
