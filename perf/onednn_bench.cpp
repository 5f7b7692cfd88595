#include "perf/onednn_bench.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace qjit::perf {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

bool onednn_set_max_isa(const std::string& isa) {
    static const std::unordered_map<std::string, dnnl::cpu_isa> m{
        {"avx2", dnnl::cpu_isa::avx2},
        {"avx2_vnni", dnnl::cpu_isa::avx2_vnni},
        {"avx512_core", dnnl::cpu_isa::avx512_core},
        {"avx512_core_vnni", dnnl::cpu_isa::avx512_core_vnni},
        {"all", dnnl::cpu_isa::all},
    };
    auto it = m.find(isa);
    if (it == m.end()) return false;
    try {
        return dnnl::set_max_cpu_isa(it->second) == dnnl::status::success;
    } catch (const dnnl::error&) {
        return false;
    }
}

std::string onednn_version() {
    const dnnl_version_t* v = dnnl::version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " (" +
           v->hash + ")";
}

void onednn_set_threads(int threads) { omp_set_num_threads(threads); }

void omp_empty_parallel_region(int threads) {
    static std::atomic<int> sink{0};
#pragma omp parallel num_threads(threads)
    { sink.fetch_add(omp_get_thread_num(), std::memory_order_relaxed); }
}

struct OnednnKernel::Impl {
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
    dnnl::primitive prim;
    std::string impl;
    double create_us = 0;
    double nonzero = 0;
    std::unique_ptr<RotatingSet> set;
    std::vector<std::unordered_map<int, dnnl::memory>> args; // per copy
    dnnl::memory bias, zp_src, zp_dst;
    int32_t zp_src_v = 0, zp_dst_v = 0;
};

namespace {

// Per-output-channel requantization of the qjit description in oneDNN 2.x terms:
// dst = scale[o] * (acc + bias[o]) (+ relu, + dst zero point), acc in units of s_in * s_w[o].
struct Quant {
    std::vector<float> scales, bias;
    int32_t zp_src = 0, zp_dst = 0;
};

Quant quant_of(const BenchShape& s, const QConvDesc* d, bool zp) {
    Quant q;
    const int64_t oc = s.kind == BenchShape::Depthwise ? s.c : s.oc;
    double s_in = 2.55 / 255, s_out = 6.5 / 255;
    if (d) {
        s_in = (static_cast<double>(d->in.ih.at(0)) - d->in.il.at(0)) / (d->in.levels - 1);
        s_out = (static_cast<double>(d->out.oh.at(0)) - d->out.ol.at(0)) / (d->out.levels - 1);
        q.zp_src = static_cast<int32_t>(std::lround(-d->in.il.at(0) / s_in));
        q.zp_dst = static_cast<int32_t>(std::lround(-d->out.ol.at(0) / s_out));
    }
    if (!zp) q.zp_src = q.zp_dst = 0;
    std::mt19937 rng(5);
    std::normal_distribution<float> bd(0.0f, 0.5f);
    for (int64_t o = 0; o < oc; ++o) {
        const double s_w = d ? d->w.s_w[static_cast<size_t>(o)] : 0.02;
        float b = bd(rng);
        if (d)
            for (const PostOp& p : d->post)
                if (p.kind == PostOp::Bias) b = p.v[p.v.size() == 1 ? 0 : static_cast<size_t>(o)];
        q.scales.push_back(static_cast<float>(s_in * s_w / s_out));
        q.bias.push_back(static_cast<float>(b / (s_in * s_w)));
    }
    return q;
}

// OIHW (or GOIHW for depthwise) s8 weight codes.
std::vector<int8_t> weight_codes(const BenchShape& s, const QConvDesc* d) {
    if (d) return d->w.q;
    std::mt19937 rng(9);
    std::uniform_int_distribution<int> u(-127, 127);
    std::vector<int8_t> w(static_cast<size_t>(s.c * s.k * s.k));
    for (int8_t& x : w) x = static_cast<int8_t>(u(rng));
    return w;
}

double dst_nonzero_fraction(const dnnl::memory& m) {
    const size_t n = m.get_desc().get_size();
    const uint8_t* p = static_cast<const uint8_t*>(m.get_data_handle());
    size_t nz = 0;
    for (size_t i = 0; i < n; ++i) nz += p[i] != 0;
    return n ? static_cast<double>(nz) / static_cast<double>(n) : 0;
}

} // namespace

OnednnKernel::OnednnKernel(const BenchShape& s, const QConvDesc* d, bool zero_points, int threads,
                           OnednnPrim prim_kind, int64_t rotate_bytes)
    : p_(std::make_unique<Impl>()) {
    Impl& I = *p_;
    omp_set_num_threads(threads);
    const Quant q = quant_of(s, d, zero_points);
    I.zp_src_v = q.zp_src;
    I.zp_dst_v = q.zp_dst;
    const bool fc = s.kind == BenchShape::FC, dw = s.kind == BenchShape::Depthwise;
    const int64_t oc = dw ? s.c : s.oc;

    dnnl::primitive_attr attr;
    attr.set_output_scales(2, q.scales); // per output channel: dim 1 of (N, OC, ...) / (M, N)
    dnnl::post_ops po;
    po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(po);
    if (zero_points) {
        attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
        attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
    }

    dnnl::memory::desc src_md, wei_user_md, dst_md, bias_md;
    dnnl::primitive_desc_base* pd_base = nullptr;
    dnnl::convolution_forward::primitive_desc conv_pd;
    dnnl::matmul::primitive_desc mm_pd;
    dnnl::inner_product_forward::primitive_desc ip_pd;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        if (fc && prim_kind == OnednnPrim::InnerProduct) {
            src_md = {{s.m, s.c}, dt::u8, tag::nc};
            wei_user_md = {{s.oc, s.c}, dt::s8, tag::oi};
            bias_md = {{s.oc}, dt::f32, tag::x};
            dst_md = {{s.m, s.oc}, dt::u8, tag::nc};
            dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src_md,
                                                   {{s.oc, s.c}, dt::s8, tag::any}, bias_md, dst_md);
            ip_pd = {desc, attr, I.eng};
            I.prim = dnnl::inner_product_forward(ip_pd);
            pd_base = &ip_pd;
        } else if (fc) {
            src_md = {{s.m, s.c}, dt::u8, tag::ab};
            wei_user_md = {{s.c, s.oc}, dt::s8, tag::ba}; // [N][K] in memory = OI
            bias_md = {{1, s.oc}, dt::f32, tag::ab};
            dst_md = {{s.m, s.oc}, dt::u8, tag::ab};
            dnnl::matmul::desc desc(src_md, {{s.c, s.oc}, dt::s8, tag::any}, bias_md, dst_md);
            mm_pd = {desc, attr, I.eng};
            I.prim = dnnl::matmul(mm_pd);
            pd_base = &mm_pd;
        } else {
            src_md = {{1, s.c, s.h, s.w}, dt::u8, tag::nhwc};
            dst_md = {{1, oc, s.oh(), s.ow()}, dt::u8, tag::nhwc};
            bias_md = {{oc}, dt::f32, tag::x};
            dnnl::memory::desc wei_any;
            if (dw) {
                wei_user_md = {{s.c, 1, 1, s.k, s.k}, dt::s8, tag::goihw};
                wei_any = {{s.c, 1, 1, s.k, s.k}, dt::s8, tag::any};
            } else {
                wei_user_md = {{s.oc, s.c, s.k, s.k}, dt::s8, tag::oihw};
                wei_any = {{s.oc, s.c, s.k, s.k}, dt::s8, tag::any};
            }
            dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                                 dnnl::algorithm::convolution_direct, src_md, wei_any, bias_md, dst_md,
                                                 {s.stride, s.stride}, {s.pad, s.pad}, {s.pad, s.pad});
            conv_pd = {desc, attr, I.eng};
            I.prim = dnnl::convolution_forward(conv_pd);
            pd_base = &conv_pd;
        }
    } catch (const dnnl::error& e) {
        throw std::runtime_error(std::string("oneDNN has no implementation: ") + e.what());
    }
    I.create_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    I.impl = pd_base->impl_info_str();

    const dnnl::memory::desc wei_md = pd_base->weights_desc();
    // Rotated buffers: src, dst, packed weights (and their compensation, inside weights_desc).
    I.set = std::make_unique<RotatingSet>(
        std::vector<int64_t>{static_cast<int64_t>(src_md.get_size()), static_cast<int64_t>(dst_md.get_size()),
                             static_cast<int64_t>(wei_md.get_size())},
        rotate_bytes);
    std::mt19937 rng(3);
    for (size_t i = 0; i < src_md.get_size(); ++i) I.set->buf(0, 0)[i] = static_cast<uint8_t>(rng());
    std::vector<int8_t> w = weight_codes(s, d);
    dnnl::memory wuser(wei_user_md, I.eng, w.data());
    dnnl::memory wpacked(wei_md, I.eng, I.set->buf(0, 2));
    dnnl::reorder(wuser, wpacked).execute(I.strm, wuser, wpacked);
    I.strm.wait();
    I.set->replicate();

    I.bias = dnnl::memory(bias_md, I.eng);
    std::memcpy(I.bias.get_data_handle(), q.bias.data(), q.bias.size() * sizeof(float));
    const dnnl::memory::desc zp_md({1}, dt::s32, tag::x);
    I.zp_src = dnnl::memory(zp_md, I.eng, &I.zp_src_v);
    I.zp_dst = dnnl::memory(zp_md, I.eng, &I.zp_dst_v);
    for (int c = 0; c < I.set->copies(); ++c) {
        std::unordered_map<int, dnnl::memory> a{
            {DNNL_ARG_SRC, dnnl::memory(src_md, I.eng, I.set->buf(c, 0))},
            {DNNL_ARG_WEIGHTS, dnnl::memory(wei_md, I.eng, I.set->buf(c, 2))},
            {DNNL_ARG_BIAS, I.bias},
            {DNNL_ARG_DST, dnnl::memory(dst_md, I.eng, I.set->buf(c, 1))},
        };
        if (zero_points) {
            a[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = I.zp_src;
            a[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST] = I.zp_dst;
        }
        I.args.push_back(std::move(a));
    }
    run(0);
    I.nonzero = dst_nonzero_fraction(I.args[0].at(DNNL_ARG_DST));
}

OnednnKernel::~OnednnKernel() = default;

void OnednnKernel::run(int copy) {
    p_->prim.execute(p_->strm, p_->args[static_cast<size_t>(copy)]);
    p_->strm.wait();
}

int OnednnKernel::copies() const { return p_->set->copies(); }
const std::string& OnednnKernel::impl() const { return p_->impl; }
double OnednnKernel::create_us() const { return p_->create_us; }
double OnednnKernel::nonzero_fraction() const { return p_->nonzero; }

} // namespace qjit::perf
