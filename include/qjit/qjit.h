/* qjit C API: load or build a quantized model, compile it to x86 kernels, run it.
 * C99. No function throws: each returns a qjit_status; on failure qjit_last_error() gives the
 * message of the last failed call on this thread (valid until the next failing call on it).
 * Inputs and outputs are dense f32 tensors in row-major (NCHW) order. */
#ifndef QJIT_QJIT_H
#define QJIT_QJIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qjit_status {
    QJIT_OK = 0,
    QJIT_ERR_INVALID_ARGUMENT = 1,
    QJIT_ERR_SHAPE_MISMATCH = 2,
    QJIT_ERR_UNSUPPORTED = 3,
    QJIT_ERR_NON_CONSTANT_RANGE = 4,
    QJIT_ERR_INVALID_LEVELS = 5,
    QJIT_ERR_NON_FINITE_RANGE = 6,
    QJIT_ERR_BAD_INPUT = 7,
    QJIT_ERR_JIT_FAILURE = 8,
    QJIT_ERR_INTERNAL = 9,
    QJIT_ERR_OUT_OF_MEMORY = 10,
    QJIT_ERR_UNKNOWN = 11,
    QJIT_ERR_RESOURCE_LIMIT = 12 /* a tensor, the weights or a workspace exceed a limit */
} qjit_status;

typedef enum qjit_isa {
    QJIT_ISA_AVX2 = 0,
    QJIT_ISA_AVX2_VNNI = 1,
    QJIT_ISA_AVX512_CORE = 2,
    QJIT_ISA_AVX512_CORE_VNNI = 3,
    QJIT_ISA_NATIVE = 99
} qjit_isa;

typedef struct qjit_graph qjit_graph; /* a float model annotated with FakeQuantize */
typedef struct qjit_model qjit_model; /* a compiled model */
typedef int32_t qjit_node;            /* a node's output within its graph */

/* "0.1.0" */
const char* qjit_version(void);
/* Message of the last failed call on this thread ("" if none). */
const char* qjit_last_error(void);
/* Name of a status code. */
const char* qjit_status_string(qjit_status s);

/* ---- loading ---- */
/* A fixed shape for a named model input (overrides the model's, dynamic or not). */
typedef struct qjit_input_shape {
    const char* name;
    const int64_t* dims;
    size_t rank;
} qjit_input_shape;

/* .onnx or OpenVINO IR .xml (weights in the .bin next to it). shapes may be NULL (count 0). */
qjit_status qjit_graph_load(const char* path, const qjit_input_shape* shapes, size_t num_shapes, qjit_graph** out);
qjit_status qjit_graph_load_onnx_memory(const void* data, size_t size, const qjit_input_shape* shapes,
                                        size_t num_shapes, qjit_graph** out);
qjit_status qjit_graph_load_openvino_memory(const char* xml, size_t xml_size, const void* bin, size_t bin_size,
                                            const qjit_input_shape* shapes, size_t num_shapes, qjit_graph** out);

/* ---- building (the C++ Graph builder; NCHW data, OIHW weights) ---- */
qjit_status qjit_graph_create(qjit_graph** out);
void qjit_graph_destroy(qjit_graph* g); /* NULL is fine */

typedef struct qjit_conv_params {
    int64_t strides[2], pads_begin[2], pads_end[2], dilations[2];
} qjit_conv_params;
typedef struct qjit_pool_params {
    int64_t kernel[2], strides[2], pads_begin[2], pads_end[2];
    int ceil_mode;   /* 0: floor */
    int exclude_pad; /* AvgPool */
} qjit_pool_params;
void qjit_conv_params_init(qjit_conv_params* p); /* stride 1, no padding, dilation 1 */

qjit_status qjit_graph_parameter(qjit_graph* g, const char* name, const int64_t* dims, size_t rank, qjit_node* out);
qjit_status qjit_graph_constant_f32(qjit_graph* g, const char* name, const int64_t* dims, size_t rank,
                                    const float* values, qjit_node* out);
qjit_status qjit_graph_fake_quantize(qjit_graph* g, const char* name, qjit_node x, qjit_node in_low, qjit_node in_high,
                                     qjit_node out_low, qjit_node out_high, int64_t levels, qjit_node* out);
qjit_status qjit_graph_convolution(qjit_graph* g, const char* name, qjit_node x, qjit_node weights,
                                   const qjit_conv_params* p, qjit_node* out);
qjit_status qjit_graph_group_convolution(qjit_graph* g, const char* name, qjit_node x, qjit_node weights,
                                         const qjit_conv_params* p, qjit_node* out);
qjit_status qjit_graph_max_pool(qjit_graph* g, const char* name, qjit_node x, const qjit_pool_params* p, qjit_node* out);
qjit_status qjit_graph_avg_pool(qjit_graph* g, const char* name, qjit_node x, const qjit_pool_params* p, qjit_node* out);
qjit_status qjit_graph_matmul(qjit_graph* g, const char* name, qjit_node a, qjit_node b, int transpose_a,
                              int transpose_b, qjit_node* out);
qjit_status qjit_graph_add(qjit_graph* g, const char* name, qjit_node a, qjit_node b, qjit_node* out);
qjit_status qjit_graph_multiply(qjit_graph* g, const char* name, qjit_node a, qjit_node b, qjit_node* out);
qjit_status qjit_graph_relu(qjit_graph* g, const char* name, qjit_node x, qjit_node* out);
qjit_status qjit_graph_clamp(qjit_graph* g, const char* name, qjit_node x, float lo, float hi, qjit_node* out);
qjit_status qjit_graph_reshape(qjit_graph* g, const char* name, qjit_node x, const int64_t* dims, size_t rank,
                               qjit_node* out);
qjit_status qjit_graph_concat(qjit_graph* g, const char* name, const qjit_node* inputs, size_t count, int64_t axis,
                              qjit_node* out);
qjit_status qjit_graph_result(qjit_graph* g, const char* name, qjit_node x, qjit_node* out);

/* ---- compiling ---- */
typedef struct qjit_compile_options {
    int threads;             /* worker threads of qjit_model_run (>= 1) */
    qjit_isa max_isa;        /* cap; QJIT_MAX_ISA caps further */
    int allow_fp32_fallback; /* 0: a node that cannot run quantized is an error */
} qjit_compile_options;
void qjit_compile_options_init(qjit_compile_options* o); /* 1 thread, native ISA, fallback allowed */
/* options may be NULL (defaults). The graph stays owned by the caller. */
qjit_status qjit_compile(const qjit_graph* g, const qjit_compile_options* options, qjit_model** out);
void qjit_model_destroy(qjit_model* m); /* NULL is fine */

/* ---- querying (pointers stay valid while the model lives) ---- */
size_t qjit_model_num_inputs(const qjit_model* m);
size_t qjit_model_num_outputs(const qjit_model* m);
qjit_status qjit_model_input(const qjit_model* m, size_t i, const char** name, const int64_t** dims, size_t* rank);
qjit_status qjit_model_output(const qjit_model* m, size_t i, const char** name, const int64_t** dims, size_t* rank);
const char* qjit_model_describe(const qjit_model* m); /* the schedule table */
const char* qjit_model_isa(const qjit_model* m);      /* "avx2", ... */

/* ---- running ---- */
/* inputs[i] holds the elements of input i, outputs[i] has room for those of output i.
 * Safe to call from several threads at once on one model. */
qjit_status qjit_model_run(qjit_model* m, const float* const* inputs, float* const* outputs);

#ifdef __cplusplus
}
#endif
#endif /* QJIT_QJIT_H */
