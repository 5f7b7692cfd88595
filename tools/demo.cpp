// qjit demo: builds a quantized model in code, compiles it, runs it, and prints the schedule, the
// output checksum, the agreement with both oracles and the time per inference.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "jit/ir.hpp"
#include "jit/passes/pass_manager.hpp"
#include "qjit/qjit.hpp"
#include "runtime/oracle_a.hpp"
#include "runtime/oracle_b.hpp"
#include "runtime/oracle_check.hpp"
#include "tools/model_zoo.hpp"
#include "tools/ov_writer.hpp"

using namespace qjit;

static uint64_t fnv1a(const void* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
    return h;
}

int main(int argc, char** argv) {
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    int runs = 200;
    // The model is also written as OpenVINO IR (XML + bin) for `qjit run`; default: next to this binary.
    std::string model_out = argv[0];
    model_out = (model_out.rfind('/') == std::string::npos ? std::string(".") : model_out.substr(0, model_out.rfind('/'))) +
                "/demo_model.xml";
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--model-out") && i + 1 < argc) model_out = argv[++i];
    }
    try {
        zoo::ChainConfig cfg;
        cfg.n = 1; cfg.c = 3; cfg.h = 32; cfg.w = 32;
        cfg.c1 = 32; cfg.c2 = 64; cfg.classes = 10;
        cfg.seed = 2026;
        const Graph graph = zoo::build_chain(cfg);
        std::printf("model: Parameter -> FQ -> Conv3x3 (per-channel FQ weights, bias) -> Relu -> FQ -> Conv1x1 -> FQ"
                    " -> Reshape -> MatMul -> Result\n       %s\n", cfg.str().c_str());
        tools::write_openvino_ir(graph, model_out, "qjit_demo");
        std::printf("       written as OpenVINO IR: %s (+ .bin); run it with: qjit run %s\n", model_out.c_str(),
                    model_out.c_str());

        const auto t0 = std::chrono::steady_clock::now();
        CompileOptions opt;
        opt.threads = threads;
        CompiledModel model = compile(graph, opt);
        const double compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%s", model.describe().c_str());
        std::printf("compile time: %.2f ms\n", compile_ms);

        const Shape in_shape{cfg.n, cfg.c, cfg.h, cfg.w};
        const std::vector<Tensor> inputs{Tensor::f32(in_shape, zoo::random_input(in_shape, 7))};
        const std::vector<Tensor> out = model.run(inputs);
        const Tensor& y = out.at(0);
        std::printf("output %s checksum fnv1a=%016llx sum=%.6f\n", to_string(y.shape()).c_str(),
                    static_cast<unsigned long long>(fnv1a(y.raw(), y.bytes())), [&] {
                        double s = 0;
                        for (int64_t i = 0; i < y.numel(); ++i) s += y.data<float>()[i];
                        return s;
                    }());

        // Oracle B: the lowered graph interpreted with exact integer sums.
        ir::Graph lowered = graph.ir();
        lower(lowered);
        const std::vector<Tensor> vb = oracle::run_oracle_b(lowered, inputs);
        const Tensor& yb = vb.at(static_cast<size_t>(lowered.results().at(0)));
        const bool exact = yb.bytes() == y.bytes() && std::memcmp(yb.raw(), y.raw(), y.bytes()) == 0;
        std::printf("oracle B (integer graph): %s\n", exact ? "bit-exact match" : "MISMATCH");

        // Oracle A: the FakeQuantize graph in fp32; per layer with teacher forcing (spec §4.6).
        const std::vector<Tensor> ya = oracle::oracle_a_outputs(graph.ir(), inputs);
        double max_diff = 0;
        for (int64_t i = 0; i < y.numel(); ++i)
            max_diff = std::max(max_diff, static_cast<double>(std::fabs(ya[0].data<float>()[i] - y.data<float>()[i])));
        int64_t violations = 0, flips = 0, outputs = 0;
        for (int id : lowered.topo_order()) {
            const ir::Node& n = lowered.node(id);
            if (n.op != ir::Op::QConv) continue;
            const oracle::LayerCheck c =
                oracle::check_qconv_against_a(*n.qconv, vb[static_cast<size_t>(n.inputs[0])], vb[static_cast<size_t>(id)]);
            violations += c.violations;
            flips += c.flips;
            outputs += c.outputs;
        }
        std::printf("oracle A (float FQ graph): per-layer spec 4.6 check %s (%lld outputs, %lld one-level flips, "
                    "%lld violations); end-to-end max |logit diff| = %.3g\n",
                    violations == 0 ? "PASS" : "FAIL", static_cast<long long>(outputs), static_cast<long long>(flips),
                    static_cast<long long>(violations), max_diff);

        std::vector<double> times;
        for (int i = 0; i < runs; ++i) {
            const auto a = std::chrono::steady_clock::now();
            model.run(inputs);
            times.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count());
        }
        std::sort(times.begin(), times.end());
        std::printf("time per inference (%d threads, %d runs): median %.1f us, p90 %.1f us\n", threads, runs,
                    times[times.size() / 2], times[times.size() * 9 / 10]);
        return exact && violations == 0 ? 0 : 1;
    } catch (const Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
}
