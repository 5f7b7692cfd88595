// ONNX importer unit tests on small models built here with the protobuf API: input shapes
// (symbolic batch, ImportOptions), Errors naming the ONNX node, the Q -> DQ pair as one
// FakeQuantize with ONNX's codes, constant folding of shape arithmetic, and the float-only ops
// (Transpose, Pad, Resize, Softmax, HardSwish, ...) on the fp32 path against their formulas.
#include <gtest/gtest.h>

#ifdef QJIT_HAVE_ONNX
#include <onnx/onnx_pb.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "jit/ir.hpp"
#include "qjit/import.hpp"
#include "qjit/qjit.hpp"

namespace {

using qjit::ErrorCode;
using qjit::Tensor;

// A model under construction: ONNX opset 16.
struct Model {
    onnx::ModelProto m;
    Model() {
        m.set_ir_version(8);
        auto* op = m.add_opset_import();
        op->set_domain("");
        op->set_version(16);
    }
    onnx::GraphProto& g() { return *m.mutable_graph(); }
    void input(const std::string& name, int type, const std::vector<int64_t>& dims, const std::string& sym = "") {
        auto* v = g().add_input();
        v->set_name(name);
        auto* t = v->mutable_type()->mutable_tensor_type();
        t->set_elem_type(type);
        auto* s = t->mutable_shape();
        if (!sym.empty()) s->add_dim()->set_dim_param(sym);
        for (int64_t d : dims) s->add_dim()->set_dim_value(d);
    }
    void output(const std::string& name) { g().add_output()->set_name(name); }
    void init_f(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
        auto* t = g().add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (int64_t d : dims) t->add_dims(d);
        for (float x : v) t->add_float_data(x);
    }
    void init_i(const std::string& name, int type, const std::vector<int64_t>& dims, const std::vector<int64_t>& v) {
        auto* t = g().add_initializer();
        t->set_name(name);
        t->set_data_type(type);
        for (int64_t d : dims) t->add_dims(d);
        for (int64_t x : v) {
            if (type == onnx::TensorProto::INT64) t->add_int64_data(x);
            else t->add_int32_data(static_cast<int32_t>(x));
        }
    }
    onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& in, const std::string& out) {
        auto* n = g().add_node();
        n->set_op_type(op);
        n->set_name(op + "_" + out);
        for (const auto& i : in) n->add_input(i);
        n->add_output(out);
        return *n;
    }
    qjit::Graph import(const qjit::ImportOptions& o = {}) const {
        const std::string b = m.SerializeAsString();
        return qjit::import_onnx_bytes(b.data(), b.size(), o);
    }
};

void attr_i(onnx::NodeProto& n, const char* name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
}
void attr_ints(onnx::NodeProto& n, const char* name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
}
void attr_s(onnx::NodeProto& n, const char* name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
}

template <class F> void expect_error(F f, ErrorCode code, const std::string& node) {
    try {
        f();
        ADD_FAILURE() << "no qjit::Error";
    } catch (const qjit::Error& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        EXPECT_EQ(e.node(), node) << e.what();
    }
}

Tensor run1(const qjit::Graph& g, const Tensor& x) { return qjit::compile(g).run({x}).at(0); }

TEST(OnnxImport, SymbolicBatchAndInputShapes) {
    Model m;
    m.input("x", onnx::TensorProto::FLOAT, {3, 4}, "N");
    m.node("Relu", {"x"}, "y");
    m.output("y");
    EXPECT_EQ(m.import().shape_of({0}), (qjit::Shape{1, 3, 4}));
    qjit::ImportOptions batch5;
    batch5.default_batch = 5;
    EXPECT_EQ(m.import(batch5).shape_of({0}), (qjit::Shape{5, 3, 4}));
    EXPECT_EQ(m.import({.input_shapes = {{"x", {2, 3, 4}}}}).shape_of({0}), (qjit::Shape{2, 3, 4}));

    Model s;
    s.input("x", onnx::TensorProto::FLOAT, {}, "N");
    s.g().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("W");
    s.node("Relu", {"x"}, "y");
    s.output("y");
    expect_error([&] { s.import(); }, ErrorCode::UnsupportedOp, "x");
    EXPECT_EQ(s.import({.input_shapes = {{"x", {1, 7}}}}).shape_of({0}), (qjit::Shape{1, 7}));
}

TEST(OnnxImport, BadModelsAreErrorsNamingTheNode) {
    const char junk[] = "definitely not a protobuf \xff\xff\xff";
    expect_error([&] { qjit::import_onnx_bytes(junk, sizeof junk); }, ErrorCode::InvalidArgument, "<model>");
    expect_error([&] { qjit::import_onnx("/nonexistent/model.onnx"); }, ErrorCode::InvalidArgument,
                 "/nonexistent/model.onnx");

    Model m;
    m.input("x", onnx::TensorProto::FLOAT, {1, 4});
    m.node("Erf", {"x"}, "y");
    m.output("y");
    expect_error([&] { m.import(); }, ErrorCode::UnsupportedOp, "Erf_y");

    Model b; // blocked quantization
    b.input("x", onnx::TensorProto::FLOAT, {1, 4});
    b.init_f("s", {1, 2}, {0.1f, 0.2f});
    attr_i(b.node("QuantizeLinear", {"x", "s"}, "q"), "block_size", 2);
    b.output("q");
    expect_error([&] { b.import(); }, ErrorCode::UnsupportedOp, "QuantizeLinear_q");

    Model t; // 16-bit quantization
    t.input("x", onnx::TensorProto::FLOAT, {1, 4});
    t.init_f("s", {}, {0.1f});
    t.init_i("z", onnx::TensorProto::INT16, {}, {0});
    t.node("QuantizeLinear", {"x", "s", "z"}, "q");
    t.output("q");
    expect_error([&] { t.import(); }, ErrorCode::UnsupportedOp, "QuantizeLinear_q");

    Model d; // a shape that depends on runtime data
    d.input("x", onnx::TensorProto::FLOAT, {1, 4});
    d.input("v", onnx::TensorProto::FLOAT, {2});
    attr_i(d.node("Cast", {"v"}, "shape"), "to", onnx::TensorProto::INT64);
    d.node("Reshape", {"x", "shape"}, "y");
    d.output("y");
    expect_error([&] { d.import(); }, ErrorCode::UnsupportedOp, "Cast_shape");
    Model e; // an int64 graph input
    e.input("shape", onnx::TensorProto::INT64, {2});
    e.node("Identity", {"shape"}, "y");
    e.output("y");
    expect_error([&] { e.import(); }, ErrorCode::UnsupportedOp, "shape");
}

TEST(OnnxImport, QuantizeDequantizePairIsOneFakeQuantizeWithOnnxCodes) {
    Model m;
    m.input("x", onnx::TensorProto::FLOAT, {1, 2, 4, 4});
    m.init_f("s", {}, {0.05f});
    m.init_i("z", onnx::TensorProto::INT8, {}, {-3});
    m.node("QuantizeLinear", {"x", "s", "z"}, "q");
    m.node("DequantizeLinear", {"q", "s", "z"}, "y");
    m.output("y");
    const qjit::Graph g = m.import();
    int fq = 0;
    for (const auto& n : g.ir().nodes()) fq += n.op == qjit::ir::Op::FakeQuantize;
    EXPECT_EQ(fq, 1);
    std::vector<float> x(32);
    for (size_t i = 0; i < x.size(); ++i) x[i] = -7.f + 0.4317f * static_cast<float>(i); // no ties, some saturate
    const Tensor y = run1(g, Tensor::f32({1, 2, 4, 4}, x));
    for (size_t i = 0; i < x.size(); ++i) {
        const float q = std::fmin(std::fmax(std::nearbyint(x[i] / 0.05f) - 3.f, -128.f), 127.f);
        EXPECT_EQ(std::lround(y.data<float>()[i] / 0.05f), std::lround(q + 3.f)) << "x = " << x[i];
        EXPECT_NEAR(y.data<float>()[i], (q + 3.f) * 0.05f, 1e-5f);
    }
}

// Spec §2.5: QuantizeLinear rounds RNE(x / s) and adds the zero point after rounding; a FakeQuantize
// would round x/s + zp - qmin once. On half-grid inputs (ties) and one ulp either side, with odd and
// even zero points, u8 and s8, per tensor and per axis, qjit's codes equal ONNX's formula exactly.
TEST(OnnxImport, QuantizeLinearRoundsLikeOnnxOnHalfGridInputs) {
    struct Case {
        int type;
        std::vector<float> s;
        std::vector<int64_t> zp; // size 1: per tensor; 3: along axis 1
    };
    const int U8 = onnx::TensorProto::UINT8, S8 = onnx::TensorProto::INT8;
    const std::vector<Case> cases = {{U8, {0.0625f}, {1}},   {U8, {0.05f}, {128}},  {S8, {0.0625f}, {-3}},
                                     {S8, {0.125f}, {0}},    {U8, {0.0625f, 0.05f, 0.1f}, {3, 128, 77}},
                                     {S8, {0.03125f, 0.25f, 0.1f}, {-1, 5, -128}}};
    for (const Case& c : cases) {
        Model m;
        const int64_t C = 3, W = 64;
        m.input("x", onnx::TensorProto::FLOAT, {1, C, 8, W});
        const std::vector<int64_t> dims = c.s.size() == 1 ? std::vector<int64_t>{} : std::vector<int64_t>{C};
        m.init_f("s", dims, c.s);
        m.init_i("z", c.type, dims, c.zp);
        m.node("QuantizeLinear", {"x", "s", "z"}, "q");
        m.node("DequantizeLinear", {"q", "s", "z"}, "d");
        m.node("Relu", {"d"}, "r"); // a float op after the pair: the quantizer is a Quantize kernel
        m.output("q");
        m.output("r");
        const qjit::Graph g = m.import();
        std::vector<float> x(static_cast<size_t>(C * 8 * W));
        for (size_t i = 0; i < x.size(); ++i) {
            const size_t ch = c.s.size() == 1 ? 0 : i / static_cast<size_t>(8 * W);
            const float t = (static_cast<float>(static_cast<int64_t>(i % 512) - 256) + 0.5f) * c.s[ch];
            x[i] = i % 3 == 0 ? t : std::nextafter(t, i % 3 == 1 ? 1e30f : -1e30f);
        }
        const std::vector<Tensor> y = qjit::compile(g).run({Tensor::f32({1, C, 8, W}, x)});
        const float qmin = c.type == U8 ? 0.f : -128.f, qmax = c.type == U8 ? 255.f : 127.f;
        int ties = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            const size_t ch = c.s.size() == 1 ? 0 : i / static_cast<size_t>(8 * W);
            const float want = std::fmin(std::fmax(std::nearbyint(x[i] / c.s[ch]) + static_cast<float>(c.zp[ch]), qmin), qmax);
            ASSERT_EQ(y[0].data<float>()[i], want) << "x = " << x[i] << " s = " << c.s[ch] << " zp = " << c.zp[ch];
            ties += i % 3 == 0;
        }
        EXPECT_GT(ties, 0);
    }
}

TEST(OnnxImport, ShapeArithmeticFoldsToConstants) {
    Model m; // Reshape(x, Concat(Gather(Shape(x), 0), [-1])) flattens x whatever its batch
    m.input("x", onnx::TensorProto::FLOAT, {3, 2, 2}, "N");
    m.init_i("zero", onnx::TensorProto::INT64, {}, {0});
    m.init_i("minus1", onnx::TensorProto::INT64, {1}, {-1});
    m.init_i("axes", onnx::TensorProto::INT64, {1}, {0});
    m.node("Shape", {"x"}, "sh");
    m.node("Gather", {"sh", "zero"}, "n");
    m.node("Unsqueeze", {"n", "axes"}, "n1");
    attr_i(m.node("Concat", {"n1", "minus1"}, "target"), "axis", 0);
    m.node("Reshape", {"x", "target"}, "y");
    m.output("y");
    qjit::ImportOptions batch2;
    batch2.default_batch = 2;
    const qjit::Graph g = m.import(batch2);
    const int y = g.ir().results().at(0);
    EXPECT_EQ(g.ir().node(y).shape, (qjit::Shape{2, 12}));
}

TEST(OnnxImport, FloatOpsRunInFp32AndFollowTheirFormulas) {
    Model m;
    m.input("x", onnx::TensorProto::FLOAT, {1, 1, 4, 4});
    m.init_f("roi", {0}, {});
    m.init_f("scales", {4}, {1, 1, 2, 2});
    auto& r = m.node("Resize", {"x", "roi", "scales"}, "up");
    attr_s(r, "mode", "linear");
    attr_s(r, "coordinate_transformation_mode", "half_pixel");
    m.init_i("pads", onnx::TensorProto::INT64, {8}, {0, 0, 1, 0, 0, 0, 0, 2});
    m.node("Pad", {"x", "pads"}, "padded");
    attr_ints(m.node("Transpose", {"x"}, "t"), "perm", {0, 2, 3, 1});
    attr_i(m.node("Softmax", {"x"}, "sm"), "axis", -1);
    m.node("HardSwish", {"x"}, "hs");
    for (const char* o : {"up", "padded", "t", "sm", "hs"}) m.output(o);
    const qjit::Graph g = m.import();
    std::vector<float> x(16);
    for (int i = 0; i < 16; ++i) x[i] = static_cast<float>(i * i);
    const std::vector<Tensor> out = qjit::compile(g).run({Tensor::f32({1, 1, 4, 4}, x)});
    // Bilinear half_pixel x2 of rows/columns of i*i (the values ONNX Runtime gives).
    const float up_row0[8] = {0.f, 0.25f, 0.75f, 1.75f, 3.25f, 5.25f, 7.75f, 9.f};
    const float up_row7[8] = {144.f, 150.25f, 162.75f, 175.75f, 189.25f, 203.25f, 217.75f, 225.f};
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(out[0].data<float>()[i], up_row0[i]) << i;
        EXPECT_EQ(out[0].data<float>()[56 + i], up_row7[i]) << i;
    }
    EXPECT_EQ(out[1].shape(), (qjit::Shape{1, 1, 5, 6}));
    EXPECT_EQ(out[1].data<float>()[0], 0.f);                 // padded row
    EXPECT_EQ(out[1].data<float>()[6], x[0]);                // first element after one padded row
    EXPECT_EQ(out[1].data<float>()[6 + 4], 0.f);             // right padding
    EXPECT_EQ(out[2].shape(), (qjit::Shape{1, 4, 4, 1}));
    double sum = 0;
    for (int i = 0; i < 4; ++i) sum += std::exp(x[i] - x[3]);
    EXPECT_NEAR(out[3].data<float>()[0], std::exp(x[0] - x[3]) / sum, 1e-7);
    for (int i = 0; i < 16; ++i)
        EXPECT_EQ(out[4].data<float>()[i], x[i] * std::fmax(0.f, std::fmin(1.f, x[i] / 6.f + 0.5f)));
    // With the fp32 fallback refused, compile names the first node that has no quantized kernel.
    try {
        qjit::compile(g, {.allow_fp32_fallback = false});
        ADD_FAILURE() << "compiled without fallback";
    } catch (const qjit::Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::UnsupportedOp);
    }
}

TEST(OnnxImport, ConvWithQdqWeightsCompilesToAJitKernel) {
    Model m; // DQ(Q(x)) -> Conv(DQ(int8 weights), int32 bias) -> Relu -> Q -> DQ
    m.input("x", onnx::TensorProto::FLOAT, {1, 3, 8, 8});
    m.init_f("sx", {}, {0.02f});
    m.init_i("zx", onnx::TensorProto::UINT8, {}, {128});
    std::vector<int64_t> w(4 * 3 * 3 * 3);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int64_t>((i * 37) % 255) - 127;
    m.init_i("w", onnx::TensorProto::INT8, {4, 3, 3, 3}, w);
    m.init_f("sw", {4}, {0.01f, 0.02f, 0.005f, 0.03f});
    m.init_i("zw", onnx::TensorProto::INT8, {4}, {0, 0, 0, 0});
    m.init_i("b", onnx::TensorProto::INT32, {4}, {100, -200, 50, 0});
    m.init_f("sb", {4}, {0.0002f, 0.0004f, 0.0001f, 0.0006f});
    m.init_f("sy", {}, {0.05f});
    m.init_i("zy", onnx::TensorProto::UINT8, {}, {0});
    m.node("QuantizeLinear", {"x", "sx", "zx"}, "xq");
    m.node("DequantizeLinear", {"xq", "sx", "zx"}, "xd");
    attr_i(m.node("DequantizeLinear", {"w", "sw", "zw"}, "wd"), "axis", 0);
    attr_i(m.node("DequantizeLinear", {"b", "sb"}, "bd"), "axis", 0);
    attr_ints(m.node("Conv", {"xd", "wd", "bd"}, "c"), "pads", {1, 1, 1, 1});
    m.node("Relu", {"c"}, "r");
    m.node("QuantizeLinear", {"r", "sy", "zy"}, "yq");
    m.node("DequantizeLinear", {"yq", "sy", "zy"}, "y");
    m.output("y");
    const qjit::CompiledModel cm = qjit::compile(m.import(), {.allow_fp32_fallback = false});
    bool conv_jit = false;
    for (const auto& k : cm.kernels()) conv_jit = conv_jit || (k.jit && k.fused_nodes.find("Conv_c") != std::string::npos);
    EXPECT_TRUE(conv_jit) << cm.describe();
}

void attr_f(onnx::NodeProto& n, const char* name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
}

std::vector<float> ramp(size_t n, float a, float b) { // deterministic values in [a, b)
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = a + (b - a) * static_cast<float>((i * 7919) % 1000) / 1000.f;
    return v;
}

// A float CNN with the ops real exports carry, run by qjit (fp32 path) and by ONNX Runtime
// (tests/ort); outputs agree to float rounding. Skipped when node or onnxruntime-node is missing.
TEST(OnnxImport, FloatCnnMatchesOnnxRuntime) {
    namespace fs = std::filesystem;
    const fs::path ort = fs::path(__FILE__).parent_path() / "ort";
    if (std::system("node --version > /dev/null 2>&1") != 0 || !fs::exists(ort / "node_modules/onnxruntime-node"))
        GTEST_SKIP() << "node or npm onnxruntime-node missing (bash scripts/setup.sh)";
    Model m;
    m.input("x", onnx::TensorProto::FLOAT, {1, 3, 8, 8});
    m.init_f("w", {4, 3, 3, 3}, ramp(108, -0.5f, 0.5f));
    m.init_f("b", {4}, {0.1f, -0.2f, 0.05f, 0.f});
    m.init_f("gamma", {4}, {1.f, 0.5f, 2.f, 1.5f});
    m.init_f("beta", {4}, {0.f, 0.1f, -0.1f, 0.2f});
    m.init_f("mean", {4}, {0.1f, 0.f, -0.2f, 0.3f});
    m.init_f("var", {4}, {1.f, 0.5f, 2.f, 0.25f});
    m.init_f("gw", {5, 4}, ramp(20, -1.f, 1.f));
    m.init_f("gb", {5}, {0.f, 0.1f, 0.2f, 0.3f, 0.4f});
    m.init_f("roi", {0}, {});
    m.init_f("scales", {4}, {1, 1, 2, 2});
    attr_ints(m.node("Conv", {"x", "w", "b"}, "c"), "pads", {1, 1, 1, 1});
    m.node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, "bn");
    attr_f(m.node("LeakyRelu", {"bn"}, "lr"), "alpha", 0.1f);
    auto& mp = m.node("MaxPool", {"lr"}, "mp");
    attr_ints(mp, "kernel_shape", {2, 2});
    attr_ints(mp, "strides", {2, 2});
    auto& ap = m.node("AveragePool", {"mp"}, "ap");
    attr_ints(ap, "kernel_shape", {3, 3});
    attr_ints(ap, "pads", {1, 1, 1, 1});
    m.node("HardSigmoid", {"ap"}, "hsig");
    m.node("GlobalAveragePool", {"hsig"}, "gap");
    m.node("Flatten", {"gap"}, "flat");
    attr_i(m.node("Gemm", {"flat", "gw", "gb"}, "fc"), "transB", 1);
    m.node("Sigmoid", {"fc"}, "prob");
    attr_s(m.node("Resize", {"lr", "roi", "scales"}, "up"), "mode", "nearest");
    m.node("HardSwish", {"up"}, "hsw");
    attr_i(m.node("Softmax", {"fc"}, "sm"), "axis", 1);
    for (const char* o : {"prob", "hsw", "sm"}) m.output(o);

    const fs::path tmp = fs::temp_directory_path() / ("qjit_onnx_cnn_" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    {
        std::ofstream f(tmp / "model.onnx", std::ios::binary);
        m.m.SerializeToOstream(&f);
    }
    const std::vector<float> x = ramp(192, -2.f, 2.f);
    std::ofstream(tmp / "x.bin", std::ios::binary).write(reinterpret_cast<const char*>(x.data()), 192 * 4);
    const std::string cmd = "node '" + (ort / "run_ort.js").string() + "' '" + (tmp / "model.onnx").string() + "' '" +
                            (tmp / "x.bin").string() + "' float32 1,3,8,8 '" + tmp.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const std::vector<Tensor> out = qjit::compile(m.import()).run({Tensor::f32({1, 3, 8, 8}, x)});
    ASSERT_EQ(out.size(), 3u);
    for (size_t i = 0; i < out.size(); ++i) {
        std::vector<float> ref(static_cast<size_t>(out[i].numel()));
        std::ifstream r(tmp / ("output_" + std::to_string(i) + ".bin"), std::ios::binary);
        r.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * 4));
        ASSERT_TRUE(r) << "output " << i;
        for (size_t e = 0; e < ref.size(); ++e)
            EXPECT_NEAR(out[i].data<float>()[e], ref[e], 1e-5f * std::max(1.f, std::fabs(ref[e]))) << "output " << i << " [" << e << "]";
    }
    fs::remove_all(tmp);
}

TEST(BuilderFloatOps, ErrorsNameTheNode) {
    qjit::Graph g;
    auto x = g.parameter("x", {1, 2, 3, 4});
    expect_error([&] { g.transpose("t", x, {0, 1, 1, 2}); }, ErrorCode::InvalidArgument, "t");
    expect_error([&] { g.transpose("t", x, {0, 1}); }, ErrorCode::InvalidArgument, "t");
    expect_error([&] { g.pad("p", x, {0, 0, -1, 0}, {0, 0, 0, 0}, 0.f); }, ErrorCode::UnsupportedOp, "p");
    expect_error([&] { g.resize("r", x, {1, 3, 6, 8}, {}); }, ErrorCode::UnsupportedOp, "r");
    expect_error([&] { g.resize("r", x, {1, 2, 6, 8}, {.scales = {2.f}}); }, ErrorCode::InvalidArgument, "r");
    expect_error([&] { g.tile("ti", x, {1, 1, 0, 1}); }, ErrorCode::InvalidArgument, "ti");
    expect_error([&] { g.softmax("s", x, 4); }, ErrorCode::InvalidArgument, "s");
    expect_error([&] { g.subtract("d", x, g.parameter("y", {5})); }, ErrorCode::ShapeMismatch, "d");
    EXPECT_EQ(g.shape_of(g.transpose("t2", x, {0, 2, 3, 1})), (qjit::Shape{1, 3, 4, 2}));
    EXPECT_EQ(g.shape_of(g.tile("t3", x, {2, 1, 1, 3})), (qjit::Shape{2, 2, 3, 12}));
}

} // namespace

#else
TEST(OnnxImport, Skipped) { GTEST_SKIP() << "qjit was built without the ONNX importer (libonnx-dev)"; }
#endif
