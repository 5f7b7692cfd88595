#include "tools/model_zoo_resnet.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

namespace qjit::zoo {
namespace {

class Builder {
public:
    explicit Builder(uint64_t seed) : rng_(seed) {}
    Graph g;
    int layers = 0;
    int64_t macs = 0;

    NodeRef scalar(const std::string& name, float v) { return g.constant(name, Tensor::f32({}, {v})); }

    // Weights [oc, rest...] ~ N(0, 2/fan_in) (He), FakeQuantize'd per output channel, symmetric 255 levels.
    NodeRef weights(const std::string& name, const Shape& shape) {
        const int64_t oc = shape[0];
        int64_t fan_in = 1;
        for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
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
        range[0] = oc;
        NodeRef wc = g.constant(name, Tensor::f32(shape, w));
        NodeRef l = g.constant(name + "_lo", Tensor::f32(range, lo));
        NodeRef h = g.constant(name + "_hi", Tensor::f32(range, hi));
        return g.fake_quantize(name + "_fq", wc, l, h, l, h, 255);
    }

    // Conv (+ bias + ReLU + activation FakeQuantize [0, 4]) on a quantized input.
    NodeRef conv(const std::string& name, NodeRef x, int64_t oc, int64_t k, int64_t stride, int64_t pad) {
        const Shape in = g.shape_of(x);
        NodeRef w = weights(name + "_w", {oc, in[1], k, k});
        ConvParams p;
        p.strides = {stride, stride};
        p.pads_begin = p.pads_end = {pad, pad};
        NodeRef c = g.convolution(name, x, w, p);
        const Shape out = g.shape_of(c);
        macs += out[0] * out[1] * out[2] * out[3] * in[1] * k * k;
        ++layers;
        std::normal_distribution<float> bd(0.0f, 0.1f);
        std::vector<float> b(static_cast<size_t>(oc));
        for (float& v : b) v = bd(rng_);
        NodeRef a = g.add(name + "_bias", c, g.constant(name + "_b", Tensor::f32({1, oc, 1, 1}, b)));
        NodeRef r = g.relu(name + "_relu", a);
        return g.fake_quantize(name + "_fq", r, scalar(name + "_lo", 0.0f), scalar(name + "_hi", 4.0f),
                               scalar(name + "_olo", 0.0f), scalar(name + "_ohi", 4.0f), 256);
    }

    NodeRef input(const Shape& s) {
        NodeRef x = g.parameter("input", s);
        NodeRef lo = scalar("in_lo", -1.0f), hi = scalar("in_hi", 1.0f);
        return g.fake_quantize("fq_input", x, lo, hi, lo, hi, 256);
    }

    void classifier(NodeRef x, int64_t classes) {
        const Shape s = g.shape_of(x);
        const int64_t k = s[1] * s[2] * s[3];
        NodeRef flat = g.reshape("flatten", x, {s[0], k});
        NodeRef w = weights("fc_w", {classes, k});
        NodeRef fc = g.matmul("fc", flat, w, false, true);
        macs += s[0] * k * classes;
        ++layers;
        g.result("logits", fc);
    }

private:
    std::mt19937_64 rng_;
};

} // namespace

std::string ResNetConfig::str() const {
    std::ostringstream os;
    os << "n=" << n << " c=" << c << " hw=" << hw << " stem " << stem_k << "x" << stem_k << "/" << stem_stride
       << "->" << stem_channels << " blocks";
    for (size_t i = 0; i < blocks.size(); ++i) os << (i ? "," : " ") << blocks[i] << "x" << widths[i];
    os << " expansion " << expansion << " last " << last_channels << " classes " << classes;
    return os.str();
}

ResNetConfig resnet50_like() { return ResNetConfig{}; }

ResNetConfig resnet_small() {
    ResNetConfig c;
    c.hw = 64;
    c.blocks = {1, 1, 1, 1};
    c.widths = {16, 32, 64, 128};
    c.stem_channels = 16;
    c.last_channels = 0;
    c.classes = 10;
    return c;
}

BuiltModel build_resnet(const ResNetConfig& cfg) {
    Builder b(cfg.seed);
    BuiltModel m;
    m.input = {cfg.n, cfg.c, cfg.hw, cfg.hw};
    NodeRef x = b.input(m.input);
    x = b.conv("stem", x, cfg.stem_channels, cfg.stem_k, cfg.stem_stride, cfg.stem_k / 2);
    for (size_t s = 0; s < cfg.blocks.size(); ++s)
        for (int64_t i = 0; i < cfg.blocks[s]; ++i) {
            std::ostringstream name;
            name << "s" << s + 1 << "b" << i + 1 << "_";
            const std::string p = name.str();
            const int64_t w = cfg.widths[s];
            const int64_t stride = (s > 0 && i == 0) ? 2 : 1;
            x = b.conv(p + "reduce", x, w, 1, 1, 0);
            x = b.conv(p + "conv3x3", x, w, 3, stride, 1);
            const bool last = s + 1 == cfg.blocks.size() && i + 1 == cfg.blocks[s];
            x = b.conv(p + "expand", x, last && cfg.last_channels > 0 ? cfg.last_channels : w * cfg.expansion, 1, 1, 0);
        }
    b.classifier(x, cfg.classes);
    m.layers = b.layers;
    m.macs = b.macs;
    std::ostringstream os;
    os << "resnet-style " << m.layers << " layers (" << cfg.str() << ")";
    m.description = os.str();
    m.graph = std::move(b.g);
    return m;
}

BuiltModel build_conv_stack(int layers, int64_t channels, int64_t hw, uint64_t seed) {
    Builder b(seed);
    BuiltModel m;
    m.input = {1, channels, hw, hw};
    NodeRef x = b.input(m.input);
    for (int i = 0; i + 1 < layers; ++i) x = b.conv("conv" + std::to_string(i + 1), x, channels, 3, 1, 1);
    b.classifier(x, 10);
    m.layers = b.layers;
    m.macs = b.macs;
    std::ostringstream os;
    os << "conv3x3 stack " << m.layers << " layers, " << channels << " ch " << hw << "x" << hw;
    m.description = os.str();
    m.graph = std::move(b.g);
    return m;
}

} // namespace qjit::zoo
