#include "emitters/conv_maddubs.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace qjit {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up64(int64_t v) { return (v + 63) / 64 * 64; }
// Masks have at most kMaddubsMaxVecs bits: a loop beats libgcc's __popcountdi2 (no -mpopcnt).
int popcount(unsigned v) {
    int n = 0;
    for (; v != 0; v &= v - 1) ++n;
    return n;
}

// The perm masks of one unit over the V vectors starting at `vec0` (vectors >= s.n_vecs are absent:
// zero codes, safe under every perm), the best perm and whether every group is zero.
struct UnitChoice {
    int perm = 0;
    unsigned mask = 0;
    bool zero = true;
};
UnitChoice choose_unit(const MaddubsSafety& s, int64_t vec0, int V, int64_t k, int64_t q) {
    unsigned m[3] = {0, 0, 0};
    UnitChoice u;
    for (int v = 0; v < V; ++v) {
        const int64_t vec = vec0 + v;
        if (vec >= s.n_vecs) {
            for (unsigned& x : m) x |= 1u << v;
            continue;
        }
        const size_t i = static_cast<size_t>((vec * s.khw + k) * s.CQ + q);
        for (int pm = 0; pm < 3; ++pm)
            if (s.bits[i] >> pm & 1u) m[pm] |= 1u << v;
        u.zero = u.zero && s.zero[i];
    }
    for (int pm = 1; pm < 3; ++pm)
        if (popcount(m[pm]) > popcount(m[u.perm])) u.perm = pm;
    u.mask = m[u.perm];
    if (u.mask == 0) u.perm = 0;
    return u;
}

// The §4.5 pair test of 8 quads at once (32 contiguous codes, a quad per dword), for 128 <= T <= 254.
// A same-sign pair may saturate iff |a| + |b| > T. With codes in [-128, 127] and T >= 128 that is
// exactly: max(a,0) + max(b,0) > T, or |min(a,0)| + |min(b,0)| > T (a pair of opposite signs, or one
// with a zero, reaches at most 128 in either sum). Byte sums saturate at 255 >= T + 1 (only -128 with
// -128 gets there), so "sum >= T + 1" stays exact. ANDs each quad's safe perms into bits[i] and its
// all-zero flag into zero[i].
__attribute__((target("avx2"))) void safety_8_quads_avx2(const int8_t* codes, int T, uint8_t* bits, uint8_t* zero) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes));
    const __m256i z = _mm256_setzero_si256();
    const __m256i pos = _mm256_max_epi8(v, z), neg = _mm256_abs_epi8(_mm256_min_epi8(v, z)); // neg: u8 0..128
    const __m256i t1 = _mm256_set1_epi8(static_cast<char>(T + 1));
    // Partner byte of each byte within its quad under perm 0 (0-1, 2-3), 1 (0-2, 1-3), 2 (0-3, 1-2).
    const __m256i partner[3] = {
        _mm256_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13,
                         12, 15, 14),
        _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14,
                         15, 12, 13),
        _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15,
                         14, 13, 12)};
    __m256i safe = z;
    for (int pm = 0; pm < 3; ++pm) {
        const __m256i sp = _mm256_adds_epu8(pos, _mm256_shuffle_epi8(pos, partner[pm]));
        const __m256i sn = _mm256_adds_epu8(neg, _mm256_shuffle_epi8(neg, partner[pm]));
        const __m256i up = _mm256_cmpeq_epi8(_mm256_max_epu8(sp, t1), sp); // sp >= T + 1
        const __m256i un = _mm256_cmpeq_epi8(_mm256_max_epu8(sn, t1), sn);
        const __m256i ok = _mm256_cmpeq_epi32(_mm256_or_si256(up, un), z); // no unsafe pair in the quad
        safe = _mm256_or_si256(safe, _mm256_and_si256(ok, _mm256_set1_epi32(1 << pm)));
    }
    const __m256i zq = _mm256_and_si256(_mm256_cmpeq_epi32(v, z), _mm256_set1_epi32(1));
    alignas(32) int32_t sb[8], zb[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(sb), safe);
    _mm256_store_si256(reinterpret_cast<__m256i*>(zb), zq);
    for (int i = 0; i < 8; ++i) {
        bits[i] &= static_cast<uint8_t>(sb[i]);
        zero[i] &= static_cast<uint8_t>(zb[i]);
    }
}

} // namespace

int64_t MaddubsPlan::unit_bytes(int id) const {
    const int64_t vlen = static_cast<int64_t>(L) * 4;
    return (2 * V - popcount(pattern_mask(id))) * vlen;
}

MaddubsSafety maddubs_safety(const QConvDesc& d, int lanes, int64_t max_codes) {
    const ConvGeom& g = d.g;
    MaddubsSafety s;
    s.khw = g.KH * g.KW;
    s.CQ = ceil_div(g.C, 4);
    const int64_t all_vecs = ceil_div(g.OC, lanes), pairs = ceil_div(all_vecs, 2);
    const int64_t pair_codes = 2 * lanes * g.C * s.khw;
    const int64_t stride = max_codes > 0 ? std::max<int64_t>(1, pairs * pair_codes / max_codes) : 1;
    s.sampled = stride > 1;
    std::vector<int64_t> vecs; // the analysed vectors, in order
    for (int64_t pr = 0; pr < pairs; pr += stride)
        for (int64_t v = 2 * pr; v < std::min(all_vecs, 2 * pr + 2); ++v) vecs.push_back(v);
    s.n_vecs = static_cast<int64_t>(vecs.size());
    const size_t n = static_cast<size_t>(s.n_vecs * s.khw * s.CQ);
    s.bits.assign(n, 7);
    s.zero.assign(n, 1);
    // A pair (a, b) may saturate iff same sign and (L_a - 1) * (|a| + |b|) > 32767, i.e. |a| + |b| > T
    // (T >= 128, so a pair with a zero never does).
    const int T = 32767 / static_cast<int>(std::max<int64_t>(1, d.in.levels - 1));
    auto unsafe = [T](int a, int b) { return ((a ^ b) >= 0) & (std::abs(a) + std::abs(b) > T); };
    const int8_t* q = d.w.q.data();
    // AVX2: each channel's codes transposed to [tap][channel] (zero past C), so a tap's quads are
    // contiguous and 8 of them are tested at once; the scalar form does the rest and other CPUs.
    static const bool avx2 = __builtin_cpu_supports("avx2");
    const bool simd = avx2 && T >= 128 && T <= 254 && s.CQ >= 8;
    const int64_t CQ4 = 4 * s.CQ;
    std::vector<int8_t> wt(simd ? static_cast<size_t>(s.khw * CQ4) : 0, 0);
    for (int64_t sv = 0; sv < s.n_vecs; ++sv)
        for (int64_t o = vecs[static_cast<size_t>(sv)] * lanes; o < std::min(g.OC, (vecs[static_cast<size_t>(sv)] + 1) * lanes); ++o) {
            const int8_t* row = q + o * g.C * s.khw;
            if (simd)
                for (int64_t c = 0; c < g.C; ++c)
                    for (int64_t k = 0; k < s.khw; ++k) wt[static_cast<size_t>(k * CQ4 + c)] = row[c * s.khw + k];
            for (int64_t k = 0; k < s.khw; ++k) {
                uint8_t* bits = s.bits.data() + (sv * s.khw + k) * s.CQ;
                uint8_t* zero = s.zero.data() + (sv * s.khw + k) * s.CQ;
                int64_t qd = 0;
                if (simd)
                    for (; qd + 8 <= s.CQ; qd += 8) safety_8_quads_avx2(&wt[static_cast<size_t>(k * CQ4 + 4 * qd)], T, bits + qd, zero + qd);
                for (; qd < s.CQ; ++qd) {
                    int w[4] = {0, 0, 0, 0};
                    const int64_t c0 = 4 * qd;
                    for (int j = 0; j < 4; ++j)
                        if (c0 + j < g.C) w[j] = row[(c0 + j) * s.khw + k];
                    const bool u01 = unsafe(w[0], w[1]), u23 = unsafe(w[2], w[3]), u02 = unsafe(w[0], w[2]),
                               u13 = unsafe(w[1], w[3]), u03 = unsafe(w[0], w[3]), u12 = unsafe(w[1], w[2]);
                    const unsigned safe = (!(u01 | u23) ? 1u : 0u) | (!(u02 | u13) ? 2u : 0u) | (!(u03 | u12) ? 4u : 0u);
                    bits[qd] &= static_cast<uint8_t>(safe);
                    zero[qd] &= static_cast<uint8_t>((w[0] | w[1] | w[2] | w[3]) == 0);
                }
            }
        }
    return s;
}

double maddubs_cost_per_unit(const MaddubsSafety& s, int V, int P) {
    double cost = 0;
    int64_t slots = 0;
    for (int64_t vec0 = 0; vec0 + V <= std::max<int64_t>(s.n_vecs, V); vec0 += V)
        for (int64_t k = 0; k < s.khw; ++k)
            for (int64_t q = 0; q < s.CQ; ++q) {
                ++slots;
                const UnitChoice u = choose_unit(s, vec0, V, k, q);
                if (u.zero) continue;
                const int fast = popcount(u.mask);
                // per pixel: the quad's broadcast, its byte perm, the fast (3 ops) and exact (4 ops) vectors
                cost += 1.0 + (u.perm ? 1 : 0) + (fast < V ? 2 : 0) + 3.0 * fast + 4.0 * (V - fast) + 4.0 / P;
            }
    return slots ? cost / static_cast<double>(slots) : 0.0;
}

double maddubs_fast_share(const MaddubsSafety& s, int V) {
    int64_t fast = 0, all = 0;
    for (int64_t vec0 = 0; vec0 < s.n_vecs; vec0 += V)
        for (int64_t k = 0; k < s.khw; ++k)
            for (int64_t q = 0; q < s.CQ; ++q) {
                const UnitChoice u = choose_unit(s, vec0, V, k, q);
                const int real = static_cast<int>(std::min<int64_t>(V, s.n_vecs - vec0));
                all += real;
                fast += u.zero ? real : popcount(u.mask & ((1u << real) - 1));
            }
    return all ? static_cast<double>(fast) / static_cast<double>(all) : 0.0;
}

MaddubsPlan plan_maddubs(const QConvDesc& d, const MaddubsSafety& s, int V, int L) {
    MaddubsPlan p;
    p.V = V;
    p.L = L;
    p.n_patterns = 1 + 3 * ((1 << V) - 1);
    p.header_bytes = round_up64(p.n_patterns * 4);
    p.table_bytes = round_up64(s.khw * s.CQ * 8);
    p.block_bytes = p.header_bytes + p.table_bytes + s.khw * s.CQ * V * 2 * L * 4;
    const int64_t nb = ceil_div(d.g.OC, static_cast<int64_t>(V) * L);
    p.blocks.resize(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
        std::vector<MaddubsUnit>& units = p.blocks[static_cast<size_t>(b)];
        const int64_t real_vecs = std::min<int64_t>(V, s.n_vecs - b * V);
        const unsigned real = (1u << real_vecs) - 1;
        for (int64_t k = 0; k < s.khw; ++k)
            for (int64_t q = 0; q < s.CQ; ++q) {
                const UnitChoice u = choose_unit(s, b * V, V, k, q);
                p.total_vectors += real_vecs;
                if (u.zero) {
                    p.fast_vectors += real_vecs;
                    continue;
                }
                p.fast_vectors += popcount(u.mask & real);
                units.push_back(MaddubsUnit{static_cast<int32_t>(k), static_cast<int32_t>(q), u.perm, u.mask});
            }
        std::stable_sort(units.begin(), units.end(), [&](const MaddubsUnit& a, const MaddubsUnit& c) {
            return p.pattern_id(a.perm, a.mask) < p.pattern_id(c.perm, c.mask);
        });
    }
    return p;
}

int64_t maddubs_offsets_bytes(const MaddubsPlan& p) { return round_up64(static_cast<int64_t>(p.blocks.size()) * 8); }

int64_t packed_block_bytes(const MaddubsPlan& p, size_t b) {
    int64_t bytes = p.header_bytes + p.table_bytes;
    for (const MaddubsUnit& u : p.blocks[b]) bytes += p.unit_bytes(p.pattern_id(u.perm, u.mask));
    return round_up64(bytes);
}

int64_t packed_maddubs_bytes(const MaddubsPlan& p) {
    int64_t bytes = maddubs_offsets_bytes(p);
    for (size_t b = 0; b < p.blocks.size(); ++b) bytes += packed_block_bytes(p, b);
    return bytes;
}

void pack_maddubs(const QConvDesc& d, const MaddubsPlan& p, uint8_t* raw) {
    const ConvGeom& g = d.g;
    const int64_t khw = g.KH * g.KW, B = static_cast<int64_t>(p.V) * p.L;
    const int8_t* codes = d.w.q.data();
    auto* offsets = reinterpret_cast<int64_t*>(raw);
    int64_t at_block = maddubs_offsets_bytes(p);
    for (size_t b = 0; b < p.blocks.size(); ++b) {
        offsets[b] = at_block;
        uint8_t* blk = raw + at_block;
        at_block += packed_block_bytes(p, b);
        auto* counts = reinterpret_cast<int32_t*>(blk);
        auto* table = reinterpret_cast<int32_t*>(blk + p.header_bytes);
        uint8_t* w = blk + p.header_bytes + p.table_bytes;
        for (const MaddubsUnit& u : p.blocks[b]) {
            ++counts[p.pattern_id(u.perm, u.mask)];
            *table++ = u.tap;
            *table++ = 4 * u.quad;
            // Offsets of the shuffled bytes' codes inside an output channel's row (-1: channel >= C).
            int64_t at[4];
            for (int j = 0; j < 4; ++j) {
                const int64_t c = 4 * u.quad + kPermOrder[u.perm][j];
                at[j] = c < g.C ? c * khw + u.tap : -1;
            }
            for (int v = 0; v < p.V; ++v) {
                const int64_t o0 = static_cast<int64_t>(b) * B + static_cast<int64_t>(v) * p.L;
                const bool fast = u.mask >> v & 1u;
                const size_t vec_bytes = static_cast<size_t>(p.L) * (fast ? 4 : 8);
                std::memset(w, 0, vec_bytes);
                for (int64_t l = 0; l < p.L && o0 + l < g.OC; ++l) {
                    const int8_t* row = codes + (o0 + l) * g.C * khw;
                    int8_t c4[4];
                    for (int j = 0; j < 4; ++j) c4[j] = at[j] >= 0 ? row[at[j]] : 0;
                    if (fast) {
                        std::memcpy(w + l * 4, c4, 4);
                        continue;
                    }
                    for (int h = 0; h < 2; ++h) {
                        const int16_t pair[2] = {c4[h], c4[h + 2]};
                        std::memcpy(w + (h * p.L + l) * 4, pair, 4);
                    }
                }
                w += vec_bytes;
            }
        }
    }
}

} // namespace qjit
