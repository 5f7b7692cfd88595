// TensorProto -> HostTensor, and small tensor helpers of the ONNX importer.
#include <cmath>
#include <cstring>

#include "import/onnx/onnx_importer.hpp"

namespace qjit::onnx_import {

const char* dtype_name(int t) {
    switch (t) {
    case F32: return "float32";
    case U8: return "uint8";
    case S8: return "int8";
    case U16: return "uint16";
    case S16: return "int16";
    case S32: return "int32";
    case S64: return "int64";
    case BOOL: return "bool";
    case F16: return "float16";
    case F64: return "float64";
    case 16: return "bfloat16";
    case 17: case 18: case 19: case 20: return "float8";
    case 21: return "uint4";
    case 22: return "int4";
    case 23: return "float4e2m1";
    case 25: return "uint2";
    case 26: return "int2";
    default: return "an unsupported element type";
    }
}

bool is_int(int t) { return t == U8 || t == S8 || t == U16 || t == S16 || t == S32 || t == S64 || t == BOOL; }

namespace {

float half_to_float(uint16_t h) {
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0) v = std::ldexp(m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = std::ldexp(m + 1024, e - 25);
    return static_cast<float>(s ? -v : v);
}

template <class T> void read_raw(const std::string& raw, std::vector<double>& out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        T x;
        std::memcpy(&x, raw.data() + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
        out[static_cast<size_t>(i)] = static_cast<double>(x);
    }
}

size_t dtype_bytes(int t) {
    switch (t) {
    case F32: case S32: return 4;
    case U8: case S8: case BOOL: return 1;
    case U16: case S16: case F16: return 2;
    case S64: case F64: return 8;
    default: return 0;
    }
}

} // namespace

HostTensor from_proto(const onnx::TensorProto& t, const std::string& node) {
    HostTensor h;
    h.dtype = t.data_type();
    for (int64_t d : t.dims()) h.shape.push_back(d);
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
        throw Error(ErrorCode::UnsupportedOp, node, "tensor '" + t.name() + "' uses external data");
    const size_t bytes = dtype_bytes(h.dtype);
    if (bytes == 0)
        throw Error(ErrorCode::UnsupportedOp, node,
                    "tensor '" + t.name() + "' has element type " + dtype_name(h.dtype) + " (" +
                        std::to_string(h.dtype) + "); qjit imports 8-bit integer, int32/int64 and float tensors");
    int64_t n = 1;
    for (int64_t d : h.shape)
        if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > kMaxConstantElements)
            throw Error(ErrorCode::InvalidArgument, node,
                        "tensor '" + t.name() + "' has a negative or too large shape " + to_string(h.shape));
    if (t.has_raw_data() && t.raw_data().size() != static_cast<size_t>(n) * bytes)
        throw Error(ErrorCode::InvalidArgument, node, "tensor '" + t.name() + "' raw data has the wrong size");
    h.v.assign(static_cast<size_t>(n), 0.0);
    if (t.has_raw_data()) {
        const std::string& raw = t.raw_data();
        switch (h.dtype) {
        case F32: read_raw<float>(raw, h.v, n); break;
        case U8: case BOOL: read_raw<uint8_t>(raw, h.v, n); break;
        case S8: read_raw<int8_t>(raw, h.v, n); break;
        case U16: read_raw<uint16_t>(raw, h.v, n); break;
        case S16: read_raw<int16_t>(raw, h.v, n); break;
        case S32: read_raw<int32_t>(raw, h.v, n); break;
        case S64: read_raw<int64_t>(raw, h.v, n); break;
        case F64: read_raw<double>(raw, h.v, n); break;
        case F16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t x;
                std::memcpy(&x, raw.data() + i * 2, 2);
                h.v[static_cast<size_t>(i)] = half_to_float(x);
            }
            break;
        }
        return h;
    }
    auto fill = [&](const auto& field) {
        if (static_cast<int64_t>(field.size()) != n)
            throw Error(ErrorCode::InvalidArgument, node,
                        "tensor '" + t.name() + "' holds " + std::to_string(field.size()) + " values for shape " +
                            to_string(h.shape));
        for (int64_t i = 0; i < n; ++i) h.v[static_cast<size_t>(i)] = static_cast<double>(field[static_cast<int>(i)]);
    };
    switch (h.dtype) {
    case F32: fill(t.float_data()); break;
    case S64: fill(t.int64_data()); break;
    case F64: fill(t.double_data()); break;
    case F16:
        fill(t.int32_data());
        for (double& x : h.v) x = half_to_float(static_cast<uint16_t>(x));
        break;
    default: fill(t.int32_data()); break;
    }
    return h;
}

std::vector<float> to_f32(const HostTensor& t) {
    std::vector<float> r(t.v.size());
    for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<float>(t.v[i]);
    return r;
}

std::vector<int64_t> to_i64(const HostTensor& t) {
    std::vector<int64_t> r(t.v.size());
    for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<int64_t>(t.v[i]);
    return r;
}

Tensor to_tensor_f32(const HostTensor& t) { return Tensor::f32(t.shape, to_f32(t)); }

Tensor range_tensor(const std::vector<float>& v, int64_t axis, size_t rank) {
    if (v.size() == 1) return Tensor::f32({}, v);
    Shape s(rank, 1);
    s[static_cast<size_t>(axis)] = static_cast<int64_t>(v.size());
    return Tensor::f32(s, v);
}

int64_t checked_numel(const Shape& s, const Importer& im) {
    int64_t n = 1;
    for (int64_t d : s)
        if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > kMaxConstantElements)
            im.fail(ErrorCode::InvalidArgument, "constant of shape " + to_string(s) + " is negative or too large");
    return n;
}

int64_t norm_axis(int64_t axis, size_t rank, const Importer& im) {
    const int64_t r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r)
        im.fail(ErrorCode::InvalidArgument, "axis " + std::to_string(axis) + " is outside a rank-" + std::to_string(r) + " tensor");
    return axis < 0 ? axis + r : axis;
}

bool QParams::same(const QParams& o) const {
    if (dtype != o.dtype || scale.size() != o.scale.size() || zp != o.zp) return false;
    if (!per_tensor() && axis != o.axis) return false;
    for (size_t i = 0; i < scale.size(); ++i)
        if (std::memcmp(&scale[i], &o.scale[i], sizeof(float)) != 0) return false;
    return true;
}

} // namespace qjit::onnx_import
