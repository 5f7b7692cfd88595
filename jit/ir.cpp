#include "jit/ir.hpp"

#include <functional>
#include <sstream>

#include "qjit/error.hpp"

namespace qjit::ir {

const char* to_string(Op op) {
    switch (op) {
    case Op::Parameter: return "Parameter";
    case Op::Constant: return "Constant";
    case Op::FakeQuantize: return "FakeQuantize";
    case Op::Convolution: return "Convolution";
    case Op::MatMul: return "MatMul";
    case Op::Add: return "Add";
    case Op::Multiply: return "Multiply";
    case Op::Relu: return "Relu";
    case Op::Clamp: return "Clamp";
    case Op::Reshape: return "Reshape";
    case Op::Result: return "Result";
    case Op::Quantize: return "Quantize";
    case Op::Dequantize: return "Dequantize";
    case Op::QConv: return "QConv";
    case Op::GroupConvolution: return "GroupConvolution";
    case Op::MaxPool: return "MaxPool";
    case Op::AvgPool: return "AvgPool";
    case Op::QAvgPool: return "QAvgPool";
    case Op::Concat: return "Concat";
    case Op::QEltwise: return "QEltwise";
    case Op::Subtract: return "Subtract";
    case Op::Sigmoid: return "Sigmoid";
    case Op::HardSigmoid: return "HardSigmoid";
    case Op::HardSwish: return "HardSwish";
    case Op::LeakyRelu: return "LeakyRelu";
    case Op::Softmax: return "Softmax";
    case Op::Transpose: return "Transpose";
    case Op::Pad: return "Pad";
    case Op::Resize: return "Resize";
    case Op::Tile: return "Tile";
    }
    return "?";
}

int Graph::add(Node n) {
    n.id = size();
    for (int in : n.inputs)
        if (in < 0 || in >= n.id)
            throw Error(ErrorCode::InvalidArgument, n.name, "input refers to no node");
    nodes_.push_back(std::move(n));
    return nodes_.back().id;
}

std::vector<int> Graph::parameters() const {
    std::vector<int> r;
    for (const Node& n : nodes_)
        if (!n.dead && n.op == Op::Parameter) r.push_back(n.id);
    return r;
}

std::vector<int> Graph::results() const {
    std::vector<int> r;
    for (const Node& n : nodes_)
        if (!n.dead && n.op == Op::Result) r.push_back(n.id);
    return r;
}

std::vector<int> Graph::consumers(int id) const {
    std::vector<int> r;
    for (const Node& n : nodes_) {
        if (n.dead) continue;
        for (int in : n.inputs)
            if (in == id) { r.push_back(n.id); break; }
    }
    return r;
}

std::vector<int> Graph::topo_order() const {
    // Passes may insert a node after its users, so order by depth-first search from the Results.
    // Iterative (an explicit stack): a chain of a million nodes must not overflow the call stack.
    std::vector<int> order, state(nodes_.size(), 0);
    std::vector<std::pair<int, size_t>> stack; // (node, next input to visit)
    auto visit = [&](int root) {
        if (state[static_cast<size_t>(root)] == 2) return;
        stack.emplace_back(root, 0);
        state[static_cast<size_t>(root)] = 1;
        while (!stack.empty()) {
            auto& [id, next] = stack.back();
            const std::vector<int>& ins = node(id).inputs;
            if (next < ins.size()) {
                const int in = ins[next++];
                if (state[static_cast<size_t>(in)] == 1)
                    throw Error(ErrorCode::Internal, node(in).name, "graph has a cycle");
                if (state[static_cast<size_t>(in)] == 0) {
                    state[static_cast<size_t>(in)] = 1;
                    stack.emplace_back(in, 0);
                }
                continue;
            }
            state[static_cast<size_t>(id)] = 2;
            order.push_back(id);
            stack.pop_back();
        }
    };
    for (const Node& n : nodes_)
        if (!n.dead && n.op == Op::Result) visit(n.id);
    for (const Node& n : nodes_)
        if (!n.dead && n.op == Op::Parameter) visit(n.id);
    return order;
}

void Graph::replace_uses(int from, int to) {
    for (Node& n : nodes_) {
        if (n.dead || n.id == to) continue;
        for (int& in : n.inputs)
            if (in == from) in = to;
    }
}

void Graph::remove_dead() {
    std::vector<char> live(nodes_.size(), 0);
    std::vector<int> stack; // iterative, like topo_order
    auto mark = [&](int root) {
        stack.push_back(root);
        while (!stack.empty()) {
            const int id = stack.back();
            stack.pop_back();
            if (live[static_cast<size_t>(id)]) continue;
            live[static_cast<size_t>(id)] = 1;
            for (int in : node(id).inputs) stack.push_back(in);
        }
    };
    for (const Node& n : nodes_)
        if (!n.dead && (n.op == Op::Result || n.op == Op::Parameter)) mark(n.id);
    for (Node& n : nodes_)
        if (!live[static_cast<size_t>(n.id)]) n.dead = true;
}

std::string Graph::dump() const {
    std::ostringstream os;
    for (int id : topo_order()) {
        const Node& n = node(id);
        os << n.name << '=' << to_string(n.op) << '(';
        for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? "," : "") << node(n.inputs[i]).name;
        os << ") " << qjit::to_string(n.type) << ' ' << qjit::to_string(n.shape) << '\n';
    }
    return os.str();
}

std::string Graph::op_signature() const {
    std::string s;
    for (int id : topo_order()) {
        const Node& n = node(id);
        if (n.op == Op::Constant) continue;
        if (!s.empty()) s += ',';
        s += to_string(n.op);
    }
    return s;
}

} // namespace qjit::ir
