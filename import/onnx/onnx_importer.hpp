// Internal types of the ONNX importer (import/onnx/README.md). Not a public header.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "qjit/error.hpp"
#include "qjit/graph.hpp"
#include "qjit/import.hpp"

namespace qjit::onnx_import {

// ONNX element types the importer handles (TensorProto.data_type values).
enum DType : int { F32 = 1, U8 = 2, S8 = 3, U16 = 4, S16 = 5, S32 = 6, S64 = 7, BOOL = 9, F16 = 10, F64 = 11 };
const char* dtype_name(int t);
bool is_int(int t);

// Largest constant the importer materializes (elements); larger is an Error, never an allocation failure.
constexpr int64_t kMaxConstantElements = int64_t{1} << 28;

// A constant known at import time: values held as double (exact for every int up to 2^53 and
// every float).
struct HostTensor {
    int dtype = F32;
    Shape shape;
    std::vector<double> v;
    int64_t numel() const { return static_cast<int64_t>(v.size()); }
};

// ONNX QuantizeLinear / DequantizeLinear parameters (spec §2.5): scale and zero point per tensor
// (size 1) or along `axis` (already normalized to the data's rank).
struct QParams {
    int dtype = U8; // U8 or S8
    std::vector<float> scale;
    std::vector<double> zp;
    int64_t axis = 0;
    int qmin() const { return dtype == U8 ? 0 : -128; }
    int qmax() const { return dtype == U8 ? 255 : 127; }
    bool per_tensor() const { return scale.size() == 1; }
    bool same(const QParams& o) const;
};

// What an ONNX tensor name stands for.
struct Value {
    enum Kind {
        Const,   // host constant (any type)
        ConstDQ, // DequantizeLinear of constant codes `c` with `q`: weights, bias
        Float,   // f32 graph tensor `ref`
        Quant,   // integer tensor = QuantizeLinear(`ref`, `q`) (codes never formed unless needed)
        Codes,   // integer tensor of type `dtype` held as f32 codes in graph tensor `ref`
    } kind = Const;
    HostTensor c;
    QParams q;
    NodeRef ref;
    int dtype = F32;
    Shape shape;
};

class Importer;
using Translator = std::function<void(Importer&, const onnx::NodeProto&)>;
// Registered translators by op type (onnx_ops_*.cpp, onnx_qdq.cpp, onnx_const.cpp).
const std::map<std::string, Translator>& translators();
void register_const_ops(std::map<std::string, Translator>& t);
void register_qdq_ops(std::map<std::string, Translator>& t);
void register_float_ops(std::map<std::string, Translator>& t);
void register_layout_ops(std::map<std::string, Translator>& t);

class Importer {
public:
    Importer(const onnx::ModelProto& m, const ImportOptions& o);
    Graph run();

    // --- used by translators -------------------------------------------------------------------
    Graph g;
    int opset = 13;
    const onnx::NodeProto* cur = nullptr; // the node being translated (error messages)

    [[noreturn]] void fail(ErrorCode c, const std::string& problem) const;
    std::string node_name() const;
    std::string fresh(const std::string& suffix); // unique graph node name under the current node

    bool has_input(size_t i) const;
    const Value& in(size_t i) const;
    const HostTensor& const_in(size_t i, const char* what) const; // Const input or an Error
    void set_out(size_t i, Value v);

    // Attributes.
    bool has_attr(const char* name) const;
    int64_t attr_i(const char* name, int64_t def) const;
    float attr_f(const char* name, float def) const;
    std::string attr_s(const char* name, const std::string& def) const;
    std::vector<int64_t> attr_ints(const char* name, const std::vector<int64_t>& def) const;
    HostTensor attr_t(const char* name) const;

    // Graph tensors.
    NodeRef constant(const HostTensor& t, const std::string& suffix = "const"); // f32 constant node
    NodeRef as_float(const Value& v);    // the real value of v (Codes/ConstDQ: exact (q - zp) * s)
    NodeRef as_codes(const Value& v);    // integer tensor as f32 codes (Quant: FakeQuantize to codes)
    // FakeQuantize of x quantized with `from`, dequantized with `to` (a Q -> DQ pair when equal).
    NodeRef fq_of_quant(NodeRef x, const QParams& from, const QParams& to, const Shape& shape);
    // FakeQuantize of integer codes (held as f32) dequantized with `to`.
    NodeRef fq_of_codes(NodeRef codes, const QParams& to, const Shape& shape);
    // Weights of a Conv / MatMul: ConstDQ of s8/u8 codes becomes a FakeQuantize of the constant
    // codes (foldable into s8 weights); `shape` reshapes them, ranges vary along `out_axis`.
    NodeRef weights(const Value& v, const Shape& shape, int64_t out_axis);
    Value float_value(NodeRef r);
    // Spatial pads of a zero Pad -> QuantizeLinear -> DequantizeLinear -> Conv chain, moved into the
    // Conv (padded zeros quantize to the zero point and dequantize to exactly 0, which is what a
    // Conv's own padding adds). Filled by fold_pads(); read by build_conv.
    std::map<const onnx::NodeProto*, std::vector<int64_t>> conv_extra_pads; // [top, left, bottom, right]
    std::map<const onnx::NodeProto*, bool> folded_pads;

private:
    const onnx::ModelProto& model_;
    ImportOptions opts_;
    std::map<std::string, Value> values_;
    int counter_ = 0;
    NodeRef range_node(const QParams& q, bool hi, const Shape& shape, bool as_codes);
    NodeRef param_node(const QParams& q, const std::vector<float>& r, const Shape& shape, const char* suffix);
    NodeRef quantize_onnx(const char* suffix, NodeRef x, const QParams& q, const Shape& shape, NodeRef il, NodeRef ih,
                          NodeRef ol, NodeRef oh);
    void add_inputs();
    void fold_pads();
};

// Shared by the translators.
// Scale / zero point of a Q/DQ-style node (inputs scale_i, zp_i) for data of rank `rank`;
// `zp_type` is the integer type when the zero point is absent.
QParams read_qparams(Importer& im, size_t scale_i, size_t zp_i, size_t rank, int zp_type, bool allow_s32);
// Dequantized activation for a quantized op input: Quant or Codes -> FakeQuantize (quantizable).
NodeRef dequantize_activation(Importer& im, const Value& x, const QParams& q);
// ONNX Conv with its attributes (2-D, NCHW) and optional bias (per output channel).
NodeRef build_conv(Importer& im, NodeRef x, const Value& w, const Value* bias);
// A per-channel vector (constant or not) as a [1, C, 1, ...] tensor of rank `rank`.
NodeRef channel_vector(Importer& im, const Value& v, size_t rank);

// Exact (q - zp) * s of constant codes, in fp32 (onnx_importer.cpp).
HostTensor dequantize_host(const HostTensor& codes, const QParams& q);
// Host evaluation (onnx_const.cpp).
HostTensor host_transpose(const HostTensor& x, const std::vector<int64_t>& perm);
HostTensor host_tile(const HostTensor& x, const std::vector<int64_t>& repeats);
HostTensor host_concat(const std::vector<const HostTensor*>& xs, int64_t axis);
// Add / Sub / Mul / Div of two constants: folded, true; otherwise false.
bool fold_constant_arith(Importer& im, const std::string& op);

// Tensor helpers (onnx_tensor.cpp).
HostTensor from_proto(const onnx::TensorProto& t, const std::string& node);
std::vector<float> to_f32(const HostTensor& t);
std::vector<int64_t> to_i64(const HostTensor& t);
Tensor to_tensor_f32(const HostTensor& t);
// Range tensor of shape [1..C..1] (C at `axis` of a rank-r tensor) or {} for one value.
Tensor range_tensor(const std::vector<float>& v, int64_t axis, size_t rank);
int64_t norm_axis(int64_t axis, size_t rank, const Importer& im);
// Element count of a shape computed at import, checked against kMaxConstantElements.
int64_t checked_numel(const Shape& s, const Importer& im);

} // namespace qjit::onnx_import
