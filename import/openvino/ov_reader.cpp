// OpenVINO IR v10/v11 reader: XML (pugixml) -> layers and edges -> a qjit::Graph in topological
// order. The op conversions are in ov_ops.cpp.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <pugixml.hpp>

#include "import/openvino/ov_ir.hpp"

namespace qjit {
namespace ovir {

std::string where(const Layer& l) {
    return "OpenVINO IR layer '" + l.name + "' (id " + std::to_string(l.id) + ", " + l.type + ")";
}

void fail(const Layer& l, ErrorCode code, const std::string& problem) { throw Error(code, where(l), problem); }

std::string attr(const Layer& l, const std::string& key, const std::string* fallback) {
    auto it = l.data.find(key);
    if (it != l.data.end()) return it->second;
    if (fallback) return *fallback;
    fail(l, ErrorCode::InvalidArgument, "missing attribute '" + key + "'");
}

static bool parse_int(const std::string& s, int64_t* v) {
    if (s.empty()) return false;
    size_t pos = 0;
    try {
        *v = std::stoll(s, &pos);
    } catch (...) {
        return false;
    }
    return pos == s.size();
}

std::vector<int64_t> attr_ints(const Layer& l, const std::string& key, const std::vector<int64_t>* fallback) {
    auto it = l.data.find(key);
    if (it == l.data.end()) {
        if (fallback) return *fallback;
        fail(l, ErrorCode::InvalidArgument, "missing attribute '" + key + "'");
    }
    std::vector<int64_t> out;
    std::string s = it->second, item;
    if (s.empty()) return out;
    s += ',';
    for (char c : s) {
        if (c == ' ') continue;
        if (c != ',') { item += c; continue; }
        int64_t v = 0;
        if (!parse_int(item, &v))
            fail(l, ErrorCode::InvalidArgument, "attribute " + key + "=\"" + it->second + "\" is not a list of integers");
        out.push_back(v);
        item.clear();
    }
    return out;
}

double attr_num(const Layer& l, const std::string& key, const double* fallback) {
    auto it = l.data.find(key);
    if (it == l.data.end()) {
        if (fallback) return *fallback;
        fail(l, ErrorCode::InvalidArgument, "missing attribute '" + key + "'");
    }
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0' || std::isnan(v))
        fail(l, ErrorCode::InvalidArgument, "attribute " + key + "=\"" + it->second + "\" is not a number");
    return v;
}

static float half_to_float(uint16_t h) {
    const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0 ? std::ldexp(static_cast<float>(m), -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : std::ldexp(static_cast<float>(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

Tensor read_const(const Layer& l, const uint8_t* bin, size_t bin_size) {
    const std::string et = attr(l, "element_type");
    const std::vector<int64_t> empty;
    Shape shape = attr_ints(l, "shape", &empty);
    for (int64_t d : shape)
        if (d < 0) fail(l, ErrorCode::InvalidArgument, "negative dimension in shape " + to_string(shape));
    const std::vector<int64_t> offv = attr_ints(l, "offset"), sizev = attr_ints(l, "size");
    if (offv.size() != 1 || sizev.size() != 1) fail(l, ErrorCode::InvalidArgument, "offset and size must be one integer each");
    const int64_t off = offv[0], size = sizev[0];
    size_t es = 0;
    if (et == "f32" || et == "i32" || et == "u32") es = 4;
    else if (et == "f16" || et == "i16" || et == "u16") es = 2;
    else if (et == "i8" || et == "u8" || et == "boolean") es = 1;
    else if (et == "i64" || et == "u64" || et == "f64") es = 8;
    else fail(l, ErrorCode::UnsupportedOp, "constant element_type '" + et + "'");
    int64_t n = 1;
    for (int64_t d : shape)
        if (__builtin_mul_overflow(n, d, &n) || n > (int64_t{1} << 40))
            fail(l, ErrorCode::InvalidArgument, "shape " + to_string(shape) + " is too large");
    if (n == 0) fail(l, ErrorCode::UnsupportedOp, "empty constant " + to_string(shape));
    if (off < 0 || size < 0 || size != n * static_cast<int64_t>(es))
        fail(l, ErrorCode::InvalidArgument, "size " + std::to_string(size) + " does not match " + et + " " + to_string(shape));
    if (static_cast<uint64_t>(off) > bin_size || static_cast<uint64_t>(size) > bin_size - static_cast<uint64_t>(off))
        fail(l, ErrorCode::InvalidArgument, "bytes [" + std::to_string(off) + ", " + std::to_string(off + size) +
                                                 ") lie beyond the weights file (" + std::to_string(bin_size) + " bytes)");
    Tensor t(ElemType::f32, shape);
    float* dst = t.data<float>();
    const uint8_t* p = bin + off;
    for (int64_t i = 0; i < n; ++i, p += es) {
        if (et == "f32") std::memcpy(&dst[i], p, 4);
        else if (et == "f16") { uint16_t h; std::memcpy(&h, p, 2); dst[i] = half_to_float(h); }
        else if (et == "f64") { double d; std::memcpy(&d, p, 8); dst[i] = static_cast<float>(d); }
        else if (et == "i8") dst[i] = static_cast<int8_t>(*p);
        else if (et == "u8" || et == "boolean") dst[i] = *p;
        else if (et == "i16") { int16_t v; std::memcpy(&v, p, 2); dst[i] = v; }
        else if (et == "u16") { uint16_t v; std::memcpy(&v, p, 2); dst[i] = v; }
        else if (et == "i32") { int32_t v; std::memcpy(&v, p, 4); dst[i] = static_cast<float>(v); }
        else if (et == "u32") { uint32_t v; std::memcpy(&v, p, 4); dst[i] = static_cast<float>(v); }
        else if (et == "i64") { int64_t v; std::memcpy(&v, p, 8); dst[i] = static_cast<float>(v); }
        else { uint64_t v; std::memcpy(&v, p, 8); dst[i] = static_cast<float>(v); }
    }
    return t;
}

NodeRef Builder::materialize(const Value& v, const std::string& name) {
    if (!v.is_const) return v.ref;
    return g.constant(name, v.c);
}

} // namespace ovir

namespace {

using namespace ovir;

std::vector<int64_t> port_dims(const pugi::xml_node& port) {
    std::vector<int64_t> dims;
    for (pugi::xml_node d : port.children("dim")) {
        const std::string s = d.text().as_string();
        int64_t v = -1;
        try {
            size_t pos = 0;
            v = std::stoll(s, &pos);
            if (pos != s.size()) v = -1; // "?", "1..8": dynamic
        } catch (...) {
            v = -1;
        }
        dims.push_back(v < 0 ? -1 : v);
    }
    return dims;
}

Layer parse_layer(const pugi::xml_node& x) {
    Layer l;
    l.name = x.attribute("name").as_string();
    l.type = x.attribute("type").as_string();
    l.version = x.attribute("version").as_string();
    const std::string id = x.attribute("id").as_string();
    int64_t v = 0;
    l.id = -1;
    try {
        size_t pos = 0;
        v = std::stoll(id, &pos);
        if (pos == id.size() && v >= 0 && v < (1 << 30)) l.id = static_cast<int>(v);
    } catch (...) {
    }
    if (l.name.empty()) l.name = "layer" + id;
    if (l.id < 0) throw Error(ErrorCode::InvalidArgument, "OpenVINO IR layer '" + l.name + "'", "bad id '" + id + "'");
    if (l.type.empty()) fail(l, ErrorCode::InvalidArgument, "layer has no type");
    for (pugi::xml_attribute a : x.child("data").attributes()) l.data[a.name()] = a.value();
    for (pugi::xml_node p : x.child("input").children("port"))
        l.inputs.push_back({p.attribute("id").as_int(-1), p.attribute("precision").as_string(), port_dims(p)});
    for (pugi::xml_node p : x.child("output").children("port"))
        l.outputs.push_back({p.attribute("id").as_int(-1), p.attribute("precision").as_string(), port_dims(p)});
    return l;
}

Graph import_ir(const std::string& xml, const uint8_t* bin, size_t bin_size, const ImportOptions& opts,
                const std::string& origin, const std::string& bin_missing = "") {
    const std::string net_where = "OpenVINO IR " + origin;
    pugi::xml_document doc;
    const pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size());
    if (!r)
        throw Error(ErrorCode::InvalidArgument, net_where,
                    std::string("malformed XML at byte ") + std::to_string(r.offset) + ": " + r.description());
    const pugi::xml_node net = doc.child("net");
    if (!net) throw Error(ErrorCode::InvalidArgument, net_where, "no <net> element");
    const int version = net.attribute("version").as_int(0);
    if (version != 10 && version != 11)
        throw Error(ErrorCode::UnsupportedOp, net_where,
                    "IR version " + std::string(net.attribute("version").as_string("(none)")) + "; qjit reads v10 and v11");

    std::map<int, Layer> layers;
    for (pugi::xml_node x : net.child("layers").children("layer")) {
        Layer l = parse_layer(x);
        const int id = l.id;
        if (!layers.emplace(id, std::move(l)).second)
            throw Error(ErrorCode::InvalidArgument, net_where, "duplicate layer id " + std::to_string(id));
    }
    if (layers.empty()) throw Error(ErrorCode::InvalidArgument, net_where, "no layers");
    // (to layer, to port) -> (from layer, from port)
    std::map<std::pair<int, int>, std::pair<int, int>> edges;
    for (pugi::xml_node e : net.child("edges").children("edge")) {
        const int fl = e.attribute("from-layer").as_int(-1), fp = e.attribute("from-port").as_int(-1);
        const int tl = e.attribute("to-layer").as_int(-1), tp = e.attribute("to-port").as_int(-1);
        if (!layers.count(fl) || !layers.count(tl))
            throw Error(ErrorCode::InvalidArgument, net_where,
                        "edge " + std::to_string(fl) + ":" + std::to_string(fp) + " -> " + std::to_string(tl) + ":" +
                            std::to_string(tp) + " names a missing layer");
        if (!edges.emplace(std::make_pair(tl, tp), std::make_pair(fl, fp)).second)
            throw Error(ErrorCode::InvalidArgument, where(layers.at(tl)), "input port " + std::to_string(tp) + " has two edges");
    }

    Builder b;
    b.opts = &opts;
    b.bin = bin;
    b.bin_size = bin_size;
    b.bin_missing = bin_missing;
    std::map<int, Value> done; // layer id -> value of its first output
    std::set<int> visiting;
    // Iterative depth-first conversion (inputs first), so deep networks do not exhaust the stack.
    for (const auto& [root, unused] : layers) {
        (void)unused;
        std::vector<int> stack{root};
        while (!stack.empty()) {
            const int id = stack.back();
            if (done.count(id)) { stack.pop_back(); continue; }
            const Layer& l = layers.at(id);
            std::vector<int> missing;
            for (const Port& p : l.inputs) {
                auto e = edges.find({id, p.id});
                if (e == edges.end()) fail(l, ErrorCode::InvalidArgument, "input port " + std::to_string(p.id) + " has no edge");
                const Layer& from = layers.at(e->second.first);
                if (from.outputs.empty() || from.outputs[0].id != e->second.second)
                    fail(l, ErrorCode::UnsupportedOp, "reads output port " + std::to_string(e->second.second) + " of " +
                                                          where(from) + "; only the first output is supported");
                if (!done.count(from.id)) missing.push_back(from.id);
            }
            if (missing.empty()) {
                std::vector<Value> in;
                for (const Port& p : l.inputs) in.push_back(done.at(edges.at({id, p.id}).first));
                done[id] = convert_layer(b, l, in);
                visiting.erase(id);
                stack.pop_back();
                continue;
            }
            if (!visiting.insert(id).second) fail(l, ErrorCode::InvalidArgument, "the graph has a cycle through this layer");
            for (int m : missing) stack.push_back(m);
        }
    }
    return std::move(b.g);
}

} // namespace

Graph import_openvino_ir_bytes(const std::string& xml, const void* bin, size_t bin_size, const ImportOptions& opts) {
    if (bin == nullptr && bin_size != 0) throw Error(ErrorCode::InvalidArgument, "OpenVINO IR <memory>", "null weights with size > 0");
    return import_ir(xml, static_cast<const uint8_t*>(bin), bin_size, opts, "<memory>");
}

Graph import_openvino_ir(const std::string& xml_path, const std::string& bin_path_in, const ImportOptions& opts) {
    auto slurp = [](const std::string& path, const char* what) {
        std::ifstream f(path, std::ios::binary);
        if (!f) throw Error(ErrorCode::InvalidArgument, "OpenVINO IR " + path, std::string("cannot open the ") + what + " file");
        return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    };
    std::string bin_path = bin_path_in;
    if (bin_path.empty()) {
        bin_path = xml_path;
        const size_t dot = bin_path.rfind('.');
        const size_t slash = bin_path.rfind('/');
        if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) bin_path.resize(dot);
        bin_path += ".bin";
    }
    const std::string xml = slurp(xml_path, "XML");
    std::string bin;
    std::ifstream f(bin_path, std::ios::binary);
    // A missing .bin is only an error when a Const reads it.
    if (f) bin.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return import_ir(xml, reinterpret_cast<const uint8_t*>(bin.data()), bin.size(), opts, xml_path, f ? "" : bin_path);
}

} // namespace qjit
