#include "runtime/qeltwise_ref.hpp"

#include "qjit/error.hpp"
#include "runtime/ref_ops.hpp"

namespace qjit::ref {

void qeltwise(const EltwiseConsts& c, const uint8_t* src0, const BroadcastOperand& in0, const uint8_t* src1,
              const BroadcastOperand* in1, void* dst, const ActLayout& out) {
    const bool binary = c.kind != QEltwiseDesc::Affine;
    for (int64_t n = 0; n < out.N; ++n)
        for (int64_t h = 0; h < out.H; ++h)
            for (int64_t w = 0; w < out.W; ++w) {
                const uint8_t* p0 = src0 + in0.offset(n, h, w);
                const uint8_t* p1 = binary ? src1 + in1->offset(n, h, w) : nullptr;
                const int64_t o = out.offset(n, h, w);
                for (int64_t ch = c.c; ch < (c.c + 7) / 8 * 8; ++ch) { // padded lanes: level 0 / +0.0f
                    if (out.elem_bytes == 4)
                        static_cast<float*>(dst)[o + ch] = 0.0f;
                    else
                        static_cast<uint8_t*>(dst)[o + ch] = 0;
                }
                for (int64_t ch = 0; ch < c.c; ++ch) {
                    const int32_t k0 = p0[in0.bc_c ? 0 : ch];
                    const int32_t k1 = binary ? p1[in1->bc_c ? 0 : ch] : 0;
                    int32_t k = 0;
                    float y = 0.0f;
                    eltwise_scalar(c, ch, k0, k1, &k, &y);
                    if (out.elem_bytes == 4)
                        static_cast<float*>(dst)[o + ch] = y;
                    else
                        static_cast<uint8_t*>(dst)[o + ch] = static_cast<uint8_t>(k);
                }
            }
}

} // namespace qjit::ref

namespace qjit::oracle {

Tensor qeltwise_logical(const QEltwiseDesc& d, const Tensor& k0, const Tensor* k1, const Shape& out_shape) {
    const std::string& name = d.fused_nodes.empty() ? std::string("<qeltwise>") : d.fused_nodes.front();
    const EltwiseConsts c = fold_eltwise(d);
    const bool binary = d.kind != QEltwiseDesc::Affine;
    if (k0.type() != ElemType::u8 || k0.shape().size() != out_shape.size() ||
        (binary && (!k1 || k1->type() != ElemType::u8 || k1->shape().size() != out_shape.size())))
        throw Error(ErrorCode::Internal, name, "QEltwise inputs are not u8 tensors of the output's rank");
    if (out_shape.size() < 2 || out_shape[1] != d.channels)
        throw Error(ErrorCode::Internal, name, "QEltwise output channels do not match its desc");
    // Channel of a logical element: axis 1 (rank 2: the last axis, which is axis 1 too).
    int64_t inner = 1;
    for (size_t i = 2; i < out_shape.size(); ++i) inner *= out_shape[i];
    const ref::BroadcastIndex b0(k0.shape(), out_shape);
    const ref::BroadcastIndex b1(binary ? k1->shape() : out_shape, out_shape);
    Tensor r(d.out_levels ? ElemType::u8 : ElemType::f32, out_shape);
    const uint8_t* p0 = k0.data<uint8_t>();
    const uint8_t* p1 = binary ? k1->data<uint8_t>() : nullptr;
    for (int64_t i = 0; i < r.numel(); ++i) {
        const int64_t ch = (i / inner) % d.channels;
        int32_t k = 0;
        float y = 0.0f;
        eltwise_scalar(c, ch, p0[b0(i)], binary ? p1[b1(i)] : 0, &k, &y);
        if (d.out_levels)
            r.data<uint8_t>()[i] = static_cast<uint8_t>(k);
        else
            r.data<float>()[i] = y;
    }
    return r;
}

} // namespace qjit::oracle
