#include "tools/random_graph.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "jit/ir.hpp"
#include "runtime/oracle_a.hpp"

namespace qjit::rgraph {
namespace {

using Rng = std::mt19937_64;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Range {
    Shape shape;                     // {} per tensor, {1,C,1,1} per channel
    std::vector<float> il, ih, ol, oh;
    int levels = 256;
};

class Gen {
public:
    Gen(uint64_t seed, const GenOptions& o) : rng(seed), opt(o) {}
    Rng rng;
    GenOptions opt;
    Graph g;
    std::vector<Tensor> clean;
    RandomGraph out;
    int uid = 0;
    Range input_range;
    NodeRef x;       // current tensor
    bool x_fq = false; // current tensor is a FakeQuantize output

    uint64_t u(uint64_t n) { return rng() % n; }
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }
    template <class T> T pick(std::initializer_list<T> v) { return *(v.begin() + u(v.size())); }
    float uni(float a, float b) { return std::uniform_real_distribution<float>(a, b)(rng); }
    std::string nm(const std::string& p) { return p + std::to_string(uid++); }
    void note(const std::string& s) { out.summary += s + "; "; }
    void tag(const std::string& s) {
        if (std::find(out.features.begin(), out.features.end(), s) == out.features.end()) out.features.push_back(s);
    }
    NodeRef cst(const std::string& n, const Shape& s, const std::vector<float>& v) { return g.constant(n, Tensor::f32(s, v)); }
    int64_t C() const { return g.shape_of(x)[1]; }

    int levels() {
        return static_cast<int>(pick<int64_t>({2, 3, 15, 16, 17, 128, 254, 255, 256, 256, 256, 255}));
    }

    Tensor values_of(NodeRef n) const {
        Graph c = g;
        c.result("__probe", n);
        return oracle::oracle_a_outputs(c.ir(), clean).back();
    }

    // Finite values of n sorted, per channel (axis 1) or all.
    std::vector<std::vector<float>> sorted_values(NodeRef n, bool per_channel) const {
        const Tensor v = values_of(n);
        const Shape& s = v.shape();
        const int64_t ch = s.size() > 1 ? s[1] : 1;
        int64_t inner = 1;
        for (size_t i = 2; i < s.size(); ++i) inner *= s[i];
        std::vector<std::vector<float>> by(static_cast<size_t>(per_channel ? ch : 1));
        for (int64_t i = 0; i < v.numel(); ++i) {
            const float f = v.data<float>()[i];
            if (std::isfinite(f)) by[per_channel ? static_cast<size_t>((i / inner) % ch) : 0].push_back(f);
        }
        for (auto& b : by) {
            if (b.empty()) b.push_back(0.0f);
            std::sort(b.begin(), b.end());
        }
        return by;
    }

    NodeRef make_fq(const std::string& name, NodeRef in, const Range& r) {
        // Per-tensor ranges: sometimes a different scalar-like shape for each of the 4 inputs.
        const bool mixed = r.il.size() == 1 && g.shape_of(in).size() == 4 && chance(0.2);
        auto shp = [&] { return mixed ? pick<Shape>({Shape{}, Shape{1}, Shape{1, 1}, Shape{1, 1, 1, 1}}) : r.shape; };
        if (mixed) tag("range_shapes_mixed");
        const NodeRef il = cst(name + ".il", shp(), r.il), ih = cst(name + ".ih", shp(), r.ih);
        const NodeRef ol = cst(name + ".ol", shp(), r.ol), oh = cst(name + ".oh", shp(), r.oh);
        return g.fake_quantize(name, in, il, ih, ol, oh, r.levels);
    }

    // Input FakeQuantize ranges.
    Range pick_input_range(int64_t c) {
        Range r;
        r.levels = levels();
        float lo = -1.0f, hi = 1.0f;
        switch (u(9)) {
        case 0: lo = 0.25f; hi = 1.75f; tag("range_all_positive"); break;
        case 1: lo = -1.5f; hi = -0.25f; tag("range_all_negative"); break;
        case 2: lo = -1.28f; hi = 1.27f; r.levels = 256; tag("range_-1.28_1.27_256"); break;
        case 3: lo = -1.27f; hi = 1.27f; r.levels = pick<int64_t>({255, 256}); tag("range_-1.27_1.27"); break;
        case 4: lo = 0.0f; hi = 2.55f; break;
        case 5: lo = -uni(0.1f, 2.0f); hi = uni(0.1f, 2.0f); tag("fractional_zp"); break;
        default: lo = -1.0f; hi = 1.0f; break;
        }
        if (chance(0.3) && c > 1) {
            // Per channel [1,C,1,1] with equal steps: one dyadic width, dyadic offsets.
            r.shape = {1, c, 1, 1};
            const float w = std::ldexp(1.0f, static_cast<int>(u(3)));
            for (int64_t i = 0; i < c; ++i) {
                const float l = lo + static_cast<float>(static_cast<int>(u(33)) - 16) / 64.0f;
                r.il.push_back(l);
                r.ih.push_back(l + w);
            }
            tag("input_fq_per_channel");
        } else {
            r.shape = pick<int>({0, 1, 2}) == 0 ? Shape{} : (chance(0.5) ? Shape{1} : Shape{1, 1, 1, 1});
            r.il = {lo};
            r.ih = {hi};
        }
        r.ol = r.il;
        r.oh = r.ih;
        tag("levels_" + std::to_string(r.levels));
        return r;
    }

    // A calibrated FakeQuantize of n (one of the §5 range variants).
    NodeRef next_fq(NodeRef n) {
        const int64_t c = g.shape_of(n).size() > 1 ? g.shape_of(n)[1] : 1;
        const bool four_d = g.shape_of(n).size() == 4;
        const auto all = sorted_values(n, false)[0];
        float lo = all[all.size() * 2 / 100], hi = all[all.size() * 98 / 100];
        if (!(hi - lo > 1e-3f)) hi = lo + 1e-3f;
        Range r;
        r.levels = levels();
        r.shape = {};
        r.il = {lo}; r.ih = {hi};
        r.ol = r.il; r.oh = r.ih;
        const std::string name = nm("fq");
        int variant = static_cast<int>(u(16));
        if (!four_d && (variant >= 1 && variant <= 3)) variant = 0;
        auto per_channel = [&] {
            r.shape = {1, c, 1, 1};
            r.il.assign(static_cast<size_t>(c), lo); r.ih.assign(static_cast<size_t>(c), hi);
            r.ol = r.il; r.oh = r.ih;
        };
        switch (variant) {
        case 1: { // per channel, equal dyadic width, different offsets
            per_channel();
            const auto by = sorted_values(n, true);
            // hi == lo gives log2 = -inf: width 0 (what x86's int conversion of -inf gave before this
            // was found by UBSan; keeps every seed's graph as it was).
            const float l2 = std::ceil(std::log2(hi - lo));
            const float w = std::isfinite(l2) ? std::ldexp(1.0f, static_cast<int>(l2)) : 0.0f;
            for (int64_t i = 0; i < c; ++i) {
                const auto& b = by[static_cast<size_t>(i)];
                const float l = std::ldexp(std::round(std::ldexp(b[b.size() * 2 / 100], 6)), -6);
                r.il[static_cast<size_t>(i)] = r.ol[static_cast<size_t>(i)] = l;
                r.ih[static_cast<size_t>(i)] = r.oh[static_cast<size_t>(i)] = l + w;
            }
            tag("act_per_channel_ol_per_tensor_s");
            note(name + " per-channel equal-step");
            break;
        }
        case 2: { // per channel arbitrary scales
            per_channel();
            const auto by = sorted_values(n, true);
            for (int64_t i = 0; i < c; ++i) {
                const auto& b = by[static_cast<size_t>(i)];
                float l = b[b.size() * 2 / 100], h = b[b.size() * 98 / 100];
                if (!(h - l > 1e-3f)) h = l + 1e-3f;
                r.il[static_cast<size_t>(i)] = r.ol[static_cast<size_t>(i)] = l;
                r.ih[static_cast<size_t>(i)] = r.oh[static_cast<size_t>(i)] = h;
            }
            tag("act_per_channel_scale");
            note(name + " per-channel scales");
            break;
        }
        case 3: { // ol == oh in some channels only
            per_channel();
            for (int64_t i = 0; i < c; ++i)
                if (u(3) == 0) r.oh[static_cast<size_t>(i)] = r.ol[static_cast<size_t>(i)];
            tag("ol_eq_oh_some_channels");
            note(name + " ol==oh some channels");
            break;
        }
        case 4: { // il == ih with L=2 or 256
            const float m = all[all.size() / 2];
            r.il = r.ih = {m};
            r.levels = pick<int64_t>({2, 256});
            tag("il_eq_ih_L" + std::to_string(r.levels));
            note(name + " il==ih L=" + std::to_string(r.levels));
            break;
        }
        case 5: std::swap(r.ol, r.oh); tag("ol_gt_oh"); note(name + " ol>oh"); break;
        case 6: std::swap(r.il, r.ih); tag("il_gt_ih"); note(name + " il>ih"); break;
        case 7: { // output range differs from input range
            r.ol = {lo * 2.0f - 0.125f};
            r.oh = {hi * 2.0f + 0.25f};
            tag("fq_out_ne_in");
            note(name + " out!=in");
            break;
        }
        case 8: { // [-1.28,1.27]/256 or [-1.27,1.27]/255,256 scaled to the values
            const float s = std::max({std::fabs(lo), std::fabs(hi), 1e-3f}) / 1.27f;
            const bool a = chance(0.5);
            r.il = r.ol = {(a ? -1.28f : -1.27f) * s};
            r.ih = r.oh = {1.27f * s};
            r.levels = a ? 256 : static_cast<int>(pick<int64_t>({255, 256}));
            tag("fractional_zp");
            note(name + " symmetric-ish L=" + std::to_string(r.levels));
            break;
        }
        case 9: { // ranges not containing 0
            if (lo < 0 && hi > 0) {
                r.il = r.ol = {hi * 0.25f};
                tag("range_all_positive");
            }
            note(name + " no-zero range");
            break;
        }
        case 10: { // huge range: oh - ol overflows to inf
            r.il = r.ol = {-3.0e38f};
            r.ih = r.oh = {3.0e38f};
            tag("range_width_overflows_inf");
            note(name + " huge range");
            break;
        }
        case 11: { // subnormal scale
            r.il = r.ol = {lo};
            r.ih = r.oh = {lo + std::max(std::fabs(lo), 1.0f) * 1e-6f};
            if (r.ih[0] == lo) r.ih = r.oh = {std::nextafter(lo, kInf)};
            r.ol = {0.0f};
            r.oh = {1e-38f * static_cast<float>(r.levels - 1)};
            tag("subnormal_scale");
            note(name + " subnormal out scale");
            break;
        }
        case 12: return onnx_fq(name, n, four_d && chance(0.4));
        default: note(name + " L=" + std::to_string(r.levels)); break;
        }
        tag("levels_" + std::to_string(r.levels));
        return make_fq(name, n, r);
    }

    // An ONNX QuantizeLinear -> DequantizeLinear pair as the importer builds it (spec §2.5): u8 or s8,
    // scale and zero point from the value range, per tensor or per channel; rounds RNE(x / s) + zp.
    NodeRef onnx_fq(const std::string& name, NodeRef n, bool per_channel) {
        const bool s8 = chance(0.5);
        const float qmin = s8 ? -128.0f : 0.0f;
        const int64_t c = g.shape_of(n)[1];
        const auto by = per_channel ? sorted_values(n, true) : sorted_values(n, false);
        std::vector<float> il, ih, scale, off;
        for (const auto& b : by) {
            const float lo = std::min(0.0f, b[b.size() * 2 / 100]), hi = std::max(0.0f, b[b.size() * 98 / 100]);
            const float sc = std::max((hi - lo) / 255.0f, 1e-6f);
            const float zp = std::min(std::max(std::nearbyint(qmin - lo / sc), qmin), qmin + 255.0f);
            scale.push_back(sc);
            off.push_back(zp - qmin);
            il.push_back(sc * (qmin - zp));
            ih.push_back(sc * (qmin + 255.0f - zp));
        }
        const Shape rs = per_channel ? Shape{1, c, 1, 1} : Shape{};
        tag(per_channel ? "onnx_rounding_per_channel" : "onnx_rounding");
        tag("levels_256");
        note(name + " onnx " + (s8 ? "s8" : "u8") + (per_channel ? " per-channel" : ""));
        const NodeRef l = cst(name + ".il", rs, il), h = cst(name + ".ih", rs, ih);
        return g.fake_quantize_onnx(name, n, l, h, l, h, cst(name + ".scale", rs, scale), cst(name + ".off", rs, off));
    }

    // FakeQuantize'd weights [O, ...] (range shape rs: one value per output channel).
    NodeRef weights(const std::string& name, const Shape& ws, const Shape& rs, int64_t O) {
        const int64_t per = num_elements(ws) / O;
        std::normal_distribution<float> nd(0.0f, 0.5f / std::sqrt(static_cast<float>(per)) * 2.0f);
        std::vector<float> w(static_cast<size_t>(num_elements(ws)));
        for (float& v : w) v = nd(rng);
        Range r;
        r.shape = rs;
        r.levels = static_cast<int>(pick<int64_t>({255, 255, 256, 256, 15, 16, 3, 2}));
        const int variant = static_cast<int>(u(7));
        for (int64_t o = 0; o < O; ++o) {
            float m = 1e-3f;
            for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(o * per + i)]));
            float lo = r.levels % 2 ? -m : -m * 128.0f / 127.0f, hi = m;
            if (r.levels % 2 == 0 && r.levels != 256) lo = -m * static_cast<float>(r.levels / 2) / static_cast<float>(r.levels / 2 - 1 > 0 ? r.levels / 2 - 1 : 1);
            if (variant == 1) { const float t = uni(-0.3f, 0.3f) * m; lo += t; hi += t; }
            if (variant == 2) hi = std::nextafter(hi, kInf);
            if (variant == 3 && o % 3 == 1) lo = hi = uni(-0.2f, 0.2f);
            if (variant == 5) { const float t = (chance(0.5) ? 1.0f : -1.0f) * uni(0.0005f, 0.004f) * (hi - lo); lo += t; hi += t; }
            if (variant == 4)
                for (int64_t i = 0; i < per; ++i) w[static_cast<size_t>(o * per + i)] = chance(0.5) ? hi : lo;
            r.il.push_back(lo);
            r.ih.push_back(hi);
        }
        r.ol = r.il;
        r.oh = r.ih;
        static const char* const names[] = {"w_sym", "w_asym", "w_off_1ulp", "w_zero_scale_channel", "w_all_extreme_codes", "w_asym_0.2pct_band", "w_sym"};
        tag(names[variant]);
        note(std::string(names[variant]) + " Lw=" + std::to_string(r.levels));
        const NodeRef wc = cst(name + ".w", ws, w);
        return make_fq(name + ".wfq", wc, r);
    }

    ConvParams conv_params(int64_t H, int64_t W, int64_t k) {
        ConvParams p;
        const int64_t s = pick<int64_t>({1, 1, 1, 2, 3}), d = k > 1 ? pick<int64_t>({1, 1, 2}) : 1;
        p.strides = {s, s};
        p.dilations = {d, d};
        const int64_t dims[2] = {H, W};
        for (int a = 0; a < 2; ++a) {
            int64_t pb = static_cast<int64_t>(u(static_cast<uint64_t>(k + 2))), pe = static_cast<int64_t>(u(static_cast<uint64_t>(k + 2)));
            if (chance(0.3)) pb = pe = (k - 1) * d / 2;
            while (dims[a] + pb + pe - (k - 1) * d - 1 < 0) pe++;
            if ((dims[a] + pb + pe - (k - 1) * d - 1) / s + 1 > 14) pb = pe = 0;
            while (dims[a] + pb + pe - (k - 1) * d - 1 < 0) pe++;
            p.pads_begin[a] = pb;
            p.pads_end[a] = pe;
        }
        if (p.pads_begin != p.pads_end) tag("conv_asymmetric_pads");
        if (std::max(p.pads_begin[0], p.pads_end[0]) >= k) tag("conv_pads_ge_kernel");
        if (s > 1) tag("conv_stride");
        if (d > 1) tag("conv_dilation");
        if (k == 1) tag("conv_1x1");
        return p;
    }

    // Conv or GroupConv of x (+ bias, activation, ScaleShift); returns the float result.
    NodeRef conv_block(NodeRef in, bool depthwise_only = false) {
        const Shape s = g.shape_of(in);
        const int64_t Cin = s[1];
        const int64_t k = pick<int64_t>({1, 1, 2, 3, 3, 4, 5});
        const ConvParams p = conv_params(s[2], s[3], k);
        const int kind = depthwise_only ? 1 : static_cast<int>(u(3));
        NodeRef t;
        int64_t O;
        const std::string name = nm(kind == 0 ? "conv" : "gconv");
        if (kind == 0) {
            O = pick<int64_t>({1, 3, 7, 8, 15, 16, 17});
            note(name + " " + std::to_string(Cin) + "->" + std::to_string(O) + " k" + std::to_string(k));
            t = g.convolution(name, in, weights(name, {O, Cin, k, k}, {O, 1, 1, 1}, O), p);
            tag("conv");
        } else {
            int64_t G = Cin, mult = chance(0.25) ? 2 : 1;
            if (kind == 2 && Cin % 2 == 0 && Cin > 2) { G = 2; mult = 1; }
            O = G * mult * (Cin / G);
            if (G != Cin) O = Cin; // groups 2: O/G = C/G
            const int64_t og = O / G, ig = Cin / G;
            note(name + " G=" + std::to_string(G) + " O=" + std::to_string(O) + " k" + std::to_string(k));
            t = g.group_convolution(name, in, weights(name, {G, og, ig, k, k}, {G, og, 1, 1, 1}, O), p);
            tag(G == Cin ? "depthwise" : "group_conv_g2");
        }
        switch (u(4)) {
        case 0: tag("no_bias"); note("no bias"); break;
        case 1: {
            std::vector<float> b(static_cast<size_t>(O));
            for (float& v : b) v = (chance(0.5) ? 1.0f : -1.0f) * uni(1e3f, 1e5f);
            t = g.add(nm("hugebias"), t, cst(nm("b"), {1, O, 1, 1}, b));
            tag("huge_bias");
            note("huge bias");
            break;
        }
        default: {
            std::vector<float> b(static_cast<size_t>(O));
            for (float& v : b) v = uni(-0.3f, 0.3f);
            t = g.add(nm("bias"), t, cst(nm("b"), {1, O, 1, 1}, b));
            note("bias");
            break;
        }
        }
        t = activation(t);
        if (chance(0.25)) t = scale_shift(t);
        return t;
    }

    NodeRef activation(NodeRef t) {
        switch (u(5)) {
        case 0: tag("relu"); note("relu"); return g.relu(nm("relu"), t);
        case 1: {
            const auto v = sorted_values(t, false)[0];
            const float p0 = v.front(), p100 = v.back(), p10 = v[v.size() / 10], p90 = v[v.size() * 9 / 10];
            float lo, hi;
            switch (u(3)) {
            case 0: lo = p10; hi = std::max(p10, p90); tag("clamp_inside"); break;
            case 1: lo = p0 - 1.0f; hi = p100 + 1.0f; tag("clamp_outside"); break;
            default: lo = p100 + 0.5f; hi = p100 + 1.0f; tag("clamp_disjoint"); break;
            }
            note("clamp [" + std::to_string(lo) + "," + std::to_string(hi) + "]");
            return g.clamp(nm("clamp"), t, lo, hi);
        }
        default: return t;
        }
    }

    NodeRef scale_shift(NodeRef t) {
        const int64_t c = g.shape_of(t)[1];
        std::vector<float> sg(static_cast<size_t>(c)), b(static_cast<size_t>(c));
        for (float& v : sg) v = pick<float>({-1.5f, -0.5f, 0.0f, 0.75f, 2.0f, 1.0f});
        for (float& v : b) v = uni(-0.5f, 0.5f);
        tag("scaleshift_neg_zero");
        note("scaleshift");
        t = g.multiply(nm("ss_mul"), t, cst(nm("sigma"), {1, c, 1, 1}, sg));
        return g.add(nm("ss_add"), t, cst(nm("beta"), {1, c, 1, 1}, b));
    }

    // Quantize a float value (usually) and make it the current tensor.
    void set_current(NodeRef t, double p_fq = 0.92) {
        if (chance(p_fq)) {
            x = next_fq(t);
            x_fq = true;
        } else {
            x = t;
            x_fq = false;
            tag("float_region");
        }
    }

    // fp32 ops between quantized blocks: a Sigmoid gate, a FakeQuantize that stays float (ranges along
    // the last axis), a Softmax (innermost axis: the row kernel; channel axis: the strided kernel).
    void float_block(const Shape& s) {
        switch (u(3)) {
        case 0:
            tag("sigmoid");
            note("sigmoid gate");
            set_current(g.multiply(nm("gate"), g.sigmoid(nm("sigmoid"), x), x));
            break;
        case 1: {
            const int64_t w = s[3];
            std::vector<float> lo(static_cast<size_t>(w)), hi(static_cast<size_t>(w));
            for (size_t i = 0; i < lo.size(); ++i) lo[i] = uni(-2.f, -0.1f), hi[i] = uni(0.1f, 2.f);
            const NodeRef l = cst(nm("fl_lo"), {1, 1, 1, w}, lo), h = cst(nm("fl_hi"), {1, 1, 1, w}, hi);
            tag("fq_float_last_axis");
            note("float fq along w");
            x = g.fake_quantize(nm("fq_float"), x, l, h, l, h, pick<int64_t>({16, 255, 256}));
            x_fq = false;
            if (chance(0.5)) set_current(x, 1.0);
            break;
        }
        default: {
            const int64_t axis = pick<int64_t>({1, 3});
            tag(axis == 3 ? "softmax_innermost" : "softmax_channel");
            note("softmax axis " + std::to_string(axis));
            set_current(g.softmax(nm("softmax"), x, axis));
            break;
        }
        }
    }

    void block() {
        const Shape s = g.shape_of(x);
        switch (u(12)) {
        case 0: case 1: case 2: set_current(conv_block(x)); break;
        case 3: { // Add / Multiply of two branches
            const bool mul = chance(0.35);
            NodeRef b;
            switch (u(4)) {
            case 0: b = x; tag("eltwise_x_plus_x"); break;
            case 1: b = next_fq(x); tag("fq_fq_chain"); break;
            case 2: {
                const std::string pn = nm("gap");
                b = next_fq(g.avg_pool(pn, x, {s[2], s[3]}, {1, 1}, {0, 0}, {0, 0}, true));
                tag("eltwise_broadcast");
                break;
            }
            default: {
                ConvParams p;
                const int64_t c = s[1];
                b = g.convolution(nm("conv"), x, weights(nm("bw"), {c, c, 1, 1}, {c, 1, 1, 1}, c), p);
                b = next_fq(b);
                break;
            }
            }
            tag(mul ? "multiply" : "add");
            note(mul ? "mul" : "add");
            set_current(mul ? g.multiply(nm("mul"), x, b) : g.add(nm("add"), x, b));
            break;
        }
        case 4: { // Concat of branches with different params
            NodeRef b;
            int64_t axis = 1;
            if (chance(0.25)) {
                axis = pick<int64_t>({0, 2, 3});
                b = next_fq(x);
                tag("concat_other_axis");
            } else {
                b = chance(0.5) ? next_fq(x) : next_fq(conv_block(x));
                const Shape bs = g.shape_of(b);
                if (bs[2] != s[2] || bs[3] != s[3]) b = next_fq(x);
                tag("concat_axis1");
            }
            NodeRef cat = g.concat(nm("cat"), {x, b}, axis);
            note("concat axis " + std::to_string(axis));
            switch (u(3)) {
            case 0: x = cat; x_fq = true; set_current(conv_block(x, true)); tag("concat_depthwise"); break;
            case 1: {
                const int64_t c = g.shape_of(cat)[1];
                std::vector<float> sg(static_cast<size_t>(c));
                for (float& v : sg) v = uni(-1.0f, 1.0f);
                set_current(g.multiply(nm("catmul"), cat, cst(nm("cs"), {1, c, 1, 1}, sg)));
                tag("concat_eltwise");
                break;
            }
            default: x = cat; x_fq = true; if (chance(0.5)) set_current(x); break;
            }
            break;
        }
        case 5: case 6: { // pooling
            const bool avg = chance(0.5);
            const int64_t k = std::min<int64_t>(pick<int64_t>({1, 2, 3, 3}), std::min(s[2], s[3]) + 1);
            const int64_t st = pick<int64_t>({1, 2, 2, 3});
            std::vector<int64_t> pb{static_cast<int64_t>(u(static_cast<uint64_t>(k))), static_cast<int64_t>(u(static_cast<uint64_t>(k)))};
            std::vector<int64_t> pe{static_cast<int64_t>(u(static_cast<uint64_t>(k))), static_cast<int64_t>(u(static_cast<uint64_t>(k)))};
            const RoundingType rt = chance(0.5) ? RoundingType::ceil : RoundingType::floor;
            const bool ex = chance(0.5);
            NodeRef pn;
            try {
                pn = avg ? g.avg_pool(nm("avgpool"), x, {k, k}, {st, st}, pb, pe, ex, rt)
                         : g.max_pool(nm("maxpool"), x, {k, k}, {st, st}, pb, pe, rt);
            } catch (const Error&) {
                pn = avg ? g.avg_pool(nm("avgpool"), x, {1, 1}, {1, 1}, {0, 0}, {0, 0}, ex)
                         : g.max_pool(nm("maxpool"), x, {1, 1}, {1, 1}, {0, 0}, {0, 0});
            }
            tag(avg ? (ex ? "avgpool_exclude_pad" : "avgpool_include_pad") : "maxpool");
            if (rt == RoundingType::ceil) tag("pool_ceil");
            note(std::string(avg ? "avgpool" : "maxpool") + " k" + std::to_string(k) + " s" + std::to_string(st));
            if (avg || chance(0.5)) set_current(pn);
            else { x = pn; }
            break;
        }
        case 7: { // FQ -> FQ
            if (x_fq) tag("fq_fq_chain");
            set_current(x, 1.0);
            break;
        }
        case 8: { // Transpose of the (usually quantized) tensor: level indices move, params follow (spec §3)
            const bool hw = chance(0.7);
            const std::vector<int64_t> perm = hw ? std::vector<int64_t>{0, 1, 3, 2} : std::vector<int64_t>{0, 2, 3, 1};
            tag(hw ? "transpose_hw" : "transpose_moves_channel");
            note(hw ? "transpose hw" : "transpose nchw->nhwc");
            x = g.transpose(nm("transpose"), x, perm);
            x_fq = false;
            break;
        }
        case 9: float_block(s); break;
        default: set_current(conv_block(x)); break;
        }
        // One FQ feeding both an int8 and a float consumer.
        if (x_fq && chance(0.15)) {
            g.result(nm("side_result"), x);
            tag("fq_before_result");
            tag("fq_int8_and_float_consumer");
        }
    }

    void head() {
        const Shape s = g.shape_of(x);
        switch (u(3)) {
        case 0: {
            if (!x_fq) set_current(x, 1.0);
            const int64_t K = s[1] * s[2] * s[3];
            const NodeRef flat = g.reshape(nm("flatten"), x, {s[0], K});
            const int64_t classes = pick<int64_t>({1, 5, 10, 16, 17});
            const bool tb = chance(0.7);
            const NodeRef w = tb ? weights(nm("fc"), {classes, K}, {classes, 1}, classes)
                                 : weights(nm("fc"), {K, classes}, {1, classes}, classes);
            // weights() treats axis 0 as the channel axis; for [K, N] it is per-column via rs {1, N}.
            g.result(nm("logits"), g.matmul(nm("fc"), flat, w, false, tb));
            tag("fc_head_fp32_result");
            note("fc head");
            break;
        }
        case 1:
            if (!x_fq) set_current(x, 1.0);
            g.result(nm("out"), x);
            tag("fq_before_result");
            note("fq result");
            break;
        default:
            g.result(nm("out"), x);
            note("plain result");
            break;
        }
    }

    void inject_edges(Tensor& t) {
        const Shape& s = t.shape();
        const int64_t c = s[1], inner = s[2] * s[3];
        const double frac = pick<double>({0.0, 0.1, 0.3, 0.6});
        float* v = t.data<float>();
        const Range& r = input_range;
        for (int64_t i = 0; i < t.numel(); ++i) {
            if (!chance(frac)) continue;
            const size_t ch = r.il.size() > 1 ? static_cast<size_t>((i / inner) % c) : 0;
            const float il = r.il[ch], ih = r.ih[ch];
            const float step = (ih - il) / static_cast<float>(r.levels - 1);
            const float kq = static_cast<float>(u(static_cast<uint64_t>(r.levels)));
            switch (u(opt.allow_nan_inputs ? 16 : 15)) {
            case 0: v[i] = il; break;
            case 1: v[i] = ih; break;
            case 2: v[i] = std::nextafter(il, -kInf); break;
            case 3: v[i] = std::nextafter(il, kInf); break;
            case 4: v[i] = std::nextafter(ih, -kInf); break;
            case 5: v[i] = std::nextafter(ih, kInf); break;
            case 6: case 7: v[i] = il + kq * step; break;
            case 8: case 9: v[i] = il + (kq + 0.5f) * step; break;
            case 10: v[i] = chance(0.5) ? 0.0f : -0.0f; break;
            case 11: v[i] = chance(0.5) ? kInf : -kInf; break;
            case 12: v[i] = (chance(0.5) ? 1.0f : -1.0f) * std::numeric_limits<float>::denorm_min() * static_cast<float>(1 + u(1000)); break;
            case 13: v[i] = (chance(0.5) ? 1e30f : -1e30f); break;
            case 14: v[i] = chance(0.5) ? ih + 10.0f * (ih - il) : il - 10.0f * (ih - il); break;
            default: v[i] = std::numeric_limits<float>::quiet_NaN(); tag("input_nan"); break;
            }
        }
        if (frac > 0) tag("input_edge_values");
    }

    void build() {
        const int64_t N = pick<int64_t>({1, 1, 1, 2, 3});
        const int64_t Cc = pick<int64_t>({1, 3, 7, 8, 15, 16, 17});
        const int64_t H = chance(0.1) ? 1 : 1 + static_cast<int64_t>(u(static_cast<uint64_t>(opt.max_hw)));
        const int64_t W = chance(0.1) ? 1 : 1 + static_cast<int64_t>(u(static_cast<uint64_t>(opt.max_hw)));
        if (N > 1) tag("batch_gt_1");
        if (H == 1 && W == 1) tag("spatial_1x1");
        tag("C_" + std::to_string(Cc));
        const Shape in_shape{N, Cc, H, W};
        const NodeRef p = g.parameter("input", in_shape);
        input_range = pick_input_range(Cc);
        std::vector<float> v(static_cast<size_t>(num_elements(in_shape)));
        {
            const float lo = *std::min_element(input_range.il.begin(), input_range.il.end());
            const float hi = *std::max_element(input_range.ih.begin(), input_range.ih.end());
            const float w = hi - lo;
            for (float& f : v) f = uni(lo - 0.2f * w, hi + 0.2f * w);
        }
        clean.push_back(Tensor::f32(in_shape, v));
        note("input " + to_string(in_shape) + " L=" + std::to_string(input_range.levels));
        if (opt.allow_nonconstant_ranges && chance(0.03)) {
            // Non-constant input_low: a second Parameter (-> generic fp32 path).
            const NodeRef lo = g.parameter("input_low", {});
            clean.push_back(Tensor::f32({}, {input_range.il[0]}));
            const Range& r = input_range;
            const NodeRef ih = cst("fq_in.ih", {}, {r.ih[0]});
            const NodeRef ol = cst("fq_in.ol", {}, {r.il[0]}), oh = cst("fq_in.oh", {}, {r.ih[0]});
            x = g.fake_quantize("fq_in", p, lo, ih, ol, oh, r.levels);
            input_range.il.resize(1); input_range.ih.resize(1);
            tag("nonconstant_range");
            note("non-constant il");
        } else {
            x = make_fq("fq_in", p, input_range);
        }
        x_fq = true;
        tag("fq_on_network_input");
        const int blocks = 1 + static_cast<int>(u(static_cast<uint64_t>(opt.max_blocks)));
        for (int b = 0; b < blocks; ++b) block();
        head();
        out.inputs = clean;
        if (opt.edge_inputs) inject_edges(out.inputs[0]);
    }
};

} // namespace

RandomGraph build_random_graph(uint64_t seed, const GenOptions& opt) {
    Gen gen(seed, opt);
    gen.build();
    gen.out.seed = seed;
    gen.out.graph = std::move(gen.g);
    return std::move(gen.out);
}

} // namespace qjit::rgraph
