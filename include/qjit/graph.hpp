// Graph builder: the FakeQuantize-annotated float model that qjit compiles.
// Every call checks its inputs at once and throws qjit::Error naming the node.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "qjit/error.hpp"
#include "qjit/tensor.hpp"

namespace qjit {

namespace ir { class Graph; }

// Broadcast rule of the FakeQuantize range inputs. qjit implements numpy and none; pdpd is rejected.
enum class Broadcast { numpy, none, pdpd };

struct ConvParams {
    std::vector<int64_t> strides{1, 1};
    std::vector<int64_t> pads_begin{0, 0};
    std::vector<int64_t> pads_end{0, 0};
    std::vector<int64_t> dilations{1, 1};
};

// Output size rule of a pooling window axis: floor((in + pads - k) / s) + 1, or ceil(...) + 1.
enum class RoundingType { floor, ceil };

// MaxPool / AvgPool attributes (2-D, NCHW). Every output window must cover at least one input
// element (AvgPool with exclude_pad = false: at least one element of the padded input).
// AvgPool divides by the number of window elements inside the input (exclude_pad = true) or inside
// the padded input [-pads_begin, in + pads_end) (exclude_pad = false; a ceil-mode overhang beyond
// pads_end is not counted).
struct PoolParams {
    std::vector<int64_t> kernel{1, 1};
    std::vector<int64_t> strides{1, 1};
    std::vector<int64_t> pads_begin{0, 0};
    std::vector<int64_t> pads_end{0, 0};
    RoundingType rounding = RoundingType::floor;
    bool exclude_pad = true; // AvgPool only
};

// Resize (ONNX Resize-11..19 semantics on the two spatial axes of NCHW data).
enum class ResizeMode { nearest, linear };
enum class ResizeCoord { half_pixel, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn };
enum class ResizeNearest { round_prefer_floor, round_prefer_ceil, floor, ceil };
struct ResizeParams {
    ResizeMode mode = ResizeMode::nearest;
    ResizeCoord coord = ResizeCoord::half_pixel;
    ResizeNearest nearest = ResizeNearest::round_prefer_floor;
    // Scale of H and W used by the coordinate transform (output / input unless the model gave scales).
    std::vector<float> scales{1.f, 1.f};
};

// A handle to the (single) output of a node.
struct NodeRef {
    int id = -1;
};

class Graph {
public:
    Graph();
    ~Graph();
    Graph(const Graph& other);
    Graph& operator=(const Graph& other);
    Graph(Graph&&) noexcept;
    Graph& operator=(Graph&&) noexcept;

    NodeRef parameter(const std::string& name, Shape shape, ElemType type = ElemType::f32);
    NodeRef constant(const std::string& name, Tensor value);
    NodeRef fake_quantize(const std::string& name, NodeRef x, NodeRef in_low, NodeRef in_high,
                          NodeRef out_low, NodeRef out_high, int64_t levels,
                          Broadcast broadcast = Broadcast::numpy);
    // A FakeQuantize (levels 256) whose level index follows ONNX QuantizeLinear (spec §2.5):
    // k = clamp(RNE(fl(x / scale)) + offset, 0, 255), offset = zp - qmin added after rounding; the output
    // is the FakeQuantize value of k, fl(fl(fl(k/255) * fl(oh-ol)) + ol). `scale` (positive, finite) and
    // `offset` (integers in 0..255) are constants that broadcast to x like the ranges. The ONNX
    // importer marks QuantizeLinear and the QLinear* output quantizers this way.
    NodeRef fake_quantize_onnx(const std::string& name, NodeRef x, NodeRef in_low, NodeRef in_high,
                               NodeRef out_low, NodeRef out_high, NodeRef scale, NodeRef offset);
    // NCHW data, OIHW weights.
    NodeRef convolution(const std::string& name, NodeRef x, NodeRef weights, const ConvParams& p = {});
    // OpenVINO GroupConvolution: NCHW data, weights [G, O/G, I/G, KH, KW] with G*I/G = C.
    // Depthwise is I/G = 1 (and O/G = 1 for a channel multiplier of 1).
    NodeRef group_convolution(const std::string& name, NodeRef x, NodeRef weights, const ConvParams& p = {});
    // 2-D pooling over NCHW data (see PoolParams); global average pooling is kernel = {H, W}.
    NodeRef max_pool(const std::string& name, NodeRef x, const std::vector<int64_t>& kernel,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& pads_begin,
                     const std::vector<int64_t>& pads_end, RoundingType rounding = RoundingType::floor);
    NodeRef avg_pool(const std::string& name, NodeRef x, const std::vector<int64_t>& kernel,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& pads_begin,
                     const std::vector<int64_t>& pads_end, bool exclude_pad,
                     RoundingType rounding = RoundingType::floor);
    NodeRef matmul(const std::string& name, NodeRef a, NodeRef b, bool transpose_a = false,
                   bool transpose_b = false);
    NodeRef add(const std::string& name, NodeRef a, NodeRef b);
    NodeRef multiply(const std::string& name, NodeRef a, NodeRef b);
    NodeRef relu(const std::string& name, NodeRef x);
    NodeRef clamp(const std::string& name, NodeRef x, float lo, float hi);
    // target may hold one -1 (inferred) and 0 (copy the input dimension).
    NodeRef reshape(const std::string& name, NodeRef x, const Shape& target);
    // Concatenation along `axis` (negative counts from the end); every other dimension must match.
    NodeRef concat(const std::string& name, const std::vector<NodeRef>& inputs, int64_t axis);
    NodeRef result(const std::string& name, NodeRef x);

    // Float ops without a quantized kernel yet: they run in fp32 (mixed precision, describe() says so).
    NodeRef subtract(const std::string& name, NodeRef a, NodeRef b); // numpy broadcast
    NodeRef sigmoid(const std::string& name, NodeRef x);
    // max(0, min(1, alpha*x + beta)).
    NodeRef hard_sigmoid(const std::string& name, NodeRef x, float alpha, float beta);
    // x * max(0, min(1, x/6 + 1/2)).
    NodeRef hard_swish(const std::string& name, NodeRef x);
    // x < 0 ? alpha*x : x.
    NodeRef leaky_relu(const std::string& name, NodeRef x, float alpha);
    // exp(x - max) / sum along `axis` (negative counts from the end).
    NodeRef softmax(const std::string& name, NodeRef x, int64_t axis);
    // out.shape[i] = x.shape[perm[i]].
    NodeRef transpose(const std::string& name, NodeRef x, const std::vector<int64_t>& perm);
    // Constant padding (pads >= 0, one begin and one end per axis).
    NodeRef pad(const std::string& name, NodeRef x, const std::vector<int64_t>& pads_begin,
                const std::vector<int64_t>& pads_end, float value);
    // Rank-4 NCHW data; out_shape keeps N and C and sets H, W.
    NodeRef resize(const std::string& name, NodeRef x, const Shape& out_shape, const ResizeParams& p);
    // numpy tile: out.shape[i] = x.shape[i] * repeats[i] (repeats >= 1, one per axis).
    NodeRef tile(const std::string& name, NodeRef x, const std::vector<int64_t>& repeats);

    const Shape& shape_of(NodeRef r) const;
    ElemType type_of(NodeRef r) const;

    const ir::Graph& ir() const { return *g_; }
    ir::Graph& ir() { return *g_; }

private:
    std::unique_ptr<ir::Graph> g_;
};

} // namespace qjit
