// OpenVINO IR v11 writer for builder graphs (see ov_writer.hpp).
#include "tools/ov_writer.hpp"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "jit/ir.hpp"

namespace qjit::tools {
namespace {

std::string csv(const std::vector<int64_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s;
}

std::string num(float f) {
    char b[32];
    std::snprintf(b, sizeof(b), "%.9g", static_cast<double>(f));
    return b;
}

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '&') o += "&amp;";
        else if (c == '<') o += "&lt;";
        else if (c == '>') o += "&gt;";
        else if (c == '"') o += "&quot;";
        else o += c;
    }
    return o;
}

const char* et_name(ElemType t) {
    switch (t) {
    case ElemType::f32: return "f32";
    case ElemType::u8: return "u8";
    case ElemType::s8: return "i8";
    case ElemType::s32: return "i32";
    }
    return "f32";
}

std::string port(int id, const Shape& s, const char* precision = "FP32") {
    std::string o = "          <port id=\"" + std::to_string(id) + "\" precision=\"" + precision + "\">\n";
    for (int64_t d : s) o += "            <dim>" + std::to_string(d) + "</dim>\n";
    return o + "          </port>\n";
}

struct Writer {
    std::ostringstream layers, edges;
    std::vector<uint8_t> bin;

    void layer(int id, const std::string& name, const std::string& type, const std::string& data,
               const std::vector<Shape>& ins, const Shape* out, const char* out_prec = "FP32") {
        layers << "    <layer id=\"" << id << "\" name=\"" << esc(name) << "\" type=\"" << type << "\" version=\"opset1\">\n";
        if (!data.empty()) layers << "      <data " << data << "/>\n";
        if (!ins.empty()) {
            layers << "      <input>\n";
            for (size_t i = 0; i < ins.size(); ++i) layers << port(static_cast<int>(i), ins[i]);
            layers << "      </input>\n";
        }
        if (out) layers << "      <output>\n" << port(static_cast<int>(ins.size()), *out, out_prec) << "      </output>\n";
        layers << "    </layer>\n";
    }
    void edge(int from, int to, size_t to_port) {
        edges << "    <edge from-layer=\"" << from << "\" from-port=\"" << out_port[from] << "\" to-layer=\"" << to
              << "\" to-port=\"" << to_port << "\"/>\n";
    }
    std::string blob(const void* p, size_t n) {
        const size_t off = bin.size();
        bin.insert(bin.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
        return "offset=\"" + std::to_string(off) + "\" size=\"" + std::to_string(n) + "\"";
    }
    std::map<int, int> out_port; // layer id -> its output port id
};

} // namespace

OpenVinoIr to_openvino_ir(const Graph& graph, const std::string& model_name) {
    const ir::Graph& g = graph.ir();
    Writer w;
    int next_id = g.size();
    for (int id : g.topo_order()) {
        const ir::Node& n = g.node(id);
        std::vector<Shape> ins;
        for (int i : n.inputs) ins.push_back(g.node(i).shape);
        std::string data, type = ir::to_string(n.op);
        auto conv_data = [&](const ConvParams& p) {
            return "strides=\"" + csv(p.strides) + "\" dilations=\"" + csv(p.dilations) + "\" pads_begin=\"" +
                   csv(p.pads_begin) + "\" pads_end=\"" + csv(p.pads_end) + "\" auto_pad=\"explicit\"";
        };
        auto pool_data = [&](const PoolParams& p) {
            return "strides=\"" + csv(p.strides) + "\" kernel=\"" + csv(p.kernel) + "\" pads_begin=\"" + csv(p.pads_begin) +
                   "\" pads_end=\"" + csv(p.pads_end) + "\" rounding_type=\"" +
                   (p.rounding == RoundingType::ceil ? "ceil" : "floor") + "\" auto_pad=\"explicit\"";
        };
        switch (n.op) {
        case ir::Op::Parameter: data = "shape=\"" + csv(n.shape) + "\" element_type=\"f32\""; break;
        case ir::Op::Constant:
            type = "Const";
            data = "element_type=\"" + std::string(et_name(n.value.type())) + "\" shape=\"" + csv(n.shape) + "\" " +
                   w.blob(n.value.raw(), n.value.bytes());
            break;
        case ir::Op::FakeQuantize:
            if (n.inputs.size() != 5)
                throw Error(ErrorCode::UnsupportedOp, n.name, "ONNX rounding has no OpenVINO FakeQuantize form");
            data = "levels=\"" + std::to_string(n.levels) + "\" auto_broadcast=\"" +
                   (n.broadcast == Broadcast::none ? "none" : n.broadcast == Broadcast::pdpd ? "pdpd" : "numpy") + "\"";
            break;
        case ir::Op::Convolution: case ir::Op::GroupConvolution: data = conv_data(n.conv); break;
        case ir::Op::MaxPool: data = pool_data(n.pool); break;
        case ir::Op::AvgPool: data = pool_data(n.pool) + " exclude-pad=\"" + (n.pool.exclude_pad ? "true" : "false") + "\""; break;
        case ir::Op::MatMul:
            data = std::string("transpose_a=\"") + (n.transpose_a ? "true" : "false") + "\" transpose_b=\"" +
                   (n.transpose_b ? "true" : "false") + "\"";
            break;
        case ir::Op::Add: case ir::Op::Multiply: data = "auto_broadcast=\"numpy\""; break;
        case ir::Op::Relu: case ir::Op::Result: break;
        case ir::Op::Clamp: data = "min=\"" + num(n.clamp_lo) + "\" max=\"" + num(n.clamp_hi) + "\""; break;
        case ir::Op::Concat: data = "axis=\"" + std::to_string(n.concat_axis) + "\""; break;
        case ir::Op::Reshape: {
            // The target shape is an i64 Const layer feeding port 1; a leading dimension equal to the
            // input's is written as 0 (special_zero), so a model read with another batch still reshapes.
            const int cid = next_id++;
            Shape target = n.shape;
            const Shape& src = g.node(n.inputs.at(0)).shape;
            const bool keep_batch = !target.empty() && !src.empty() && target[0] == src[0];
            if (keep_batch) target[0] = 0;
            const Shape target_shape{static_cast<int64_t>(n.shape.size())};
            w.layer(cid, n.name + "/target_shape", "Const",
                    "element_type=\"i64\" shape=\"" + std::to_string(n.shape.size()) + "\" " +
                        w.blob(target.data(), target.size() * sizeof(int64_t)),
                    {}, &target_shape, "I64");
            w.out_port[cid] = 0;
            data = std::string("special_zero=\"") + (keep_batch ? "true" : "false") + "\"";
            ins.push_back(target_shape);
            break;
        }
        default:
            throw Error(ErrorCode::UnsupportedOp, n.name,
                        std::string("the OpenVINO IR writer does not write ") + ir::to_string(n.op));
        }
        w.layer(id, n.name, type, data, ins, n.op == ir::Op::Result ? nullptr : &n.shape,
                n.op == ir::Op::Constant ? (n.value.type() == ElemType::f32 ? "FP32" : n.value.type() == ElemType::u8 ? "U8"
                                                                                 : n.value.type() == ElemType::s8 ? "I8" : "I32")
                                         : "FP32");
        w.out_port[id] = static_cast<int>(ins.size());
        for (size_t i = 0; i < n.inputs.size(); ++i) w.edge(n.inputs[i], id, i);
        if (n.op == ir::Op::Reshape) w.edge(next_id - 1, id, 1);
    }
    OpenVinoIr out;
    out.xml = "<?xml version=\"1.0\"?>\n<net name=\"" + esc(model_name) + "\" version=\"11\">\n  <layers>\n" + w.layers.str() +
              "  </layers>\n  <edges>\n" + w.edges.str() + "  </edges>\n</net>\n";
    out.bin = std::move(w.bin);
    return out;
}

void write_openvino_ir(const Graph& g, const std::string& xml_path, const std::string& model_name) {
    const OpenVinoIr ir = to_openvino_ir(g, model_name);
    std::string bin_path = xml_path;
    const size_t dot = bin_path.rfind('.'), slash = bin_path.rfind('/');
    if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) bin_path.resize(dot);
    bin_path += ".bin";
    std::ofstream x(xml_path, std::ios::trunc), b(bin_path, std::ios::binary | std::ios::trunc);
    x << ir.xml;
    b.write(reinterpret_cast<const char*>(ir.bin.data()), static_cast<std::streamsize>(ir.bin.size()));
    if (!x || !b) throw Error(ErrorCode::InvalidArgument, xml_path, "cannot write the OpenVINO IR files");
}

} // namespace qjit::tools
