// Tester of the QEltwise emitter (emitters/eltwise): a case is drawn from a seed (random inputs,
// dequantization, broadcast, post-ops, a next FakeQuantize fitted to the exact outputs), run through
// the generated kernel of its ISA level and through Oracle B's scalar definition (ref::qeltwise, i.e.
// eltwise_scalar of jit/eltwise_fold), and compared at tolerance 0 over the whole output buffer
// (halos and padded channels included). Prepared cases run natively or in the emulator (tests/emu).
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emitters/kernels.hpp"
#include "jit/eltwise_fold.hpp"
#include "qjit/qjit.hpp"

namespace qjit::test {

using Rng = std::mt19937_64;
using Kind = QEltwiseDesc::Kind;

// Broadcast of the inputs (equal ranks; the output is N x C x H x W).
enum class Bcast {
    None,     // both inputs full
    Pixel1,   // input 1 is [N, C, 1, 1]
    Channel1, // input 1 is [N, 1, H, W] (one level per pixel for every channel)
    Scalar1,  // input 1 is [1, 1, 1, 1]
    Image1,   // input 1 is [1, C, H, W] (N > 1)
    Row1,     // input 1 is [N, C, 1, W]
    Both,     // input 0 is [N, C, 1, 1], input 1 is [N, 1, H, W]
};
inline const char* to_string(Bcast b) {
    static const char* const n[] = {"none", "pixel1", "channel1", "scalar1", "image1", "row1", "both"};
    return n[static_cast<int>(b)];
}

struct EltCase {
    Kind kind = Kind::Add;
    int64_t N = 1, H = 3, W = 5, C = 8;
    Bcast bcast = Bcast::None;
    bool pc0 = false, pc1 = false; // per-channel params on input 0 / 1
    bool same = false;             // x op x: one tensor on both sides
    bool relu = false, clamp = false, scale_shift = false;
    enum class Out { Levels, Threshold, Float } out = Out::Levels;
    bool per_ch_out = false;
    int L0 = 256, L1 = 256, Lout = 256;
    int64_t halo = 0, extra_cs = 0;
    bool garbage_pad = false, split = false, hostile = false;
    Isa isa = Isa::avx2; // the level the kernel is generated for
    std::string str() const {
        std::ostringstream o;
        o << (kind == Kind::Add ? "add" : kind == Kind::Mul ? "mul" : "affine") << " N" << N << "H" << H << "W" << W
          << "C" << C << " bcast=" << to_string(bcast) << (pc0 ? " pc0" : "") << (pc1 ? " pc1" : "")
          << (same ? " same" : "") << (relu ? " relu" : "") << (clamp ? " clamp" : "")
          << (scale_shift ? " scale_shift" : "")
          << " out=" << (out == Out::Levels ? "levels" : out == Out::Threshold ? "threshold" : "float")
          << (per_ch_out ? " per_ch_out" : "") << " L=" << L0 << "/" << L1 << "/" << Lout << " halo" << halo << " cs+"
          << extra_cs << (garbage_pad ? " garbage_pad" : "") << (split ? " split" : "") << (hostile ? " hostile_mxcsr" : "")
          << " isa=" << qjit::to_string(isa);
        return o.str();
    }
};


// A case made ready to run: kernel, inputs, Oracle B's output over a 0xA5-poisoned buffer, calls.
struct EltCall {
    int64_t src0_off = 0, src1_off = 0, dst_off = 0, h_begin = 0, h_end = 0;
};
struct PreparedElt {
    Isa isa = Isa::avx2;
    bool binary = true, hostile_mxcsr = false;
    std::unique_ptr<JitKernel> kernel;
    std::vector<uint8_t> src0, src1, expected;
    std::vector<EltCall> calls;
    ActLayout out;
    size_t need_distinct = 0;
    std::string where; // failure tail: the case, the seeds and the reproducer
};
::testing::AssertionResult prepare_elt_case(const EltCase& ec, uint64_t base, uint64_t index, PreparedElt* p,
                                            bool* redraw = nullptr);
::testing::AssertionResult check_elt_output(const PreparedElt& p, const std::vector<uint8_t>& got);
// Runs natively (succeeds without running when the host cannot run p.isa).
::testing::AssertionResult run_elt_native(const PreparedElt& p);
// prepare + run natively; redraw as in prepare_elt_case.
::testing::AssertionResult run_case(const EltCase& ec, uint64_t base, uint64_t index, std::string* kernel = nullptr,
                                    bool* redraw = nullptr);
// run_case with fresh data (the next case index) while the data is degenerate (at most 20 draws).
::testing::AssertionResult run_valid_case(const EltCase& ec, uint64_t base, uint64_t& index,
                                          std::string* kernel = nullptr);
// A random case over every flag (kind and C given).
EltCase random_case(Rng& r, QEltwiseDesc::Kind kind, int64_t C);
// The setup of a case without running it (instruction audits).
struct EltSetupView {
    QEltwiseDesc d;
    BroadcastOperand in0, in1;
    ActLayout out;
};
EltSetupView elt_setup(const EltCase& ec, uint64_t seed);

} // namespace qjit::test
