// The C API (include/qjit/qjit.h) over the C++ API. Every entry point catches everything: no
// exception crosses the boundary; the message of the last failure is kept per thread.
#include "qjit/qjit.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "jit/ir.hpp"
#include "qjit/import.hpp"
#include "qjit/qjit.hpp"

#ifndef QJIT_VERSION_STRING
#define QJIT_VERSION_STRING "0"
#endif

struct qjit_graph {
    qjit::Graph g;
};

struct qjit_model {
    qjit::CompiledModel m;
    struct Io {
        std::string name;
        qjit::Shape shape;
    };
    std::vector<Io> inputs, outputs;
    std::string describe;
};

namespace {

thread_local std::string last_error;

qjit_status code_of(qjit::ErrorCode c) {
    switch (c) {
    case qjit::ErrorCode::InvalidArgument: return QJIT_ERR_INVALID_ARGUMENT;
    case qjit::ErrorCode::ShapeMismatch: return QJIT_ERR_SHAPE_MISMATCH;
    case qjit::ErrorCode::UnsupportedOp: return QJIT_ERR_UNSUPPORTED;
    case qjit::ErrorCode::NonConstantRange: return QJIT_ERR_NON_CONSTANT_RANGE;
    case qjit::ErrorCode::InvalidLevels: return QJIT_ERR_INVALID_LEVELS;
    case qjit::ErrorCode::NonFiniteRange: return QJIT_ERR_NON_FINITE_RANGE;
    case qjit::ErrorCode::BadInput: return QJIT_ERR_BAD_INPUT;
    case qjit::ErrorCode::JitFailure: return QJIT_ERR_JIT_FAILURE;
    case qjit::ErrorCode::Internal: return QJIT_ERR_INTERNAL;
    case qjit::ErrorCode::ResourceLimit: return QJIT_ERR_RESOURCE_LIMIT;
    }
    return QJIT_ERR_UNKNOWN;
}

// Runs f, turning every exception into a status and the thread's last error message.
template <class F>
qjit_status guard(F&& f) {
    try {
        f();
        return QJIT_OK;
    } catch (const qjit::Error& e) {
        last_error = e.what();
        return code_of(e.code());
    } catch (const std::bad_alloc&) {
        last_error = "qjit: out of memory";
        return QJIT_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        last_error = std::string("qjit: ") + e.what();
        return QJIT_ERR_UNKNOWN;
    } catch (...) {
        last_error = "qjit: unknown exception";
        return QJIT_ERR_UNKNOWN;
    }
}

void need(bool ok, const char* what) {
    if (!ok) throw qjit::Error(qjit::ErrorCode::InvalidArgument, "<C API>", what);
}

qjit::Shape shape_of(const int64_t* dims, size_t rank) {
    need(dims != nullptr || rank == 0, "dims is NULL");
    return qjit::Shape(dims, dims + rank);
}

std::string str(const char* s) {
    need(s != nullptr, "a name is NULL");
    return s;
}

qjit::ImportOptions import_options(const qjit_input_shape* shapes, size_t n) {
    qjit::ImportOptions o;
    need(shapes != nullptr || n == 0, "shapes is NULL");
    for (size_t i = 0; i < n; ++i) o.input_shapes[str(shapes[i].name)] = shape_of(shapes[i].dims, shapes[i].rank);
    return o;
}

qjit_status load(qjit_graph** out, const std::function<qjit::Graph()>& f) {
    return guard([&] {
        need(out != nullptr, "out is NULL");
        *out = nullptr;
        *out = new qjit_graph{f()};
    });
}

// A builder call: checks g and out, then stores the new node.
template <class F>
qjit_status build(qjit_graph* g, qjit_node* out, F&& f) {
    return guard([&] {
        need(g != nullptr, "graph is NULL");
        need(out != nullptr, "out is NULL");
        *out = f(g->g).id;
    });
}

qjit::ConvParams conv_params(const qjit_conv_params* p) {
    qjit::ConvParams c;
    if (!p) return c;
    c.strides = {p->strides[0], p->strides[1]};
    c.pads_begin = {p->pads_begin[0], p->pads_begin[1]};
    c.pads_end = {p->pads_end[0], p->pads_end[1]};
    c.dilations = {p->dilations[0], p->dilations[1]};
    return c;
}

qjit_status io(const std::vector<qjit_model::Io>& v, size_t i, const char** name, const int64_t** dims, size_t* rank) {
    return guard([&] {
        need(i < v.size(), "index out of range");
        if (name) *name = v[i].name.c_str();
        if (dims) *dims = v[i].shape.data();
        if (rank) *rank = v[i].shape.size();
    });
}

} // namespace

extern "C" {

const char* qjit_version(void) { return QJIT_VERSION_STRING; }
const char* qjit_last_error(void) { return last_error.c_str(); }

const char* qjit_status_string(qjit_status s) {
    switch (s) {
    case QJIT_OK: return "ok";
    case QJIT_ERR_OUT_OF_MEMORY: return "out of memory";
    case QJIT_ERR_UNKNOWN: return "unknown error";
    case QJIT_ERR_RESOURCE_LIMIT: return qjit::to_string(qjit::ErrorCode::ResourceLimit);
    default: break;
    }
    if (s >= QJIT_ERR_INVALID_ARGUMENT && s <= QJIT_ERR_INTERNAL) return qjit::to_string(static_cast<qjit::ErrorCode>(s - 1));
    return "?";
}

qjit_status qjit_graph_load(const char* path, const qjit_input_shape* shapes, size_t n, qjit_graph** out) {
    return load(out, [&] { return qjit::load_model(str(path), import_options(shapes, n)); });
}

qjit_status qjit_graph_load_onnx_memory(const void* data, size_t size, const qjit_input_shape* shapes, size_t n,
                                        qjit_graph** out) {
    return load(out, [&] {
        need(data != nullptr, "data is NULL");
        return qjit::import_onnx_bytes(data, size, import_options(shapes, n));
    });
}

qjit_status qjit_graph_load_openvino_memory(const char* xml, size_t xml_size, const void* bin, size_t bin_size,
                                            const qjit_input_shape* shapes, size_t n, qjit_graph** out) {
    return load(out, [&] {
        need(xml != nullptr, "xml is NULL");
        return qjit::import_openvino_ir_bytes(std::string(xml, xml_size), bin, bin_size, import_options(shapes, n));
    });
}

qjit_status qjit_graph_create(qjit_graph** out) {
    return load(out, [] { return qjit::Graph(); });
}

void qjit_graph_destroy(qjit_graph* g) { delete g; }

void qjit_conv_params_init(qjit_conv_params* p) {
    if (!p) return;
    for (int i = 0; i < 2; ++i) {
        p->strides[i] = 1;
        p->pads_begin[i] = p->pads_end[i] = 0;
        p->dilations[i] = 1;
    }
}

qjit_status qjit_graph_parameter(qjit_graph* g, const char* name, const int64_t* dims, size_t rank, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.parameter(str(name), shape_of(dims, rank)); });
}

qjit_status qjit_graph_constant_f32(qjit_graph* g, const char* name, const int64_t* dims, size_t rank,
                                    const float* values, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) {
        qjit::Shape s = shape_of(dims, rank);
        need(values != nullptr, "values is NULL");
        const int64_t n = qjit::num_elements(s);
        need(n >= 0, "negative dimension");
        return b.constant(str(name), qjit::Tensor::f32(s, std::vector<float>(values, values + n)));
    });
}

qjit_status qjit_graph_fake_quantize(qjit_graph* g, const char* name, qjit_node x, qjit_node il, qjit_node ih,
                                     qjit_node ol, qjit_node oh, int64_t levels, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.fake_quantize(str(name), {x}, {il}, {ih}, {ol}, {oh}, levels); });
}

qjit_status qjit_graph_convolution(qjit_graph* g, const char* name, qjit_node x, qjit_node w, const qjit_conv_params* p,
                                   qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.convolution(str(name), {x}, {w}, conv_params(p)); });
}

qjit_status qjit_graph_group_convolution(qjit_graph* g, const char* name, qjit_node x, qjit_node w,
                                         const qjit_conv_params* p, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.group_convolution(str(name), {x}, {w}, conv_params(p)); });
}

qjit_status qjit_graph_max_pool(qjit_graph* g, const char* name, qjit_node x, const qjit_pool_params* p, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) {
        need(p != nullptr, "pool params are NULL");
        return b.max_pool(str(name), {x}, {p->kernel[0], p->kernel[1]}, {p->strides[0], p->strides[1]},
                          {p->pads_begin[0], p->pads_begin[1]}, {p->pads_end[0], p->pads_end[1]},
                          p->ceil_mode ? qjit::RoundingType::ceil : qjit::RoundingType::floor);
    });
}

qjit_status qjit_graph_avg_pool(qjit_graph* g, const char* name, qjit_node x, const qjit_pool_params* p, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) {
        need(p != nullptr, "pool params are NULL");
        return b.avg_pool(str(name), {x}, {p->kernel[0], p->kernel[1]}, {p->strides[0], p->strides[1]},
                          {p->pads_begin[0], p->pads_begin[1]}, {p->pads_end[0], p->pads_end[1]}, p->exclude_pad != 0,
                          p->ceil_mode ? qjit::RoundingType::ceil : qjit::RoundingType::floor);
    });
}

qjit_status qjit_graph_matmul(qjit_graph* g, const char* name, qjit_node a, qjit_node b2, int ta, int tb, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.matmul(str(name), {a}, {b2}, ta != 0, tb != 0); });
}

qjit_status qjit_graph_add(qjit_graph* g, const char* name, qjit_node a, qjit_node b2, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.add(str(name), {a}, {b2}); });
}

qjit_status qjit_graph_multiply(qjit_graph* g, const char* name, qjit_node a, qjit_node b2, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.multiply(str(name), {a}, {b2}); });
}

qjit_status qjit_graph_relu(qjit_graph* g, const char* name, qjit_node x, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.relu(str(name), {x}); });
}

qjit_status qjit_graph_clamp(qjit_graph* g, const char* name, qjit_node x, float lo, float hi, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.clamp(str(name), {x}, lo, hi); });
}

qjit_status qjit_graph_reshape(qjit_graph* g, const char* name, qjit_node x, const int64_t* dims, size_t rank,
                               qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.reshape(str(name), {x}, shape_of(dims, rank)); });
}

qjit_status qjit_graph_concat(qjit_graph* g, const char* name, const qjit_node* inputs, size_t count, int64_t axis,
                              qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) {
        need(inputs != nullptr || count == 0, "inputs is NULL");
        std::vector<qjit::NodeRef> in;
        for (size_t i = 0; i < count; ++i) in.push_back({inputs[i]});
        return b.concat(str(name), in, axis);
    });
}

qjit_status qjit_graph_result(qjit_graph* g, const char* name, qjit_node x, qjit_node* out) {
    return build(g, out, [&](qjit::Graph& b) { return b.result(str(name), {x}); });
}

void qjit_compile_options_init(qjit_compile_options* o) {
    if (!o) return;
    o->threads = 1;
    o->max_isa = QJIT_ISA_NATIVE;
    o->allow_fp32_fallback = 1;
}

qjit_status qjit_compile(const qjit_graph* g, const qjit_compile_options* options, qjit_model** out) {
    return guard([&] {
        need(g != nullptr, "graph is NULL");
        need(out != nullptr, "out is NULL");
        *out = nullptr;
        qjit::CompileOptions o;
        if (options) {
            o.threads = options->threads;
            const int isa = options->max_isa;
            need(isa == QJIT_ISA_NATIVE || (isa >= QJIT_ISA_AVX2 && isa <= QJIT_ISA_AVX512_CORE_VNNI), "unknown max_isa");
            o.max_isa = static_cast<qjit::Isa>(isa);
            o.allow_fp32_fallback = options->allow_fp32_fallback != 0;
        }
        auto m = std::make_unique<qjit_model>(qjit_model{qjit::compile(g->g, o), {}, {}, {}});
        const qjit::ir::Graph& ir = g->g.ir();
        for (int id : ir.parameters()) m->inputs.push_back({ir.node(id).name, ir.node(id).shape});
        for (int id : ir.results()) m->outputs.push_back({ir.node(id).name, ir.node(id).shape});
        m->describe = m->m.describe();
        *out = m.release();
    });
}

void qjit_model_destroy(qjit_model* m) { delete m; }

size_t qjit_model_num_inputs(const qjit_model* m) { return m ? m->inputs.size() : 0; }
size_t qjit_model_num_outputs(const qjit_model* m) { return m ? m->outputs.size() : 0; }

qjit_status qjit_model_input(const qjit_model* m, size_t i, const char** name, const int64_t** dims, size_t* rank) {
    if (!m) return guard([] { need(false, "model is NULL"); });
    return io(m->inputs, i, name, dims, rank);
}

qjit_status qjit_model_output(const qjit_model* m, size_t i, const char** name, const int64_t** dims, size_t* rank) {
    if (!m) return guard([] { need(false, "model is NULL"); });
    return io(m->outputs, i, name, dims, rank);
}

const char* qjit_model_describe(const qjit_model* m) { return m ? m->describe.c_str() : ""; }
const char* qjit_model_isa(const qjit_model* m) { return m ? qjit::to_string(m->m.isa()) : ""; }

qjit_status qjit_model_run(qjit_model* m, const float* const* inputs, float* const* outputs) {
    return guard([&] {
        need(m != nullptr, "model is NULL");
        need(inputs != nullptr || m->inputs.empty(), "inputs is NULL");
        need(outputs != nullptr || m->outputs.empty(), "outputs is NULL");
        std::vector<qjit::Tensor> in;
        for (size_t i = 0; i < m->inputs.size(); ++i) {
            need(inputs[i] != nullptr, "an input buffer is NULL");
            const qjit::Shape& s = m->inputs[i].shape;
            in.push_back(qjit::Tensor::f32(s, std::vector<float>(inputs[i], inputs[i] + qjit::num_elements(s))));
        }
        const std::vector<qjit::Tensor> out = m->m.run(in);
        for (size_t i = 0; i < out.size() && i < m->outputs.size(); ++i) {
            need(outputs[i] != nullptr, "an output buffer is NULL");
            std::copy(out[i].data<float>(), out[i].data<float>() + out[i].numel(), outputs[i]);
        }
    });
}

} // extern "C"
