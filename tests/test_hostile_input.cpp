// Hostile input at the builder / compile / run level (issue #6 item 4): overflowing and zero-sized
// dims, NaN/inf ranges and constants, levels out of range, absurd attributes, bad names and node
// references, cycles, deep graphs, memory beyond CompileOptions::max_memory_bytes, a code buffer
// that cannot hold a kernel. Each gives a typed qjit::Error (or, for odd but valid graphs, a model
// equal to Oracle B) and never a crash, a hang or an unbounded allocation. Importer-level cases are
// fuzz seeds (fuzz/README.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "emitters/generator.hpp"
#include "jit/ir.hpp"
#include "qjit/qjit.hpp"
#include "tests/support/chain_check.hpp"
#include "tests/support/graph_fuzz.hpp"
#include "tools/model_zoo.hpp"

using namespace qjit;

namespace {

constexpr int64_t kBig = int64_t{1} << 31;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

#define EXPECT_QJIT_ERROR(stmt, want)                                                              \
    do {                                                                                           \
        try {                                                                                      \
            stmt;                                                                                  \
            ADD_FAILURE() << #stmt << " did not throw";                                            \
        } catch (const Error& e) {                                                                 \
            EXPECT_EQ(e.code(), want) << #stmt << ": " << e.what();                                \
        }                                                                                          \
    } while (0)

NodeRef scalar(Graph& g, const std::string& name, float v) { return g.constant(name, Tensor::f32({}, {v})); }

// x -> FQ(lo, hi, L) with scalar constant ranges.
NodeRef fq(Graph& g, const std::string& name, NodeRef x, float lo, float hi, int64_t levels = 256) {
    const NodeRef l = scalar(g, name + "_lo", lo), h = scalar(g, name + "_hi", hi);
    return g.fake_quantize(name, x, l, h, l, h, levels);
}

// param [1,C,H,W] -> FQ -> Conv 3x3 (FQ'd weights `w`) -> FQ -> Result.
Graph conv_graph(int64_t C, int64_t H, int64_t W, int64_t OC, std::vector<float> w, ConvParams p = {}) {
    Graph g;
    const NodeRef x = fq(g, "fq_x", g.parameter("x", {1, C, H, W}), -1.f, 1.f);
    const NodeRef wc = g.constant("w", Tensor::f32({OC, C, 3, 3}, w));
    const NodeRef wq = fq(g, "fq_w", wc, -1.f, 1.f, 255);
    const NodeRef y = fq(g, "fq_y", g.convolution("conv", x, wq, p), -4.f, 4.f);
    g.result("y", y);
    return g;
}

std::vector<float> weights(int64_t n, float scale = 0.37f) {
    std::vector<float> v(static_cast<size_t>(n));
    for (size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(static_cast<float>(i) * 1.7f);
    return v;
}

Tensor input(const Shape& s, uint64_t seed = 3) { return Tensor::f32(s, zoo::random_input(s, seed)); }

// Compiles and runs `g`: a typed Error is fine; a model must equal Oracle B bit for bit.
void compiles_to_b_or_typed_error(const Graph& g, const std::vector<Tensor>& inputs, const char* what) {
    CompiledModel m;
    try {
        m = compile(g);
    } catch (const Error& e) {
        SUCCEED() << what << ": " << e.what();
        return;
    }
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, inputs);
    EXPECT_TRUE(r.jit_equals_b) << what << ": " << r.mismatch;
}

} // namespace

TEST(HostileInput, DimensionsWhoseProductOverflows) {
    Graph g;
    EXPECT_QJIT_ERROR(g.parameter("x", {kBig, kBig, kBig}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.parameter("x", {kMax, 2}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(Tensor(ElemType::f32, {kBig, kBig}), ErrorCode::ResourceLimit); // 2^62 * 4 bytes wraps size_t
    EXPECT_QJIT_ERROR(Tensor(ElemType::u8, {kBig, kBig, kBig}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(Tensor(ElemType::f32, {int64_t{1} << 20, int64_t{1} << 20}), ErrorCode::ResourceLimit);
    EXPECT_QJIT_ERROR(num_elements({kMax, kMax}), ErrorCode::InvalidArgument);
    // Concat whose axis length overflows, reshape whose target overflows.
    const NodeRef a = g.parameter("a", {int64_t{1} << 62}), b = g.parameter("b", {int64_t{1} << 62});
    EXPECT_QJIT_ERROR(g.concat("cat", {a, b}, 0), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.reshape("r", a, {kBig, kBig, kBig}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.reshape("r2", a, {-1, -1}), ErrorCode::InvalidArgument);
}

TEST(HostileInput, ZeroSizedAndNegativeDims) {
    Graph g;
    EXPECT_QJIT_ERROR(g.parameter("x", {1, 0, 4, 4}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.parameter("x", {1, -3, 4, 4}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.constant("c", Tensor(ElemType::f32, {0, 3})), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(Tensor(ElemType::f32, {-1}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.constant("c", Tensor()), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(Tensor::f32({2, 2}, {1.f}), ErrorCode::InvalidArgument);
}

TEST(HostileInput, NonFiniteRangesAndLevelsOutOfRange) {
    for (float bad : {kNaN, kInf, -kInf}) {
        Graph g;
        const NodeRef x = g.parameter("x", {1, 3, 4, 4});
        const NodeRef ok = scalar(g, "ok", 1.f), nb = scalar(g, "bad", bad);
        EXPECT_QJIT_ERROR(g.fake_quantize("fq1", x, nb, ok, ok, ok, 256), ErrorCode::NonFiniteRange);
        EXPECT_QJIT_ERROR(g.fake_quantize("fq2", x, ok, nb, ok, ok, 256), ErrorCode::NonFiniteRange);
        EXPECT_QJIT_ERROR(g.fake_quantize("fq3", x, ok, ok, nb, ok, 256), ErrorCode::NonFiniteRange);
        EXPECT_QJIT_ERROR(g.fake_quantize("fq4", x, ok, ok, ok, nb, 256), ErrorCode::NonFiniteRange);
    }
    Graph g;
    const NodeRef x = g.parameter("x", {1, 3, 4, 4});
    const NodeRef lo = scalar(g, "lo", -1.f), hi = scalar(g, "hi", 1.f);
    for (int64_t levels : {int64_t{0}, int64_t{1}, int64_t{257}, int64_t{-1}, int64_t{65536}, kMax,
                           std::numeric_limits<int64_t>::min()})
        EXPECT_QJIT_ERROR(g.fake_quantize("fq", x, lo, hi, lo, hi, levels), ErrorCode::InvalidLevels);
    EXPECT_QJIT_ERROR(g.clamp("c", x, kNaN, 1.f), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.clamp("c", x, 2.f, 1.f), ErrorCode::InvalidArgument);
}

// Odd but valid: NaN/inf weights and scale-shift constants, subnormal and huge ranges.
TEST(HostileInput, NonFiniteWeightsAndConstantsGiveOracleBOrAnError) {
    std::vector<float> w = weights(4 * 3 * 9);
    w[0] = kNaN;
    w[5] = kInf;
    w[7] = -kInf;
    w[11] = 1e38f;
    compiles_to_b_or_typed_error(conv_graph(3, 5, 5, 4, w), {input({1, 3, 5, 5})}, "NaN/inf weights");
    for (float c : {kNaN, kInf, 1e-45f, 3e38f, 0.f}) {
        Graph g;
        const NodeRef x = fq(g, "fq_x", g.parameter("x", {1, 3, 4, 4}), -1.f, 1.f);
        const NodeRef m = g.multiply("mul", x, g.constant("s", Tensor::f32({1, 3, 1, 1}, {c, 1.f, -c})));
        g.result("y", fq(g, "fq_y", g.add("add", m, scalar(g, "b", c)), -2.f, 2.f));
        compiles_to_b_or_typed_error(g, {input({1, 3, 4, 4})}, "NaN/inf/subnormal scale-shift");
    }
    for (auto [lo, hi] : {std::pair{-1e-40f, 1e-40f}, std::pair{-3e38f, 3e38f}, std::pair{1.f, 1.f}}) {
        Graph g;
        g.result("y", fq(g, "fq_y", fq(g, "fq_x", g.parameter("x", {1, 2, 3, 3}), lo, hi), -1.f, 1.f, 2));
        compiles_to_b_or_typed_error(g, {input({1, 2, 3, 3})}, "subnormal / huge / empty range");
    }
}

TEST(HostileInput, AbsurdAttributes) {
    Graph g;
    const NodeRef x = g.parameter("x", {1, 3, 8, 8});
    const NodeRef w = g.constant("w", Tensor::f32({4, 3, 3, 3}, weights(108)));
    for (ConvParams p : {ConvParams{{kMax, 1}, {0, 0}, {0, 0}, {1, 1}}, ConvParams{{1, 1}, {kMax, 0}, {kMax, 0}, {1, 1}},
                         ConvParams{{1, 1}, {0, 0}, {0, 0}, {kMax, 1}}, ConvParams{{0, 1}, {0, 0}, {0, 0}, {1, 1}},
                         ConvParams{{1, 1}, {-1, 0}, {0, 0}, {1, 1}}, ConvParams{{1}, {0, 0}, {0, 0}, {1, 1}},
                         ConvParams{{1, 1, 1}, {0, 0}, {0, 0}, {1, 1}}})
        EXPECT_QJIT_ERROR(g.convolution("conv", x, w, p), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.convolution("conv", x, w, ConvParams{{1, 1}, {0, 0}, {0, 0}, {1 << 23, 1}}), ErrorCode::ShapeMismatch);
    EXPECT_QJIT_ERROR(g.max_pool("p", x, {kMax, 1}, {1, 1}, {0, 0}, {0, 0}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.max_pool("p", x, {2, 2}, {1, 1}, {kMax, 0}, {kMax, 0}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.avg_pool("p", x, {2, 2}, {0, 1}, {0, 0}, {0, 0}, true), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.max_pool("p", x, {2, 2}, {1, 1}, {9, 0}, {0, 0}), ErrorCode::InvalidArgument); // empty window
    EXPECT_QJIT_ERROR(g.concat("c", {x, x}, kMax), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.concat("c", {x, x}, std::numeric_limits<int64_t>::min()), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.matmul("mm", x, w), ErrorCode::ShapeMismatch);
    // Pooling over a huge (never allocated) input is checked in closed form, then refused by compile.
    const NodeRef huge = g.parameter("huge", {1, 1, 1, int64_t{1} << 40});
    const NodeRef p = g.max_pool("p_huge", huge, {1, 3}, {1, 1}, {0, 1}, {0, 1});
    g.result("y", p);
    EXPECT_QJIT_ERROR(compile(g), ErrorCode::ResourceLimit);
}

TEST(HostileInput, BadNamesAndReferences) {
    Graph g;
    const NodeRef x = g.parameter("x", {1, 3, 4, 4});
    EXPECT_QJIT_ERROR(g.parameter("", {1}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.relu("r", NodeRef{-1}), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.relu("r", NodeRef{1 << 30}), ErrorCode::InvalidArgument);
    const NodeRef res = g.result("y", g.relu("r", x));
    EXPECT_QJIT_ERROR(g.relu("r2", res), ErrorCode::InvalidArgument);
    EXPECT_QJIT_ERROR(g.shape_of(NodeRef{99}), ErrorCode::InvalidArgument);
    Graph empty;
    empty.parameter("x", {1});
    EXPECT_QJIT_ERROR(compile(empty), ErrorCode::InvalidArgument); // no Result
    Graph moved = std::move(empty);
    EXPECT_QJIT_ERROR(empty.parameter("x", {1}), ErrorCode::InvalidArgument);
    // Duplicate names are legal (names only label errors and describe()): the model equals Oracle B.
    Graph d;
    const NodeRef a = fq(d, "same", d.parameter("same", {1, 2, 3, 3}), -1.f, 1.f);
    d.result("same", fq(d, "same_y", d.relu("same", a), 0.f, 1.f));
    compiles_to_b_or_typed_error(d, {input({1, 2, 3, 3})}, "duplicate names");
}

TEST(HostileInput, CycleIsATypedError) {
    Graph g;
    const NodeRef x = g.parameter("x", {1, 4});
    const NodeRef a = g.relu("a", x);
    const NodeRef b = g.relu("b", a);
    g.result("y", b);
    g.ir().node(a.id).inputs[0] = b.id; // only an importer bug or internal code can do this
    try {
        compile(g);
        ADD_FAILURE() << "a cycle compiled";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Internal) << e.what();
    }
}

TEST(HostileInput, DeepGraphDoesNotOverflowTheStack) {
    Graph g;
    NodeRef t = g.parameter("x", {1, 4});
    for (int i = 0; i < 20000; ++i) t = g.relu("r" + std::to_string(i), t);
    g.result("y", t);
    CompiledModel m = compile(g);
    const Tensor y = m.run({Tensor::f32({1, 4}, {-1.f, 0.5f, 2.f, -0.f})}).at(0);
    EXPECT_EQ(y.data<float>()[0], 0.f);
    EXPECT_EQ(y.data<float>()[2], 2.f);
}

TEST(HostileInput, MemoryLimitIsEnforcedBeforeAllocating) {
    // A 4 TiB activation: refused at compile, nothing allocated.
    {
        Graph g;
        g.result("y", g.relu("r", g.parameter("x", {1, 1, int64_t{1} << 20, int64_t{1} << 20})));
        EXPECT_QJIT_ERROR(compile(g), ErrorCode::ResourceLimit);
    }
    // 8 MiB of constants against a 1 MiB limit; fine under the default.
    {
        Graph g;
        const NodeRef c = g.constant("c", Tensor(ElemType::f32, {1, 2, 1024, 1024}));
        g.result("y", g.add("add", g.parameter("x", {1, 2, 1024, 1024}), c));
        CompileOptions o;
        o.max_memory_bytes = size_t{1} << 20;
        EXPECT_QJIT_ERROR(compile(g, o), ErrorCode::ResourceLimit);
        EXPECT_NO_THROW(compile(g));
    }
    // The workspace (u8 layouts with halos) beyond the limit although every tensor fits.
    {
        std::vector<float> w = weights(16 * 16 * 9);
        Graph g = conv_graph(16, 64, 64, 16, w, ConvParams{{1, 1}, {1, 1}, {1, 1}, {1, 1}});
        CompileOptions o;
        o.max_memory_bytes = 300 * 1024; // each f32 tensor is 256 KiB; all buffers together are more
        EXPECT_QJIT_ERROR(compile(g, o), ErrorCode::ResourceLimit);
        o.max_memory_bytes = size_t{64} << 20;
        CompiledModel m = compile(g, o);
        EXPECT_TRUE(tsupport::check_against_oracles(g, m, {input({1, 16, 64, 64})}).jit_equals_b);
    }
}

TEST(HostileInput, BadRunInputs) {
    std::vector<float> w = weights(4 * 3 * 9);
    Graph g = conv_graph(3, 5, 5, 4, w);
    CompiledModel m = compile(g);
    EXPECT_QJIT_ERROR(m.run({}), ErrorCode::BadInput);
    EXPECT_QJIT_ERROR(m.run({input({1, 3, 5, 5}), input({1, 3, 5, 5})}), ErrorCode::BadInput);
    EXPECT_QJIT_ERROR(m.run({input({1, 3, 5, 6})}), ErrorCode::BadInput);
    EXPECT_QJIT_ERROR(m.run({Tensor(ElemType::u8, {1, 3, 5, 5})}), ErrorCode::BadInput);
    EXPECT_QJIT_ERROR(m.run({Tensor()}), ErrorCode::BadInput);
    CompiledModel empty;
    EXPECT_QJIT_ERROR(empty.run({}), ErrorCode::InvalidArgument);
    // NaN, inf and huge inputs are data, not errors: the model equals Oracle B.
    Tensor x = input({1, 3, 5, 5});
    x.data<float>()[0] = kNaN;
    x.data<float>()[1] = kInf;
    x.data<float>()[2] = -kInf;
    x.data<float>()[3] = 3e38f;
    EXPECT_TRUE(tsupport::check_against_oracles(g, m, {x}).jit_equals_b);
}

TEST(HostileInput, CodeBufferExhaustedIsJitFailure) {
    const size_t saved = max_kernel_bytes();
    set_max_kernel_bytes(size_t{1} << 20);
    struct Restore {
        size_t v;
        ~Restore() { set_max_kernel_bytes(v); }
    } restore{saved};
    try {
        build_kernel("endless", 4096, [](Generator& gen) {
            for (;;) gen.nop(); // never fits: the buffer grows up to its cap, then Xbyak refuses
        });
        ADD_FAILURE() << "an endless kernel was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::JitFailure) << e.what();
        EXPECT_EQ(e.node(), "endless");
    }
}

// Inputs the libFuzzer targets found (fuzz/README.md); each must keep passing. Under build-asan the
// old behaviour aborted (UBSan); here the graph must compile and equal Oracle B.
TEST(HostileInput, FuzzFindingsStayFixed) {
    struct Finding {
        uint64_t seed;
        int blocks, max_hw, flags;
        const char* what;
    };
    const Finding findings[] = {
        // graph_fuzzer, 2026-11-27: NaN reached the Oracle A eltwise check's NaN -> int64 conversion.
        {7307485594164320268ull, 5, 12, 4, "NaN in the Oracle A eltwise check (UBSan)"},
    };
    for (const Finding& f : findings) {
        rgraph::GenOptions opt;
        opt.max_blocks = f.blocks;
        opt.max_hw = f.max_hw;
        opt.edge_inputs = (f.flags & 1) == 0;
        opt.allow_nan_inputs = (f.flags & 2) == 0;
        opt.allow_nonconstant_ranges = (f.flags & 4) == 0;
        const tsupport::GraphVerdict v = tsupport::check_random_graph(rgraph::build_random_graph(f.seed, opt));
        EXPECT_TRUE(v.kind != tsupport::GraphVerdict::failed || v.why.rfind("outside spec 4.6", 0) == 0)
            << f.what << " (seed " << f.seed << "): " << v.why;
    }
}
