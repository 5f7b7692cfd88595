#include "tests/emu/emu_cases.hpp"

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "emitters/eltwise.hpp"
#include "emitters/group_conv.hpp"
#include "emitters/isa_traits.hpp"
#include "tests/support/eltwise_testing.hpp"
#include "tests/support/emitter_testing.hpp"
#include "tests/support/group_pool_testing.hpp"

namespace qjit::test {
namespace {

using emu::EmuImage;
using emu::Ref;

template <class T> std::vector<uint8_t> bytes_of(const T& v) {
    std::vector<uint8_t> b(sizeof(T));
    std::memcpy(b.data(), &v, sizeof(T));
    return b;
}

ConvGeom geom(int64_t C, int64_t groups, int64_t OC, int64_t H, int64_t W, int64_t K, int64_t S = 1, int64_t D = 1,
              int64_t P = 0) {
    ConvGeom g;
    g.C = C, g.groups = groups, g.OC = OC, g.H = H, g.W = W, g.KH = g.KW = K, g.SH = g.SW = S, g.DH = g.DW = D;
    g.PT = g.PL = g.PB = g.PR = P;
    return with_output(g);
}
ConvGeom depthwise(int64_t C, int64_t H, int64_t W, int64_t K, int64_t S = 1, int64_t D = 1, int64_t P = 0) {
    return geom(C, C, C, H, W, K, S, D, P);
}

// Lays a prepared window case (grouped conv or pooling) into the image.
void add_window(EmuImage& img, std::shared_ptr<PreparedWindow> p, std::vector<EmuCheck>* out) {
    const Ref code = img.add_input(p->kernel->code(), p->kernel->code_size());
    const Ref src = img.add_input(p->src.data(), p->src.size());
    Ref w;
    if (p->conv) w = img.add_input(p->weights.data.get(), p->weights.bytes);
    EmuCheck e;
    e.kernel = p->kernel->name;
    e.code = code, e.code_bytes = p->kernel->code_size();
    e.bytes = p->expected.size();
    e.dst = img.add_output(e.bytes, 0xA5);
    for (const WindowCall& c : p->calls) {
        const Ref s = src.plus(static_cast<uint64_t>(c.src_off)), d = e.dst.plus(static_cast<uint64_t>(c.dst_off));
        if (p->conv) {
            ConvArgs a{};
            a.oh_begin = c.oh_begin, a.oh_end = c.oh_end, a.ocb_begin = c.ocb_begin, a.ocb_end = c.ocb_end;
            img.add_call(code, img.add_args(bytes_of(a), {{offsetof(ConvArgs, src), s},
                                                          {offsetof(ConvArgs, dst), d},
                                                          {offsetof(ConvArgs, wei), w}}));
        } else {
            PoolArgs a{};
            a.oh_begin = c.oh_begin, a.oh_end = c.oh_end;
            img.add_call(code, img.add_args(bytes_of(a), {{offsetof(PoolArgs, src), s}, {offsetof(PoolArgs, dst), d}}));
        }
    }
    e.check = [p](const std::vector<uint8_t>& got) { return check_window_output(*p, got); };
    out->push_back(std::move(e));
}

// Every kind of grouped-conv case the native suite sweeps, at sizes the emulator runs quickly.
int64_t group_conv_cases(EmuImage& img, Isa isa, uint64_t base, std::vector<EmuCheck>* out) {
    std::vector<GroupConvCase> v;
    uint64_t i = 0;
    auto add = [&](GroupConvCase c) { v.push_back(c), ++i; };
    for (int64_t C : {2, 3, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 47, 48, 49}) // lane tails of 8 and 16
        for (int64_t s : {1, 2}) add(vary_group_conv_case(depthwise(C, 5, 6, 3, s, 1, 1), case_seed(base, i)));
    for (auto o : {GroupConvCase::Out::Levels, GroupConvCase::Out::Threshold, GroupConvCase::Out::Float})
        for (bool asym : {false, true})
            for (bool ol : {false, true}) {
                GroupConvCase c;
                c.g = depthwise(20, 5, 7, 3, 1, 1, 1);
                c.out = o, c.asym_w = c.const_ch = asym, c.act_ol = ol, c.per_oc_out = asym != ol;
                add(c);
            }
    for (int mask = 0; mask < 16; ++mask) {
        GroupConvCase c = vary_group_conv_case(depthwise(19, 4, 6, 3, 1, 1, 1), case_seed(base, i));
        c.bias = mask & 1, c.relu = mask & 2, c.clamp = mask & 4, c.scale_shift = mask & 8;
        add(c);
    }
    for (int64_t k : {1, 3, 5})
        for (int64_t s : {1, 2})
            for (int64_t d : {1, 2})
                for (int64_t p : {int64_t{0}, k / 2 + 1}) {
                    const ConvGeom g = depthwise(13, 8, 9, k, s, d, p);
                    if (g.OH >= 1 && g.OW >= 1) add(vary_group_conv_case(g, case_seed(base, i)));
                }
    for (int64_t cg : {1, 2, 3, 4, 5, 8, 9}) // the gather form; VNNI: quads and partial quads
        for (int64_t ocg : {1, 2, 5})
            if (cg > 1 || ocg > 1) add(vary_group_conv_case(geom(cg * 3, 3, ocg * 3, 4, 6, 3, 1, 1, 1), case_seed(base, i)));
    add(vary_group_conv_case(geom(17 * 2, 2, 2 * 16, 4, 5, 3, 1, 1, 1), case_seed(base, i))); // Cg 17: the step loop
    for (bool asym : {false, true}) { // every blocking of the level
        QConvConsts k;
        k.has_n = asym;
        for (const ConvBlocking& b : group_conv_blockings(isa, k)) {
            GroupConvCase c = vary_group_conv_case(i % 2 ? depthwise(37, 3, 13, 3, 1, 1, 1) : geom(12, 4, 24, 3, 9, 3, 1, 1, 1),
                                                   case_seed(base, i));
            c.asym_w = asym, c.const_ch = false, c.blocking = b;
            add(c);
        }
    }
    for (int64_t kh : {2, 3, 11}) // depthwise row-pair form: even / odd KH (column pairs), the pair loop, KW to 17
        for (int64_t kw : {3, 16, 17}) {
            ConvGeom g;
            g.C = g.groups = g.OC = 40;
            g.KH = kh, g.KW = kw, g.SH = 1, g.SW = 1 + i % 2, g.DH = 1 + i % 3 / 2, g.DW = 1;
            g.PT = 1, g.PB = 0, g.PL = kw / 2, g.PR = 1;
            g.H = kh * g.DH + 1, g.W = kw + 3;
            GroupConvCase c = vary_group_conv_case(with_output(g), case_seed(base, i));
            c.asym_w = i % 2 == 0, c.in_levels = i % 3 == 0 ? 3 : 256, c.extreme = i % 4 == 1;
            add(c);
        }
    for (auto o : {GroupConvCase::Out::Levels, GroupConvCase::Out::Float}) { // largest |D|
        GroupConvCase c;
        c.g = geom(2 * 40, 2, 4, 3, 4, 3);
        c.extreme = true, c.asym_w = true, c.out = o;
        add(c);
    }
    std::mt19937_64 r(base);
    for (int k = 0; k < 40; ++k) { // random shapes
        ConvGeom g;
        g.N = 1 + static_cast<int64_t>(r() % 2);
        g.groups = 2 + static_cast<int64_t>(r() % 20);
        const int kind = static_cast<int>(r() % 4);
        const int64_t cg = kind < 2 ? 1 : 1 + static_cast<int64_t>(r() % 6), ocg = kind == 0 ? 1 : 1 + static_cast<int64_t>(r() % 4);
        g.C = g.groups * cg, g.OC = g.groups * ocg;
        g.KH = 1 + static_cast<int64_t>(r() % 4), g.KW = 1 + static_cast<int64_t>(r() % 4);
        g.SH = 1 + static_cast<int64_t>(r() % 2), g.SW = 1 + static_cast<int64_t>(r() % 2);
        g.DH = 1 + static_cast<int64_t>(r() % 2), g.DW = 1 + static_cast<int64_t>(r() % 2);
        g.PT = static_cast<int64_t>(r() % 3), g.PB = static_cast<int64_t>(r() % 3);
        g.PL = static_cast<int64_t>(r() % 3), g.PR = static_cast<int64_t>(r() % 3);
        g.H = 1 + static_cast<int64_t>(r() % 8), g.W = 1 + static_cast<int64_t>(r() % 12);
        g = with_output(g);
        if (g.OH < 1 || g.OW < 1) {
            --k;
            continue;
        }
        add(vary_group_conv_case(g, case_seed(base, i)));
    }
    for (int mask = 0; mask < 4; ++mask) { // ONNX rounding of the next quantizer (spec §2.5); appended last
        GroupConvCase c = vary_group_conv_case(mask % 2 ? depthwise(20, 5, 7, 3, 1, 1, 1) : geom(12, 4, 24, 4, 9, 3, 1, 1, 1),
                                               case_seed(base, i));
        c.out = GroupConvCase::Out::Levels, c.onnx_out = true, c.per_oc_out = mask & 2;
        add(c);
    }
    int64_t n = 0;
    for (size_t j = 0; j < v.size(); ++j) {
        GroupConvCase c = v[j];
        c.isa = isa;
        if (c.blocking) c.blocking->isa = isa, c.blocking->lanes = isa_lanes(isa);
        auto p = std::make_shared<PreparedWindow>();
        const ::testing::AssertionResult ok = prepare_group_conv_case(c, base, j, p.get());
        EXPECT_TRUE(ok);
        if (!ok) continue;
        add_window(img, p, out);
        ++n;
    }
    return n;
}

PoolCase pool(bool avg, int64_t C, int64_t H, int64_t W, int64_t K, int64_t S, int64_t P, bool ceil = false) {
    PoolCase c;
    c.avg = avg;
    c.C = C, c.H = H, c.W = W, c.KH = c.KW = K, c.SH = c.SW = S;
    c.PT = c.PL = c.PB = c.PR = P;
    c.ceil = ceil;
    return c;
}

int64_t pool_cases(EmuImage& img, Isa isa, uint64_t base, std::vector<EmuCheck>* out) {
    std::vector<PoolCase> v;
    uint64_t i = 0;
    auto add = [&](PoolCase c) {
        if (!c.valid()) c.exclude_pad = false; // an AvgPool window in the padding is fine without exclude_pad
        if (c.valid()) v.push_back(c);
        ++i;
    };
    for (bool avg : {false, true})
        for (int64_t C : {1, 2, 5, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 48, 49, 63, 64, 65, 80, 100, 129})
            add(vary_pool_case(pool(avg, C, 6, 7, 3, 2, 1), case_seed(base, i)));
    for (bool avg : {false, true})
        for (int64_t k : {1, 2, 3, 5})
            for (int64_t s : {1, 2})
                for (int64_t p : {int64_t{0}, k / 2, k})
                    add(vary_pool_case(pool(avg, 19, 8, 9, k, s, p, (k + s + p) % 2 == 1), case_seed(base, i)));
    for (bool avg : {true, false}) // global pooling: window sums beyond 16 bits, looped taps
        for (auto hw : {std::pair<int64_t, int64_t>{7, 7}, {17, 16}, {1, 30}}) {
            PoolCase c = vary_pool_case(pool(avg, 21, hw.first, hw.second, 1, 1, 0), case_seed(base, i));
            c.KH = hw.first, c.KW = hw.second, c.N = 2;
            add(c);
        }
    for (auto o : {PoolCase::Out::Levels, PoolCase::Out::Threshold, PoolCase::Out::Float})
        for (bool excl : {false, true})
            for (bool pc : {false, true}) {
                PoolCase c = pool(true, 24, 6, 7, 3, 2, 1, pc);
                c.out = o, c.exclude_pad = excl, c.per_channel_in = pc, c.per_channel_out = !pc;
                add(c);
            }
    std::mt19937_64 r(base);
    for (int k = 0; k < 50; ++k) {
        PoolCase c;
        c.avg = r() % 2;
        c.N = 1 + static_cast<int64_t>(r() % 2);
        c.C = 1 + static_cast<int64_t>(r() % 70);
        c.H = 1 + static_cast<int64_t>(r() % 9), c.W = 1 + static_cast<int64_t>(r() % 11);
        c.KH = 1 + static_cast<int64_t>(r() % 4), c.KW = 1 + static_cast<int64_t>(r() % 4);
        c.SH = 1 + static_cast<int64_t>(r() % 3), c.SW = 1 + static_cast<int64_t>(r() % 3);
        c.PT = static_cast<int64_t>(r() % 3), c.PL = static_cast<int64_t>(r() % 3);
        c.PB = static_cast<int64_t>(r() % 3), c.PR = static_cast<int64_t>(r() % 3);
        c.ceil = r() % 2;
        c = vary_pool_case(c, case_seed(base, i));
        if (!c.valid()) {
            --k;
            continue;
        }
        add(c);
    }
    for (bool pc : {false, true}) { // ONNX rounding of the next quantizer (spec §2.5); appended last
        PoolCase c = pool(true, 37, 7, 9, 3, 2, 1, false);
        c.per_channel_in = pc, c.per_channel_out = !pc, c.onnx_out = true;
        add(c);
    }
    int64_t n = 0;
    for (size_t j = 0; j < v.size(); ++j) {
        PoolCase c = v[j];
        c.isa = isa;
        auto p = std::make_shared<PreparedWindow>();
        const ::testing::AssertionResult ok = prepare_pool_case(c, base + 1, j, p.get());
        EXPECT_TRUE(ok);
        if (!ok) continue;
        add_window(img, p, out);
        ++n;
    }
    return n;
}

int64_t eltwise_cases(EmuImage& img, Isa isa, uint64_t base, std::vector<EmuCheck>* out) {
    std::vector<EltCase> v;
    Rng r(base);
    for (int64_t C = 1; C <= 40; ++C) // every lane tail of 8 and 16 (opmask tail vectors)
        for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine})
            if ((C + static_cast<int64_t>(kind)) % 2 == 0 || C <= 17) v.push_back(random_case(r, kind, C));
    for (int b = 0; b <= 6; ++b) // broadcast shapes
        for (int64_t C : {1, 8, 17, 70}) {
            EltCase ec = random_case(r, b % 2 ? Kind::Mul : Kind::Add, C);
            ec.bcast = static_cast<Bcast>(b);
            ec.same = false;
            v.push_back(ec);
        }
    for (int64_t C : {65, 100, 161, 300}) // the channel loop (more than 8 vectors)
        for (Kind kind : {Kind::Add, Kind::Mul, Kind::Affine}) {
            EltCase ec = random_case(r, kind, C);
            ec.halo = 1, ec.extra_cs = 32, ec.garbage_pad = true, ec.split = true;
            ec.W = 3;
            v.push_back(ec);
        }
    int64_t n = 0;
    uint64_t index = 0;
    for (EltCase ec : v) {
        ec.isa = isa;
        auto p = std::make_shared<PreparedElt>();
        for (int attempt = 0; attempt < 20; ++attempt) { // fresh data while degenerate
            bool redraw = false;
            *p = PreparedElt{};
            const ::testing::AssertionResult ok = prepare_elt_case(ec, base, index++, p.get(), &redraw);
            EXPECT_TRUE(ok);
            if (!ok || !redraw) break;
        }
        if (!p->kernel) continue;
        const Ref code = img.add_input(p->kernel->code(), p->kernel->code_size());
        const Ref s0 = img.add_input(p->src0.data(), p->src0.size());
        const Ref s1 = p->binary ? img.add_input(p->src1.data(), p->src1.size()) : s0;
        EmuCheck e;
        e.kernel = p->kernel->name;
        e.code = code, e.code_bytes = p->kernel->code_size();
        e.bytes = p->expected.size();
        e.dst = img.add_output(e.bytes, 0xA5);
        for (const EltCall& c : p->calls) {
            EltwiseArgs a{};
            a.h_begin = c.h_begin, a.h_end = c.h_end;
            std::vector<std::pair<size_t, Ref>> ptrs{{offsetof(EltwiseArgs, src0), s0.plus(static_cast<uint64_t>(c.src0_off))},
                                                     {offsetof(EltwiseArgs, dst), e.dst.plus(static_cast<uint64_t>(c.dst_off))}};
            if (p->binary) ptrs.push_back({offsetof(EltwiseArgs, src1), s1.plus(static_cast<uint64_t>(c.src1_off))});
            img.add_call(code, img.add_args(bytes_of(a), ptrs));
        }
        e.check = [p](const std::vector<uint8_t>& got) { return check_elt_output(*p, got); };
        out->push_back(std::move(e));
        ++n;
    }
    return n;
}

// Concat copies: random layouts (pixel strides, whole rows, byte tails 1..63 and long rows); the
// expected output is the destination with exactly the input's bytes moved in.
int64_t concat_cases(EmuImage& img, Isa isa, uint64_t base, std::vector<EmuCheck>* out) {
    Rng r(base);
    auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(r); };
    int64_t n = 0;
    for (int index = 0; index < 60; ++index) {
        ActLayout src, dst;
        src.H = uni(1, 3), src.W = uni(1, 6);
        src.C = index < 40 ? index + 1 : uni(40, 700);
        src.c_stride = round_up16(src.C) + (index % 3 == 0 ? 16 : 0);
        if (index % 5 == 0) src.c_stride = src.C;
        src.halo_t = src.halo_l = index % 2;
        const int64_t c_off = index % 5 == 0 ? 0 : uni(0, 20);
        dst.H = src.H + 1, dst.W = src.W + 1;
        dst.C = index % 5 == 0 ? src.C : src.C + c_off + uni(0, 20);
        dst.c_stride = index % 5 == 0 ? src.C : round_up16(dst.C);
        std::vector<uint8_t> s(static_cast<size_t>(src.bytes())), d(static_cast<size_t>(dst.bytes()));
        for (auto& b : s) b = static_cast<uint8_t>(r());
        for (auto& b : d) b = static_cast<uint8_t>(r());
        auto want = std::make_shared<std::vector<uint8_t>>(d);
        for (int64_t h = 0; h < src.H; ++h)
            for (int64_t w = 0; w < src.W; ++w)
                std::memcpy(&(*want)[static_cast<size_t>(dst.offset(0, h + 1, w + 1) + c_off)],
                            &s[static_cast<size_t>(src.offset(0, h, w))], static_cast<size_t>(src.C));
        auto k = std::shared_ptr<JitKernel>(emit_concat_copy(isa, src, dst));
        const Ref code = img.add_input(k->code(), k->code_size());
        const Ref sr = img.add_input(s.data(), s.size());
        EmuCheck e;
        e.kernel = k->name;
        e.code = code, e.code_bytes = k->code_size();
        e.bytes = d.size();
        e.dst = img.add_output(e.bytes, 0);
        // The output arena starts poisoned; the destination's own bytes are copied in by a first call
        // of a whole-buffer copy kernel, then the piece is copied row by row.
        ActLayout flat;
        flat.H = 1, flat.W = 1, flat.C = static_cast<int64_t>(d.size()), flat.c_stride = flat.C;
        auto init = std::shared_ptr<JitKernel>(emit_concat_copy(isa, flat, flat));
        const Ref init_code = img.add_input(init->code(), init->code_size());
        const Ref dsrc = img.add_input(d.data(), d.size());
        ConcatCopyArgs a{};
        a.h_begin = 0, a.h_end = 1;
        img.add_call(init_code, img.add_args(bytes_of(a), {{offsetof(ConcatCopyArgs, src), dsrc},
                                                           {offsetof(ConcatCopyArgs, dst), e.dst}}));
        for (int64_t h = 0; h < src.H; ++h) {
            a.h_begin = h, a.h_end = h + 1;
            img.add_call(code, img.add_args(bytes_of(a),
                                            {{offsetof(ConcatCopyArgs, src), sr.plus(static_cast<uint64_t>(src.offset(0, 0, 0)))},
                                             {offsetof(ConcatCopyArgs, dst),
                                              e.dst.plus(static_cast<uint64_t>(dst.offset(0, 1, 1) + c_off))}}));
        }
        const std::string what = k->name + " C=" + std::to_string(src.C) + " cs " + std::to_string(src.c_stride) + "/" +
                                 std::to_string(dst.c_stride) + " c_off=" + std::to_string(c_off);
        e.check = [want, what](const std::vector<uint8_t>& got) {
            if (got == *want) return ::testing::AssertionSuccess();
            return ::testing::AssertionFailure() << "concat copy moved other bytes than its input's: " << what;
        };
        out->push_back(std::move(e));
        n += 2;
    }
    return n;
}

} // namespace

int64_t add_emitter_cases(EmuImage& img, Isa isa, uint64_t base, const EmuCaseSet& which, std::vector<EmuCheck>* out) {
    const size_t c0 = out->size();
    const int64_t gc = which.group_conv ? group_conv_cases(img, isa, base, out) : 0;
    const size_t c1 = out->size();
    const int64_t pl = which.pool ? pool_cases(img, isa, base + 10, out) : 0;
    const size_t c2 = out->size();
    const int64_t el = which.eltwise ? eltwise_cases(img, isa, base + 20, out) : 0;
    const size_t c3 = out->size();
    const int64_t cc = which.concat ? concat_cases(img, isa, base + 30, out) : 0;
    std::printf("[emu] %s cases: %zu grouped conv, %zu pooling, %zu eltwise, %zu concat copy\n", to_string(isa), c1 - c0,
                c2 - c1, c3 - c2, out->size() - c3);
    return gc + pl + el + cc;
}

int64_t add_group_conv_control(EmuImage& img, std::vector<EmuCheck>* out) {
    GroupConvCase c;
    c.g = depthwise(24, 4, 6, 3, 1, 1, 1);
    c.isa = Isa::avx512_core_vnni;
    auto p = std::make_shared<PreparedWindow>();
    EXPECT_TRUE(prepare_group_conv_case(c, 7, 0, p.get()));
    add_window(img, p, out);
    return 1;
}

} // namespace qjit::test
