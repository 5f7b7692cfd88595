#include "jit/kernel_key.hpp"

#include <cstring>

namespace qjit {

// A new field in one of these structs must be written by the key below (then update the size).
static_assert(sizeof(ActLayout) == 80, "ActLayout changed: update KernelKey::add(const ActLayout&)");
static_assert(sizeof(BroadcastOperand) == 88, "BroadcastOperand changed: update KernelKey::add");
static_assert(sizeof(ConvGeom) == 144, "ConvGeom changed: update KernelKey::add(const ConvGeom&)");
static_assert(sizeof(ConvBlocking) == 20, "ConvBlocking changed: update KernelKey::add(const ConvBlocking&)");
static_assert(sizeof(ActQuant) == 160, "ActQuant changed: update KernelKey::add(const ActQuant&)");
static_assert(sizeof(QuantWeights) == 160, "QuantWeights changed: update KernelKey::add(const QuantWeights&)");
static_assert(sizeof(PostOp) == 72, "PostOp changed: update KernelKey::add(const std::vector<PostOp>&)");
static_assert(sizeof(QConvDesc) == 680, "QConvDesc changed: update KernelKey::add(const QConvDesc&)");
static_assert(sizeof(QConvConsts) == 360, "QConvConsts changed: update KernelKey::add(const QConvConsts&)");
static_assert(sizeof(QEltwiseDesc) == 552, "QEltwiseDesc changed: update KernelKey::add(const QEltwiseDesc&)");
static_assert(sizeof(EltwiseConsts) == 288, "EltwiseConsts changed: update KernelKey::add(const EltwiseConsts&)");
static_assert(sizeof(QAvgPoolDesc) == 504, "QAvgPoolDesc changed: update KernelKey::add(const QAvgPoolDesc&)");
static_assert(sizeof(AvgPoolConsts) == 200, "AvgPoolConsts changed: update KernelKey::add(const AvgPoolConsts&)");

namespace {

uint64_t mix64(uint64_t x) { // a bijective avalanche step (xor-shift-multiply)
    x ^= x >> 31;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 29;
    x *= 0xCF1BBCDCB7A56463ull;
    x ^= x >> 32;
    return x;
}

} // namespace

Hash128 hash128(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    uint64_t a = 0x243F6A8885A308D3ull ^ n, c = 0x13198A2E03707344ull + n * 0x9E3779B97F4A7C15ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        std::memcpy(&w, b + i, 8);
        a = mix64(a ^ w) + 0xA4093822299F31D0ull;
        c = mix64(c + (w ^ 0x082EFA98EC4E6C89ull)) ^ (a >> 17);
    }
    uint64_t tail = 0;
    if (i < n) std::memcpy(&tail, b + i, n - i);
    a = mix64(a ^ tail ^ 0x452821E638D01377ull);
    c = mix64(c + tail + 0xBE5466CF34E90C6Cull);
    return {mix64(a ^ (c << 1)), mix64(c ^ (a >> 3))};
}

KernelKey::KernelKey(const char* emitter, Isa isa) {
    s_ = emitter;
    s_ += '/';
    s_ += to_string(isa);
    s_ += '/';
}

KernelKey& KernelKey::i(int64_t v) { return bytes(&v, sizeof v); }
KernelKey& KernelKey::f(float v) { return bytes(&v, sizeof v); }
KernelKey& KernelKey::d(double v) { return bytes(&v, sizeof v); }

KernelKey& KernelKey::bytes(const void* p, size_t n) {
    if (n <= 256) {
        if (n) s_.append(static_cast<const char*>(p), n);
        return *this;
    }
    const Hash128 h = hash128(p, n);
    s_ += '#';
    const uint64_t w[3] = {static_cast<uint64_t>(n), h.lo, h.hi};
    s_.append(reinterpret_cast<const char*>(w), sizeof w);
    return *this;
}

KernelKey& KernelKey::add(const ActLayout& l) {
    return i(l.N).i(l.H).i(l.W).i(l.C).i(l.c_stride).i(l.halo_t).i(l.halo_l).i(l.halo_b).i(l.halo_r).i(l.elem_bytes);
}

KernelKey& KernelKey::add(const BroadcastOperand& b) {
    return add(b.l).i(b.bc_n).i(b.bc_h).i(b.bc_w).i(b.bc_c);
}

KernelKey& KernelKey::add(const ConvGeom& g) {
    return i(g.N).i(g.C).i(g.H).i(g.W).i(g.OC).i(g.KH).i(g.KW).i(g.OH).i(g.OW).i(g.SH).i(g.SW).i(g.DH).i(g.DW)
        .i(g.PT).i(g.PL).i(g.PB).i(g.PR).i(g.groups);
}

KernelKey& KernelKey::add(const ConvBlocking& b) {
    return i(b.pixels).i(b.oc_vecs).i(b.lanes).i(b.maddubs).i(static_cast<int64_t>(b.isa));
}

KernelKey& KernelKey::add(const ActQuant& q) {
    return i(q.levels).vec(q.il.v).vec(q.ih.v).vec(q.ol.v).vec(q.oh.v).i(q.channels).vec(q.onnx_scale.v).vec(q.onnx_off.v);
}

KernelKey& KernelKey::add(const QuantWeights& w) {
    // The per-weight arrays are left out: no emitter reads w.w_float (Oracle A's floats) or the codes
    // w.q. The codes reach a kernel only through the folded constants and the blocking (the
    // vpmaddubsw plan's choice), both in the key, and through the packed weights, which are packed per
    // node and never cached. Hashing them was most of the key's cost (5 bytes per weight; ResNet-50:
    // 12 % of the compile). CodeCache.VerifyModeOnRandomGraphs regenerates every hit and compares bytes.
    return i(static_cast<int64_t>(w.q.size())).vec(w.s_w).vec(w.z_w).vec(w.n_dropped).vec(w.const_channel).vec(w.w_c).i(w.levels);
}

KernelKey& KernelKey::add(const std::vector<PostOp>& post) {
    i(static_cast<int64_t>(post.size()));
    for (const PostOp& p : post) i(p.kind).vec(p.v).f(p.lo).f(p.hi); // p.node: a name only
    return *this;
}

KernelKey& KernelKey::add(const QConvDesc& d) {
    return add(d.g).add(d.in).add(d.w).add(d.post).i(d.out_levels).add(d.out); // fused_nodes: names only
}

KernelKey& KernelKey::add(const QConvConsts& c) {
    i(static_cast<int64_t>(c.mode)).i(c.oc).i(c.oc_pad).i(c.has_n).vec(c.seg_c).vec(c.m).vec(c.n);
    i(c.n_row_classes).i(c.n_col_classes).vec(c.row_class).vec(c.col_class).vec(c.e);
    vec(c.k_lo).vec(c.k_hi).f(c.v_max).f(c.v_min).vec(c.k_off).i(c.has_bounds).vec(c.y_lo).vec(c.y_hi).vec(c.threshold);
    return i(c.out_levels);
}

KernelKey& KernelKey::add(const QEltwiseDesc& d) {
    return i(d.kind).i(d.channels).add(d.in0).add(d.in1).add(d.post).i(d.out_levels).add(d.out);
}

KernelKey& KernelKey::add(const EltwiseConsts& c) {
    i(c.kind).i(static_cast<int64_t>(c.mode)).i(c.c).i(c.c_pad).i(c.has_p).i(c.has_a0).i(c.has_a1);
    vec(c.p).vec(c.a0).vec(c.a1).vec(c.e).vec(c.k_lo).vec(c.k_hi).f(c.v_max).f(c.v_min).vec(c.k_off).i(c.out_levels);
    return i(c.has_bounds).vec(c.y_lo).vec(c.y_hi).vec(c.threshold);
}

KernelKey& KernelKey::add(const QAvgPoolDesc& d) {
    return add(d.g).i(d.exclude_pad).add(d.in).i(d.out_levels).add(d.out);
}

KernelKey& KernelKey::add(const AvgPoolConsts& c) {
    i(static_cast<int64_t>(c.mode)).i(c.c).i(c.c_pad).i(c.n_row_classes).i(c.n_col_classes);
    vec(c.row_class).vec(c.col_class).vec(c.m).vec(c.e).f(c.v_max).f(c.v_min).vec(c.k_off).i(c.out_levels);
    return vec(c.threshold);
}

} // namespace qjit
