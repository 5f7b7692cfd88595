// Pass 1: fold FakeQuantize on constant weights into s8 codes (spec §2.4, §8.1).
#include <cmath>
#include <cstring>
#include <memory>

#include "jit/fq_math.hpp"
#include "jit/passes/pass_util.hpp"
#include "jit/passes/passes.hpp"

namespace qjit::passes {
namespace {

using detail::axis_vector;

// The output-channel axis of the weights as every consumer sees it, or -1 when the FakeQuantize
// has a consumer that is not a weight input or the consumers disagree.
int weight_axis(const ir::Graph& g, int fq_id, const Shape& w) {
    int axis = -1;
    const std::vector<int> users = g.consumers(fq_id);
    if (users.empty()) return -1;
    for (int u : users) {
        const ir::Node& n = g.node(u);
        if (n.inputs.size() != 2 || n.inputs[1] != fq_id || n.inputs[0] == fq_id) return -1;
        int a = -1;
        if (n.op == ir::Op::Convolution && w.size() == 4)
            a = 0; // OIHW
        else if (n.op == ir::Op::GroupConvolution && w.size() == 5)
            a = 0; // [G, O/G, I/G, KH, KW]: the output channel is axes {0, 1} flattened (group_vector)
        else if (n.op == ir::Op::MatMul && w.size() == 2)
            a = n.transpose_b ? 0 : 1; // [N,K] or [K,N]: the axis of N
        else
            return -1;
        if (axis >= 0 && a != axis) return -1;
        axis = a;
    }
    return axis;
}

// GroupConvolution weights [G, O/G, I/G, KH, KW] (spec §8.1): a range that broadcasts to them
// without growing them and varies only along axes 0 and 1 gives one value per output channel
// o = g*O/G + m (or one value when all are bit-equal), like axis_vector for the flattened axis.
bool group_vector(const Tensor& r, const Shape& w, Broadcast b, std::vector<float>& out) {
    out.clear();
    const Shape& rs = r.shape();
    if (w.size() != 5 || b == Broadcast::pdpd || (b == Broadcast::none && rs != w)) return false;
    if (rs.size() > w.size() || r.numel() <= 0) return false;
    int64_t d[5] = {1, 1, 1, 1, 1};
    const size_t off = w.size() - rs.size();
    for (size_t i = 0; i < rs.size(); ++i) {
        const size_t wi = off + i;
        if (rs[i] == 1) continue;
        if (rs[i] != w[wi] || wi > 1) return false;
        d[wi] = rs[i];
    }
    const int64_t opg = w[1];
    out.resize(static_cast<size_t>(w[0] * opg));
    for (int64_t o = 0; o < w[0] * opg; ++o) {
        const int64_t gi = d[0] > 1 ? o / opg : 0, m = d[1] > 1 ? o % opg : 0;
        out[static_cast<size_t>(o)] = r.at_f32(gi * d[1] + m);
    }
    bool equal = true;
    for (size_t i = 1; i < out.size() && equal; ++i) equal = std::memcmp(&out[i], &out[0], sizeof(float)) == 0;
    if (equal) out.resize(1);
    return true;
}

bool fold_one(ir::Graph& g, int id) {
    const ir::Node fq = g.node(id);
    if (fq.inputs.size() != 5) return false;
    for (int in : fq.inputs)
        if (!detail::is_live_constant(g, in)) return false;
    if (fq.levels < 2 || fq.levels > 256) return false;
    const Tensor& w = g.node(fq.inputs[0]).value;
    const Shape& ws = w.shape();
    if (ws != fq.shape || w.numel() <= 0) return false;
    const int axis = weight_axis(g, id, ws);
    if (axis < 0) return false;

    const bool grouped = ws.size() == 5; // GroupConvolution weights
    std::vector<float> r[4]; // il, ih, ol, oh
    for (int i = 0; i < 4; ++i) {
        const Tensor& range = g.node(fq.inputs[1 + i]).value;
        const bool ok = grouped ? group_vector(range, ws, fq.broadcast, r[i])
                                : axis_vector(range, ws, axis, fq.broadcast, r[i]);
        if (!ok || !detail::all_finite(r[i])) return false;
    }
    auto at = [](const std::vector<float>& v, int64_t o) { return v.size() == 1 ? v[0] : v[static_cast<size_t>(o)]; };
    const int64_t oc = grouped ? ws[0] * ws[1] : ws[static_cast<size_t>(axis)];
    for (int64_t o = 0; o < oc; ++o)
        if (!(at(r[0], o) < at(r[1], o))) return false; // il >= ih: generic fp32 path

    const int L = static_cast<int>(fq.levels);
    const int64_t inner = w.numel() / oc;
    const int64_t n_cols = ws.back(); // [K,N] row stride
    auto src = [&](int64_t o, int64_t j) { return axis == 0 ? o * inner + j : j * n_cols + o; };

    auto qw = std::make_shared<QuantWeights>();
    qw->levels = L;
    std::vector<int8_t>& q = qw->q.mut();
    std::vector<float>& w_float = qw->w_float.mut();
    q.reserve(static_cast<size_t>(w.numel())); // filled in order below (no zeroing pass over them)
    w_float.reserve(static_cast<size_t>(w.numel()));
    qw->s_w.assign(static_cast<size_t>(oc), 0.0);
    qw->z_w.assign(static_cast<size_t>(oc), 0.0);
    qw->n_dropped.assign(static_cast<size_t>(oc), 0.0);
    qw->const_channel.assign(static_cast<size_t>(oc), 0);
    qw->w_c.assign(static_cast<size_t>(oc), 0.0);
    Tensor value(ElemType::f32, ws);
    float* val = value.data<float>();
    const float* wf = w.type() == ElemType::f32 ? w.data<float>() : nullptr;
    const int c = L / 2;
    std::vector<int> kbuf;
    for (int64_t o = 0; o < oc; ++o) {
        const size_t ou = static_cast<size_t>(o);
        const float il = at(r[0], o), ih = at(r[1], o), ol = at(r[2], o), oh = at(r[3], o);
        const bool cst = ol == oh;
        if (wf != nullptr && axis == 0) { // a contiguous f32 row: the vectorized form, same bits
            kbuf.resize(static_cast<size_t>(inner));
            float* yrow = val + o * inner;
            fq::fake_quantize_and_level_n(wf + o * inner, inner, il, ih, ol, oh, L, yrow, kbuf.data());
            w_float.insert(w_float.end(), yrow, yrow + inner);
            // The row's codes in one vectorizable pass (push_back per weight was ~15 % of a
            // ResNet-50 compile); resize stays within the reserved capacity.
            const size_t at = q.size();
            q.resize(at + static_cast<size_t>(inner)); // zeroes: a constant channel's codes
            if (!cst) {
                int8_t* qo = q.data() + at;
                const int* kb = kbuf.data();
                for (int64_t j = 0; j < inner; ++j) qo[j] = static_cast<int8_t>(kb[j] - c);
            }
        } else {
            for (int64_t j = 0; j < inner; ++j) {
                const int64_t s = src(o, j);
                const float x = wf ? wf[s] : w.at_f32(s);
                int k = 0;
                const float y = fq::fake_quantize_and_level(x, il, ih, ol, oh, L, &k);
                val[s] = y;
                w_float.push_back(y); // index o * inner + j
                q.push_back(cst ? int8_t{0} : static_cast<int8_t>(k - c));
            }
        }
        if (cst) {
            qw->const_channel[ou] = 1;
            qw->w_c[ou] = ol;
            continue;
        }
        const double dol = ol, doh = oh;
        const double sw = (doh - dol) / static_cast<double>(L - 1);
        qw->s_w[ou] = sw;
        if (dol * static_cast<double>(L - 1) + static_cast<double>(c) * (doh - dol) == 0.0) continue; // symmetric
        const double zw = -static_cast<double>(c) - dol / sw;
        if (std::fabs(zw) <= std::ldexp(1.0, -16)) {
            qw->n_dropped[ou] = zw;
        } else {
            qw->z_w[ou] = zw;
        }
    }

    ir::Node k;
    k.op = ir::Op::Constant;
    k.name = fq.name;
    k.type = ElemType::f32;
    k.shape = ws;
    k.value = std::move(value);
    k.qweights = std::move(qw);
    const int nid = g.add(std::move(k));
    g.replace_uses(id, nid);
    return true;
}

} // namespace

int fold_weight_fq(ir::Graph& g) {
    int n = 0;
    const int count = g.size();
    for (int id = 0; id < count; ++id) {
        const ir::Node& node = g.node(id);
        if (node.dead || node.op != ir::Op::FakeQuantize) continue;
        if (fold_one(g, id)) {
            ++n;
            g.remove_dead();
        }
    }
    return n;
}

} // namespace qjit::passes
