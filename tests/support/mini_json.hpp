// A tiny JSON reader for test data files (no dependency): parses a whole document into a tree of
// Values. Numbers are doubles (strtod, correctly rounded). Throws std::runtime_error on bad input.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace qjit::test::json {

class Value {
public:
    enum class Kind { Null, Bool, Number, String, Array, Object };

    Kind kind() const { return kind_; }
    bool is_null() const { return kind_ == Kind::Null; }
    bool is_number() const { return kind_ == Kind::Number; }
    bool is_string() const { return kind_ == Kind::String; }
    bool is_array() const { return kind_ == Kind::Array; }
    bool is_object() const { return kind_ == Kind::Object; }

    bool as_bool() const;
    double as_number() const;
    const std::string& as_string() const;
    const std::vector<Value>& as_array() const;

    // Object access: operator[] throws when the key is missing.
    bool contains(const std::string& key) const;
    const Value& operator[](const std::string& key) const;
    // Array access.
    const Value& operator[](size_t i) const;
    size_t size() const; // elements of an array or members of an object

    // Convenience: an array of numbers.
    std::vector<double> numbers() const;

private:
    friend class Parser;
    Kind kind_ = Kind::Null;
    bool b_ = false;
    double num_ = 0;
    std::string str_;
    std::vector<Value> arr_;
    std::map<std::string, Value> obj_;
};

Value parse(const std::string& text);
Value parse_file(const std::string& path);

} // namespace qjit::test::json
