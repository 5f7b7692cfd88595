// OpenVINO IR importer: graphs written with tools/ov_writer read back into the same float graph
// (same ops, Oracle A bit-identical), the imported model's JIT equals Oracle B; hand-written IR for
// the ops the writer never emits (Convert, Subtract, Transpose, Squeeze/Unsqueeze, i8 weights);
// malformed files are an Error naming the IR layer.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <unistd.h>

#include "jit/ir.hpp"
#include "qjit/import.hpp"
#include "qjit/qjit.hpp"
#include "runtime/oracle_a.hpp"
#include "tests/support/chain_check.hpp"
#include "tools/model_zoo.hpp"
#include "tools/ov_writer.hpp"
#include "tools/random_graph.hpp"

using namespace qjit;

namespace {

Graph round_trip(const Graph& g) {
    const tools::OpenVinoIr ir = tools::to_openvino_ir(g);
    return import_openvino_ir_bytes(ir.xml, ir.bin.data(), ir.bin.size());
}

// b (imported) has a's ops and a's Oracle A values bit for bit; its JIT equals Oracle B and (check_a)
// B is within spec 4.6 of A. Random graphs skip the last check: their known oracle-check gaps are
// test_random_graphs' business, not the importer's.
void expect_same_model(const Graph& a, const Graph& b, const std::vector<Tensor>& inputs, bool check_a = true) {
    EXPECT_EQ(a.ir().op_signature(), b.ir().op_signature());
    const std::vector<Tensor> ya = oracle::oracle_a_outputs(a.ir(), inputs);
    const std::vector<Tensor> yb = oracle::oracle_a_outputs(b.ir(), inputs);
    ASSERT_EQ(ya.size(), yb.size());
    for (size_t i = 0; i < ya.size(); ++i) {
        std::string why;
        EXPECT_TRUE(tsupport::same_bytes(ya[i], yb[i], &why)) << "result " << i << ": " << why;
    }
    CompiledModel m = compile(b);
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(b, m, inputs);
    EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
    if (check_a) {
        EXPECT_EQ(r.violations, 0) << r.first_violation;
    }
}

std::string expect_error(const std::string& xml, const std::vector<uint8_t>& bin, ErrorCode code) {
    try {
        import_openvino_ir_bytes(xml, bin.data(), bin.size());
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        EXPECT_NE(e.node().find("OpenVINO IR"), std::string::npos) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "no Error";
    return "";
}

} // namespace

TEST(OpenVinoIr, ChainRoundTrip) {
    zoo::ChainConfig cfg;
    cfg.seed = 11;
    cfg.asym_weights = true;
    const Graph g = zoo::build_chain(cfg);
    const Shape s{cfg.n, cfg.c, cfg.h, cfg.w};
    expect_same_model(g, round_trip(g), {Tensor::f32(s, zoo::random_input(s, 3))});
}

TEST(OpenVinoIr, RandomGraphsRoundTrip) {
    int written = 0;
    for (uint64_t seed = 1; seed <= 40; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        rgraph::GenOptions opt;
        opt.allow_nonconstant_ranges = false;
        const rgraph::RandomGraph rg = rgraph::build_random_graph(seed, opt);
        tools::OpenVinoIr ir;
        try {
            ir = tools::to_openvino_ir(rg.graph);
        } catch (const Error& e) {
            continue; // an op the writer does not write
        }
        ++written;
        expect_same_model(rg.graph, import_openvino_ir_bytes(ir.xml, ir.bin.data(), ir.bin.size()), rg.inputs, false);
    }
    EXPECT_GT(written, 20);
}

TEST(OpenVinoIr, FilesAndLoadModel) {
    zoo::ChainConfig cfg;
    const Graph g = zoo::build_chain(cfg);
    char dir[] = "/tmp/qjit_ovir_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string xml = std::string(dir) + "/m.xml";
    tools::write_openvino_ir(g, xml);
    const Shape s{cfg.n, cfg.c, cfg.h, cfg.w};
    expect_same_model(g, load_model(xml), {Tensor::f32(s, zoo::random_input(s, 5))});
    ImportOptions o;
    o.input_shapes["input"] = {2, cfg.c, cfg.h, cfg.w};
    const Graph g2 = import_openvino_ir(xml, "", o);
    EXPECT_EQ(g2.shape_of(NodeRef{g2.ir().parameters().at(0)}), (Shape{2, cfg.c, cfg.h, cfg.w}));
    EXPECT_THROW(load_model(std::string(dir) + "/m.txt"), Error);
    std::remove((std::string(dir) + "/m.bin").c_str());
    try {
        load_model(xml);
        ADD_FAILURE() << "missing .bin accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("m.bin"), std::string::npos) << e.what();
    }
    std::remove(xml.c_str());
    EXPECT_THROW(load_model(xml), Error);
    rmdir(dir);
}

namespace {

// A hand-written IR: layers in the order given, ports numbered inputs first.
struct IrText {
    std::string layers, edges;
    std::vector<uint8_t> bin;
    std::map<int, int> out_port;
    int add(int id, const std::string& type, const std::string& data, const std::vector<int>& inputs,
            const std::vector<Shape>& in_shapes, const Shape& out) {
        auto dims = [](const Shape& s) {
            std::string o;
            for (int64_t d : s) o += "<dim>" + std::to_string(d) + "</dim>";
            return o;
        };
        layers += "<layer id=\"" + std::to_string(id) + "\" name=\"l" + std::to_string(id) + "\" type=\"" + type +
                  "\" version=\"opset1\"><data " + data + "/><input>";
        for (size_t i = 0; i < in_shapes.size(); ++i)
            layers += "<port id=\"" + std::to_string(i) + "\">" + dims(in_shapes[i]) + "</port>";
        layers += "</input><output><port id=\"" + std::to_string(in_shapes.size()) + "\">" + dims(out) + "</port></output></layer>\n";
        out_port[id] = static_cast<int>(in_shapes.size());
        for (size_t i = 0; i < inputs.size(); ++i)
            edges += "<edge from-layer=\"" + std::to_string(inputs[i]) + "\" from-port=\"" + std::to_string(out_port[inputs[i]]) +
                     "\" to-layer=\"" + std::to_string(id) + "\" to-port=\"" + std::to_string(i) + "\"/>\n";
        return id;
    }
    template <class T>
    int constant(int id, const char* et, const Shape& s, const std::vector<T>& v) {
        const size_t off = bin.size();
        bin.insert(bin.end(), reinterpret_cast<const uint8_t*>(v.data()), reinterpret_cast<const uint8_t*>(v.data() + v.size()));
        std::string shape;
        for (size_t i = 0; i < s.size(); ++i) shape += (i ? "," : "") + std::to_string(s[i]);
        return add(id, "Const", std::string("element_type=\"") + et + "\" shape=\"" + shape + "\" offset=\"" + std::to_string(off) +
                                    "\" size=\"" + std::to_string(v.size() * sizeof(T)) + "\"", {}, {}, s);
    }
    std::string xml() const { return "<net name=\"t\" version=\"10\"><layers>\n" + layers + "</layers><edges>\n" + edges + "</edges></net>"; }
};

} // namespace

TEST(OpenVinoIr, HandWrittenOpsFoldAndMatchBuilder) {
    IrText t;
    const Shape x4{1, 2, 4, 4}, y4{1, 4, 4, 4};
    t.add(0, "Parameter", "shape=\"1,2,4,4\" element_type=\"f32\"", {}, {}, x4);
    t.constant<float>(1, "f32", {}, {0.f});
    t.constant<float>(2, "f32", {}, {2.55f});
    t.add(3, "FakeQuantize", "levels=\"256\"", {0, 1, 2, 1, 2}, {x4, {}, {}, {}, {}}, x4);
    // i8 weights stored [I, O, 1, 1]: Transpose -> Convert -> Subtract zero point -> Multiply scale.
    t.constant<int8_t>(4, "i8", {2, 4, 1, 1}, {-5, 7, 100, -128, 127, 0, 3, -60});
    t.constant<int64_t>(5, "i64", {4}, {1, 0, 2, 3});
    t.add(6, "Transpose", "", {4, 5}, {{2, 4, 1, 1}, {4}}, {4, 2, 1, 1});
    t.add(7, "Convert", "destination_type=\"f32\"", {6}, {{4, 2, 1, 1}}, {4, 2, 1, 1});
    t.constant<float>(8, "f32", {}, {1.f});
    t.add(9, "Subtract", "", {7, 8}, {{4, 2, 1, 1}, {}}, {4, 2, 1, 1});
    t.constant<float>(10, "f32", {4, 1, 1, 1}, {0.01f, 0.005f, 0.008f, 0.002f});
    t.add(11, "Multiply", "", {9, 10}, {{4, 2, 1, 1}, {4, 1, 1, 1}}, {4, 2, 1, 1});
    t.constant<float>(12, "f32", {4, 1, 1, 1}, {-1.28f, -0.64f, -1.024f, -0.256f});
    t.constant<float>(13, "f32", {4, 1, 1, 1}, {1.27f, 0.635f, 1.016f, 0.254f});
    t.add(14, "FakeQuantize", "levels=\"256\"", {11, 12, 13, 12, 13}, {{4, 2, 1, 1}, {4, 1, 1, 1}, {4, 1, 1, 1}, {4, 1, 1, 1}, {4, 1, 1, 1}}, {4, 2, 1, 1});
    t.add(15, "Convolution", "strides=\"1,1\" dilations=\"1,1\" pads_begin=\"0,0\" pads_end=\"0,0\" auto_pad=\"explicit\"", {3, 14}, {x4, {4, 2, 1, 1}}, y4);
    t.constant<float>(16, "f32", {4}, {0.1f, -0.2f, 0.3f, 0.05f});
    t.constant<int64_t>(17, "i64", {3}, {0, 2, 3});
    t.add(18, "Unsqueeze", "", {16, 17}, {{4}, {3}}, {1, 4, 1, 1});
    t.add(19, "Add", "auto_broadcast=\"numpy\"", {15, 18}, {y4, {1, 4, 1, 1}}, y4);
    t.add(20, "Relu", "", {19}, {y4}, y4);
    t.add(21, "Clamp", "min=\"0\" max=\"6\"", {20}, {y4}, y4);
    t.constant<float>(22, "f32", {}, {6.f});
    t.add(23, "FakeQuantize", "levels=\"256\"", {21, 1, 22, 1, 22}, {y4, {}, {}, {}, {}}, y4);
    t.add(24, "MaxPool", "kernel=\"2,2\" strides=\"2,2\" pads_begin=\"0,0\" pads_end=\"0,0\" rounding_type=\"floor\"", {23}, {y4}, {1, 4, 2, 2});
    t.add(25, "AvgPool", "kernel=\"2,2\" strides=\"2,2\" pads_begin=\"0,0\" pads_end=\"0,0\" exclude-pad=\"true\"", {24}, {{1, 4, 2, 2}}, {1, 4, 1, 1});
    t.constant<int64_t>(26, "i64", {2}, {2, 3});
    t.add(27, "Squeeze", "", {25, 26}, {{1, 4, 1, 1}, {2}}, {1, 4});
    t.constant<float>(28, "f32", {4}, {0.5f, 0.25f, -1.f, 2.f});
    t.add(29, "Subtract", "", {27, 28}, {{1, 4}, {4}}, {1, 4});
    t.add(30, "Result", "", {29}, {{1, 4}}, {1, 4});
    const Graph imported = import_openvino_ir_bytes(t.xml(), t.bin.data(), t.bin.size());

    // The same model with the builder, constants folded by hand.
    Graph g;
    auto scalar = [&](const char* n, float v) { return g.constant(n, Tensor::f32({}, {v})); };
    NodeRef x = g.parameter("l0", x4), lo = scalar("lo", 0.f), hi = scalar("hi", 2.55f);
    NodeRef q = g.fake_quantize("l3", x, lo, hi, lo, hi, 256);
    const int8_t wi[2][4] = {{-5, 7, 100, -128}, {127, 0, 3, -60}};
    const float sc[4] = {0.01f, 0.005f, 0.008f, 0.002f};
    std::vector<float> w;
    for (int o = 0; o < 4; ++o)
        for (int i = 0; i < 2; ++i) w.push_back((static_cast<float>(wi[i][o]) - 1.f) * sc[o]);
    NodeRef wl = g.constant("wl", Tensor::f32({4, 1, 1, 1}, {-1.28f, -0.64f, -1.024f, -0.256f}));
    NodeRef wh = g.constant("wh", Tensor::f32({4, 1, 1, 1}, {1.27f, 0.635f, 1.016f, 0.254f}));
    NodeRef wq = g.fake_quantize("l14", g.constant("w", Tensor::f32({4, 2, 1, 1}, w)), wl, wh, wl, wh, 256);
    NodeRef c = g.convolution("l15", q, wq);
    c = g.add("l19", c, g.constant("bias", Tensor::f32({1, 4, 1, 1}, {0.1f, -0.2f, 0.3f, 0.05f})));
    c = g.clamp("l21", g.relu("l20", c), 0.f, 6.f);
    NodeRef six = scalar("six", 6.f);
    c = g.fake_quantize("l23", c, lo, six, lo, six, 256);
    c = g.avg_pool("l25", g.max_pool("l24", c, {2, 2}, {2, 2}, {0, 0}, {0, 0}), {2, 2}, {2, 2}, {0, 0}, {0, 0}, true);
    c = g.reshape("l27", c, {1, 4});
    c = g.add("l29", c, g.constant("neg", Tensor::f32({4}, {-0.5f, -0.25f, 1.f, -2.f})));
    g.result("l30", c);
    expect_same_model(g, imported, {Tensor::f32(x4, zoo::random_input(x4, 9, -0.5f, 3.f))});
}

TEST(OpenVinoIr, BadFilesAreErrorsNamingTheLayer) {
    const tools::OpenVinoIr ir = tools::to_openvino_ir(zoo::build_chain({}));
    auto edit = [&](const std::string& from, const std::string& to) {
        std::string x = ir.xml;
        const size_t p = x.find(from);
        EXPECT_NE(p, std::string::npos) << from;
        return p == std::string::npos ? x : x.replace(p, from.size(), to);
    };
    expect_error(ir.xml.substr(0, ir.xml.size() / 2), ir.bin, ErrorCode::InvalidArgument);
    expect_error("<foo/>", ir.bin, ErrorCode::InvalidArgument);
    expect_error(edit("version=\"11\"", "version=\"7\""), ir.bin, ErrorCode::UnsupportedOp);
    EXPECT_NE(expect_error(edit("type=\"Relu\"", "type=\"Gelu\""), ir.bin, ErrorCode::UnsupportedOp).find("conv1_relu"), std::string::npos);
    expect_error(edit("strides=\"1,1\"", "strides=\"1,x\""), ir.bin, ErrorCode::InvalidArgument);
    expect_error(edit("levels=\"256\"", "levels=\"abc\""), ir.bin, ErrorCode::InvalidArgument);
    expect_error(edit("offset=\"0\"", "offset=\"99999999\""), ir.bin, ErrorCode::InvalidArgument);
    expect_error(edit("from-layer=\"0\"", "from-layer=\"999\""), ir.bin, ErrorCode::InvalidArgument);
    expect_error(edit("<edge from-layer=\"0\"", "<notedge from-layer=\"0\""), ir.bin, ErrorCode::InvalidArgument);
    std::vector<uint8_t> half(ir.bin.begin(), ir.bin.begin() + static_cast<long>(ir.bin.size() / 2));
    EXPECT_NE(expect_error(ir.xml, half, ErrorCode::InvalidArgument).find("beyond"), std::string::npos);
    expect_error(ir.xml, {}, ErrorCode::InvalidArgument);
}

TEST(OpenVinoIr, ActivationTransposeRunsAndEqualsOracleA) {
    // Two transposes that move data (fp32 path), then one that moves only a size-1 axis (a Reshape).
    IrText t;
    t.add(0, "Parameter", "shape=\"1,2,3\" element_type=\"f32\"", {}, {}, {1, 2, 3});
    t.constant<int64_t>(1, "i64", {3}, {0, 2, 1});
    t.add(2, "Transpose", "", {0, 1}, {{1, 2, 3}, {3}}, {1, 3, 2});
    t.constant<int64_t>(3, "i64", {3}, {2, 0, 1});
    t.add(4, "Transpose", "", {2, 3}, {{1, 3, 2}, {3}}, {2, 1, 3});
    t.constant<int64_t>(5, "i64", {3}, {1, 0, 2});
    t.add(6, "Transpose", "", {4, 5}, {{2, 1, 3}, {3}}, {1, 2, 3});
    t.add(7, "Result", "", {6}, {{1, 2, 3}}, {1, 2, 3});
    const Graph g = import_openvino_ir_bytes(t.xml(), t.bin.data(), t.bin.size());
    EXPECT_NE(g.ir().op_signature().find("Reshape"), std::string::npos) << g.ir().op_signature();
    // x[0][a][b] -> t1[0][b][a] -> t2[a][0][b] -> t3[0][a][b]: x again.
    const Tensor x = Tensor::f32({1, 2, 3}, {1, 2, 3, 4, 5, 6});
    CompiledModel m = compile(g);
    const std::vector<Tensor> y = m.run({x});
    const std::vector<Tensor> ya = oracle::oracle_a_outputs(g.ir(), {x});
    ASSERT_EQ(y[0].shape(), (Shape{1, 2, 3}));
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(y[0].data<float>()[i], static_cast<float>(i + 1)) << i;
        EXPECT_EQ(ya[0].data<float>()[i], static_cast<float>(i + 1)) << i;
    }
}

TEST(OpenVinoIr, U8ParameterThenConvertTakesF32Values) {
    IrText t;
    t.add(0, "Parameter", "shape=\"1,4\" element_type=\"u8\"", {}, {}, {1, 4});
    t.add(1, "Convert", "destination_type=\"f32\"", {0}, {{1, 4}}, {1, 4});
    t.constant<float>(2, "f32", {}, {-100.f});
    t.add(3, "Add", "", {1, 2}, {{1, 4}, {}}, {1, 4});
    t.add(4, "Relu", "", {3}, {{1, 4}}, {1, 4});
    t.add(5, "Result", "", {4}, {{1, 4}}, {1, 4});
    const Graph g = import_openvino_ir_bytes(t.xml(), t.bin.data(), t.bin.size());
    CompiledModel m = compile(g);
    const std::vector<Tensor> y = m.run({Tensor::f32({1, 4}, {0, 99, 101, 255})});
    EXPECT_EQ(y[0].data<float>()[0], 0.f);
    EXPECT_EQ(y[0].data<float>()[1], 0.f);
    EXPECT_EQ(y[0].data<float>()[2], 1.f);
    EXPECT_EQ(y[0].data<float>()[3], 155.f);
    std::string xml = t.xml();
    xml.replace(xml.find("destination_type=\"f32\""), 22, "destination_type=\"u8\"");
    expect_error(xml, t.bin, ErrorCode::UnsupportedOp);
}
