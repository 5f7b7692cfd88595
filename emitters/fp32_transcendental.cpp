#include "emitters/fp32_transcendental.hpp"

#include <cstring>
#include <vector>

#include "emitters/fp32_stream.hpp"
#include "emitters/generator.hpp"
#include "jit/exp_math.hpp"

namespace qjit {
namespace {

using namespace Xbyak;
using namespace Xbyak::util;

constexpr uint8_t kUnordQ = 0x03, kLtOq = 0x11, kGtOq = 0x1E; // vcmppd predicates

// A 32-byte pool entry of four copies of d.
int pool_f64(Generator& g, double d) {
    uint64_t b;
    std::memcpy(&b, &d, 8);
    std::vector<int32_t> v;
    for (int i = 0; i < 4; ++i) {
        v.push_back(static_cast<int32_t>(static_cast<uint32_t>(b)));
        v.push_back(static_cast<int32_t>(static_cast<uint32_t>(b >> 32)));
    }
    return g.pool_i32(v);
}

// e^x of the four doubles of a ymm register, jit/exp_math's exp_fixed lane by lane. Clobbers ymm6-ymm13;
// x and y must be other registers; x is kept.
class ExpYmm {
public:
    explicit ExpYmm(Generator& g) {
        max_ = pool_f64(g, fpm::kExpMax);
        min_ = pool_f64(g, fpm::kExpMin);
        log2e_ = pool_f64(g, fpm::kLog2e);
        hi_ = pool_f64(g, fpm::kLn2Hi);
        lo_ = pool_f64(g, fpm::kLn2Lo);
        inf_ = pool_f64(g, __builtin_inf());
        for (int k = 0; k <= fpm::kExpDegree; ++k) c_.push_back(pool_f64(g, fpm::exp_coefficient(k)));
        bias_ = g.pool_i32({1023, 1023, 1023, 1023});
    }

    void operator()(Generator& g, const Ymm& x, const Ymm& y) const {
        const Ymm xc(6), n(7), r(8), p(9), t(10), nan(11), hi(12), lo(13);
        g.vcmppd(nan, x, x, kUnordQ);
        g.vcmppd(hi, x, g.pool(max_), kGtOq);
        g.vcmppd(lo, x, g.pool(min_), kLtOq);
        g.vmaxpd(xc, x, g.pool(min_)); // in-range x pass unchanged; the others are blended below
        g.vminpd(xc, xc, g.pool(max_));
        g.vmulpd(n, xc, g.pool(log2e_));
        g.vroundpd(n, n, 0); // RNE
        g.vmulpd(t, n, g.pool(hi_));
        g.vsubpd(r, xc, t);
        g.vmulpd(t, n, g.pool(lo_));
        g.vsubpd(r, r, t);
        g.vmovapd(p, g.pool(c_[fpm::kExpDegree]));
        for (int k = fpm::kExpDegree - 1; k >= 0; --k) {
            g.vmulpd(p, p, r);
            g.vaddpd(p, p, g.pool(c_[static_cast<size_t>(k)]));
        }
        g.vcvtpd2dq(Xmm(t.getIdx()), n); // n is an integer: exact
        g.vpaddd(Xmm(t.getIdx()), Xmm(t.getIdx()), g.pool(bias_));
        g.vpmovzxdq(t, Xmm(t.getIdx()));
        g.vpsllq(t, t, 52); // 2^n
        g.vmulpd(y, p, t);
        g.vblendvpd(y, y, g.pool(inf_), hi);
        g.vandnpd(y, lo, y); // +0
        g.vblendvpd(y, y, x, nan);
    }

private:
    int max_, min_, log2e_, hi_, lo_, inf_, bias_;
    std::vector<int> c_;
};

// Registers: r8 src, rdx dst, rcx count, rax / r9 tail scratch; ymm0 x, ymm1 half in double, ymm2 e,
// ymm3 / ymm4 results, ymm5 tail mask, ymm6-13 exp.
void sigmoid_kernel(Generator& g) {
    g.preamble({});
    g.mov(r8, g.ptr[rdi]);
    g.mov(rdx, g.ptr[rdi + 16]);
    g.mov(rcx, g.ptr[rdi + 24]);
    const ExpYmm exp(g);
    const int one = pool_f64(g, 1.0), sign = pool_f64(g, -0.0);
    Fp32Stream<Isa::avx2> stream(5);
    stream.emit(
        g,
        [&](bool tail) {
            stream.load(g, ymm0, g.ptr[r8], tail);
            for (int h = 0; h < 2; ++h) {
                if (h == 0) g.vcvtps2pd(ymm1, xmm0);
                else g.vextractf128(xmm1, ymm0, 1), g.vcvtps2pd(ymm1, xmm1);
                g.vxorpd(ymm1, ymm1, g.pool(sign)); // -v
                exp(g, ymm1, ymm2);
                g.vaddpd(ymm2, ymm2, g.pool(one)); // 1 + e
                g.vmovapd(ymm3, g.pool(one));
                g.vdivpd(ymm3, ymm3, ymm2);
                g.vcvtpd2ps(h == 0 ? xmm4 : xmm3, ymm3);
            }
            g.vinsertf128(ymm4, ymm4, xmm3, 1);
            stream.store(g, g.ptr[rdx], ymm4, tail);
        },
        [&] {
            g.add(r8, 32);
            g.add(rdx, 32);
        });
    g.postamble();
}

// Registers: r8 src, rdx dst, rcx n, r9 index; xmm0 running max, ymm1 x (double), ymm2 e, ymm3 temp,
// ymm6-13 exp, ymm14 max (double), xmm15 / ymm15 sum.
void softmax_row_kernel(Generator& g) {
    g.preamble({});
    g.mov(r8, g.ptr[rdi]);
    g.mov(rdx, g.ptr[rdi + 8]);
    g.mov(rcx, g.ptr[rdi + 16]);
    const ExpYmm exp(g);
    const int neg_inf = g.pool_f32({-__builtin_inff()});
    const Address x4 = g.ptr[r8 + r9 * 4];

    // for r9 over [0, n): groups of four while they fit, then one at a time; body(one) for each.
    auto loop = [&](const std::function<void(bool)>& body) {
        Label four, rest, one, done;
        g.xor_(r9, r9);
        g.L(four);
        g.lea(rax, g.ptr[r9 + 4]);
        g.cmp(rax, rcx);
        g.jg(rest, CodeGenerator::T_NEAR);
        body(false);
        g.add(r9, 4);
        g.jmp(four, CodeGenerator::T_NEAR);
        g.L(rest);
        g.cmp(r9, rcx);
        g.jge(done, CodeGenerator::T_NEAR);
        body(true);
        g.inc(r9);
        g.jmp(rest, CodeGenerator::T_NEAR);
        g.L(done);
    };
    // ymm1 <- double(x) - max, ymm2 <- e (one: lane 0 only)
    auto exp_of = [&](bool one) {
        if (one) g.vmovss(xmm1, x4), g.vcvtps2pd(ymm1, xmm1);
        else g.vcvtps2pd(ymm1, x4);
        g.vsubpd(ymm1, ymm1, ymm14);
        exp(g, ymm1, ymm2);
    };

    g.vbroadcastss(xmm0, g.pool(neg_inf));
    loop([&](bool one) {
        if (one) g.vbroadcastss(xmm3, x4);
        else g.vmovups(xmm3, x4);
        g.vmaxps(xmm0, xmm3, xmm0); // std::max(mx, v): v > mx ? v : mx, NaN v keeps mx
    });
    g.vshufps(xmm3, xmm0, xmm0, 0x4E);
    g.vmaxps(xmm0, xmm3, xmm0);
    g.vshufps(xmm3, xmm0, xmm0, 0xB1);
    g.vmaxps(xmm0, xmm3, xmm0);
    g.vcvtss2sd(xmm0, xmm0, xmm0);
    g.vbroadcastsd(ymm14, xmm0);

    g.vxorpd(xmm15, xmm15, xmm15);
    loop([&](bool one) {
        exp_of(one);
        g.vaddsd(xmm15, xmm15, xmm2);
        if (one) return;
        g.vpermilpd(xmm3, xmm2, 1);
        g.vaddsd(xmm15, xmm15, xmm3);
        g.vextractf128(xmm3, ymm2, 1);
        g.vaddsd(xmm15, xmm15, xmm3);
        g.vpermilpd(xmm3, xmm3, 1);
        g.vaddsd(xmm15, xmm15, xmm3);
    });
    g.vbroadcastsd(ymm15, xmm15);

    loop([&](bool one) {
        exp_of(one);
        g.vdivpd(ymm3, ymm2, ymm15);
        g.vcvtpd2ps(xmm3, ymm3);
        if (one) g.vmovss(g.ptr[rdx + r9 * 4], xmm3);
        else g.vmovups(g.ptr[rdx + r9 * 4], xmm3);
    });
    g.postamble();
}

// Registers: r8 src, rdx dst, rcx n, r10 stride, rsi axis counter, r9 element pointer, rax pool base;
// xmm0 running max (4 floats), ymm1 x (double), ymm2 e, ymm3 max (double), xmm4 loaded x, xmm5 lane mask,
// ymm6-13 exp, ymm14 sum.
void softmax_cols_kernel(Generator& g) {
    g.preamble({});
    g.mov(r8, g.ptr[rdi]);
    g.mov(rdx, g.ptr[rdi + 8]);
    g.mov(rcx, g.ptr[rdi + 16]);
    g.mov(r10, g.ptr[rdi + 24]);
    const ExpYmm exp(g);
    const int neg_inf = g.pool_f32({-__builtin_inff()});
    std::vector<int32_t> t(8, 0);
    for (int i = 0; i < 4; ++i) t[static_cast<size_t>(i)] = -1;
    const int table = g.pool_i32(t);
    // lanes i < count: the table's dwords [4 - count, 8 - count)
    g.load_pool_base(rax);
    g.mov(r9, g.ptr[rdi + 32]);
    g.neg(r9);
    g.vmovups(xmm5, g.ptr[rax + r9 * 4 + (table + 16)]);

    // for every axis element: body() with r9 at the element of src (and r11 of dst)
    auto axis_loop = [&](const std::function<void()>& body) {
        Label again;
        g.mov(r9, r8);
        g.mov(r11, rdx);
        g.mov(rsi, rcx);
        g.L(again);
        body();
        g.add(r9, r10);
        g.add(r11, r10);
        g.dec(rsi);
        g.jnz(again, CodeGenerator::T_NEAR);
    };
    auto exp_of = [&] {
        g.vmaskmovps(xmm4, xmm5, g.ptr[r9]);
        g.vcvtps2pd(ymm1, xmm4);
        g.vsubpd(ymm1, ymm1, ymm3);
        exp(g, ymm1, ymm2);
    };

    g.vbroadcastss(xmm0, g.pool(neg_inf));
    axis_loop([&] {
        g.vmaskmovps(xmm4, xmm5, g.ptr[r9]);
        g.vmaxps(xmm0, xmm4, xmm0); // std::max(mx, v)
    });
    g.vcvtps2pd(ymm3, xmm0);
    g.vxorpd(ymm14, ymm14, ymm14);
    axis_loop([&] {
        exp_of();
        g.vaddpd(ymm14, ymm14, ymm2); // a NaN sum is the first source: it stays
    });
    axis_loop([&] {
        exp_of();
        g.vdivpd(ymm2, ymm2, ymm14);
        g.vcvtpd2ps(xmm2, ymm2);
        g.vmaskmovps(g.ptr[r11], xmm5, xmm2);
    });
    g.postamble();
}

} // namespace

std::unique_ptr<JitKernel> emit_fp32_sigmoid() { return build_kernel("fp32_sigmoid__avx2", 8192, sigmoid_kernel); }

std::unique_ptr<JitKernel> emit_fp32_softmax_row() {
    return build_kernel("fp32_softmax_row__avx2", 8192, softmax_row_kernel);
}

std::unique_ptr<JitKernel> emit_fp32_softmax_cols() {
    return build_kernel("fp32_softmax_cols__avx2", 8192, softmax_cols_kernel);
}

} // namespace qjit
