// .npy reading and writing (see npy.hpp).
#include "tools/npy.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "qjit/error.hpp"

namespace qjit::npy {
namespace {

[[noreturn]] void bad(const std::string& path, const std::string& why) {
    throw Error(ErrorCode::InvalidArgument, path, "npy: " + why);
}

// The value of 'key' in the header dict, up to the next top-level ',' or '}' (a tuple stays whole).
std::string field(const std::string& h, const std::string& key, const std::string& path) {
    size_t p = h.find("'" + key + "'");
    if (p == std::string::npos) bad(path, "header has no '" + key + "'");
    p = h.find(':', p);
    if (p == std::string::npos) bad(path, "malformed header");
    size_t e = p + 1;
    int depth = 0;
    for (; e < h.size(); ++e) {
        if (h[e] == '(') ++depth;
        else if (h[e] == ')') --depth;
        else if ((h[e] == ',' || h[e] == '}') && depth == 0) break;
    }
    std::string v = h.substr(p + 1, e - p - 1);
    const size_t b = v.find_first_not_of(" "), l = v.find_last_not_of(" ");
    return b == std::string::npos ? "" : v.substr(b, l - b + 1);
}

} // namespace

Tensor read_f32(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) bad(path, "cannot open the file");
    const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0) bad(path, "not a .npy file");
    const int major = static_cast<uint8_t>(s[6]);
    size_t hlen = 0, start = 0;
    if (major == 1) {
        hlen = static_cast<uint8_t>(s[8]) | (static_cast<size_t>(static_cast<uint8_t>(s[9])) << 8);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (s.size() < 12) bad(path, "truncated header");
        for (int i = 0; i < 4; ++i) hlen |= static_cast<size_t>(static_cast<uint8_t>(s[8 + static_cast<size_t>(i)])) << (8 * i);
        start = 12;
    } else {
        bad(path, "format version " + std::to_string(major));
    }
    if (start + hlen > s.size()) bad(path, "truncated header");
    const std::string h = s.substr(start, hlen);
    const std::string descr = field(h, "descr", path), order = field(h, "fortran_order", path);
    std::string shape_txt = field(h, "shape", path);
    if (order != "False") bad(path, "Fortran order is not supported");
    size_t es = 0;
    if (descr == "'<f4'") es = 4;
    else if (descr == "'|u1'" || descr == "'<u1'" || descr == "'|i1'" || descr == "'<i1'") es = 1;
    else bad(path, "dtype " + descr + " (f32, u8 and i8 are read)");
    Shape shape;
    std::string num;
    for (char c : shape_txt + ",") {
        if (c >= '0' && c <= '9') { num += c; continue; }
        if (c == ',' || c == ')') {
            if (!num.empty()) shape.push_back(std::stoll(num));
            num.clear();
        } else if (c != '(' && c != ' ' && c != 'L') {
            bad(path, "malformed shape " + shape_txt);
        }
    }
    Tensor t(ElemType::f32, shape);
    const size_t n = static_cast<size_t>(t.numel());
    const size_t data = start + hlen;
    if (s.size() - data < n * es) bad(path, "data is shorter than shape " + to_string(shape));
    float* dst = t.data<float>();
    const bool is_signed = descr.find('i') != std::string::npos;
    for (size_t i = 0; i < n; ++i) {
        if (es == 4) std::memcpy(&dst[i], s.data() + data + 4 * i, 4);
        else if (is_signed) dst[i] = static_cast<int8_t>(s[data + i]);
        else dst[i] = static_cast<uint8_t>(s[data + i]);
    }
    return t;
}

void write_f32(const std::string& path, const Tensor& t) {
    if (t.type() != ElemType::f32) throw Error(ErrorCode::InvalidArgument, path, "npy: only f32 tensors are written");
    std::string shape = "(";
    for (int64_t d : t.shape()) shape += std::to_string(d) + ",";
    if (t.shape().size() > 1) shape.pop_back();
    shape += ")";
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    while ((10 + h.size() + 1) % 64 != 0) h += ' ';
    h += '\n';
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    const uint16_t len = static_cast<uint16_t>(h.size());
    f.write("\x93NUMPY\x01\x00", 8);
    const char lb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    f.write(lb, 2);
    f << h;
    f.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.bytes()));
    if (!f) throw Error(ErrorCode::InvalidArgument, path, "npy: cannot write the file");
}

} // namespace qjit::npy
