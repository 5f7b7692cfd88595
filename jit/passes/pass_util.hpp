// Helpers shared by the lowering passes (jit/passes/*.cpp). Internal to the passes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "jit/ir.hpp"
#include "jit/quant_params.hpp"

namespace qjit::passes::detail {

// Reads a constant range/parameter tensor `r` that broadcasts to a tensor of shape `x` without
// changing x's shape (numpy: right-aligned, each dim 1 or equal; none: equal shapes; pdpd: never)
// and that varies at most along `axis` of x (axis < 0: no axis may vary). On success `out` holds
// one value (all values bit-equal: per tensor) or x[axis] values (per channel).
bool axis_vector(const Tensor& r, const Shape& x, int axis, Broadcast b, std::vector<float>& out);

bool all_finite(const std::vector<float>& v);

// true when `id` is a live Constant.
bool is_live_constant(const ir::Graph& g, int id);

// The single live consumer of `id`, or -1 when it has none or several.
int single_consumer(const ir::Graph& g, int id);

// `base` when no live node other than `self` carries it, else base#2, base#3, ...
std::string unique_name(const ir::Graph& g, const std::string& base, int self = -1);

// true when fold_qconv accepts the description (it throws qjit::Error otherwise).
bool folds(const QConvDesc& d);

// Adds a QConv node reading `input` and returns its id.
int add_qconv(ir::Graph& g, const std::string& name, int input, const Shape& shape, QConvDesc desc);

// fl(...) values a Dequantize with `a` can produce in channel c: level_value(k) for every k.
std::vector<float> level_values(const ActQuant& a, int64_t c);

// The post-op that node `x`, a consumer of node `self` whose shape is `shape` (channel axis 1),
// applies to it: Add / Multiply with a Constant that varies at most along axis 1 and does not grow
// `shape` -> Shift / Scale; Relu -> Clamp{0, +inf}; Clamp -> Clamp{lo, hi}. op->node = x.name.
// False for anything else.
bool post_op_of(const ir::Graph& g, const ir::Node& x, int self, const Shape& shape, PostOp* op);

} // namespace qjit::passes::detail
