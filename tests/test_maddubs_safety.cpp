// maddubs_safety (emitters/conv_maddubs): the per (oc vector, tap, quad) §4.5 proof bits and zero flags
// equal a direct evaluation of the definition — a pair (a, b) of a quad may saturate vpmaddubsw iff a
// and b have the same sign and (L_a - 1) * (|a| + |b|) > 32767; perm p pairs the bytes as
// kPermOrder[p] — for random codes (all of [-128, 127], many zeros, extremes), channel counts that are
// and are not multiples of 4, 1x1 / 3x3 / 1x5 taps, activation levels from 2 to 256, full and sampled.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "emitters/conv_maddubs.hpp"

using namespace qjit;

namespace {

bool may_saturate(int a, int b, int levels) {
    const bool same_sign = (a >= 0 && b >= 0) || (a < 0 && b < 0);
    return same_sign && static_cast<int64_t>(levels - 1) * (std::abs(a) + std::abs(b)) > 32767;
}

} // namespace

TEST(MaddubsSafety, EqualsTheDefinition) {
    std::mt19937 r(77);
    int cases = 0;
    for (int trial = 0; trial < 300; ++trial) {
        QConvDesc d;
        const int64_t C = 1 + static_cast<int64_t>(r() % 90), OC = 1 + static_cast<int64_t>(r() % 40);
        const int shape = static_cast<int>(r() % 3);
        d.g.C = C;
        d.g.OC = OC;
        d.g.KH = shape == 1 ? 3 : 1;
        d.g.KW = shape == 0 ? 1 : shape == 1 ? 3 : 5;
        d.in.levels = trial % 4 == 0 ? 256 : 2 + static_cast<int>(r() % 255);
        const int64_t khw = d.g.KH * d.g.KW;
        std::vector<int8_t>& q = d.w.q.mut();
        q.resize(static_cast<size_t>(OC * C * khw));
        const int style = trial % 3;
        for (int8_t& x : q) {
            const int u = static_cast<int>(r() % 256) - 128;
            x = static_cast<int8_t>(style == 0 ? u : style == 1 ? (r() % 3 == 0 ? 0 : u) : (r() % 2 ? -128 + static_cast<int>(r() % 3) : 127 - static_cast<int>(r() % 3)));
        }
        for (int lanes : {8, 16})
            for (int64_t max_codes : {int64_t{0}, int64_t{2000}}) {
                const MaddubsSafety s = maddubs_safety(d, lanes, max_codes);
                ASSERT_EQ(s.khw, khw);
                ASSERT_EQ(s.CQ, (C + 3) / 4);
                // The analysed vectors: every one, or the sampled pairs in order (as maddubs_safety documents).
                const int64_t all_vecs = (OC + lanes - 1) / lanes, pairs = (all_vecs + 1) / 2;
                const int64_t stride = max_codes > 0 ? std::max<int64_t>(1, pairs * 2 * lanes * C * khw / max_codes) : 1;
                std::vector<int64_t> vecs;
                for (int64_t pr = 0; pr < pairs; pr += stride)
                    for (int64_t v = 2 * pr; v < std::min(all_vecs, 2 * pr + 2); ++v) vecs.push_back(v);
                ASSERT_EQ(s.n_vecs, static_cast<int64_t>(vecs.size()));
                for (size_t sv = 0; sv < vecs.size(); ++sv)
                    for (int64_t k = 0; k < khw; ++k)
                        for (int64_t qd = 0; qd < s.CQ; ++qd) {
                            unsigned want = 7;
                            bool zero = true;
                            for (int64_t o = vecs[sv] * lanes; o < std::min(OC, (vecs[sv] + 1) * lanes); ++o) {
                                int w[4] = {0, 0, 0, 0};
                                for (int j = 0; j < 4; ++j)
                                    if (4 * qd + j < C) w[j] = q[static_cast<size_t>((o * C + 4 * qd + j) * khw + k)];
                                for (int p = 0; p < 3; ++p) {
                                    const int* ord = kPermOrder[p];
                                    if (may_saturate(w[ord[0]], w[ord[1]], d.in.levels) ||
                                        may_saturate(w[ord[2]], w[ord[3]], d.in.levels))
                                        want &= ~(1u << p);
                                }
                                zero = zero && w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0;
                            }
                            const size_t i = static_cast<size_t>((static_cast<int64_t>(sv) * khw + k) * s.CQ + qd);
                            ASSERT_EQ(s.bits[i], want) << "C=" << C << " OC=" << OC << " khw=" << khw << " L=" << d.in.levels
                                                       << " vec " << vecs[sv] << " tap " << k << " quad " << qd;
                            ASSERT_EQ(s.zero[i], zero ? 1 : 0) << "quad " << qd;
                        }
                ++cases;
            }
    }
    EXPECT_EQ(cases, 1200);
}
