// End to end with grouped convolutions and pooling, built in C++ with the public builder:
//  * a MobileNetV2-style block: FQ -> Conv1x1 expand (+bias, ReLU6) -> FQ -> depthwise 3x3
//    GroupConvolution (+bias, ReLU6) -> FQ -> Conv1x1 project (+bias) -> FQ -> Result;
//  * a pooling chain: FQ -> MaxPool -> Conv3x3 (+bias, ReLU) -> FQ -> AvgPool -> FQ -> depthwise 3x3
//    (channel multiplier 1 or 2) -> FQ -> global AvgPool -> FQ -> Reshape -> MatMul -> Result.
// Over random configurations each must compile to JIT kernels only (describe() lists no fallback),
// equal Oracle B bit for bit, and keep every QConv / QAvgPool / MaxPool layer within spec §4.6 of
// Oracle A. Reproduce one configuration: QJIT_BLOCK_SEED=<seed> ./test_mobilenet_block
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "qjit/qjit.hpp"
#include "tests/support/block_building.hpp"
#include "tests/support/chain_check.hpp"
#include "tools/model_zoo.hpp"

namespace qjit {
namespace {

using tsupport::bias;
using tsupport::fq;
using tsupport::fq_pc;
using tsupport::normal;
using tsupport::Rng;
using tsupport::scalar;
using tsupport::weights;

struct BlockConfig {
    int64_t n = 1, c = 8, h = 10, w = 10, t = 4, c_out = 12, stride = 1, dilation = 1;
    int levels_act = 256, levels_w = 255;
    bool asym = false, per_channel_expand = true;
    uint64_t seed = 1;
    std::string str() const {
        return "n=" + std::to_string(n) + " c=" + std::to_string(c) + " h=" + std::to_string(h) + " w=" +
               std::to_string(w) + " t=" + std::to_string(t) + " c_out=" + std::to_string(c_out) + " stride=" +
               std::to_string(stride) + " dil=" + std::to_string(dilation) + " L=" + std::to_string(levels_act) + "/" +
               std::to_string(levels_w) + " asym=" + std::to_string(asym) + " pc_expand=" +
               std::to_string(per_channel_expand) + " seed=" + std::to_string(seed);
    }
};

BlockConfig random_block(uint64_t seed) {
    Rng r(seed);
    auto pick = [&](std::initializer_list<int64_t> v) { return *(v.begin() + r() % v.size()); };
    BlockConfig c;
    c.n = pick({1, 1, 2});
    c.c = pick({3, 8, 16, 17, 24});
    c.h = pick({1, 4, 7, 10, 14});
    c.w = pick({1, 3, 7, 10, 15});
    c.t = pick({1, 2, 4, 6});
    c.c_out = pick({5, 8, 16, 24, 33});
    c.stride = pick({1, 2});
    c.dilation = pick({1, 1, 2});
    c.levels_act = static_cast<int>(pick({256, 256, 255, 16}));
    c.levels_w = static_cast<int>(pick({255, 256, 16}));
    c.asym = r() % 4 == 0;
    c.per_channel_expand = r() % 2 == 0;
    c.seed = seed;
    return c;
}

Graph build_block(const BlockConfig& cfg) {
    Rng r(cfg.seed);
    Graph g;
    const int64_t ce = cfg.c * cfg.t;
    const NodeRef x = g.parameter("input", {cfg.n, cfg.c, cfg.h, cfg.w});
    const NodeRef q0 = fq(g, "fq_input", x, -1.0f, 1.0f, cfg.levels_act);
    // Expand 1x1 + bias + ReLU6, then a FakeQuantize whose scale differs per channel: the depthwise
    // conv takes per-channel activation scales (spec §3 GroupConv row).
    const NodeRef e = g.clamp("expand_relu6",
                              bias(g, "expand_bias", g.convolution("expand", q0, weights(g, "expand_w", {ce, cfg.c, 1, 1}, cfg.levels_w, cfg.asym, r)), ce, r),
                              0.0f, 6.0f);
    NodeRef qe;
    if (cfg.per_channel_expand) {
        std::vector<float> lo(static_cast<size_t>(ce), 0.0f), hi(static_cast<size_t>(ce));
        for (int64_t i = 0; i < ce; ++i) hi[static_cast<size_t>(i)] = 2.0f + 0.25f * static_cast<float>(i % 17);
        qe = fq_pc(g, "fq_expand", e, lo, hi, cfg.levels_act);
    } else {
        qe = fq(g, "fq_expand", e, 0.0f, 6.0f, cfg.levels_act);
    }
    ConvParams p;
    p.strides = {cfg.stride, cfg.stride};
    p.pads_begin = p.pads_end = {cfg.dilation, cfg.dilation};
    p.dilations = {cfg.dilation, cfg.dilation};
    const NodeRef d = g.clamp(
        "dw_relu6", bias(g, "dw_bias", g.group_convolution("dw", qe, weights(g, "dw_w", {ce, 1, 1, 3, 3}, cfg.levels_w, cfg.asym, r), p), ce, r),
        0.0f, 6.0f);
    // Equal widths, different offsets per channel: one scale for the project conv's reduction.
    std::vector<float> lo(static_cast<size_t>(ce)), hi(static_cast<size_t>(ce));
    for (int64_t i = 0; i < ce; ++i) {
        lo[static_cast<size_t>(i)] = -static_cast<float>(r() % 9) / 32.0f;
        hi[static_cast<size_t>(i)] = lo[static_cast<size_t>(i)] + 6.0f;
    }
    const NodeRef qd = fq_pc(g, "fq_dw", d, lo, hi, cfg.levels_act);
    const NodeRef pr = bias(g, "project_bias", g.convolution("project", qd, weights(g, "project_w", {cfg.c_out, ce, 1, 1}, cfg.levels_w, cfg.asym, r)), cfg.c_out, r);
    g.result("y", fq(g, "fq_project", pr, -4.0f, 4.0f, cfg.levels_act));
    return g;
}

struct PoolChainConfig {
    int64_t n = 1, c = 3, h = 16, w = 16, c1 = 16, mult = 1, classes = 10;
    bool ceil_max = false, ceil_avg = false, exclude_pad = true;
    int levels = 256;
    uint64_t seed = 1;
    std::string str() const {
        return "n=" + std::to_string(n) + " c=" + std::to_string(c) + " h=" + std::to_string(h) + " w=" +
               std::to_string(w) + " c1=" + std::to_string(c1) + " mult=" + std::to_string(mult) + " classes=" +
               std::to_string(classes) + " ceil=" + std::to_string(ceil_max) + "/" + std::to_string(ceil_avg) +
               " excl=" + std::to_string(exclude_pad) + " L=" + std::to_string(levels) + " seed=" + std::to_string(seed);
    }
};

PoolChainConfig random_pool_chain(uint64_t seed) {
    Rng r(seed);
    auto pick = [&](std::initializer_list<int64_t> v) { return *(v.begin() + r() % v.size()); };
    PoolChainConfig c;
    c.n = pick({1, 2});
    c.c = pick({1, 3, 4, 17});
    c.h = pick({6, 9, 12, 16});
    c.w = pick({6, 8, 13, 16});
    c.c1 = pick({5, 8, 16, 24, 33});
    c.mult = pick({1, 1, 2});
    c.classes = pick({3, 10, 17});
    c.ceil_max = r() % 2;
    c.ceil_avg = r() % 2;
    c.exclude_pad = r() % 2;
    c.levels = static_cast<int>(pick({256, 255, 16}));
    c.seed = seed;
    return c;
}

Graph build_pool_chain(const PoolChainConfig& cfg) {
    Rng r(cfg.seed);
    Graph g;
    const RoundingType cm = cfg.ceil_max ? RoundingType::ceil : RoundingType::floor;
    const RoundingType ca = cfg.ceil_avg ? RoundingType::ceil : RoundingType::floor;
    const NodeRef x = g.parameter("input", {cfg.n, cfg.c, cfg.h, cfg.w});
    const NodeRef q0 = fq(g, "fq_input", x, -1.0f, 1.0f, cfg.levels);
    const NodeRef mp = g.max_pool("maxpool", q0, {3, 3}, {2, 2}, {1, 1}, {1, 1}, cm);
    ConvParams p;
    p.pads_begin = p.pads_end = {1, 1};
    const NodeRef c1 = g.relu("conv1_relu", bias(g, "conv1_bias", g.convolution("conv1", mp, weights(g, "conv1_w", {cfg.c1, cfg.c, 3, 3}, 255, false, r), p), cfg.c1, r));
    const NodeRef q1 = fq(g, "fq_conv1", c1, 0.0f, 3.0f, cfg.levels);
    const NodeRef ap = g.avg_pool("avgpool", q1, {3, 3}, {2, 2}, {1, 1}, {0, 0}, cfg.exclude_pad, ca);
    const NodeRef q2 = fq(g, "fq_avgpool", ap, 0.0f, 2.0f, cfg.levels);
    const int64_t c2 = cfg.c1 * cfg.mult;
    const NodeRef dw = g.group_convolution("dw", q2, weights(g, "dw_w", {cfg.c1, cfg.mult, 1, 3, 3}, 255, false, r), p);
    const NodeRef q3 = fq(g, "fq_dw", bias(g, "dw_bias", dw, c2, r), -2.0f, 2.0f, cfg.levels);
    const Shape s3 = g.shape_of(q3);
    const NodeRef gap = g.avg_pool("gap", q3, {s3[2], s3[3]}, {1, 1}, {0, 0}, {0, 0}, true);
    const NodeRef q4 = fq(g, "fq_gap", gap, -1.0f, 1.0f, cfg.levels);
    const NodeRef flat = g.reshape("flatten", q4, {cfg.n, c2});
    const NodeRef fc = g.matmul("fc", flat, weights(g, "fc_w", {cfg.classes, c2}, 255, false, r), false, true);
    g.result("logits", fc);
    return g;
}

int configs_to_run(int fallback) {
    const char* e = std::getenv("QJIT_BLOCK_CONFIGS");
    return e ? std::atoi(e) : fallback;
}

struct Totals {
    int64_t outputs = 0, flips = 0;
};

template <class Cfg>
void check(const Graph& g, const Cfg& cfg, int threads, Totals* t) {
    SCOPED_TRACE("reproduce: QJIT_BLOCK_SEED=" + std::to_string(cfg.seed) + "  " + cfg.str());
    CompileOptions opt;
    opt.threads = threads;
    CompiledModel m = compile(g, opt);
    const Shape in_shape{cfg.n, cfg.c, cfg.h, cfg.w};
    const std::vector<Tensor> inputs{Tensor::f32(in_shape, zoo::random_input(in_shape, cfg.seed ^ 0xb10c, -1.2f, 1.2f))};
    const tsupport::OracleAgreement r = tsupport::check_against_oracles(g, m, inputs);
    EXPECT_TRUE(r.all_jit) << "non-JIT step: " << r.fallback << "\n" << m.describe();
    EXPECT_EQ(m.describe().find("fallback nodes"), std::string::npos) << m.describe();
    EXPECT_TRUE(r.jit_equals_b) << r.mismatch;
    EXPECT_EQ(r.violations, 0) << r.first_violation;
    EXPECT_GT(r.layer_outputs, 0);
    t->outputs += r.layer_outputs;
    t->flips += r.flips;
}

TEST(MobileNetBlock, RandomConfigurationsAreJitOnlyAndMatchBothOracles) {
    if (const char* s = std::getenv("QJIT_BLOCK_SEED")) {
        Totals t;
        const uint64_t seed = std::strtoull(s, nullptr, 10);
        check(build_block(random_block(seed)), random_block(seed), 1, &t);
        check(build_pool_chain(random_pool_chain(seed)), random_pool_chain(seed), 1, &t);
        return;
    }
    Rng rng(20261203);
    Totals t;
    const int n = configs_to_run(150);
    int done = 0;
    for (; done < n && !HasFailure(); ++done) {
        const BlockConfig cfg = random_block(rng());
        check(build_block(cfg), cfg, 1 + done % 2, &t);
    }
    std::printf("[mobilenet block] %d random configurations: JIT only, == B bit for bit; %lld layer outputs within "
                "spec 4.6 of A (%lld one-level flips)\n",
                done, static_cast<long long>(t.outputs), static_cast<long long>(t.flips));
}

TEST(MobileNetBlock, KernelsAreTheGroupedAndPoolingEmitters) {
    BlockConfig cfg;
    CompiledModel m = compile(build_block(cfg));
    bool dw = false;
    for (const KernelInfo& k : m.kernels()) {
        EXPECT_TRUE(k.jit) << k.name;
        if (k.name.rfind("dwconv_u8s8_u8_k3x3s1", 0) == 0) {
            dw = true;
            EXPECT_EQ(k.fused_nodes, "dw+dw_bias+dw_relu6+fq_dw");
        }
    }
    EXPECT_TRUE(dw) << m.describe();
    PoolChainConfig pc;
    pc.mult = 2;
    CompiledModel mp = compile(build_pool_chain(pc));
    int pools = 0;
    for (const KernelInfo& k : mp.kernels()) {
        EXPECT_TRUE(k.jit) << k.name;
        pools += k.name.rfind("maxpool_", 0) == 0 || k.name.rfind("avgpool_", 0) == 0;
    }
    EXPECT_EQ(pools, 3) << mp.describe();
}

TEST(PoolChain, RandomConfigurationsAreJitOnlyAndMatchBothOracles) {
    Rng rng(20261204);
    Totals t;
    const int n = configs_to_run(150);
    int done = 0;
    for (; done < n && !HasFailure(); ++done) {
        const PoolChainConfig cfg = random_pool_chain(rng());
        check(build_pool_chain(cfg), cfg, 1 + done % 2, &t);
    }
    std::printf("[pool chain] %d random configurations: JIT only, == B bit for bit; %lld layer outputs within "
                "spec 4.6 of A (%lld one-level flips)\n",
                done, static_cast<long long>(t.outputs), static_cast<long long>(t.flips));
}

TEST(PoolChain, OutputBytesDoNotDependOnThreadCount) {
    PoolChainConfig cfg;
    cfg.n = 2, cfg.h = 19, cfg.w = 23, cfg.c1 = 33, cfg.mult = 2;
    const Graph g = build_pool_chain(cfg);
    BlockConfig bc;
    bc.n = 2, bc.h = 13, bc.w = 11, bc.c = 17;
    const Graph gb = build_block(bc);
    for (const auto& [graph, shape] : {std::pair<const Graph*, Shape>{&g, {cfg.n, cfg.c, cfg.h, cfg.w}},
                                       {&gb, {bc.n, bc.c, bc.h, bc.w}}}) {
        const std::vector<Tensor> inputs{Tensor::f32(shape, zoo::random_input(shape, 5))};
        Tensor first;
        for (int threads : {1, 2, 3, 7}) {
            CompiledModel m = compile(*graph, {.threads = threads});
            const Tensor y = m.run(inputs).at(0);
            if (first.empty()) first = y;
            std::string why;
            EXPECT_TRUE(tsupport::same_bytes(first, y, &why)) << "threads=" << threads << ": " << why;
        }
    }
}

} // namespace
} // namespace qjit
