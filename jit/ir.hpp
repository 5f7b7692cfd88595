// qjit's internal graph IR. Every node has one output. The builder creates the float ops;
// the passes in jit/passes/ rewrite them into the lowered ops (Quantize, Dequantize, QConv).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "qjit/graph.hpp"
#include "qjit/tensor.hpp"

namespace qjit {
struct QConvDesc;
struct ActQuant;
struct QuantWeights;
struct QAvgPoolDesc;
struct QEltwiseDesc;
} // namespace qjit

namespace qjit::ir {

enum class Op {
    // float graph ops (what the builder and importers create)
    Parameter, Constant, FakeQuantize, Convolution, MatMul, Add, Multiply, Relu, Clamp, Reshape, Result,
    GroupConvolution, // attr: conv; weights [G, O/G, I/G, KH, KW]
    MaxPool,          // attr: pool; f32, or u8 level indices after propagate_dequantize (s > 0)
    AvgPool,          // attr: pool
    Concat,     // along attr concat_axis; also on u8 level tensors after lowering (a copy)
    // float-only ops (fp32 fallback): attrs alpha/beta, axis (Softmax), ints (Transpose perm,
    // Pad begin..end, Tile repeats), resize
    Subtract, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Softmax, Transpose, Pad, Resize, Tile,
    // lowered ops (created by passes)
    Quantize,   // f32 -> u8 level index k (FakeQuantize §1.1 step 3); attr: act
    Dequantize, // u8 k -> f32 value fl(fl(fl(k/(L-1))*fl(oh-ol))+ol); attr: act
    QConv,      // u8 k -> fused integer conv/FC + requantize epilogue -> u8 k or f32; attr: qconv
    QAvgPool,   // u8 k -> integer window sum + requantize epilogue -> u8 k or f32; attr: qpool
    QEltwise,   // u8 k (1 or 2 inputs) -> fused Add/Multiply/ScaleShift + requantize -> u8 k or f32; attr: qelt
};
const char* to_string(Op op);

struct Node {
    int id = -1;
    Op op = Op::Parameter;
    std::string name;
    std::vector<int> inputs; // node ids
    ElemType type = ElemType::f32;
    Shape shape;
    bool dead = false;

    // attributes (meaningful per op)
    Tensor value;                      // Constant
    int64_t levels = 0;                // FakeQuantize
    Broadcast broadcast = Broadcast::numpy; // FakeQuantize
    ConvParams conv;                   // Convolution, GroupConvolution
    PoolParams pool;                   // MaxPool, AvgPool
    bool transpose_a = false, transpose_b = false; // MatMul
    float clamp_lo = 0, clamp_hi = 0;  // Clamp
    std::shared_ptr<const ActQuant> act;    // Quantize / Dequantize
    std::shared_ptr<const QConvDesc> qconv; // QConv
    std::shared_ptr<const QAvgPoolDesc> qpool; // QAvgPool
    // Constant weights folded from a FakeQuantize (value then holds Oracle A's fp32 weights).
    std::shared_ptr<const QuantWeights> qweights;
    int64_t concat_axis = 0;                  // Concat (normalized to 0..rank-1)
    std::shared_ptr<const QEltwiseDesc> qelt; // QEltwise
    float alpha = 0, beta = 0;                // HardSigmoid, LeakyRelu; Pad value in alpha
    int64_t axis = 0;                         // Softmax (normalized)
    std::vector<int64_t> ints;                // Transpose perm, Pad begin then end, Tile repeats
    ResizeParams resize;                      // Resize
};

class Graph {
public:
    int add(Node n); // assigns id, returns it
    Node& node(int id) { return nodes_.at(static_cast<size_t>(id)); }
    const Node& node(int id) const { return nodes_.at(static_cast<size_t>(id)); }
    int size() const { return static_cast<int>(nodes_.size()); }
    const std::vector<Node>& nodes() const { return nodes_; }

    std::vector<int> parameters() const; // in creation order
    std::vector<int> results() const;    // in creation order
    std::vector<int> consumers(int id) const; // live nodes reading id
    // Live nodes in a topological order (inputs before users).
    std::vector<int> topo_order() const;
    // Replace every use of `from` by `to` (in live nodes).
    void replace_uses(int from, int to);
    // Mark nodes that no Result depends on as dead.
    void remove_dead();
    // One line per live node: "name=Op(input names) type shape", in topological order.
    std::string dump() const;
    // Compact op chain signature in topological order, e.g. "Parameter,Quantize,QConv,Result".
    std::string op_signature() const;

    bool is_constant(int id) const { return node(id).op == Op::Constant; }

private:
    std::vector<Node> nodes_;
};

} // namespace qjit::ir
