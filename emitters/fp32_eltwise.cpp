#include "emitters/fp32_eltwise.hpp"

#include "emitters/fp32_stream.hpp"
#include "emitters/fp32_transcendental.hpp"
#include "emitters/generator.hpp"
#include "emitters/isa_traits.hpp"
#include "qjit/error.hpp"

namespace qjit {

bool fp32_op_binary(Fp32Op op) { return op == Fp32Op::Add || op == Fp32Op::Subtract || op == Fp32Op::Multiply; }

const char* fp32_op_name(Fp32Op op) {
    switch (op) {
    case Fp32Op::Relu: return "relu";
    case Fp32Op::Clamp: return "clamp";
    case Fp32Op::LeakyRelu: return "leaky_relu";
    case Fp32Op::HardSigmoid: return "hard_sigmoid";
    case Fp32Op::HardSwish: return "hard_swish";
    case Fp32Op::Add: return "add";
    case Fp32Op::Subtract: return "sub";
    case Fp32Op::Multiply: return "mul";
    case Fp32Op::Sigmoid: return "sigmoid";
    }
    return "?";
}

std::string fp32_eltwise_kernel_name(const Fp32EltwiseDesc& d, Isa isa) {
    if (d.op == Fp32Op::Sigmoid) return "fp32_sigmoid__avx2";
    std::string s = std::string("fp32_") + fp32_op_name(d.op);
    if (fp32_op_binary(d.op) && d.bcast != Fp32Bcast::None) s += d.bcast == Fp32Bcast::A ? "_bcast_a" : "_bcast_b";
    return s + "__" + to_string(isa);
}

namespace {

using namespace Xbyak;
using namespace Xbyak::util;

// Compare predicates (vcmpps imm8).
constexpr uint8_t kLtOq = 0x11, kGtOq = 0x1E, kNleUq = 0x06;

// Registers: r8 a, rsi b, rdx dst, rcx remaining count, rax / r9 scratch (emitters/fp32_stream).
// v0 x, v1 y, v2 result, v3-v4 temporaries, v5 tail mask (VEX), v8 zero, v9-v12 constants, v13
// broadcast operand.
template <Isa I> class Fp32EltwiseEmitter {
    using T = IsaTraits<I>;
    using Vmm = typename T::Vmm;

public:
    explicit Fp32EltwiseEmitter(const Fp32EltwiseDesc& d) : d_(d), binary_(fp32_op_binary(d.op)) {}

    void operator()(Generator& g) const {
        g.preamble({});
        g.mov(r8, g.ptr[rdi]);
        g.mov(rsi, g.ptr[rdi + 8]);
        g.mov(rdx, g.ptr[rdi + 16]);
        g.mov(rcx, g.ptr[rdi + 24]);
        VecOps<I>::zero(g, v(8));
        auto konst = [&](int idx, float f) { g.vbroadcastss(v(idx), g.pool(g.pool_f32({f}))); };
        switch (d_.op) {
        case Fp32Op::Clamp: konst(9, d_.p0), konst(10, d_.p1); break;
        case Fp32Op::LeakyRelu: konst(9, d_.p0); break;
        case Fp32Op::HardSigmoid: konst(9, d_.p0), konst(10, d_.p1), konst(11, 1.f); break;
        case Fp32Op::HardSwish: konst(9, 6.f), konst(10, 0.5f), konst(11, 1.f); break;
        default: break;
        }
        const bool sa = binary_ && d_.bcast == Fp32Bcast::A, sb = binary_ && d_.bcast == Fp32Bcast::B;
        if (sa) g.vbroadcastss(v(13), g.dword[r8]);
        if (sb) g.vbroadcastss(v(13), g.dword[rsi]);
        Fp32Stream<I> stream(5);
        stream.emit(
            g,
            [&](bool tail) {
                load(g, stream, tail, sa, sb);
                compute(g);
                stream.store(g, g.ptr[rdx], v(2), tail);
            },
            [&] {
                if (!sa) g.add(r8, T::vlen);
                if (binary_ && !sb) g.add(rsi, T::vlen);
                g.add(rdx, T::vlen);
            });
        g.postamble();
    }

    size_t size_hint() const { return 4096; }

private:
    static Vmm v(int i) { return Vmm(i); }

    // v0 <- a, v1 <- b (binary); masked (zeroed) lanes past n in the tail.
    void load(Generator& g, const Fp32Stream<I>& stream, bool tail, bool sa, bool sb) const {
        if (sa) g.vmovaps(v(0), v(13));
        else stream.load(g, v(0), g.ptr[r8], tail);
        if (!binary_) return;
        if (sb) g.vmovaps(v(1), v(13));
        else stream.load(g, v(1), g.ptr[rsi], tail);
    }

    void select(Generator& g, const Vmm& dst, const Vmm& x, const Vmm& y, uint8_t pred, const Vmm& src) const {
        blend_where<I>(g, dst, x, y, pred, src, 4);
    }

    void compute(Generator& g) const {
        const Vmm x = v(0), y = v(1), r = v(2), t = v(3), zero = v(8);
        switch (d_.op) {
        // With two NaN operands x86 returns the first source's NaN; ref::add / ref::multiply define
        // the result as x's NaN whatever order the compiler picked (tests/test_fp32_eltwise
        // BinaryOpsWithTwoNaNs...), so x is the first source everywhere.
        case Fp32Op::Add: g.vaddps(r, x, y); break;
        case Fp32Op::Subtract: g.vsubps(r, x, y); break;
        case Fp32Op::Multiply: g.vmulps(r, x, y); break;
        case Fp32Op::Relu:
            // keep v where !(v <= 0) (true for v > 0 and NaN), else +0
            if constexpr (T::evex) {
                g.vcmpps(k2, x, zero, kNleUq);
                g.vmovaps(r | k2 | T_z, x);
            } else {
                g.vcmpps(t, x, zero, kNleUq);
                g.vandps(r, x, t);
            }
            break;
        case Fp32Op::Clamp: // v < lo ? lo : (v > hi ? hi : v); NaN compares false and stays v
            g.vmovaps(r, x);
            select(g, r, x, v(10), kGtOq, v(10));
            select(g, r, x, v(9), kLtOq, v(9));
            break;
        case Fp32Op::LeakyRelu: // v < 0 ? alpha * v : v
            g.vmulps(t, v(9), x);
            g.vmovaps(r, x);
            select(g, r, x, zero, kLtOq, t);
            break;
        case Fp32Op::HardSigmoid: // max(0, min(1, alpha * v + beta))
            g.vmulps(t, v(9), x);
            g.vaddps(t, t, v(10));
            g.vminps(t, t, v(11)); // std::min(1, t) = t < 1 ? t : 1
            g.vmaxps(r, t, zero);  // std::max(0, t) = 0 < t ? t : 0
            break;
        case Fp32Op::HardSwish: // v * max(0, min(1, v / 6 + 0.5))
            g.vdivps(t, x, v(9));
            g.vaddps(t, t, v(10));
            g.vminps(t, t, v(11));
            g.vmaxps(t, t, zero);
            g.vmulps(r, x, t);
            break;
        case Fp32Op::Sigmoid: break; // emitters/fp32_transcendental
        }
    }

    Fp32EltwiseDesc d_;
    bool binary_;
};

template <Isa I> std::unique_ptr<JitKernel> build(const Fp32EltwiseDesc& d) {
    const Fp32EltwiseEmitter<I> e(d);
    auto k = build_kernel(fp32_eltwise_kernel_name(d, I), e.size_hint(), [&](Generator& g) { e(g); });
    k->constants = 0;
    return k;
}

} // namespace

std::unique_ptr<JitKernel> emit_fp32_eltwise(Isa isa, const Fp32EltwiseDesc& d) {
    if (d.op == Fp32Op::Sigmoid) return emit_fp32_sigmoid();
    return dispatch_isa(isa, "<fp32_eltwise>", "fp32 eltwise", [&](auto i) { return build<decltype(i)::value>(d); });
}

} // namespace qjit
