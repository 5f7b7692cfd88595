// ONNX backend node tests touching 8-bit quantization (../shared/peer-data/onnx-node-quant): every
// test import/onnx/CONFORMANCE.md marks "pass" must import, compile and reproduce the expected
// output tensors exactly; every test it marks "unsupported" must be refused with a qjit::Error (never
// a crash) whose message is printed. A test directory missing from the table fails.
#include <gtest/gtest.h>

#ifdef QJIT_HAVE_ONNX

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <onnx/onnx_pb.h>

#include "qjit/import.hpp"
#include "qjit/qjit.hpp"
#include "tests/support/onnx_testing.hpp"

namespace {

namespace fs = std::filesystem;
const std::string kData = std::string(QJIT_SHARED_DIR) + "/peer-data/onnx-node-quant";
const std::string kTable = (fs::path(__FILE__).parent_path().parent_path() / "import/onnx/CONFORMANCE.md").string();

// test name -> "pass" / "unsupported", from the rows "| test_x | pass | reason |".
std::map<std::string, std::string> read_table() {
    std::map<std::string, std::string> t;
    std::ifstream f(kTable);
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("| test_", 0) != 0) continue;
        std::stringstream ss(line.substr(1));
        std::string name, status;
        std::getline(ss, name, '|');
        std::getline(ss, status, '|');
        auto trim = [](std::string s) {
            s.erase(0, s.find_first_not_of(" `"));
            s.erase(s.find_last_not_of(" `") + 1);
            return s;
        };
        t[trim(name)] = trim(status);
    }
    return t;
}

// Is input `name` read as a quantization parameter (scale, zero point, Clip bound) by some node?
bool is_parameter_input(const onnx::GraphProto& g, const std::string& name) {
    for (const auto& n : g.node())
        for (int i = 1; i < n.input_size(); ++i)
            if (n.input(i) == name) {
                const std::string& op = n.op_type();
                if (op == "QuantizeLinear" || op == "DequantizeLinear" || op == "Clip") return true;
                if ((op == "QLinearConv" || op == "QLinearMatMul") && i != 3) return true;
                if ((op == "ConvInteger" || op == "MatMulInteger") && i >= 2) return true;
            }
    return false;
}

// "" on success, else why the test did not run or match. The backend tests feed scales and zero
// points as graph inputs; qjit compiles them into the kernels, so they are bound as initializers
// from the test data before import (the other inputs stay runtime inputs).
std::string run_case(const fs::path& dir, bool& refused) {
    refused = false;
    const fs::path data = dir / "test_data_set_0";
    onnx::ModelProto proto;
    {
        std::ifstream f(dir / "model.onnx", std::ios::binary);
        if (!proto.ParseFromIstream(&f)) return "model.onnx does not parse";
    }
    std::vector<fs::path> runtime_inputs;
    onnx::GraphProto* g = proto.mutable_graph();
    std::vector<onnx::ValueInfoProto> kept;
    for (int i = 0; i < g->input_size(); ++i) {
        const fs::path pb = data / ("input_" + std::to_string(i) + ".pb");
        if (is_parameter_input(*g, g->input(i).name())) {
            std::ifstream f(pb, std::ios::binary);
            onnx::TensorProto* t = g->add_initializer();
            if (!t->ParseFromIstream(&f)) return "cannot read " + pb.string();
            t->set_name(g->input(i).name());
            continue;
        }
        kept.push_back(g->input(i));
        runtime_inputs.push_back(pb);
    }
    g->clear_input();
    for (const auto& v : kept) *g->add_input() = v;
    const std::string bytes = proto.SerializeAsString();
    qjit::CompiledModel m;
    try {
        qjit::Graph graph = qjit::import_onnx_bytes(bytes.data(), bytes.size());
        m = qjit::compile(graph, {.threads = 1});
    } catch (const qjit::Error& e) {
        refused = true;
        return std::string(qjit::to_string(e.code())) + " at '" + e.node() + "': " + e.problem();
    }
    std::vector<qjit::Tensor> inputs;
    for (const fs::path& pb : runtime_inputs) inputs.push_back(qjit::testing::to_input(qjit::testing::read_pb(pb.string())));
    const std::vector<qjit::Tensor> out = m.run(inputs);
    for (size_t i = 0; i < out.size(); ++i) {
        const auto want = qjit::testing::read_pb((data / ("output_" + std::to_string(i) + ".pb")).string());
        const std::string d = qjit::testing::compare_exact(out[i], want);
        if (!d.empty()) return "output " + std::to_string(i) + ": " + d;
    }
    return "";
}

TEST(OnnxConformance, EveryNodeTestMatchesTheTable) {
    if (!fs::exists(kData)) GTEST_SKIP() << "peer data missing: " << kData;
    if (std::getenv("QJIT_ONNX_TABLE")) { // regenerate the table rows: QJIT_ONNX_TABLE=1 ./test_onnx_conformance
        std::vector<fs::path> all;
        for (const auto& e : fs::directory_iterator(kData))
            if (e.is_directory()) all.push_back(e.path());
        std::sort(all.begin(), all.end());
        for (const fs::path& dir : all) {
            bool refused = false;
            const std::string r = run_case(dir, refused);
            std::printf("| %s | %s | %s |\n", dir.filename().string().c_str(), r.empty() ? "pass" : "unsupported",
                        r.empty() ? "outputs equal the expected tensors" : r.c_str());
        }
        return;
    }
    const auto table = read_table();
    ASSERT_FALSE(table.empty()) << "no rows read from " << kTable;
    int pass = 0, unsupported = 0;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(kData))
        if (e.is_directory()) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& dir : dirs) {
        const std::string name = dir.filename().string();
        SCOPED_TRACE(name);
        auto it = table.find(name);
        ASSERT_NE(it, table.end()) << name << " is not listed in " << kTable;
        bool refused = false;
        const std::string r = run_case(dir, refused);
        if (it->second == "pass") {
            EXPECT_EQ(r, "") << name;
            ++pass;
        } else {
            EXPECT_TRUE(refused) << name << " is marked unsupported but " << (r.empty() ? "passes" : "ran: " + r);
            std::printf("  %-48s unsupported: %s\n", name.c_str(), r.c_str());
            ++unsupported;
        }
    }
    std::printf("ONNX node tests: %d pass, %d unsupported\n", pass, unsupported);
}

} // namespace

#else
TEST(OnnxConformance, EveryNodeTestMatchesTheTable) { GTEST_SKIP() << "qjit was built without the ONNX importer (libonnx-dev)"; }
#endif
