// The C API (qjit/qjit.h) from C++: every failure is a status code with a per-thread message (no
// exception escapes); a graph built through it runs to hand-computed values; a quantized model
// loaded from memory runs to the same bytes as through the C++ API.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

#include "qjit/import.hpp"
#include "qjit/qjit.h"
#include "qjit/qjit.hpp"
#include "tools/model_zoo.hpp"
#include "tools/ov_writer.hpp"

using namespace qjit;

TEST(CApi, ErrorsAreStatusCodesWithAPerThreadMessage) {
    qjit_graph* g = nullptr;
    ASSERT_EQ(qjit_graph_create(&g), QJIT_OK);
    qjit_node n = -1;
    const int64_t dims[2] = {1, 4};
    EXPECT_EQ(qjit_graph_parameter(g, "x", dims, 2, &n), QJIT_OK);
    EXPECT_EQ(qjit_graph_relu(g, "r", 99, &n), QJIT_ERR_INVALID_ARGUMENT);
    const std::string msg = qjit_last_error();
    EXPECT_NE(msg.find("'r'"), std::string::npos) << msg;
    std::string other;
    std::thread([&] { other = qjit_last_error(); }).join();
    EXPECT_EQ(other, ""); // another thread has its own last error
    EXPECT_EQ(qjit_last_error(), msg);
    EXPECT_EQ(qjit_graph_fake_quantize(g, "fq", 0, 0, 0, 0, 0, 1000, &n), QJIT_ERR_INVALID_LEVELS);
    EXPECT_EQ(qjit_graph_clamp(g, "c", 0, 1.f, 0.f, &n), QJIT_ERR_INVALID_ARGUMENT);
    qjit_model* m = nullptr;
    EXPECT_EQ(qjit_compile(g, nullptr, &m), QJIT_ERR_INVALID_ARGUMENT); // no Result
    EXPECT_EQ(m, nullptr);
    EXPECT_EQ(qjit_compile(nullptr, nullptr, &m), QJIT_ERR_INVALID_ARGUMENT);
    qjit_graph* bad = g; // a failed load sets *out to NULL (g itself must stay reachable to be destroyed)
    EXPECT_EQ(qjit_graph_load("model.pt", nullptr, 0, &bad), QJIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad, nullptr);
    EXPECT_EQ(qjit_graph_load_openvino_memory("<net", 4, nullptr, 0, nullptr, 0, &bad), QJIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(qjit_last_error()).find("OpenVINO IR"), std::string::npos);
    EXPECT_EQ(qjit_model_run(nullptr, nullptr, nullptr), QJIT_ERR_INVALID_ARGUMENT);
    EXPECT_STREQ(qjit_status_string(QJIT_ERR_SHAPE_MISMATCH), "shape mismatch");
    qjit_graph_destroy(g);
    qjit_graph_destroy(nullptr);
    qjit_model_destroy(nullptr);
}

TEST(CApi, QuantizedModelFromMemoryMatchesCpp) {
    zoo::ChainConfig cfg;
    cfg.seed = 4;
    const Graph graph = zoo::build_chain(cfg);
    const tools::OpenVinoIr ir = tools::to_openvino_ir(graph);
    const int64_t batch2[4] = {2, cfg.c, cfg.h, cfg.w};
    const qjit_input_shape shapes[1] = {{"input", batch2, 4}};
    qjit_graph* g = nullptr;
    ASSERT_EQ(qjit_graph_load_openvino_memory(ir.xml.data(), ir.xml.size(), ir.bin.data(), ir.bin.size(), shapes, 1, &g),
              QJIT_OK) << qjit_last_error();
    qjit_compile_options o;
    qjit_compile_options_init(&o);
    o.threads = 2;
    o.max_isa = QJIT_ISA_AVX2;
    qjit_model* m = nullptr;
    ASSERT_EQ(qjit_compile(g, &o, &m), QJIT_OK) << qjit_last_error();
    EXPECT_STREQ(qjit_model_isa(m), "avx2");
    ASSERT_EQ(qjit_model_num_inputs(m), 1u);
    const char* name = nullptr;
    const int64_t* dims = nullptr;
    size_t rank = 0;
    ASSERT_EQ(qjit_model_input(m, 0, &name, &dims, &rank), QJIT_OK);
    EXPECT_STREQ(name, "input");
    ASSERT_EQ(rank, 4u);
    EXPECT_EQ(dims[0], 2);
    EXPECT_EQ(qjit_model_output(m, 1, &name, &dims, &rank), QJIT_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(qjit_model_output(m, 0, &name, &dims, &rank), QJIT_OK);
    const Shape in_shape{2, cfg.c, cfg.h, cfg.w};
    const std::vector<float> x = zoo::random_input(in_shape, 8);
    std::vector<float> y(static_cast<size_t>(dims[0] * dims[1]));
    const float* ins[1] = {x.data()};
    float* outs[1] = {y.data()};
    ASSERT_EQ(qjit_model_run(m, ins, outs), QJIT_OK) << qjit_last_error();

    // The same graph through the C++ API (compile() output equals Oracle B, tested elsewhere).
    ImportOptions io;
    io.input_shapes["input"] = in_shape;
    CompileOptions co;
    co.max_isa = Isa::avx2;
    CompiledModel cm = compile(import_openvino_ir_bytes(ir.xml, ir.bin.data(), ir.bin.size(), io), co);
    const std::vector<Tensor> want = cm.run({Tensor::f32(in_shape, x)});
    ASSERT_EQ(want[0].numel(), static_cast<int64_t>(y.size()));
    EXPECT_EQ(std::memcmp(want[0].raw(), y.data(), y.size() * 4), 0);
    qjit_model_destroy(m);
    qjit_graph_destroy(g);
}

TEST(CApi, BuiltGraphMatchesHandComputedValues) {
    // Parameter -> Relu -> Clamp -> Reshape -> Result: fp32 ops on values exact in binary.
    qjit_graph* g = nullptr;
    ASSERT_EQ(qjit_graph_create(&g), QJIT_OK);
    const int64_t d[4] = {1, 2, 2, 2}, flat[2] = {1, 8};
    qjit_node x, r, c, s, out;
    ASSERT_EQ(qjit_graph_parameter(g, "x", d, 4, &x), QJIT_OK);
    ASSERT_EQ(qjit_graph_relu(g, "relu", x, &r), QJIT_OK);
    ASSERT_EQ(qjit_graph_clamp(g, "clamp", r, 0.f, 0.5f, &c), QJIT_OK);
    ASSERT_EQ(qjit_graph_reshape(g, "flat", c, flat, 2, &s), QJIT_OK);
    ASSERT_EQ(qjit_graph_result(g, "y", s, &out), QJIT_OK);
    qjit_model* m = nullptr;
    ASSERT_EQ(qjit_compile(g, nullptr, &m), QJIT_OK) << qjit_last_error();
    const std::vector<float> xv{-1.f, 0.25f, 0.75f, -0.f, 3.f, 0.5f, 0.125f, -2.f};
    std::vector<float> y(8);
    const float* ins[1] = {xv.data()};
    float* outs[1] = {y.data()};
    ASSERT_EQ(qjit_model_run(m, ins, outs), QJIT_OK) << qjit_last_error();
    const std::vector<float> want{0.f, 0.25f, 0.5f, 0.f, 0.5f, 0.5f, 0.125f, 0.f};
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(y[i], want[i]) << i;
    qjit_model_destroy(m);
    qjit_graph_destroy(g);
}
