// QuantizeLinear / DequantizeLinear and the integer ops (QLinearConv, QLinearMatMul, ConvInteger,
// MatMulInteger), spec §2.5: a Q -> DQ pair becomes one FakeQuantize with il = ol = s*(qmin - zp),
// ih = oh = s*(qmax - zp), levels 256; integer tensors the model reads as numbers (graph inputs,
// outputs) are f32 codes.
#include <cmath>

#include "import/onnx/onnx_importer.hpp"

namespace qjit::onnx_import {

QParams read_qparams(Importer& im, size_t scale_i, size_t zp_i, size_t rank, int zp_type, bool allow_s32) {
    if (im.attr_i("block_size", 0) != 0)
        im.fail(ErrorCode::UnsupportedOp, "blocked quantization (block_size) is not expressible as a FakeQuantize");
    const HostTensor& s = im.const_in(scale_i, "the scale");
    if (s.dtype != F32 && s.dtype != F16) // float16 values are exact in float32
        im.fail(ErrorCode::UnsupportedOp, std::string("scale of type ") + dtype_name(s.dtype) + "; qjit takes float32 / float16 scales");
    QParams q;
    q.dtype = zp_type;
    if (im.has_input(zp_i)) {
        const HostTensor& z = im.const_in(zp_i, "the zero point");
        q.dtype = z.dtype;
        if (z.numel() != s.numel()) im.fail(ErrorCode::ShapeMismatch, "scale and zero point differ in size");
        q.zp = z.v;
    } else {
        q.zp.assign(s.v.size(), 0.0);
    }
    if (q.dtype != U8 && q.dtype != S8 && !(allow_s32 && q.dtype == S32))
        im.fail(ErrorCode::UnsupportedOp, std::string("quantized type ") + dtype_name(q.dtype) +
                                              " is not supported (qjit quantizes to 8-bit int8/uint8)");
    for (double v : s.v) {
        if (!(v > 0) || !std::isfinite(v)) im.fail(ErrorCode::InvalidArgument, "scale must be positive and finite");
        q.scale.push_back(static_cast<float>(v));
    }
    if (s.shape.size() > 1) im.fail(ErrorCode::UnsupportedOp, "scale of rank > 1 (blocked quantization)");
    if (!q.scale.empty() && s.numel() > 1) q.axis = norm_axis(im.attr_i("axis", 1), rank, im);
    if (q.scale.empty()) im.fail(ErrorCode::InvalidArgument, "empty scale");
    return q;
}

NodeRef dequantize_activation(Importer& im, const Value& x, const QParams& q) {
    if (x.kind == Value::Quant) return im.fq_of_quant(x.ref, x.q, q, x.shape);
    if (x.kind == Value::Codes || x.kind == Value::Const) {
        if (x.dtype != q.dtype && x.kind == Value::Codes)
            im.fail(ErrorCode::InvalidArgument, std::string("input is ") + dtype_name(x.dtype) + ", zero point is " +
                                                    dtype_name(q.dtype));
        NodeRef c = im.as_float(x);
        return im.fq_of_codes(c, q, Shape(im.g.shape_of(c)));
    }
    im.fail(ErrorCode::InvalidArgument, "a quantized input is a float tensor");
}

namespace {

// ONNX QuantizeLinear of a host constant: saturate(RNE(x / s) + zp).
HostTensor quantize_host(const HostTensor& x, const QParams& q) {
    HostTensor r;
    r.dtype = q.dtype;
    r.shape = x.shape;
    r.v.resize(x.v.size());
    int64_t inner = 1;
    if (!q.per_tensor())
        for (size_t d = static_cast<size_t>(q.axis) + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
    for (size_t i = 0; i < x.v.size(); ++i) {
        const size_t c = q.per_tensor() ? 0 : static_cast<size_t>((static_cast<int64_t>(i) / inner) % static_cast<int64_t>(q.scale.size()));
        const float v = std::nearbyint(static_cast<float>(x.v[i]) / q.scale[c]) + static_cast<float>(q.zp[c]);
        r.v[i] = std::fmin(std::fmax(v, static_cast<float>(q.qmin())), static_cast<float>(q.qmax()));
    }
    return r;
}

void quantize_linear(Importer& im, const onnx::NodeProto&) {
    const Value& x = im.in(0);
    const int out_type = static_cast<int>(im.attr_i("output_dtype", U8));
    const QParams q = read_qparams(im, 1, 2, x.shape.size(), out_type, false);
    if (im.attr_i("saturate", 1) != 1) im.fail(ErrorCode::UnsupportedOp, "saturate = 0");
    Value v;
    v.dtype = q.dtype;
    if (x.kind == Value::Const) {
        v.c = quantize_host(x.c, q);
    } else if (x.kind == Value::Float) {
        v.kind = Value::Quant;
        v.ref = x.ref;
        v.q = q;
    } else {
        im.fail(ErrorCode::InvalidArgument, "QuantizeLinear of an integer tensor");
    }
    im.set_out(0, std::move(v));
}

void dequantize_linear(Importer& im, const onnx::NodeProto&) {
    const Value& x = im.in(0);
    if (x.kind == Value::Float || (x.kind == Value::Const && !is_int(x.c.dtype)))
        im.fail(ErrorCode::InvalidArgument, "DequantizeLinear of a float tensor");
    const int xt = x.kind == Value::Const ? x.c.dtype : x.dtype;
    if (xt != U8 && xt != S8 && xt != S32)
        im.fail(ErrorCode::UnsupportedOp, std::string("input type ") + dtype_name(xt) +
                                              " is not supported (qjit quantizes to 8-bit int8/uint8)");
    QParams q = read_qparams(im, 1, 2, x.shape.size(), xt, true);
    q.dtype = xt;
    if (x.kind == Value::Const) {
        Value v;
        v.kind = Value::ConstDQ;
        v.c = x.c;
        v.q = q;
        im.set_out(0, std::move(v));
        return;
    }
    if (x.kind == Value::Quant) {
        im.set_out(0, im.float_value(im.fq_of_quant(x.ref, x.q, q, x.shape)));
        return;
    }
    // Codes read as numbers: (x - zp) * scale, exactly as ONNX computes it.
    NodeRef r = x.ref;
    bool zero_zp = true;
    for (double z : q.zp) zero_zp = zero_zp && z == 0;
    const Shape& s = x.shape;
    auto vec = [&](std::vector<float> v, const char* what) {
        return im.g.constant(im.fresh(what), range_tensor(v, q.axis, s.size()));
    };
    if (!zero_zp) {
        std::vector<float> z(q.zp.begin(), q.zp.end());
        r = im.g.subtract(im.fresh("minus_zero_point"), r, vec(z, "zero_point"));
    }
    r = im.g.multiply(im.fresh("times_scale"), r, vec(q.scale, "scale"));
    im.set_out(0, im.float_value(r));
}

// x_scale * w_scale[o] as the scale of an int32 bias (zero point 0).
QParams bias_params(const QParams& xq, const QParams& wq) {
    QParams b;
    b.dtype = S32;
    for (float ws : wq.scale) b.scale.push_back(xq.scale[0] * ws);
    b.zp.assign(b.scale.size(), 0.0);
    return b;
}

Value dq_weights(Importer& im, size_t w_i, const QParams& wq) {
    const Value& w = im.in(w_i);
    Value v;
    if (w.kind == Value::Const) {
        v.kind = Value::ConstDQ;
        v.c = w.c;
        v.q = wq;
        return v;
    }
    return im.float_value(dequantize_activation(im, w, wq));
}

void qlinear_conv(Importer& im, const onnx::NodeProto&) {
    const Value& x = im.in(0);
    const QParams xq = read_qparams(im, 1, 2, x.shape.size(), U8, false);
    if (!xq.per_tensor()) im.fail(ErrorCode::UnsupportedOp, "per-channel x_scale");
    QParams wq = read_qparams(im, 4, 5, im.in(3).shape.size(), S8, false);
    wq.axis = 0;
    const QParams yq = read_qparams(im, 6, 7, x.shape.size(), U8, false);
    NodeRef xf = dequantize_activation(im, x, xq);
    const Value w = dq_weights(im, 3, wq);
    Value b;
    if (im.has_input(8)) {
        b.kind = Value::ConstDQ;
        b.c = im.const_in(8, "the bias");
        b.q = bias_params(xq, wq);
        if (b.q.scale.size() == 1) b.q.scale.assign(static_cast<size_t>(b.c.numel()), b.q.scale[0]), b.q.zp.assign(b.q.scale.size(), 0.0);
    }
    Value out;
    out.kind = Value::Quant;
    out.ref = build_conv(im, xf, w, im.has_input(8) ? &b : nullptr);
    out.q = yq;
    out.dtype = yq.dtype;
    im.set_out(0, std::move(out));
}

void qlinear_matmul(Importer& im, const onnx::NodeProto&) {
    const Value& a = im.in(0);
    const QParams aq = read_qparams(im, 1, 2, a.shape.size(), U8, false);
    const QParams bq = read_qparams(im, 4, 5, im.in(3).shape.size(), U8, false);
    const QParams yq = read_qparams(im, 6, 7, a.shape.size(), U8, false);
    if (!aq.per_tensor() || !bq.per_tensor()) im.fail(ErrorCode::UnsupportedOp, "per-axis QLinearMatMul scales");
    NodeRef af = dequantize_activation(im, a, aq);
    const Value& b = im.in(3);
    NodeRef bf = b.kind == Value::Const ? im.weights(dq_weights(im, 3, bq), b.shape, 1)
                                        : dequantize_activation(im, b, bq);
    Value out;
    out.kind = Value::Quant;
    out.ref = im.g.matmul(im.node_name(), af, bf);
    out.q = yq;
    out.dtype = yq.dtype;
    im.set_out(0, std::move(out));
}

// x - zp for an integer op (ConvInteger / MatMulInteger), zp per tensor or along `axis`.
NodeRef minus_zp(Importer& im, const Value& x, size_t zp_i, int64_t axis) {
    const int t = x.kind == Value::Const ? x.c.dtype : x.dtype;
    if (t != U8 && t != S8) im.fail(ErrorCode::UnsupportedOp, std::string("input type ") + dtype_name(t));
    NodeRef r = im.as_float(x);
    if (!im.has_input(zp_i)) return r;
    const HostTensor& z = im.const_in(zp_i, "the zero point");
    bool zero = true;
    for (double v : z.v) zero = zero && v == 0;
    if (zero) return r;
    const Tensor zt = range_tensor(to_f32(z), axis, x.shape.size());
    return im.g.subtract(im.fresh("minus_zero_point"), r, im.g.constant(im.fresh("zero_point"), zt));
}

void conv_integer(Importer& im, const onnx::NodeProto&) {
    NodeRef xf = minus_zp(im, im.in(0), 2, 1);
    NodeRef wf = minus_zp(im, im.in(1), 3, 0);
    Value out;
    out.kind = Value::Codes;
    out.dtype = S32;
    out.ref = build_conv(im, xf, im.float_value(wf), nullptr);
    im.set_out(0, std::move(out));
}

void matmul_integer(Importer& im, const onnx::NodeProto&) {
    const Value& a = im.in(0);
    NodeRef af = minus_zp(im, a, 2, static_cast<int64_t>(a.shape.size()) - 2);
    NodeRef bf = minus_zp(im, im.in(1), 3, static_cast<int64_t>(im.in(1).shape.size()) - 1);
    Value out;
    out.kind = Value::Codes;
    out.dtype = S32;
    out.ref = im.g.matmul(im.node_name(), af, bf);
    im.set_out(0, std::move(out));
}

} // namespace

void register_qdq_ops(std::map<std::string, Translator>& t) {
    t["QuantizeLinear"] = quantize_linear;
    t["DequantizeLinear"] = dequantize_linear;
    t["QLinearConv"] = qlinear_conv;
    t["QLinearMatMul"] = qlinear_matmul;
    t["ConvInteger"] = conv_integer;
    t["MatMulInteger"] = matmul_integer;
}

} // namespace qjit::onnx_import
