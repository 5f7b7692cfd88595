// The interface between the scheduler/runtime and generated kernels. No Xbyak types here.
// Every kernel takes one pointer to an argument struct (SysV: rdi). The structs hold only
// run-time pointers and ranges: scales, zero points, bias and compensation are baked into the code.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jit/layout.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"
#include "qjit/qjit.hpp"

namespace qjit {

// QConv: computes output rows [oh_begin, oh_end) and output-channel blocks [ocb_begin, ocb_end)
// (block = ConvBlocking::oc_block() channels) of one image.
struct ConvArgs {
    const uint8_t* src; // input layout offset(n, 0, 0)  (the kernel reaches the halo with negative offsets)
    void* dst;          // output layout offset(n, 0, 0): u8 levels or f32
    const void* wei;    // packed weights (pack_conv_weights)
    int64_t oh_begin, oh_end;
    int64_t ocb_begin, ocb_end;
};

// Quantize: f32 NCHW image -> u8 levels in an ActLayout; channels [c_begin, c_end) of one image.
struct QuantizeArgs {
    const float* src; // NCHW image n
    uint8_t* dst;     // layout offset(n, 0, 0)
    int64_t c_begin, c_end;
};

// Dequantize: u8 levels in an ActLayout -> f32 NCHW image; channels [c_begin, c_end) of one image.
struct DequantizeArgs {
    const uint8_t* src; // layout offset(n, 0, 0)
    float* dst;         // NCHW image n
    int64_t c_begin, c_end;
};

// QEltwise: output rows [h_begin, h_end) of one image. Each source points at its layout's
// offset(n', 0, 0) for the image n' it broadcasts from (the kernel adds its own row/pixel strides,
// 0 along broadcast dims).
struct EltwiseArgs {
    const uint8_t* src0;
    const uint8_t* src1; // unused by Affine
    void* dst;           // output layout offset(n, 0, 0): u8 levels or f32
    int64_t h_begin, h_end;
};

// u8 Concat copy of one input: its rows [h_begin, h_end) of one image into the output.
struct ConcatCopyArgs {
    const uint8_t* src; // input layout offset(n, 0, 0)
    uint8_t* dst;       // output element of input pixel (n, 0, 0), channel 0 (the piece's origin)
    int64_t h_begin, h_end;
};

// MaxPool / AvgPool: computes output rows [oh_begin, oh_end) of one image, every channel.
struct PoolArgs {
    const uint8_t* src; // input layout offset(n, 0, 0)  (the kernel reaches the halo with negative offsets)
    void* dst;          // output layout offset(n, 0, 0): u8 levels or f32
    int64_t oh_begin, oh_end;
};

// Register blocking of the conv kernel: a tile of `pixels` output pixels x `oc_vecs` vectors of
// output channels (8 per ymm, 16 per zmm).
// Entries [offset, offset + n) of a per-channel constant vector, padded with `pad` to `width`
// entries (the emitters' per-channel pool vectors: width = oc blocks x block width).
template <class X>
std::vector<X> padded_channels(const std::vector<X>& v, size_t offset, size_t n, size_t width, X pad) {
    std::vector<X> r(width, pad);
    for (size_t i = 0; i < std::min(n, width); ++i) r[i] = v[offset + i];
    return r;
}

struct ConvBlocking {
    int pixels = 4;
    int oc_vecs = 2;
    int lanes = 8; // output channels per vector: 8 (avx2, avx2_vnni), 16 (avx512_core, avx512_core_vnni)
    // avx2 / avx512_core: let instruction groups that provably cannot saturate s16 (spec §4.5) use
    // vpmaddubsw; the packed weights then carry the plan of emitters/conv_maddubs.hpp and the exact
    // vpmaddwd form serves the others. Unused by the VNNI levels (vpdpbusd is exact).
    bool maddubs = false;
    Isa isa = Isa::avx2; // the level the kernel and its packed weights are made for
    int oc_block() const { return oc_vecs * lanes; }
};

// A generated kernel: executable, read-only code (never writable and executable at once).
class JitKernel {
public:
    virtual ~JitKernel() = default;
    virtual const void* entry() const = 0;
    virtual size_t code_size() const = 0;
    virtual const uint8_t* code() const = 0;
    std::string name;   // grammar: op_src_dst[_postops]_tile__isa
    int constants = 0;  // per-channel constants in the constant pool
    template <class Args> void call(const Args* a) const {
        reinterpret_cast<void (*)(const Args*)>(const_cast<void*>(entry()))(a);
    }
};

// Prepacked weights, 64-byte aligned.
struct PackedWeights {
    std::shared_ptr<uint8_t> data;
    size_t bytes = 0;
};

} // namespace qjit
