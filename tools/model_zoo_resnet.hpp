// ResNet-style quantized models built in code for the model-level benchmarks (perf/bench_models):
// stacks of FakeQuantize'd 3x3 / 1x1 convolutions with bias, ReLU and activation FakeQuantize.
// No residual adds (qjit has no quantized eltwise yet) and no pooling (a strided stem and strided
// 3x3 convs do the downsampling; the classifier reads the flattened last feature map).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qjit/graph.hpp"

namespace qjit::zoo {

struct ResNetConfig {
    int64_t n = 1, c = 3, hw = 224;
    // Stem: conv 7x7 stride 4 (stands in for ResNet's conv 7x7/2 + max pool 3x3/2).
    int64_t stem_channels = 64, stem_k = 7, stem_stride = 4;
    // Bottleneck stages (1x1 reduce, 3x3, 1x1 expand); stages after the first start with a
    // stride-2 3x3 conv (ResNet v1.5).
    std::vector<int64_t> blocks{3, 4, 6, 3};
    std::vector<int64_t> widths{64, 128, 256, 512};
    int64_t expansion = 4;
    // Output channels of the very last 1x1 expand conv (0: widths.back() * expansion). The classifier
    // reads the flattened last map, whose size is the conv K: 7x7x2048 = 100352 exceeds qjit's
    // kMaxConvK (65793), so the last expand stops at 1024 (K = 50176).
    int64_t last_channels = 1024;
    // 40 classes keep the classifier at ~2M weights, the size of ResNet-50's 2048x1000 FC after
    // global pooling.
    int64_t classes = 40;
    uint64_t seed = 1;
    std::string str() const;
};

// ResNet-50's layer structure: 1 stem + 16 bottlenecks x 3 convs + 1 FC = 50 layers.
ResNetConfig resnet50_like();
// The same structure at 64x64 with one block per stage (fast; smoke tests).
ResNetConfig resnet_small();

struct BuiltModel {
    Graph graph;
    Shape input;
    int layers = 0;      // conv + FC layers
    int64_t macs = 0;    // nominal MACs (padded taps included)
    std::string description;
};

BuiltModel build_resnet(const ResNetConfig& cfg);

// `layers` conv3x3 (pad 1) layers of `channels` channels on an hw x hw map, then an FC to 10
// classes counted among the layers: a deep model with few weights (compile time without
// weight-folding volume).
BuiltModel build_conv_stack(int layers, int64_t channels, int64_t hw, uint64_t seed = 1);

} // namespace qjit::zoo
