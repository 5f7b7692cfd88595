// The canonical description of one generated kernel: which emitter, which ISA level and every input
// that shapes its code (geometry, layouts, blocking, the folded constants baked into the code; not
// the weight codes themselves, which only the packed weights hold, see add(QuantWeights)). Two
// kernels with equal keys have equal code bytes, so the code
// cache (jit/code_cache.*) may hand one generated kernel to several steps and models.
// Node names are not part of a key: they only name errors, never change code.
//
// Completeness guard: kernel_key.cpp static_asserts the size of every description struct it reads.
// A new field in one of them fails the build there until the key writes it too; the code cache's
// verify mode (QJIT_CODE_CACHE=verify, test_code_cache) regenerates on every hit and compares bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "emitters/kernels.hpp"
#include "jit/eltwise_fold.hpp"
#include "jit/pool_fold.hpp"
#include "jit/quant_params.hpp"
#include "jit/requant_fold.hpp"

namespace qjit {

class KernelKey {
public:
    // `emitter` names the generator ("conv", "group_conv_avx2", ...); `isa` the level asked for.
    KernelKey(const char* emitter, Isa isa);

    KernelKey& i(int64_t v);
    KernelKey& f(float v);  // by bit pattern (-0.0f != +0.0f, NaN payloads kept)
    KernelKey& d(double v); // by bit pattern
    // Raw bytes: inlined up to 256 bytes, above that their length and a 128-bit hash.
    KernelKey& bytes(const void* p, size_t n);
    template <class T> KernelKey& vec(const std::vector<T>& v) {
        i(static_cast<int64_t>(v.size()));
        return bytes(v.data(), v.size() * sizeof(T));
    }

    KernelKey& add(const ActLayout& l);
    KernelKey& add(const BroadcastOperand& b);
    KernelKey& add(const ConvGeom& g);
    KernelKey& add(const ConvBlocking& b);
    KernelKey& add(const ActQuant& q);
    KernelKey& add(const QuantWeights& w);
    KernelKey& add(const std::vector<PostOp>& post);
    KernelKey& add(const QConvDesc& d);
    KernelKey& add(const QConvConsts& c);
    KernelKey& add(const QEltwiseDesc& d);
    KernelKey& add(const EltwiseConsts& c);
    KernelKey& add(const QAvgPoolDesc& d);
    KernelKey& add(const AvgPoolConsts& c);

    const std::string& str() const { return s_; }

private:
    std::string s_;
};

// 128-bit hash of a byte string (two independent 64-bit lanes), for keys of large inputs.
struct Hash128 {
    uint64_t lo = 0, hi = 0;
};
Hash128 hash128(const void* p, size_t n);

} // namespace qjit
