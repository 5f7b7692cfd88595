// Data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Pad, Resize, Tile,
// Identity. On constants they fold; on quantized tensors (Quant) they move the float tensor before
// its quantization when that commutes (per-tensor parameters), else they move the codes.
#include <cmath>

#include "import/onnx/onnx_importer.hpp"

namespace qjit::onnx_import {

namespace {

using GraphOp = std::function<NodeRef(NodeRef)>;
using HostOp = std::function<HostTensor(const HostTensor&)>;

// Applies a data-movement op to any value kind.
void move_data(Importer& im, const GraphOp& f, const HostOp& host) {
    const Value& x = im.in(0);
    Value v;
    switch (x.kind) {
    case Value::Const:
        v.c = host(x.c);
        break;
    case Value::ConstDQ:
        if (x.q.per_tensor()) {
            v = x;
            v.c = host(x.c);
        } else {
            v = im.float_value(f(im.as_float(x)));
        }
        break;
    case Value::Quant:
        v = x;
        if (x.q.per_tensor()) {
            v.ref = f(x.ref);
        } else {
            v.kind = Value::Codes;
            v.ref = f(im.as_codes(x));
        }
        break;
    case Value::Codes:
    case Value::Float:
        v = x;
        v.ref = f(x.ref);
        break;
    }
    im.set_out(0, std::move(v));
}

void reshape_to(Importer& im, const Shape& target) {
    move_data(im, [&](NodeRef r) { return im.g.reshape(im.node_name(), r, target); },
              [&](const HostTensor& t) {
                  HostTensor r = t;
                  r.shape = target;
                  if (num_elements(target) != t.numel())
                      im.fail(ErrorCode::ShapeMismatch, "reshape of " + to_string(t.shape) + " to " + to_string(target));
                  return r;
              });
}

// ONNX Reshape target resolved against the input shape (0 copies, -1 infers).
Shape resolve(Importer& im, const Shape& in, std::vector<int64_t> t, bool allow_zero) {
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == 0 && !allow_zero) {
            if (i >= in.size()) im.fail(ErrorCode::InvalidArgument, "reshape 0 beyond the input rank");
            t[i] = in[i];
        }
        if (t[i] == -1) infer = static_cast<int64_t>(i);
        else known *= t[i];
    }
    if (infer >= 0) {
        if (known == 0 || num_elements(in) % known != 0)
            im.fail(ErrorCode::ShapeMismatch, "cannot infer -1 reshaping " + to_string(in) + " to " + to_string(t));
        t[static_cast<size_t>(infer)] = num_elements(in) / known;
    }
    return t;
}

void reshape(Importer& im, const onnx::NodeProto&) {
    const std::vector<int64_t> t = im.opset < 5 ? im.attr_ints("shape", {}) : to_i64(im.const_in(1, "the target shape"));
    reshape_to(im, resolve(im, im.in(0).shape, t, im.attr_i("allowzero", 0) != 0));
}

void flatten(Importer& im, const onnx::NodeProto&) {
    const Shape& s = im.in(0).shape;
    const int64_t r = static_cast<int64_t>(s.size());
    int64_t axis = im.attr_i("axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) im.fail(ErrorCode::InvalidArgument, "Flatten axis out of range");
    int64_t a = 1;
    for (int64_t d = 0; d < axis; ++d) a *= s[static_cast<size_t>(d)];
    reshape_to(im, {a, num_elements(s) / a});
}

std::vector<int64_t> axes_arg(Importer& im) {
    if (im.opset < 13) return im.attr_ints("axes", {});
    return im.has_input(1) ? to_i64(im.const_in(1, "axes")) : std::vector<int64_t>{};
}

void unsqueeze(Importer& im, const onnx::NodeProto&) {
    const Shape& s = im.in(0).shape;
    const std::vector<int64_t> axes = axes_arg(im);
    const size_t r = s.size() + axes.size();
    std::vector<bool> ins(r, false);
    for (int64_t a : axes) ins[static_cast<size_t>(norm_axis(a, r, im))] = true;
    Shape out;
    size_t k = 0;
    for (size_t i = 0; i < r; ++i) out.push_back(ins[i] ? 1 : s[k++]);
    reshape_to(im, out);
}

void squeeze(Importer& im, const onnx::NodeProto&) {
    const Shape& s = im.in(0).shape;
    const std::vector<int64_t> axes = axes_arg(im);
    std::vector<bool> drop(s.size(), axes.empty());
    if (axes.empty())
        for (size_t i = 0; i < s.size(); ++i) drop[i] = s[i] == 1;
    for (int64_t a : axes) drop[static_cast<size_t>(norm_axis(a, s.size(), im))] = true;
    Shape out;
    for (size_t i = 0; i < s.size(); ++i)
        if (!drop[i]) out.push_back(s[i]);
    reshape_to(im, out);
}

void transpose(Importer& im, const onnx::NodeProto&) {
    const Shape& s = im.in(0).shape;
    std::vector<int64_t> perm = im.attr_ints("perm", {});
    if (perm.empty())
        for (size_t i = s.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    move_data(im, [&](NodeRef r) { return im.g.transpose(im.node_name(), r, perm); },
              [&](const HostTensor& t) { return host_transpose(t, perm); });
}

void tile(Importer& im, const onnx::NodeProto&) {
    const std::vector<int64_t> rep = to_i64(im.const_in(1, "repeats"));
    const Shape& s = im.in(0).shape;
    if (rep.size() != s.size()) im.fail(ErrorCode::ShapeMismatch, "repeats does not match the rank");
    Shape out(s.size());
    for (size_t i = 0; i < s.size(); ++i)
        if (rep[i] < 1 || __builtin_mul_overflow(s[i], rep[i], &out[i]))
            im.fail(ErrorCode::InvalidArgument, "repeats " + to_string(rep) + " has a value < 1 or overflows");
    if (im.in(0).kind == Value::Const) checked_numel(out, im);
    move_data(im, [&](NodeRef r) { return im.g.tile(im.node_name(), r, rep); },
              [&](const HostTensor& t) { return host_tile(t, rep); });
}

void concat(Importer& im, const onnx::NodeProto& n) {
    const size_t count = static_cast<size_t>(n.input_size());
    const Value& first = im.in(0);
    const int64_t axis = norm_axis(im.attr_i("axis", 0), first.shape.size(), im);
    bool all_const = true, all_quant = true, any_int = false;
    for (size_t i = 0; i < count; ++i) {
        const Value& v = im.in(i);
        all_const = all_const && v.kind == Value::Const;
        all_quant = all_quant && v.kind == Value::Quant && v.q.per_tensor() && v.q.same(first.q);
        any_int = any_int || v.kind == Value::Quant || v.kind == Value::Codes || (v.kind == Value::Const && is_int(v.c.dtype));
    }
    Value out;
    if (all_const) {
        std::vector<const HostTensor*> xs;
        for (size_t i = 0; i < count; ++i) xs.push_back(&im.in(i).c);
        out.c = host_concat(xs, axis);
        im.set_out(0, std::move(out));
        return;
    }
    std::vector<NodeRef> refs;
    for (size_t i = 0; i < count; ++i) {
        const Value& v = im.in(i);
        refs.push_back(all_quant ? v.ref : any_int ? im.as_codes(v) : im.as_float(v));
    }
    out = all_quant ? first : Value{};
    out.kind = all_quant ? Value::Quant : any_int ? Value::Codes : Value::Float;
    if (!all_quant && any_int) out.dtype = first.kind == Value::Const ? first.c.dtype : first.dtype;
    out.ref = im.g.concat(im.node_name(), refs, axis);
    im.set_out(0, std::move(out));
}

void pad(Importer& im, const onnx::NodeProto&) {
    if (im.attr_s("mode", "constant") != "constant")
        im.fail(ErrorCode::UnsupportedOp, "Pad mode '" + im.attr_s("mode", "") + "' (only constant)");
    const Value& x = im.in(0);
    const size_t r = x.shape.size();
    std::vector<int64_t> pads;
    double value = 0;
    if (im.opset < 11) {
        pads = im.attr_ints("pads", {});
        value = im.attr_f("value", 0.f);
    } else {
        pads = to_i64(im.const_in(1, "pads"));
        if (im.has_input(2) && im.const_in(2, "constant_value").numel() > 0) value = im.const_in(2, "constant_value").v[0];
    }
    std::vector<int64_t> axes;
    if (im.has_input(3)) axes = to_i64(im.const_in(3, "axes"));
    else for (size_t i = 0; i < r; ++i) axes.push_back(static_cast<int64_t>(i));
    if (pads.size() != 2 * axes.size()) im.fail(ErrorCode::InvalidArgument, "pads has the wrong length");
    std::vector<int64_t> b(r, 0), e(r, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
        const size_t a = static_cast<size_t>(norm_axis(axes[i], r, im));
        b[a] = pads[i];
        e[a] = pads[i + axes.size()];
    }
    float fv = static_cast<float>(value);
    if (x.kind == Value::Quant) fv = static_cast<float>(static_cast<float>(value - x.q.zp[0]) * x.q.scale[0]);
    if (x.kind == Value::Quant && !x.q.per_tensor()) im.fail(ErrorCode::UnsupportedOp, "Pad of a per-axis quantized tensor");
    move_data(im, [&](NodeRef v) { return im.g.pad(im.node_name(), v, b, e, fv); },
              [&](const HostTensor&) -> HostTensor { im.fail(ErrorCode::UnsupportedOp, "Pad of a constant"); });
}

void resize(Importer& im, const onnx::NodeProto&) {
    const Value& x = im.in(0);
    const Shape& s = x.shape;
    if (s.size() != 4) im.fail(ErrorCode::UnsupportedOp, "Resize of a rank-" + std::to_string(s.size()) + " tensor");
    ResizeParams p;
    const std::string mode = im.attr_s("mode", "nearest");
    if (mode == "nearest") p.mode = ResizeMode::nearest;
    else if (mode == "linear") p.mode = ResizeMode::linear;
    else im.fail(ErrorCode::UnsupportedOp, "Resize mode '" + mode + "' (nearest and linear only)");
    const std::string ct = im.attr_s("coordinate_transformation_mode", im.opset < 11 ? "asymmetric" : "half_pixel");
    if (ct == "half_pixel") p.coord = ResizeCoord::half_pixel;
    else if (ct == "pytorch_half_pixel") p.coord = ResizeCoord::pytorch_half_pixel;
    else if (ct == "align_corners") p.coord = ResizeCoord::align_corners;
    else if (ct == "asymmetric") p.coord = ResizeCoord::asymmetric;
    else if (ct == "tf_half_pixel_for_nn") p.coord = ResizeCoord::tf_half_pixel_for_nn;
    else im.fail(ErrorCode::UnsupportedOp, "coordinate_transformation_mode '" + ct + "'");
    const std::string nm = im.attr_s("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") p.nearest = ResizeNearest::round_prefer_floor;
    else if (nm == "round_prefer_ceil") p.nearest = ResizeNearest::round_prefer_ceil;
    else if (nm == "floor") p.nearest = ResizeNearest::floor;
    else if (nm == "ceil") p.nearest = ResizeNearest::ceil;
    else im.fail(ErrorCode::UnsupportedOp, "nearest_mode '" + nm + "'");
    if (im.attr_i("antialias", 0) != 0) im.fail(ErrorCode::UnsupportedOp, "antialias");
    if (im.has_attr("axes")) im.fail(ErrorCode::UnsupportedOp, "Resize axes attribute");
    Shape out = s;
    std::vector<double> scales(4, 1.0);
    const size_t scales_i = im.opset < 11 ? 1 : 2;
    if (im.has_input(scales_i) && im.const_in(scales_i, "scales").numel() > 0) {
        scales = im.const_in(scales_i, "scales").v;
        if (scales.size() != 4) im.fail(ErrorCode::InvalidArgument, "scales needs 4 values");
        for (size_t i = 0; i < 4; ++i) out[i] = static_cast<int64_t>(std::floor(s[i] * static_cast<float>(scales[i])));
    } else if (im.has_input(3)) {
        out = to_i64(im.const_in(3, "sizes"));
        if (out.size() != 4) im.fail(ErrorCode::InvalidArgument, "sizes needs 4 values");
        for (size_t i = 0; i < 4; ++i) scales[i] = static_cast<double>(out[i]) / static_cast<double>(s[i]);
    } else {
        im.fail(ErrorCode::InvalidArgument, "Resize without scales or sizes");
    }
    p.scales = {static_cast<float>(scales[2]), static_cast<float>(scales[3])};
    if (x.kind != Value::Float && p.mode == ResizeMode::linear) {
        im.set_out(0, im.float_value(im.g.resize(im.node_name(), im.as_float(x), out, p)));
        return;
    }
    move_data(im, [&](NodeRef v) { return im.g.resize(im.node_name(), v, out, p); },
              [&](const HostTensor&) -> HostTensor { im.fail(ErrorCode::UnsupportedOp, "Resize of a constant"); });
}

} // namespace

void register_layout_ops(std::map<std::string, Translator>& t) {
    t["Reshape"] = reshape;
    t["Flatten"] = flatten;
    t["Unsqueeze"] = unsqueeze;
    t["Squeeze"] = squeeze;
    t["Transpose"] = transpose;
    t["Tile"] = tile;
    t["Concat"] = concat;
    t["Pad"] = pad;
    t["Resize"] = resize;
    t["Identity"] = [](Importer& im, const onnx::NodeProto&) { im.set_out(0, im.in(0)); };
}

} // namespace qjit::onnx_import
