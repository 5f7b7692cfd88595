// A MobileNetV2-structured quantized model built in code for the model-level benchmarks
// (perf/bench_models): conv 3x3/2 stem, inverted residual blocks (1x1 expand + ReLU6, depthwise 3x3
// + ReLU6, 1x1 linear project, residual Add when the block keeps stride 1 and its width), a 1x1
// conv to the head width, global average pooling and an FC classifier. Every activation is
// FakeQuantize'd (u8), weights per output channel (255 levels), so the whole network runs quantized.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tools/model_zoo_resnet.hpp" // BuiltModel

namespace qjit::zoo {

struct MobileNetV2Config {
    int64_t n = 1, c = 3, hw = 224;
    int64_t stem_channels = 32, head_channels = 1280, classes = 1000;
    struct Stage {
        int64_t expansion, channels, blocks, stride;
    };
    // MobileNetV2's table (t, c, n, s).
    std::vector<Stage> stages{{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                              {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    uint64_t seed = 1;
    std::string str() const;
};

// MobileNetV2 at 224x224 (52 conv/FC layers, 10 residual adds).
MobileNetV2Config mobilenet_v2();
// The same structure at 64x64 with one block per stage and narrower layers (smoke tests).
MobileNetV2Config mobilenet_v2_small();

BuiltModel build_mobilenet_v2(const MobileNetV2Config& cfg);

} // namespace qjit::zoo
