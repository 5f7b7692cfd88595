#include "tools/model_zoo_mobilenet.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

namespace qjit::zoo {
namespace {

class MobileNetBuilder {
public:
    explicit MobileNetBuilder(uint64_t seed) : rng_(seed) {}
    Graph g;
    int layers = 0;
    int64_t macs = 0;

    NodeRef scalar(const std::string& name, float v) { return g.constant(name, Tensor::f32({}, {v})); }

    NodeRef fq(const std::string& name, NodeRef x, float lo, float hi) {
        const NodeRef l = scalar(name + "_lo", lo), h = scalar(name + "_hi", hi);
        return g.fake_quantize(name, x, l, h, l, h, 256);
    }

    // Weights ~ N(0, 2/fan_in) (He), FakeQuantize'd per output channel (the product of the leading
    // `oc_axes` dimensions), symmetric 255 levels.
    NodeRef weights(const std::string& name, const Shape& shape, size_t oc_axes) {
        int64_t oc = 1, fan_in = 1;
        for (size_t i = 0; i < shape.size(); ++i) (i < oc_axes ? oc : fan_in) *= shape[i];
        std::normal_distribution<float> nd(0.0f, std::sqrt(2.0f / static_cast<float>(fan_in)));
        std::vector<float> w(static_cast<size_t>(oc * fan_in));
        for (float& x : w) x = nd(rng_);
        std::vector<float> lo(static_cast<size_t>(oc)), hi(static_cast<size_t>(oc));
        for (int64_t o = 0; o < oc; ++o) {
            float m = 1e-4f;
            for (int64_t i = 0; i < fan_in; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(o * fan_in + i)]));
            lo[static_cast<size_t>(o)] = -m;
            hi[static_cast<size_t>(o)] = m;
        }
        Shape range(shape.size(), 1);
        for (size_t i = 0; i < oc_axes; ++i) range[i] = shape[i];
        const NodeRef wc = g.constant(name, Tensor::f32(shape, w));
        const NodeRef l = g.constant(name + "_lo", Tensor::f32(range, lo));
        const NodeRef h = g.constant(name + "_hi", Tensor::f32(range, hi));
        return g.fake_quantize(name + "_fq", wc, l, h, l, h, 255);
    }

    NodeRef bias(const std::string& name, NodeRef x, int64_t oc) {
        std::normal_distribution<float> bd(0.0f, 0.1f);
        std::vector<float> b(static_cast<size_t>(oc));
        for (float& v : b) v = bd(rng_);
        return g.add(name + "_bias", x, g.constant(name + "_b", Tensor::f32({1, oc, 1, 1}, b)));
    }

    // Conv k x k (groups = 1, or depthwise when `depthwise`) + bias, then ReLU6 and FQ [0, 6]
    // (`relu6`) or the linear FQ [-8, 8] of a projection.
    NodeRef conv(const std::string& name, NodeRef x, int64_t oc, int64_t k, int64_t stride, bool depthwise,
                 bool relu6) {
        const Shape in = g.shape_of(x);
        ConvParams p;
        p.strides = {stride, stride};
        p.pads_begin = p.pads_end = {k / 2, k / 2};
        NodeRef c = depthwise ? g.group_convolution(name, x, weights(name + "_w", {in[1], 1, 1, k, k}, 2), p)
                              : g.convolution(name, x, weights(name + "_w", {oc, in[1], k, k}, 1), p);
        const Shape out = g.shape_of(c);
        macs += out[0] * out[1] * out[2] * out[3] * (depthwise ? 1 : in[1]) * k * k;
        ++layers;
        c = bias(name, c, out[1]);
        if (!relu6) return fq(name + "_fq", c, -8.0f, 8.0f);
        return fq(name + "_fq", g.clamp(name + "_relu6", c, 0.0f, 6.0f), 0.0f, 6.0f);
    }

    NodeRef inverted_residual(const std::string& name, NodeRef x, int64_t expansion, int64_t oc, int64_t stride) {
        const int64_t c = g.shape_of(x)[1];
        NodeRef y = x;
        if (expansion != 1) y = conv(name + "expand", y, c * expansion, 1, 1, false, true);
        y = conv(name + "dw", y, 0, 3, stride, true, true);
        y = conv(name + "project", y, oc, 1, 1, false, false);
        if (stride != 1 || c != oc) return y;
        ++adds;
        return fq(name + "add_fq", g.add(name + "add", x, y), -12.0f, 12.0f);
    }

    int adds = 0;

private:
    std::mt19937_64 rng_;
};

} // namespace

std::string MobileNetV2Config::str() const {
    std::ostringstream os;
    os << "n=" << n << " c=" << c << " hw=" << hw << " stem " << stem_channels << " stages";
    for (size_t i = 0; i < stages.size(); ++i)
        os << (i ? "," : " ") << "t" << stages[i].expansion << "c" << stages[i].channels << "n" << stages[i].blocks
           << "s" << stages[i].stride;
    os << " head " << head_channels << " classes " << classes;
    return os.str();
}

MobileNetV2Config mobilenet_v2() { return MobileNetV2Config{}; }

MobileNetV2Config mobilenet_v2_small() {
    MobileNetV2Config c;
    c.hw = 64;
    c.stem_channels = 16;
    c.head_channels = 256;
    c.classes = 10;
    c.stages = {{1, 8, 1, 1}, {6, 16, 2, 2}, {6, 24, 1, 2}, {6, 32, 1, 2}};
    return c;
}

BuiltModel build_mobilenet_v2(const MobileNetV2Config& cfg) {
    MobileNetBuilder b(cfg.seed);
    BuiltModel m;
    m.input = {cfg.n, cfg.c, cfg.hw, cfg.hw};
    NodeRef x = b.fq("fq_input", b.g.parameter("input", m.input), -1.0f, 1.0f);
    x = b.conv("stem", x, cfg.stem_channels, 3, 2, false, true);
    for (size_t s = 0; s < cfg.stages.size(); ++s) {
        const MobileNetV2Config::Stage& st = cfg.stages[s];
        for (int64_t i = 0; i < st.blocks; ++i) {
            std::ostringstream name;
            name << "s" << s + 1 << "b" << i + 1 << "_";
            x = b.inverted_residual(name.str(), x, st.expansion, st.channels, i == 0 ? st.stride : 1);
        }
    }
    x = b.conv("head", x, cfg.head_channels, 1, 1, false, true);
    const Shape s = b.g.shape_of(x);
    x = b.g.avg_pool("gap", x, {s[2], s[3]}, {1, 1}, {0, 0}, {0, 0}, true);
    x = b.fq("gap_fq", x, 0.0f, 6.0f);
    x = b.g.reshape("flatten", x, {s[0], s[1]});
    const NodeRef fc = b.g.matmul("fc", x, b.weights("fc_w", {cfg.classes, s[1]}, 1), false, true);
    b.macs += s[0] * s[1] * cfg.classes;
    ++b.layers;
    b.g.result("logits", fc);
    m.layers = b.layers;
    m.macs = b.macs;
    std::ostringstream os;
    os << "mobilenetv2-style " << m.layers << " layers, " << b.adds << " residual adds (" << cfg.str() << ")";
    m.description = os.str();
    m.graph = std::move(b.g);
    return m;
}

} // namespace qjit::zoo
