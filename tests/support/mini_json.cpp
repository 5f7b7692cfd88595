// Recursive-descent JSON parser behind mini_json.hpp (RFC 8259 subset: no duplicate-key rules).
#include "tests/support/mini_json.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace qjit::test::json {

namespace {
[[noreturn]] void type_error(const char* want) { throw std::runtime_error(std::string("json: value is not ") + want); }
} // namespace

bool Value::as_bool() const {
    if (kind_ != Kind::Bool) type_error("a bool");
    return b_;
}
double Value::as_number() const {
    if (kind_ != Kind::Number) type_error("a number");
    return num_;
}
const std::string& Value::as_string() const {
    if (kind_ != Kind::String) type_error("a string");
    return str_;
}
const std::vector<Value>& Value::as_array() const {
    if (kind_ != Kind::Array) type_error("an array");
    return arr_;
}
bool Value::contains(const std::string& key) const { return kind_ == Kind::Object && obj_.count(key) != 0; }
const Value& Value::operator[](const std::string& key) const {
    if (kind_ != Kind::Object) type_error("an object");
    auto it = obj_.find(key);
    if (it == obj_.end()) throw std::runtime_error("json: missing key '" + key + "'");
    return it->second;
}
const Value& Value::operator[](size_t i) const { return as_array().at(i); }
size_t Value::size() const {
    if (kind_ == Kind::Array) return arr_.size();
    if (kind_ == Kind::Object) return obj_.size();
    type_error("an array or object");
}
std::vector<double> Value::numbers() const {
    std::vector<double> r;
    for (const Value& v : as_array()) r.push_back(v.as_number());
    return r;
}

class Parser {
public:
    explicit Parser(const std::string& s) : s_(s) {}

    Value document() {
        Value v = value();
        ws();
        if (p_ != s_.size()) fail("trailing characters");
        return v;
    }

private:
    const std::string& s_;
    size_t p_ = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("json: " + what + " at offset " + std::to_string(p_));
    }
    void ws() {
        while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
    }
    char peek() {
        ws();
        if (p_ >= s_.size()) fail("unexpected end");
        return s_[p_];
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++p_;
    }
    bool literal(const char* word) {
        const std::string w(word);
        if (s_.compare(p_, w.size(), w) != 0) return false;
        p_ += w.size();
        return true;
    }

    Value value() {
        Value v;
        const char c = peek();
        if (c == '{') {
            v.kind_ = Value::Kind::Object;
            ++p_;
            if (peek() == '}') { ++p_; return v; }
            for (;;) {
                if (peek() != '"') fail("expected a key");
                std::string key = string();
                expect(':');
                v.obj_[key] = value();
                if (peek() == ',') { ++p_; continue; }
                expect('}');
                return v;
            }
        }
        if (c == '[') {
            v.kind_ = Value::Kind::Array;
            ++p_;
            if (peek() == ']') { ++p_; return v; }
            for (;;) {
                v.arr_.push_back(value());
                if (peek() == ',') { ++p_; continue; }
                expect(']');
                return v;
            }
        }
        if (c == '"') {
            v.kind_ = Value::Kind::String;
            v.str_ = string();
            return v;
        }
        if (literal("true")) { v.kind_ = Value::Kind::Bool; v.b_ = true; return v; }
        if (literal("false")) { v.kind_ = Value::Kind::Bool; return v; }
        if (literal("null")) return v;
        if (c == '-' || (c >= '0' && c <= '9')) {
            const char* begin = s_.c_str() + p_;
            char* end = nullptr;
            v.kind_ = Value::Kind::Number;
            v.num_ = std::strtod(begin, &end);
            if (end == begin) fail("bad number");
            p_ += static_cast<size_t>(end - begin);
            return v;
        }
        fail("unexpected character");
    }

    static void utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    unsigned hex4() {
        if (p_ + 4 > s_.size()) fail("short \\u escape");
        unsigned cp = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = s_[p_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
            else fail("bad \\u escape");
        }
        return cp;
    }
    std::string string() {
        expect('"');
        std::string out;
        for (;;) {
            if (p_ >= s_.size()) fail("unterminated string");
            const char c = s_[p_++];
            if (c == '"') return out;
            if (c != '\\') { out += c; continue; }
            if (p_ >= s_.size()) fail("unterminated escape");
            const char e = s_[p_++];
            switch (e) {
            case '"': case '\\': case '/': out += e; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(p_, 2, "\\u") == 0) {
                    p_ += 2;
                    const unsigned lo = hex4();
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                utf8(out, cp);
                break;
            }
            default: fail("bad escape");
            }
        }
    }
};

Value parse(const std::string& text) { return Parser(text).document(); }

Value parse_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("json: cannot open " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return parse(ss.str());
}

} // namespace qjit::test::json
