// JIT time breakdown per bench shape (issue #7 "JIT < 100 us per kernel"): the scheduler's sequence for
// one QConv node — fold_qconv, choose the blocking, emit (code generation + install in the code arena)
// — and the kernel's destruction, each timed separately, medians over N repetitions. Packing is not part
// of it (bench_kernels reports pack_us). Not a Google Benchmark binary: plain text, one line per shape.
//
//   chrt -f 5 build/bench_jit [reps=21] [shape substring] [--isa=avx2|native|...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "emitters/conv.hpp"
#include "emitters/group_conv.hpp"
#include "isa/isa.hpp"
#include "jit/requant_fold.hpp"
#include "perf/bench_common.hpp"

using namespace qjit;
using namespace qjit::perf;

namespace {

using Clock = std::chrono::steady_clock;
double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }
double median(std::vector<double> v) { return percentile(std::move(v), 50); }

} // namespace

int main(int argc, char** argv) {
    int reps = 21;
    std::string filter;
    Isa isa = Isa::avx2;
    int positional = 0;
    for (int i = 1; i < argc; ++i) {
        if (!std::strncmp(argv[i], "--isa=", 6)) {
            const auto parsed = parse_isa(argv[i] + 6);
            if (!parsed) {
                std::fprintf(stderr, "bench_jit: unknown ISA %s\n", argv[i] + 6);
                return 2;
            }
            isa = resolve_isa(*parsed);
        } else if (positional++ == 0) {
            reps = std::max(1, std::atoi(argv[i]));
        } else {
            filter = argv[i];
        }
    }
    std::printf("# isa %s, %d repetitions, medians in us (jit = fold + choose + emit)\n", to_string(isa), reps);
    for (const BenchShape& s : bench_shapes())
        for (bool zp : {false, true}) {
            if (s.name.find(filter) == std::string::npos) continue;
            const QConvDesc d = zoo::make_qconv_case(kernel_case(s, zp));
            const bool grouped = d.g.groups > 1;
            const ActLayout in = grouped ? required_group_conv_input_halo(d.g) : required_input_halo(d.g);
            ActLayout out;
            out.N = d.g.N, out.H = d.g.OH, out.W = d.g.OW, out.C = d.g.OC, out.c_stride = (d.g.OC + 15) / 16 * 16;
            std::vector<double> fold, choose, emit, total, destroy;
            size_t code = 0;
            for (int r = 0; r < reps; ++r) {
                const auto t0 = Clock::now();
                const QConvConsts c = fold_qconv(d);
                const double tf = us_since(t0);
                const auto t1 = Clock::now();
                const ConvBlocking b = grouped ? choose_group_conv_blocking(isa, d, c) : choose_conv_blocking(isa, d, c);
                const double tc = us_since(t1);
                const auto t2 = Clock::now();
                std::unique_ptr<JitKernel> k =
                    grouped ? emit_group_conv(isa, d, c, in, out, b) : emit_conv(d, c, in, out, b);
                const double te = us_since(t2);
                code = k->code_size();
                const auto t3 = Clock::now();
                k.reset();
                destroy.push_back(us_since(t3));
                fold.push_back(tf);
                choose.push_back(tc);
                emit.push_back(te);
                total.push_back(tf + tc + te);
            }
            std::printf("%-24s zp:%d jit %7.1f  fold %7.1f  choose %6.1f  emit %6.1f  destroy %6.1f  code %6zu B\n",
                        s.name.c_str(), zp ? 1 : 0, median(total), median(fold), median(choose), median(emit),
                        median(destroy), code);
        }
    return 0;
}
