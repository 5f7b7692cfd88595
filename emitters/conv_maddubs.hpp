// The vpmaddubsw plan of the exact-widening conv levels (avx2, avx512_core): which instruction
// groups may use vpmaddubsw without saturating (spec §4.5), decided at load from the weights.
//
// An instruction group is (oc vector v of L lanes, tap k, channel quad q): the 4 input bytes
// x0..x3 of the quad are broadcast to every lane and multiplied with the 4 weight codes of each
// lane. vpmaddubsw adds the u8 x s8 products of byte pairs (0,1) and (2,3) in saturating s16; a pair
// of codes of the same sign saturates unless (L_a - 1) * (|w_i| + |w_j|) <= 32767, a pair of opposite
// signs (or with a zero) never does. The kernel may shuffle the broadcast bytes first (one vpshufb
// per pixel and unit), so a group can pair its channels in one of three ways:
//   perm 0: (x0,x1)(x2,x3)   perm 1: (x0,x2)(x1,x3)   perm 2: (x0,x3)(x1,x2)
// A unit (k, q) of an oc block of V <= kMaddubsMaxVecs vectors picks one perm for all its vectors, the one that lets
// the most vectors pass the proof; `mask` bit v says vector v takes vpmaddubsw, the others take the
// exact s16 form (vpmaddwd on the 0x00FF / >> 8 halves of the same shuffled bytes). Units whose codes
// are all zero in the block are dropped.
//
// Packed weights (ConvBlocking::maddubs on the exact levels): an int64 byte offset of every block
// from the buffer start (the offset table, 64-byte padded), then the blocks back to back, each
// 64-byte aligned and only as long as its units need (packed_block_bytes): a fast vector takes half
// the bytes of an exact one, so a fixed stride (the all-exact size) left a gap after every block
// (FC 1x2048x1000: 4.3 MB buffer for 1.1 MB of weights; each block restarted the hardware prefetch).
// One block:
//   [int32 count per pattern id, padded to 64 bytes]
//   [units, sorted by pattern id then (k, q): int32 tap k, int32 byte offset 4q]
//   [weights of the units in the same order: per vector v of the unit, fast: L lanes x 4 s8 codes in
//    the shuffled byte order; exact: half 0 then half 1, L lanes x 2 s16, half h holding the codes of
//    shuffled bytes (h, h+2)]
// Pattern id: 0 = every vector exact (perm 0); 1 + perm * (2^V - 1) + (mask - 1) otherwise. The
// kernel has a loop for every pattern id (no code depends on the weights, so the kernel can be
// emitted before the weights are analysed); a block's count is 0 for the patterns it lacks.
#pragma once
#include <cstdint>
#include <vector>

#include "emitters/kernels.hpp"
#include "jit/quant_params.hpp"

namespace qjit {

// The most oc vectors per block on the vpmaddubsw plan (1 + 3 * (2^V - 1) pattern loops).
constexpr int kMaddubsMaxVecs = 2;

// Byte order of the shuffled quad per perm: shuffled byte j holds input byte kPermOrder[perm][j].
inline constexpr int kPermOrder[3][4] = {{0, 1, 2, 3}, {0, 2, 1, 3}, {0, 3, 1, 2}};

struct MaddubsUnit {
    int32_t tap = 0, quad = 0;
    int perm = 0;
    unsigned mask = 0; // bit v: vector v takes vpmaddubsw
};

struct MaddubsPlan {
    int V = 1, L = 8;
    int64_t n_patterns = 1, header_bytes = 64, table_bytes = 0, block_bytes = 0;
    std::vector<std::vector<MaddubsUnit>> blocks; // per oc block, sorted by pattern id, tap, quad
    int64_t fast_vectors = 0, total_vectors = 0;  // (unit, vector) pairs on vpmaddubsw / in all

    int pattern_id(int perm, unsigned mask) const {
        return mask == 0 ? 0 : 1 + perm * ((1 << V) - 1) + static_cast<int>(mask) - 1;
    }
    int pattern_perm(int id) const { return id == 0 ? 0 : (id - 1) / ((1 << V) - 1); }
    unsigned pattern_mask(int id) const { return id == 0 ? 0u : static_cast<unsigned>((id - 1) % ((1 << V) - 1) + 1); }
    // Bytes of one unit's weights: vlen per fast vector, 2 * vlen per exact one.
    int64_t unit_bytes(int id) const;
};

// Per (oc vector, tap, quad): bit p set when all L lanes pass the §4.5 proof under perm p.
// plan_maddubs groups it into blocks of V vectors. With max_codes > 0 only a sample is analysed:
// every s-th aligned pair of vectors, s chosen so that about max_codes codes are read (an estimate
// for choose_conv_blocking); vectors are then the sampled ones, in order (pairs stay adjacent).
struct MaddubsSafety {
    int64_t n_vecs = 0, khw = 0, CQ = 0;
    bool sampled = false;
    std::vector<uint8_t> bits; // [vec][tap][quad]
    std::vector<uint8_t> zero; // [vec][tap][quad]: 1 when every code of the group is 0
};
MaddubsSafety maddubs_safety(const QConvDesc& d, int lanes, int64_t max_codes = 0);

// Estimated vector ops of the plan per unit slot, for V vectors and P pixels per tile: the quad's
// broadcast 1 (shared by the unit's V vectors, so wider units pay it less often: FC 128x768x768 takes
// 6x16 instead of 12x8, 118 -> 159 GOPS on Zen 5), a fast vector 3 (vpmaddubsw, vpmaddwd by ones,
// vpaddd), an exact one 4, a unit with an exact vector 2 more (the 0x00FF / >> 8 halves), a shuffled
// perm 1, the unit's table walk (8 scalar uops) about 4 / P; zero units cost nothing. The plain exact
// stream costs 2 + 4V per slot.
double maddubs_cost_per_unit(const MaddubsSafety& s, int V, int P);
// Share of (unit, vector) groups that take vpmaddubsw (all-zero units included) with V vectors.
double maddubs_fast_share(const MaddubsSafety& s, int V);

MaddubsPlan plan_maddubs(const QConvDesc& d, const MaddubsSafety& s, int V, int L);

// Bytes of the offset table and of block b as packed (64-byte multiples).
int64_t maddubs_offsets_bytes(const MaddubsPlan& plan);
int64_t packed_block_bytes(const MaddubsPlan& plan, size_t b);
// Bytes of the whole packed buffer (offset table + blocks).
int64_t packed_maddubs_bytes(const MaddubsPlan& plan);

// Writes the offset table and the blocks at raw (packed_maddubs_bytes of them, zeroed by the caller).
void pack_maddubs(const QConvDesc& d, const MaddubsPlan& plan, uint8_t* raw);

} // namespace qjit
