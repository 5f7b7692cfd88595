// ISA dispatch of the whole pipeline: the scheduler's op -> emitter table picks, per node, the
// highest-level rule the target includes; QJIT_MAX_ISA and CompileOptions::max_isa cap it;
// allow_unsupported_isa generates for a level the host lacks (and run() then refuses); describe()
// names the ISA of every kernel. Models that run are checked against Oracle B at tolerance 0. Two
// models: the conv chain (conv / FC / quantize) and a window graph with depthwise and grouped conv,
// MaxPool, AvgPool, an eltwise Add and a u8 Concat, whose kernels are per level too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>

#include "isa/isa.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tools/model_zoo.hpp"

using namespace qjit;

namespace {

class EnvCap {
public:
    explicit EnvCap(const char* v) {
        const char* old = std::getenv("QJIT_MAX_ISA");
        had_ = old != nullptr;
        if (had_) old_ = old;
        if (v) setenv("QJIT_MAX_ISA", v, 1);
        else unsetenv("QJIT_MAX_ISA");
    }
    ~EnvCap() {
        if (had_) setenv("QJIT_MAX_ISA", old_.c_str(), 1);
        else unsetenv("QJIT_MAX_ISA");
    }

private:
    bool had_ = false;
    std::string old_;
};

std::string suffix(const std::string& name) {
    const size_t at = name.rfind("__");
    if (at == std::string::npos) return "";
    const size_t end = name.find(' ', at);
    return name.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
}

// The level each kernel family gets for target `t`: dense conv the target itself, Quantize /
// Dequantize its vector level.
Isa expected_for(const std::string& name, Isa t) {
    if (name.rfind("quantize", 0) == 0 || name.rfind("dequantize", 0) == 0)
        return isa_includes(t, Isa::avx512_core) ? Isa::avx512_core : Isa::avx2;
    return t;
}

zoo::ChainConfig chain() {
    zoo::ChainConfig cfg;
    cfg.h = 9, cfg.w = 11, cfg.c1 = 20, cfg.c2 = 33, cfg.classes = 7;
    cfg.asym_weights = true;
    return cfg;
}

NodeRef cst(Graph& g, const std::string& name, Shape shape, const std::vector<float>& v) {
    return g.constant(name, Tensor::f32(std::move(shape), v));
}
NodeRef fq(Graph& g, const std::string& name, NodeRef x, float lo, float hi, int64_t L = 256) {
    const NodeRef l = cst(g, name + ".lo", {}, {lo}), h = cst(g, name + ".hi", {}, {hi});
    return g.fake_quantize(name, x, l, h, l, h, L);
}
// Grouped weights [G, O/G, I/G, K, K], per-output-channel symmetric FakeQuantize.
NodeRef group_weights(Graph& g, const std::string& name, int64_t G, int64_t opg, int64_t ipg, int64_t K, uint64_t seed) {
    std::mt19937_64 r(seed);
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    std::vector<float> w(static_cast<size_t>(G * opg * ipg * K * K)), lo, hi;
    for (float& x : w) x = u(r);
    const int64_t per = ipg * K * K;
    for (int64_t o = 0; o < G * opg; ++o) {
        float m = 1e-3f;
        for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(o * per + i)]));
        lo.push_back(-m);
        hi.push_back(m);
    }
    const NodeRef l = cst(g, name + "_fq.lo", {G, opg, 1, 1, 1}, lo), h = cst(g, name + "_fq.hi", {G, opg, 1, 1, 1}, hi);
    return g.fake_quantize(name + "_fq", cst(g, name, {G, opg, ipg, K, K}, w), l, h, l, h, 255);
}

// x -> FQ -> depthwise 3x3 (20 channels: a 16-lane tail) -> FQ -> MaxPool 3x3/2 and AvgPool 3x3/2
// -> Add -> FQ; x -> FQ -> grouped conv (4 groups of 5 -> 3 channels) -> FQ -> MaxPool; Concat of
// the two along channels.
Graph window_graph() {
    Graph g;
    const NodeRef x = g.parameter("x", {1, 20, 9, 11});
    const NodeRef q = fq(g, "fq_x", x, -1.0f, 1.0f);
    ConvParams p;
    p.pads_begin = {1, 1}, p.pads_end = {1, 1};
    const NodeRef dw = fq(g, "fq_dw", g.group_convolution("dw", q, group_weights(g, "dw_w", 20, 1, 1, 3, 3), p), -1.5f, 1.5f);
    const NodeRef mp = g.max_pool("mp", dw, {3, 3}, {2, 2}, {1, 1}, {1, 1});
    const NodeRef ap = fq(g, "fq_ap", g.avg_pool("ap", dw, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true), -1.0f, 1.0f);
    const NodeRef sum = fq(g, "fq_sum", g.add("add", mp, ap), -2.0f, 2.0f);
    const NodeRef gc = fq(g, "fq_gc", g.group_convolution("gc", q, group_weights(g, "gc_w", 4, 3, 5, 3, 4), p), -3.0f, 3.0f);
    const NodeRef gp = g.max_pool("gp", gc, {3, 3}, {2, 2}, {1, 1}, {1, 1});
    g.result("y", g.concat("cat", {sum, gp}, 1));
    return g;
}

struct Model {
    std::function<Graph()> build;
    Shape input;
    std::vector<std::string> families; // kernel-name prefixes the schedule must contain
};

Model chain_model() {
    const zoo::ChainConfig cfg = chain();
    return {[cfg] { return zoo::build_chain(cfg); }, Shape{cfg.n, cfg.c, cfg.h, cfg.w}, {"conv", "fc"}};
}
Model window_model() {
    return {window_graph, Shape{1, 20, 9, 11}, {"dwconv", "gconv", "maxpool", "avgpool", "eltwise_add", "concat_copy"}};
}

// Compiles the model for `target` and checks every kernel's level, describe() and (if the host runs
// it) JIT == Oracle B.
void check_target(Isa requested, Isa want, bool allow_unsupported, const Model& model = chain_model()) {
    SCOPED_TRACE(std::string("requested ") + to_string(requested) + ", expected " + to_string(want));
    const Graph g = model.build();
    CompileOptions opt;
    opt.max_isa = requested;
    opt.allow_unsupported_isa = allow_unsupported;
    CompiledModel m = compile(g, opt);
    EXPECT_EQ(m.isa(), want);
    const std::string text = m.describe();
    std::vector<int> seen(model.families.size(), 0);
    for (const KernelInfo& k : m.kernels()) {
        EXPECT_TRUE(k.jit) << k.name << " is not a JIT kernel\n" << text;
        if (!k.jit) continue;
        EXPECT_EQ(suffix(k.name), to_string(expected_for(k.name, want))) << k.name;
        EXPECT_NE(text.find(std::string("isa=") + suffix(k.name)), std::string::npos) << text;
        for (size_t f = 0; f < model.families.size(); ++f) seen[f] += k.name.rfind(model.families[f], 0) == 0;
    }
    for (size_t f = 0; f < model.families.size(); ++f)
        EXPECT_GE(seen[f], 1) << "no " << model.families[f] << " kernel in\n" << text;
    const std::vector<Tensor> inputs{Tensor::f32(model.input, zoo::random_input(model.input, 5))};
    if (!isa_supported(want)) {
        EXPECT_THROW(m.run(inputs), Error) << "run() of code the host cannot execute";
        return;
    }
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, inputs);
    EXPECT_TRUE(r.all_jit) << r.fallback;
    EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
    EXPECT_EQ(r.violations, 0) << r.first_violation;
}

TEST(IsaDispatch, MaxIsaAvx2UsesOnlyAvx2Kernels) {
    EnvCap cap("avx2");
    for (const Model& model : {chain_model(), window_model()}) {
        check_target(Isa::native, Isa::avx2, false, model);
        check_target(Isa::avx512_core_vnni, Isa::avx2, true, model); // the cap holds for generation too
    }
}

// Depthwise / grouped conv, MaxPool, AvgPool, eltwise and Concat get the kernel of every level.
TEST(IsaDispatch, WindowAndEltwiseKernelsAtEveryLevel) {
    EnvCap cap(nullptr);
    for (Isa isa : all_isas()) check_target(isa, isa, true, window_model());
    check_target(Isa::native, max_isa_supported(), false, window_model());
}

TEST(IsaDispatch, EveryLevelTheHostRuns) {
    EnvCap cap(nullptr);
    for (Isa isa : all_isas()) {
        if (!isa_supported(isa)) {
            std::printf("[dispatch] host lacks %s: checked by generation only\n", to_string(isa));
            continue;
        }
        check_target(isa, isa, false);
    }
    check_target(Isa::native, max_isa_supported(), false);
}

TEST(IsaDispatch, GenerationForLevelsTheHostLacks) {
    EnvCap cap(nullptr);
    for (Isa isa : all_isas()) check_target(isa, isa, true);
}

TEST(IsaDispatch, EnvironmentCapMeetsTheRequest) {
    {
        EnvCap cap("avx2_vnni");
        check_target(Isa::avx512_core_vnni, Isa::avx2, true); // incomparable levels meet at avx2
        check_target(Isa::avx2_vnni, Isa::avx2_vnni, true);
    }
    {
        EnvCap cap("avx512_core");
        check_target(Isa::avx512_core_vnni, Isa::avx512_core, true);
    }
}

} // namespace
