// The ONNX importer's driver: parse the ModelProto, fix input shapes, translate every node in
// order (onnx_qdq.cpp, onnx_ops_float.cpp, onnx_ops_layout.cpp, onnx_const.cpp), add the Results.
#include <fstream>
#include <set>
#include <sstream>

#include "import/onnx/onnx_importer.hpp"

namespace qjit::onnx_import {

const std::map<std::string, Translator>& translators() {
    static const std::map<std::string, Translator> t = [] {
        std::map<std::string, Translator> m;
        register_const_ops(m);
        register_qdq_ops(m);
        register_float_ops(m);
        register_layout_ops(m);
        return m;
    }();
    return t;
}

Importer::Importer(const onnx::ModelProto& m, const ImportOptions& o) : model_(m), opts_(o) {
    for (const auto& op : m.opset_import())
        if (op.domain().empty() || op.domain() == "ai.onnx") opset = static_cast<int>(op.version());
}

void Importer::fail(ErrorCode c, const std::string& problem) const { throw Error(c, node_name(), problem); }

std::string Importer::node_name() const {
    if (!cur) return "<model>";
    if (!cur->name().empty()) return cur->name();
    return cur->op_type() + (cur->output_size() ? "(" + cur->output(0) + ")" : std::string());
}

std::string Importer::fresh(const std::string& suffix) {
    return node_name() + "/" + suffix + "#" + std::to_string(counter_++);
}

bool Importer::has_input(size_t i) const {
    return cur && static_cast<int>(i) < cur->input_size() && !cur->input(static_cast<int>(i)).empty();
}

const Value& Importer::in(size_t i) const {
    if (!has_input(i)) fail(ErrorCode::InvalidArgument, "input #" + std::to_string(i) + " is missing");
    const std::string& n = cur->input(static_cast<int>(i));
    auto it = values_.find(n);
    if (it == values_.end()) fail(ErrorCode::InvalidArgument, "input '" + n + "' is not produced by any earlier node");
    return it->second;
}

const HostTensor& Importer::const_in(size_t i, const char* what) const {
    const Value& v = in(i);
    if (v.kind != Value::Const)
        fail(ErrorCode::UnsupportedOp,
             std::string(what) + " (input '" + cur->input(static_cast<int>(i)) +
                 "') is not a constant and its shape cannot be resolved statically");
    return v.c;
}

void Importer::set_out(size_t i, Value v) {
    if (static_cast<int>(i) >= cur->output_size()) return;
    const std::string& n = cur->output(static_cast<int>(i));
    if (n.empty()) return;
    if (v.kind == Value::Const || v.kind == Value::ConstDQ) v.shape = v.c.shape;
    else if (v.kind != Value::Const) v.shape = g.shape_of(v.ref);
    values_[n] = std::move(v);
}

namespace {
const onnx::AttributeProto* find_attr(const onnx::NodeProto* n, const char* name) {
    for (const auto& a : n->attribute())
        if (a.name() == name) return &a;
    return nullptr;
}
} // namespace

bool Importer::has_attr(const char* name) const { return find_attr(cur, name) != nullptr; }
int64_t Importer::attr_i(const char* name, int64_t def) const {
    const auto* a = find_attr(cur, name);
    return a ? a->i() : def;
}
float Importer::attr_f(const char* name, float def) const {
    const auto* a = find_attr(cur, name);
    return a ? a->f() : def;
}
std::string Importer::attr_s(const char* name, const std::string& def) const {
    const auto* a = find_attr(cur, name);
    return a ? a->s() : def;
}
std::vector<int64_t> Importer::attr_ints(const char* name, const std::vector<int64_t>& def) const {
    const auto* a = find_attr(cur, name);
    if (!a) return def;
    return {a->ints().begin(), a->ints().end()};
}
HostTensor Importer::attr_t(const char* name) const {
    const auto* a = find_attr(cur, name);
    if (!a || !a->has_t()) fail(ErrorCode::InvalidArgument, std::string("attribute '") + name + "' (a tensor) is missing");
    return from_proto(a->t(), node_name());
}

NodeRef Importer::constant(const HostTensor& t, const std::string& suffix) {
    for (int64_t d : t.shape)
        if (d < 1) fail(ErrorCode::UnsupportedOp, "constant of shape " + to_string(t.shape) + " (zero-sized)");
    return g.constant(fresh(suffix), to_tensor_f32(t));
}

Value Importer::float_value(NodeRef r) {
    Value v;
    v.kind = Value::Float;
    v.ref = r;
    v.shape = g.shape_of(r);
    return v;
}

// Per-element (q - zp) * scale along the params' axis, in fp32 like ONNX's reference.
HostTensor dequantize_host(const HostTensor& c, const QParams& q) {
    HostTensor r;
    r.dtype = F32;
    r.shape = c.shape;
    r.v.resize(c.v.size());
    int64_t inner = 1;
    if (!q.per_tensor())
        for (size_t d = static_cast<size_t>(q.axis) + 1; d < c.shape.size(); ++d) inner *= c.shape[d];
    const int64_t n = static_cast<int64_t>(q.scale.size());
    for (size_t i = 0; i < c.v.size(); ++i) {
        const size_t ch = q.per_tensor() ? 0 : static_cast<size_t>((static_cast<int64_t>(i) / inner) % n);
        r.v[i] = static_cast<float>(static_cast<float>(c.v[i] - q.zp[ch]) * q.scale[ch]);
    }
    return r;
}

NodeRef Importer::as_float(const Value& v) {
    switch (v.kind) {
    case Value::Float: case Value::Codes: return v.ref;
    case Value::Const: return constant(v.c);
    case Value::ConstDQ: return constant(dequantize_host(v.c, v.q), "dequantized");
    case Value::Quant: return as_codes(v);
    }
    return v.ref;
}

NodeRef Importer::as_codes(const Value& v) {
    if (v.kind != Value::Quant) return as_float(v);
    const Shape s = g.shape_of(v.ref);
    NodeRef il = range_node(v.q, false, s, false), ih = range_node(v.q, true, s, false);
    NodeRef ol = range_node(v.q, false, s, true), oh = range_node(v.q, true, s, true);
    return quantize_onnx("codes", v.ref, v.q, s, il, ih, ol, oh);
}

// A FakeQuantize with ONNX rounding (spec §2.5): level = clamp(RNE(x / scale) + zp - qmin, 0, 255).
NodeRef Importer::quantize_onnx(const char* suffix, NodeRef x, const QParams& q, const Shape& shape, NodeRef il,
                                NodeRef ih, NodeRef ol, NodeRef oh) {
    std::vector<float> off(q.zp.size());
    for (size_t i = 0; i < off.size(); ++i) off[i] = static_cast<float>(q.zp[i] - q.qmin());
    NodeRef scale = param_node(q, q.scale, shape, "scale"), offset = param_node(q, off, shape, "offset");
    return g.fake_quantize_onnx(fresh(suffix), x, il, ih, ol, oh, scale, offset);
}

// il/ih (or ol/oh) of a quantization: s * (qmin - zp), s * (qmax - zp) per tensor or along q.axis
// (a rank-5 [G, O/G, ...] weight with O values along axis 0 gets a [G, O/G, 1, 1, 1] range).
NodeRef Importer::range_node(const QParams& q, bool hi, const Shape& shape, bool codes) {
    std::vector<float> r(q.scale.size());
    for (size_t i = 0; i < r.size(); ++i)
        r[i] = codes ? static_cast<float>(hi ? q.qmax() : q.qmin())
                     : static_cast<float>(q.scale[i] * static_cast<float>((hi ? q.qmax() : q.qmin()) - q.zp[i]));
    return param_node(q, r, shape, hi ? "high" : "low");
}

// One value per tensor or along q.axis, shaped like the ranges of range_node.
NodeRef Importer::param_node(const QParams& q, const std::vector<float>& r, const Shape& shape, const char* suffix) {
    const size_t rank = shape.size();
    Tensor t;
    if (r.size() == 1) {
        t = Tensor::f32({}, r);
    } else if (static_cast<int64_t>(r.size()) == shape[static_cast<size_t>(q.axis)]) {
        t = range_tensor(r, q.axis, rank);
    } else if (rank == 5 && q.axis == 0 && static_cast<int64_t>(r.size()) == shape[0] * shape[1]) {
        t = Tensor::f32({shape[0], shape[1], 1, 1, 1}, r);
    } else {
        fail(ErrorCode::ShapeMismatch, "per-axis quantization has " + std::to_string(r.size()) + " values for axis " +
                                           std::to_string(q.axis) + " of " + to_string(shape));
    }
    return g.constant(fresh(suffix), t);
}

NodeRef Importer::fq_of_quant(NodeRef x, const QParams& from, const QParams& to, const Shape& shape) {
    if (from.dtype != to.dtype)
        fail(ErrorCode::UnsupportedOp, std::string("requantizing ") + dtype_name(from.dtype) + " codes as " + dtype_name(to.dtype));
    NodeRef il = range_node(from, false, shape, false), ih = range_node(from, true, shape, false);
    NodeRef ol = range_node(to, false, shape, false), oh = range_node(to, true, shape, false);
    return quantize_onnx("fq", x, from, shape, il, ih, ol, oh);
}

NodeRef Importer::fq_of_codes(NodeRef codes, const QParams& to, const Shape& shape) {
    NodeRef il = range_node(to, false, shape, true), ih = range_node(to, true, shape, true);
    NodeRef ol = range_node(to, false, shape, false), oh = range_node(to, true, shape, false);
    return g.fake_quantize(fresh("fq"), codes, il, ih, ol, oh, 256);
}

NodeRef Importer::weights(const Value& v, const Shape& shape, int64_t out_axis) {
    if (v.kind != Value::ConstDQ || (v.c.dtype != S8 && v.c.dtype != U8)) {
        NodeRef r = as_float(v);
        return g.shape_of(r) == shape ? r : g.reshape(fresh("weights_reshape"), r, shape);
    }
    const QParams& q = v.q;
    if (!q.per_tensor() && static_cast<int64_t>(q.scale.size()) != shape[static_cast<size_t>(out_axis)])
        fail(ErrorCode::UnsupportedOp, "weights are quantized per axis " + std::to_string(q.axis) +
                                           ", not along their output channels");
    HostTensor codes = v.c;
    codes.shape = shape;
    QParams to = q;
    to.axis = out_axis;
    return fq_of_codes(constant(codes, "weight_codes"), to, shape);
}

void Importer::add_inputs() {
    std::set<std::string> inits;
    for (const auto& t : model_.graph().initializer()) {
        inits.insert(t.name());
        Value v;
        v.c = from_proto(t, t.name());
        values_[t.name()] = std::move(v);
        values_[t.name()].shape = values_[t.name()].c.shape;
    }
    for (const auto& in : model_.graph().input()) {
        if (inits.count(in.name())) continue;
        if (!in.type().has_tensor_type())
            throw Error(ErrorCode::UnsupportedOp, in.name(), "graph input is not a tensor");
        const auto& tt = in.type().tensor_type();
        Shape s;
        auto it = opts_.input_shapes.find(in.name());
        if (it != opts_.input_shapes.end()) {
            s = it->second;
        } else {
            for (int d = 0; d < tt.shape().dim_size(); ++d) {
                const auto& dim = tt.shape().dim(d);
                if (dim.has_dim_value() && dim.dim_value() > 0) s.push_back(dim.dim_value());
                else if (d == 0) s.push_back(opts_.default_batch);
                else
                    throw Error(ErrorCode::UnsupportedOp, in.name(),
                                "dimension " + std::to_string(d) + " is symbolic ('" + dim.dim_param() +
                                    "'); give the input's shape in ImportOptions::input_shapes");
            }
        }
        const int t = tt.elem_type();
        if (t != F32 && t != U8 && t != S8 && t != S32)
            throw Error(ErrorCode::UnsupportedOp, in.name(),
                        std::string("graph input of type ") + dtype_name(t) + "; qjit takes float32, uint8, int8, int32");
        Value v;
        v.ref = g.parameter(in.name(), s);
        v.kind = t == F32 ? Value::Float : Value::Codes;
        v.dtype = t;
        v.shape = s;
        values_[in.name()] = std::move(v);
    }
}

void Importer::fold_pads() {
    std::map<std::string, std::vector<const onnx::NodeProto*>> users;
    for (const auto& n : model_.graph().node())
        for (const auto& i : n.input()) users[i].push_back(&n);
    for (const auto& o : model_.graph().output()) users[o.name()].push_back(nullptr); // a graph output
    auto only_user = [&](const std::string& t, const char* op) -> const onnx::NodeProto* {
        auto it = users.find(t);
        if (it == users.end() || it->second.size() != 1 || !it->second[0] || it->second[0]->op_type() != op) return nullptr;
        return it->second[0];
    };
    for (const auto& pad : model_.graph().node()) {
        if (pad.op_type() != "Pad" || opset < 11 || pad.input_size() < 2 || pad.input_size() > 3) continue;
        cur = &pad;
        if (attr_s("mode", "constant") != "constant") continue;
        auto pads_it = values_.find(pad.input(1));
        if (pads_it == values_.end() || pads_it->second.kind != Value::Const) continue;
        if (pad.input_size() == 3 && !pad.input(2).empty()) {
            auto v = values_.find(pad.input(2));
            if (v == values_.end() || v->second.kind != Value::Const || v->second.c.numel() != 1 || v->second.c.v[0] != 0) continue;
        }
        const std::vector<int64_t> p = to_i64(pads_it->second.c);
        if (p.size() != 8 || p[0] || p[1] || p[4] || p[5]) continue; // spatial pads of rank-4 data only
        bool nonneg = true;
        for (int64_t e : p) nonneg = nonneg && e >= 0;
        const onnx::NodeProto* q = only_user(pad.output(0), "QuantizeLinear");
        const onnx::NodeProto* dq = q ? only_user(q->output(0), "DequantizeLinear") : nullptr;
        if (!nonneg || !dq) continue;
        std::vector<const onnx::NodeProto*> convs = users[dq->output(0)];
        bool ok = !convs.empty();
        for (const onnx::NodeProto* c : convs) {
            ok = ok && c && c->op_type() == "Conv" && c->input(0) == dq->output(0);
            if (ok) {
                cur = c;
                ok = attr_s("auto_pad", "NOTSET") == "NOTSET";
            }
        }
        if (!ok) continue;
        folded_pads[&pad] = true;
        for (const onnx::NodeProto* c : convs) conv_extra_pads[c] = {p[2], p[3], p[6], p[7]};
    }
    cur = nullptr;
}

Graph Importer::run() {
    add_inputs();
    fold_pads();
    const auto& table = translators();
    for (const auto& n : model_.graph().node()) {
        cur = &n;
        if (!n.domain().empty() && n.domain() != "ai.onnx")
            fail(ErrorCode::UnsupportedOp, "op " + n.domain() + "." + n.op_type() + " is not supported");
        if (folded_pads.count(&n)) { // moved into the Conv(s) it feeds (fold_pads)
            set_out(0, in(0));
            continue;
        }
        auto it = table.find(n.op_type());
        if (it == table.end()) fail(ErrorCode::UnsupportedOp, "op " + n.op_type() + " is not supported by qjit's ONNX importer");
        it->second(*this, n);
    }
    cur = nullptr;
    for (const auto& o : model_.graph().output()) {
        auto it = values_.find(o.name());
        if (it == values_.end()) throw Error(ErrorCode::InvalidArgument, o.name(), "graph output is never produced");
        const Value& v = it->second;
        NodeRef r = v.kind == Value::Quant ? as_codes(v) : as_float(v);
        g.result(o.name(), r);
    }
    return std::move(g);
}

namespace {
Graph import_model(const onnx::ModelProto& m, const ImportOptions& o) {
    if (!m.has_graph()) throw Error(ErrorCode::InvalidArgument, "<model>", "the ONNX model has no graph");
    Importer im(m, o);
    return im.run();
}
} // namespace

} // namespace qjit::onnx_import

namespace qjit {

Graph import_onnx(const std::string& path, const ImportOptions& opts) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(ErrorCode::InvalidArgument, path, "cannot open the ONNX file");
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string bytes = ss.str();
    return import_onnx_bytes(bytes.data(), bytes.size(), opts);
}

Graph import_onnx_bytes(const void* data, size_t size, const ImportOptions& opts) {
    onnx::ModelProto m;
    if (size > static_cast<size_t>(INT32_MAX) || !m.ParseFromArray(data, static_cast<int>(size)))
        throw Error(ErrorCode::InvalidArgument, "<model>", "not a valid ONNX ModelProto (protobuf parse failed)");
    return onnx_import::import_model(m, opts);
}

} // namespace qjit
