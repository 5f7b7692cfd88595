// Internal types of the OpenVINO IR importer: the parsed XML (layers, ports, edges) and the value
// each layer output turns into (a folded constant or a node of the qjit::Graph being built).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "qjit/error.hpp"
#include "qjit/graph.hpp"
#include "qjit/import.hpp"

namespace qjit::ovir {

struct Port {
    int id = -1;
    std::string precision; // "FP32", "I8", ... ("" when absent)
    std::vector<int64_t> dims; // -1 for a dynamic dimension
};

struct Layer {
    int id = -1;
    std::string name, type, version;
    std::map<std::string, std::string> data; // attributes of <data>
    std::vector<Port> inputs, outputs;       // in document order
};

// One layer output. Constants stay host-side f32 tensors (folded through Convert, Reshape, ...)
// until an op of the graph reads them.
struct Value {
    bool is_const = false;
    Tensor c;  // f32, when is_const
    NodeRef ref;
    Shape shape;
    std::string name; // producing layer
};

// Where a problem is: "OpenVINO IR layer 'name' (id 3, Convolution)".
std::string where(const Layer& l);
[[noreturn]] void fail(const Layer& l, ErrorCode code, const std::string& problem);

// Attribute accessors; a missing or malformed attribute is an Error naming the layer.
std::string attr(const Layer& l, const std::string& key, const std::string* fallback = nullptr);
std::vector<int64_t> attr_ints(const Layer& l, const std::string& key, const std::vector<int64_t>* fallback = nullptr);
double attr_num(const Layer& l, const std::string& key, const double* fallback = nullptr);

// The Const layer's tensor from the weights blob, converted to f32.
Tensor read_const(const Layer& l, const uint8_t* bin, size_t bin_size);

struct Builder {
    Graph g;
    const ImportOptions* opts = nullptr;
    const uint8_t* bin = nullptr;
    size_t bin_size = 0;
    std::string bin_missing; // path of a weights file that could not be opened ("" if none)
    NodeRef materialize(const Value& v, const std::string& name); // constant -> graph node
};

// Converts one layer given its input values (in input-port order) to its first output's value.
Value convert_layer(Builder& b, const Layer& l, const std::vector<Value>& in);

} // namespace qjit::ovir
