/* The installed C API from C99: builds a quantized 1x1 convolution, compiles it, queries its inputs
 * and outputs, runs it and compares with values computed here; loads an OpenVINO IR from memory;
 * checks that errors come back as status codes with a message. Exit status 0 = pass. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qjit/qjit.h"

#define CHECK(call)                                                                          \
    do {                                                                                     \
        qjit_status s_ = (call);                                                             \
        if (s_ != QJIT_OK) {                                                                 \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call,               \
                    qjit_status_string(s_), qjit_last_error());                              \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

static int conv_model(void) {
    qjit_graph* g = NULL;
    qjit_node x, lo, hi, wlo, whi, q, w, wq, y, r;
    const int64_t xd[4] = {1, 2, 2, 2}, wd[4] = {3, 2, 1, 1};
    const float zero = 0.f, top = 2.55f, wmin = -1.27f, wmax = 1.27f;
    const float wv[6] = {0.25f, -0.5f, 1.f, 0.75f, -1.f, 0.13f};
    const float xv[8] = {0.5f, 1.f, 2.f, 0.25f, 1.5f, 0.75f, 0.f, 2.5f};
    float out[12];
    const float* ins[1] = {xv};
    float* outs[1] = {out};
    qjit_compile_options opt;
    qjit_model* m = NULL;
    const char* name = NULL;
    const int64_t* dims = NULL;
    size_t rank = 0;
    int o, p;

    CHECK(qjit_graph_create(&g));
    CHECK(qjit_graph_parameter(g, "x", xd, 4, &x));
    CHECK(qjit_graph_constant_f32(g, "lo", NULL, 0, &zero, &lo));
    CHECK(qjit_graph_constant_f32(g, "hi", NULL, 0, &top, &hi));
    CHECK(qjit_graph_constant_f32(g, "wlo", NULL, 0, &wmin, &wlo));
    CHECK(qjit_graph_constant_f32(g, "whi", NULL, 0, &wmax, &whi));
    CHECK(qjit_graph_fake_quantize(g, "fq_x", x, lo, hi, lo, hi, 256, &q));
    CHECK(qjit_graph_constant_f32(g, "w", wd, 4, wv, &w));
    CHECK(qjit_graph_fake_quantize(g, "fq_w", w, wlo, whi, wlo, whi, 255, &wq));
    CHECK(qjit_graph_convolution(g, "conv", q, wq, NULL, &y));
    CHECK(qjit_graph_result(g, "y", y, &r));
    qjit_compile_options_init(&opt);
    opt.threads = 2;
    CHECK(qjit_compile(g, &opt, &m));
    qjit_graph_destroy(g);
    if (qjit_model_num_inputs(m) != 1 || qjit_model_num_outputs(m) != 1) return fprintf(stderr, "io count\n"), 1;
    CHECK(qjit_model_input(m, 0, &name, &dims, &rank));
    if (strcmp(name, "x") != 0 || rank != 4 || dims[1] != 2) return fprintf(stderr, "input info\n"), 1;
    CHECK(qjit_model_output(m, 0, &name, &dims, &rank));
    if (strcmp(name, "y") != 0 || rank != 4 || dims[1] != 3) return fprintf(stderr, "output info\n"), 1;
    CHECK(qjit_model_run(m, ins, outs));
    /* Inputs and weights lie on their FakeQuantize grids (steps of 0.01, inside the ranges), so
     * y = sum_c w[o][c] * x[c] up to fp32 rounding. */
    for (o = 0; o < 3; ++o)
        for (p = 0; p < 4; ++p) {
            const float want = wv[o * 2] * xv[p] + wv[o * 2 + 1] * xv[4 + p];
            if (fabsf(out[o * 4 + p] - want) > 1e-3f) {
                fprintf(stderr, "y[%d][%d] = %g, want %g\n", o, p, out[o * 4 + p], want);
                return 1;
            }
        }
    printf("conv: ok on %s\n", qjit_model_isa(m));
    if (strstr(qjit_model_describe(m), "conv") == NULL) return fprintf(stderr, "describe\n"), 1;
    qjit_model_destroy(m);
    return 0;
}

static int ir_from_memory(void) {
    static const char xml[] =
        "<net name=\"t\" version=\"11\"><layers>"
        "<layer id=\"0\" name=\"in\" type=\"Parameter\" version=\"opset1\"><data shape=\"1,4\" element_type=\"f32\"/>"
        "<output><port id=\"0\"><dim>1</dim><dim>4</dim></port></output></layer>"
        "<layer id=\"1\" name=\"relu\" type=\"Relu\" version=\"opset1\"><input><port id=\"0\"><dim>1</dim><dim>4</dim></port></input>"
        "<output><port id=\"1\"><dim>1</dim><dim>4</dim></port></output></layer>"
        "<layer id=\"2\" name=\"out\" type=\"Result\" version=\"opset1\"><input><port id=\"0\"><dim>1</dim><dim>4</dim></port></input></layer>"
        "</layers><edges><edge from-layer=\"0\" from-port=\"0\" to-layer=\"1\" to-port=\"0\"/>"
        "<edge from-layer=\"1\" from-port=\"1\" to-layer=\"2\" to-port=\"0\"/></edges></net>";
    const float x[4] = {-1.f, 2.f, -3.f, 4.f};
    float y[4];
    const float* ins[1] = {x};
    float* outs[1] = {y};
    qjit_graph* g = NULL;
    qjit_model* m = NULL;
    CHECK(qjit_graph_load_openvino_memory(xml, sizeof(xml) - 1, NULL, 0, NULL, 0, &g));
    CHECK(qjit_compile(g, NULL, &m));
    CHECK(qjit_model_run(m, ins, outs));
    if (y[0] != 0.f || y[1] != 2.f || y[2] != 0.f || y[3] != 4.f) return fprintf(stderr, "relu\n"), 1;
    qjit_model_destroy(m);
    qjit_graph_destroy(g);
    printf("OpenVINO IR from memory: ok\n");
    return 0;
}

static int errors(void) {
    qjit_graph* g = NULL;
    qjit_node n;
    const int64_t bad[2] = {1, -3};
    if (qjit_graph_load("/nonexistent/model.xml", NULL, 0, &g) == QJIT_OK || g != NULL) return fprintf(stderr, "load\n"), 1;
    if (strlen(qjit_last_error()) == 0) return fprintf(stderr, "no message\n"), 1;
    CHECK(qjit_graph_create(&g));
    if (qjit_graph_parameter(g, "p", bad, 2, &n) == QJIT_OK) return fprintf(stderr, "bad dims accepted\n"), 1;
    if (qjit_graph_relu(g, NULL, 0, &n) != QJIT_ERR_INVALID_ARGUMENT) return fprintf(stderr, "NULL name\n"), 1;
    if (qjit_compile(g, NULL, NULL) == QJIT_OK) return fprintf(stderr, "NULL out\n"), 1;
    qjit_graph_destroy(g);
    printf("errors: ok (%s)\n", qjit_last_error());
    return 0;
}

int main(void) {
    printf("qjit %s\n", qjit_version());
    if (conv_model() || ir_from_memory() || errors()) return 1;
    return 0;
}
