// Constant folding at load: the shape arithmetic real exports carry (Shape, Gather, Slice,
// Unsqueeze, Squeeze, Cast, Concat, Reshape, Tile, elementwise math on constants) is evaluated on
// host tensors, so every shape is static before a graph node is built.
#include <cmath>
#include <numeric>

#include "import/onnx/onnx_importer.hpp"

namespace qjit::onnx_import {

namespace {

std::vector<int64_t> strides(const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
    return st;
}

// Row-major index walk: f(out_flat, coordinates).
template <class F> void walk(const Shape& out, F f) {
    std::vector<int64_t> idx(out.size(), 0);
    const int64_t n = num_elements(out);
    for (int64_t flat = 0; flat < n; ++flat) {
        f(flat, idx);
        for (size_t d = out.size(); d-- > 0;) {
            if (++idx[d] < out[d]) break;
            idx[d] = 0;
        }
    }
}

HostTensor gather(const HostTensor& x, const HostTensor& idx, int64_t axis) {
    const int64_t n = x.shape[static_cast<size_t>(axis)];
    Shape out(x.shape.begin(), x.shape.begin() + axis);
    out.insert(out.end(), idx.shape.begin(), idx.shape.end());
    out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis) + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
    HostTensor r{x.dtype, out, {}};
    for (int64_t o = 0; o < outer; ++o)
        for (double iv : idx.v) {
            int64_t i = static_cast<int64_t>(iv);
            if (i < 0) i += n;
            for (int64_t k = 0; k < inner; ++k) r.v.push_back(x.v[static_cast<size_t>((o * n + i) * inner + k)]);
        }
    return r;
}

// ONNX Slice bounds: negative counts from the end; clamped to [0, n] (step > 0) or, for step < 0,
// starts to [0, n-1] and ends to [-1, n-1].
int64_t clamp_index(int64_t v, int64_t n, bool end, int64_t step) {
    if (v < 0) v = v < -n ? -n - 1 : v + n;
    if (step > 0) return std::clamp<int64_t>(v, 0, n);
    return end ? std::clamp<int64_t>(v, -1, n - 1) : std::clamp<int64_t>(v, 0, n - 1);
}

} // namespace

HostTensor host_transpose(const HostTensor& x, const std::vector<int64_t>& perm) {
    Shape out(x.shape.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = x.shape[static_cast<size_t>(perm[i])];
    const auto st = strides(x.shape);
    HostTensor r{x.dtype, out, std::vector<double>(x.v.size())};
    walk(out, [&](int64_t flat, const std::vector<int64_t>& idx) {
        int64_t src = 0;
        for (size_t i = 0; i < idx.size(); ++i) src += idx[i] * st[static_cast<size_t>(perm[i])];
        r.v[static_cast<size_t>(flat)] = x.v[static_cast<size_t>(src)];
    });
    return r;
}

HostTensor host_tile(const HostTensor& x, const std::vector<int64_t>& rep) {
    Shape out(x.shape.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = x.shape[i] * rep[i]; // checked by the caller
    const auto st = strides(x.shape);
    HostTensor r{x.dtype, out, std::vector<double>(static_cast<size_t>(num_elements(out)))};
    walk(out, [&](int64_t flat, const std::vector<int64_t>& idx) {
        int64_t src = 0;
        for (size_t i = 0; i < idx.size(); ++i) src += (idx[i] % x.shape[i]) * st[i];
        r.v[static_cast<size_t>(flat)] = x.v[static_cast<size_t>(src)];
    });
    return r;
}

HostTensor host_concat(const std::vector<const HostTensor*>& xs, int64_t axis) {
    Shape out = xs[0]->shape;
    out[static_cast<size_t>(axis)] = 0;
    for (const HostTensor* x : xs) out[static_cast<size_t>(axis)] += x->shape[static_cast<size_t>(axis)];
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out[static_cast<size_t>(d)];
    HostTensor r{xs[0]->dtype, out, {}};
    for (int64_t o = 0; o < outer; ++o)
        for (const HostTensor* x : xs) {
            const int64_t chunk = x->numel() / outer;
            r.v.insert(r.v.end(), x->v.begin() + o * chunk, x->v.begin() + (o + 1) * chunk);
        }
    return r;
}

namespace {

void shape_op(Importer& im, const onnx::NodeProto&) {
    const Shape& s = im.in(0).shape;
    int64_t r = static_cast<int64_t>(s.size());
    int64_t b = im.attr_i("start", 0), e = im.attr_i("end", r);
    if (b < 0) b += r;
    if (e < 0) e += r;
    b = std::clamp<int64_t>(b, 0, r);
    e = std::clamp<int64_t>(e, b, r);
    Value v;
    v.c = HostTensor{S64, {e - b}, {}};
    for (int64_t i = b; i < e; ++i) v.c.v.push_back(static_cast<double>(s[static_cast<size_t>(i)]));
    im.set_out(0, std::move(v));
}

void gather_op(Importer& im, const onnx::NodeProto&) {
    const HostTensor& x = im.const_in(0, "Gather data");
    const HostTensor& idx = im.const_in(1, "Gather indices");
    Value v;
    v.c = gather(x, idx, norm_axis(im.attr_i("axis", 0), x.shape.size(), im));
    im.set_out(0, std::move(v));
}

void slice_op(Importer& im, const onnx::NodeProto&) {
    const HostTensor& x = im.const_in(0, "Slice data");
    std::vector<int64_t> starts, ends, axes, steps;
    if (im.opset < 10) {
        starts = im.attr_ints("starts", {});
        ends = im.attr_ints("ends", {});
        axes = im.attr_ints("axes", {});
    } else {
        starts = to_i64(im.const_in(1, "starts"));
        ends = to_i64(im.const_in(2, "ends"));
        if (im.has_input(3)) axes = to_i64(im.const_in(3, "axes"));
        if (im.has_input(4)) steps = to_i64(im.const_in(4, "steps"));
    }
    if (axes.empty()) { axes.resize(starts.size()); std::iota(axes.begin(), axes.end(), 0); }
    if (steps.empty()) steps.assign(starts.size(), 1);
    const size_t r = x.shape.size();
    std::vector<int64_t> b(r, 0), st(r, 1);
    Shape out = x.shape;
    for (size_t i = 0; i < axes.size(); ++i) {
        const size_t a = static_cast<size_t>(norm_axis(axes[i], r, im));
        const int64_t n = x.shape[a], s = steps[i];
        if (s == 0) im.fail(ErrorCode::InvalidArgument, "Slice step 0");
        const int64_t lo = clamp_index(starts[i], n, false, s), hi = clamp_index(ends[i], n, true, s);
        b[a] = lo;
        st[a] = s;
        out[a] = s > 0 ? std::max<int64_t>(0, (hi - lo + s - 1) / s) : std::max<int64_t>(0, (lo - hi - s - 1) / -s);
    }
    const auto xs = strides(x.shape);
    HostTensor res{x.dtype, out, {}};
    walk(out, [&](int64_t, const std::vector<int64_t>& idx) {
        int64_t src = 0;
        for (size_t d = 0; d < r; ++d) src += (b[d] + idx[d] * st[d]) * xs[d];
        res.v.push_back(x.v[static_cast<size_t>(src)]);
    });
    Value v;
    v.c = std::move(res);
    im.set_out(0, std::move(v));
}

void constant_op(Importer& im, const onnx::NodeProto&) {
    Value v;
    if (im.has_attr("value")) v.c = im.attr_t("value");
    else if (im.has_attr("value_float")) v.c = HostTensor{F32, {}, {im.attr_f("value_float", 0)}};
    else if (im.has_attr("value_int")) v.c = HostTensor{S64, {}, {static_cast<double>(im.attr_i("value_int", 0))}};
    else if (im.has_attr("value_ints")) {
        const auto xs = im.attr_ints("value_ints", {});
        v.c = HostTensor{S64, {static_cast<int64_t>(xs.size())}, {xs.begin(), xs.end()}};
    } else im.fail(ErrorCode::UnsupportedOp, "Constant without value / value_float / value_int(s)");
    im.set_out(0, std::move(v));
}

void cast_op(Importer& im, const onnx::NodeProto&) {
    const Value& x = im.in(0);
    const int to = static_cast<int>(im.attr_i("to", F32));
    if (x.kind == Value::Const) {
        Value v = x;
        v.c.dtype = to;
        for (double& e : v.c.v) {
            if (to == F32 || to == F16) e = static_cast<float>(e);
            else if (is_int(to)) e = std::trunc(e);
        }
        im.set_out(0, std::move(v));
        return;
    }
    if (to == F32) { // integer codes (or float) read as numbers
        im.set_out(0, im.float_value(im.as_float(x)));
        return;
    }
    if (x.kind == Value::Codes && to == x.dtype) {
        im.set_out(0, x);
        return;
    }
    im.fail(ErrorCode::UnsupportedOp, std::string("Cast of a runtime tensor to ") + dtype_name(to));
}

// Elementwise arithmetic on two constants (numpy broadcast), in the inputs' type.
template <class F> bool fold_binary(Importer& im, F f) {
    if (im.in(0).kind != Value::Const || im.in(1).kind != Value::Const) return false;
    const HostTensor& a = im.in(0).c;
    const HostTensor& b = im.in(1).c;
    const size_t r = std::max(a.shape.size(), b.shape.size());
    Shape out(r, 1);
    for (size_t i = 0; i < r; ++i) {
        const int64_t da = i + a.shape.size() >= r ? a.shape[i + a.shape.size() - r] : 1;
        const int64_t db = i + b.shape.size() >= r ? b.shape[i + b.shape.size() - r] : 1;
        if (da != db && da != 1 && db != 1) im.fail(ErrorCode::ShapeMismatch, "constant operands do not broadcast");
        out[i] = std::max(da, db);
    }
    auto index = [&](const HostTensor& t, const std::vector<int64_t>& idx) {
        int64_t k = 0;
        const size_t off = r - t.shape.size();
        for (size_t d = 0; d < t.shape.size(); ++d) k = k * t.shape[d] + (t.shape[d] == 1 ? 0 : idx[d + off]);
        return static_cast<size_t>(k);
    };
    Value v;
    v.c = HostTensor{a.dtype, out, {}};
    const bool fl = !is_int(a.dtype);
    walk(out, [&](int64_t, const std::vector<int64_t>& idx) {
        const double x = a.v[index(a, idx)], y = b.v[index(b, idx)];
        double z = f(x, y, fl);
        if (fl) z = static_cast<float>(z);
        v.c.v.push_back(z);
    });
    im.set_out(0, std::move(v));
    return true;
}

} // namespace

bool fold_constant_arith(Importer& im, const std::string& op) {
    if (op == "Add") return fold_binary(im, [](double x, double y, bool fl) { return fl ? double(float(x) + float(y)) : x + y; });
    if (op == "Sub") return fold_binary(im, [](double x, double y, bool fl) { return fl ? double(float(x) - float(y)) : x - y; });
    if (op == "Mul") return fold_binary(im, [](double x, double y, bool fl) { return fl ? double(float(x) * float(y)) : x * y; });
    if (op == "Div")
        return fold_binary(im, [](double x, double y, bool fl) { return fl ? double(float(x) / float(y)) : std::trunc(x / y); });
    return false;
}

void register_const_ops(std::map<std::string, Translator>& t) {
    t["Shape"] = shape_op;
    t["Gather"] = gather_op;
    t["Slice"] = slice_op;
    t["Constant"] = constant_op;
    t["Cast"] = cast_op;
    t["Div"] = [](Importer& im, const onnx::NodeProto&) {
        if (!fold_constant_arith(im, "Div")) im.fail(ErrorCode::UnsupportedOp, "Div of runtime tensors");
    };
}

} // namespace qjit::onnx_import
