// Oracle A: a node-by-node interpreter of the float graph over runtime/ref_ops (see oracle_a.hpp).
#include "runtime/oracle_a.hpp"

#include <string>

#include "jit/fq_math.hpp"
#include "qjit/error.hpp"
#include "runtime/float_node_eval.hpp"
#include "runtime/ref_ops.hpp"

namespace qjit::oracle {

namespace {

void check_inputs(const ir::Graph& g, const std::vector<int>& params, const std::vector<Tensor>& inputs) {
    for (size_t i = 0; i < params.size(); ++i) {
        const ir::Node& p = g.node(params[i]);
        if (i >= inputs.size())
            throw Error(ErrorCode::BadInput, p.name,
                        "no input tensor: got " + std::to_string(inputs.size()) + " for " +
                            std::to_string(params.size()) + " parameters");
        const Tensor& t = inputs[i];
        if (t.type() != p.type)
            throw Error(ErrorCode::BadInput, p.name,
                        std::string("input is ") + to_string(t.type()) + ", parameter is " + to_string(p.type));
        if (t.shape() != p.shape)
            throw Error(ErrorCode::BadInput, p.name,
                        "input shape " + to_string(t.shape()) + ", parameter shape " + to_string(p.shape));
    }
    if (inputs.size() > params.size())
        throw Error(ErrorCode::BadInput, "<inputs>",
                    std::to_string(inputs.size()) + " input tensors for " + std::to_string(params.size()) +
                        " parameters");
}

} // namespace

std::vector<Tensor> run_oracle_a(const ir::Graph& g, const std::vector<Tensor>& inputs,
                                 const OracleAOptions& options) {
    fq::require_round_to_nearest();
    const std::vector<int> params = g.parameters();
    check_inputs(g, params, inputs);

    std::vector<Tensor> v(static_cast<size_t>(g.size()));
    auto in = [&](const ir::Node& n, size_t i) -> const Tensor& { return v[static_cast<size_t>(n.inputs.at(i))]; };
    for (int id : g.topo_order()) {
        const ir::Node& n = g.node(id);
        Tensor& out = v[static_cast<size_t>(id)];
        switch (n.op) {
        case ir::Op::Parameter:
            for (size_t i = 0; i < params.size(); ++i)
                if (params[i] == id) out = inputs[i];
            break;
        case ir::Op::Constant: out = n.value; break;
        case ir::Op::FakeQuantize:
            out = ref::fake_quantize(in(n, 0), in(n, 1), in(n, 2), in(n, 3), in(n, 4), static_cast<int>(n.levels),
                                     n.inputs.size() == 7 ? &in(n, 5) : nullptr, n.inputs.size() == 7 ? &in(n, 6) : nullptr);
            break;
        case ir::Op::Convolution: out = ref::conv2d(in(n, 0), in(n, 1), n.conv, options.fp64_accumulate); break;
        case ir::Op::GroupConvolution:
            out = ref::group_conv2d(in(n, 0), in(n, 1), n.conv, options.fp64_accumulate);
            break;
        case ir::Op::MaxPool: out = ref::max_pool2d(in(n, 0), n.pool); break;
        case ir::Op::AvgPool: out = ref::avg_pool2d(in(n, 0), n.pool, options.fp64_accumulate); break;
        case ir::Op::MatMul:
            out = ref::matmul(in(n, 0), in(n, 1), n.transpose_a, n.transpose_b, options.fp64_accumulate);
            break;
        case ir::Op::Add: out = ref::add(in(n, 0), in(n, 1)); break;
        case ir::Op::Multiply: out = ref::multiply(in(n, 0), in(n, 1)); break;
        case ir::Op::Relu: out = ref::relu(in(n, 0)); break;
        case ir::Op::Clamp: out = ref::clamp(in(n, 0), n.clamp_lo, n.clamp_hi); break;
        case ir::Op::Reshape: out = ref::reshape(in(n, 0), n.shape); break;
        case ir::Op::Concat: {
            std::vector<const Tensor*> xs;
            for (size_t i = 0; i < n.inputs.size(); ++i) xs.push_back(&in(n, i));
            out = ref::concat(xs, n.concat_axis);
            break;
        }
        case ir::Op::Result: out = in(n, 0); break;
        case ir::Op::Subtract:
        case ir::Op::Sigmoid:
        case ir::Op::HardSigmoid:
        case ir::Op::HardSwish:
        case ir::Op::LeakyRelu:
        case ir::Op::Softmax:
        case ir::Op::Transpose:
        case ir::Op::Pad:
        case ir::Op::Resize:
        case ir::Op::Tile: out = ref::eval_float_node(g, n, v, options.fp64_accumulate); break;
        case ir::Op::Quantize:
        case ir::Op::Dequantize:
        case ir::Op::QConv:
        case ir::Op::QEltwise:
        case ir::Op::QAvgPool:
            throw Error(ErrorCode::Internal, n.name,
                        std::string("Oracle A evaluates the float graph only; got lowered op ") + ir::to_string(n.op));
        }
        if (out.shape() != n.shape)
            throw Error(ErrorCode::Internal, n.name,
                        "computed shape " + to_string(out.shape()) + " differs from the node's " + to_string(n.shape));
    }
    return v;
}

std::vector<Tensor> oracle_a_outputs(const ir::Graph& g, const std::vector<Tensor>& inputs,
                                     const OracleAOptions& options) {
    std::vector<Tensor> all = run_oracle_a(g, inputs, options);
    std::vector<Tensor> r;
    for (int id : g.results()) r.push_back(std::move(all[static_cast<size_t>(id)]));
    return r;
}

} // namespace qjit::oracle
