#include "perf/bench_common.hpp"

#include <benchmark/benchmark.h>
#include <cpuid.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "perf/peak_probe.hpp"

namespace qjit::perf {
namespace {

int64_t parse_size(std::string s) { // "32768K", "1M", "512"
    if (s.empty()) return 0;
    int64_t mul = 1;
    const char u = s.back();
    if (u == 'K' || u == 'k') mul = 1024;
    else if (u == 'M' || u == 'm') mul = 1024 * 1024;
    if (mul != 1) s.pop_back();
    return std::atoll(s.c_str()) * mul;
}

std::string read_first_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

// The highest-level unified/data cache in sysfs, then sysconf, then CPUID (AMD 0x8000001D / Intel 4).
void detect_llc(HostInfo& h) {
    int best_level = 0;
    for (int i = 0; i < 8; ++i) {
        const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
        const std::string lvl = read_first_line(dir + "level"), type = read_first_line(dir + "type");
        if (lvl.empty()) continue;
        if (type == "Instruction") continue;
        const int level = std::atoi(lvl.c_str());
        if (level >= best_level) {
            best_level = level;
            h.llc_bytes = parse_size(read_first_line(dir + "size"));
            h.llc_source = "sysfs";
        }
    }
    if (h.llc_bytes > 0) return;
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l3 > 0 || l2 > 0) {
        h.llc_bytes = l3 > 0 ? l3 : l2;
        h.llc_source = "sysconf";
        return;
    }
#endif
    unsigned a, b, c, d;
    for (unsigned leaf : {0x8000001Du, 4u}) {
        for (unsigned i = 0; i < 8; ++i) {
            if (!__get_cpuid_count(leaf, i, &a, &b, &c, &d)) break;
            const unsigned type = a & 31;
            if (type == 0) break;
            if (type == 2) continue; // instruction cache
            const int64_t bytes = static_cast<int64_t>(((b >> 22) & 0x3ff) + 1) * (((b >> 12) & 0x3ff) + 1) *
                                  ((b & 0xfff) + 1) * (static_cast<int64_t>(c) + 1);
            h.llc_bytes = std::max(h.llc_bytes, bytes);
            h.llc_source = "cpuid";
        }
        if (h.llc_bytes > 0) return;
    }
    h.llc_bytes = 32ll << 20;
    h.llc_source = "default";
}

HostInfo detect_host() {
    HostInfo h;
    std::ifstream f("/proc/cpuinfo");
    std::string line, family, model, flags;
    auto value = [](const std::string& l) {
        const size_t p = l.find(':');
        std::string v = p == std::string::npos ? "" : l.substr(p + 1);
        while (!v.empty() && v.front() == ' ') v.erase(v.begin());
        return v;
    };
    while (std::getline(f, line)) {
        if (h.model_name.empty() && line.rfind("model name", 0) == 0) h.model_name = value(line);
        else if (family.empty() && line.rfind("cpu family", 0) == 0) family = value(line);
        else if (model.empty() && line.rfind("model\t", 0) == 0) model = value(line);
        else if (flags.empty() && line.rfind("flags", 0) == 0) flags = value(line);
    }
    h.family_model = "family " + family + " model " + model;
    std::istringstream fs(flags);
    for (std::string fl; fs >> fl;)
        if (fl == "avx2" || fl == "fma" || fl.rfind("avx512", 0) == 0 || fl.find("vnni") != std::string::npos ||
            fl.rfind("amx", 0) == 0)
            h.simd_flags += (h.simd_flags.empty() ? "" : " ") + fl;
    h.cpus = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    detect_llc(h);
    return h;
}

double g_rotate_mb = -1;
bool g_thp = true;

std::mutex g_peak_mu;
std::map<std::pair<int, int>, PeakResult> g_peaks; // (path, threads)

} // namespace

std::string HostInfo::str() const {
    std::ostringstream os;
    os << model_name << " (" << family_model << "), " << cpus << " CPUs, SIMD: " << simd_flags << "; LLC "
       << (llc_bytes >> 20) << " MiB (" << llc_source << ")";
    return os.str();
}

const HostInfo& host_info() {
    static const HostInfo h = detect_host();
    return h;
}

void set_rotate_mb(double mb) { g_rotate_mb = mb; }
void set_rotate_hugepages(bool on) { g_thp = on; }

int64_t rotate_target_bytes() {
    if (g_rotate_mb >= 0) return static_cast<int64_t>(g_rotate_mb * 1024 * 1024);
    return std::min<int64_t>(host_info().llc_bytes * 5 / 4, 1ll << 30);
}

RotatingSet::RotatingSet(const std::vector<int64_t>& sizes, int64_t target_bytes, int max_copies) {
    for (int64_t s : sizes) {
        offsets_.push_back(group_bytes_);
        group_bytes_ += (std::max<int64_t>(s, 1) + 63) / 64 * 64;
    }
    copies_ = static_cast<int>(std::clamp<int64_t>((target_bytes + group_bytes_ - 1) / group_bytes_, 1, max_copies));
    // 2 MiB aligned and (when asked) backed by transparent huge pages: which 4 KiB pages a copy
    // lands on otherwise changes TLB and cache-set behaviour from one fixture to the next.
    const size_t huge = 2u << 20, bytes = (static_cast<size_t>(total_bytes()) + huge - 1) / huge * huge;
    void* p = std::aligned_alloc(huge, bytes);
    if (!p) throw std::runtime_error("RotatingSet: out of memory");
    if (g_thp) madvise(p, bytes, MADV_HUGEPAGE);
    std::memset(p, 0, static_cast<size_t>(total_bytes())); // touch every page now, not while timing
    mem_ = std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(p), std::free);
}

uint8_t* RotatingSet::buf(int copy, int index) const {
    return mem_.get() + static_cast<int64_t>(copy) * group_bytes_ + offsets_[static_cast<size_t>(index)];
}

void RotatingSet::replicate() {
    for (int c = 1; c < copies_; ++c)
        std::memcpy(mem_.get() + static_cast<int64_t>(c) * group_bytes_, mem_.get(), static_cast<size_t>(group_bytes_));
}

int64_t BenchShape::real_macs() const {
    if (kind == FC) return m * c * oc;
    int64_t taps = 0;
    for (int64_t y = 0; y < oh(); ++y)
        for (int64_t x = 0; x < ow(); ++x)
            for (int64_t i = 0; i < k; ++i)
                for (int64_t j = 0; j < k; ++j) {
                    const int64_t iy = y * stride - pad + i, ix = x * stride - pad + j;
                    taps += iy >= 0 && iy < h && ix >= 0 && ix < w;
                }
    return taps * (kind == Depthwise ? c : c * oc);
}

zoo::KernelCase kernel_case(const BenchShape& s, bool zero_points) {
    zoo::KernelCase c;
    c.name = s.name;
    c.zero_points = zero_points;
    if (s.kind == BenchShape::FC) {
        c.fc = true;
        c.w = s.m; c.c = s.c; c.oc = s.oc;
    } else {
        c.h = s.h; c.w = s.w; c.c = s.c; c.oc = s.oc; c.k = s.k; c.stride = s.stride; c.pad = s.pad;
    }
    if (s.kind == BenchShape::Depthwise) c.oc = c.groups = s.c;
    return c;
}

std::vector<BenchShape> bench_shapes() {
    auto fc = [](const char* name, int64_t m, int64_t k, int64_t n) {
        BenchShape s;
        s.kind = BenchShape::FC;
        s.name = name;
        s.m = m; s.w = m; s.c = k; s.oc = n;
        return s;
    };
    auto conv = [](const char* name, int64_t hw, int64_t ci, int64_t co, int64_t k) {
        BenchShape s;
        s.kind = BenchShape::Conv;
        s.name = name;
        s.h = s.w = hw; s.c = ci; s.oc = co; s.k = k; s.pad = k / 2;
        return s;
    };
    std::vector<BenchShape> v{
        fc("fc_128x768x768", 128, 768, 768),
        fc("fc_1x2048x1000", 1, 2048, 1000),
        fc("fc_256x1024x1024", 256, 1024, 1024),
        conv("conv3x3_56x56_64to64", 56, 64, 64, 3),
        conv("conv1x1_56x56_64to256", 56, 64, 256, 1),
        conv("conv3x3_14x14_256to256", 14, 256, 256, 3),
    };
    // Hook: depthwise 3x3 112x112 c32. oneDNN runs it today; qjit's side skips until a depthwise
    // emitter exists (see bench_kernels.cpp, qjit_depthwise_available()).
    BenchShape dw = conv("dw3x3_112x112_c32", 112, 32, 32, 3);
    dw.kind = BenchShape::Depthwise;
    v.push_back(dw);
    return v;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
    const size_t i = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size()))) - 1;
    return v[i];
}

void probe_peaks(int max_threads, double seconds_per_sample) {
    std::lock_guard<std::mutex> lk(g_peak_mu);
    for (PeakPath p : all_peak_paths()) {
        if (!peak_path_supported(p)) continue;
        for (int t = 1; t <= max_threads; ++t)
            g_peaks[{static_cast<int>(p), t}] = measure_peak(p, t, seconds_per_sample, 5);
    }
}

double peak_gops_for_isa(const std::string& isa, int threads) {
    PeakPath p = PeakPath::avx2_maddubs;
    if (isa == "amx") return 0; // not probed
    if (isa == "avx2_vnni") p = PeakPath::avx_vnni_ymm;
    else if (isa == "avx512_core_vnni" || isa == "avx512_vnni") p = PeakPath::avx512_vnni_zmm;
    else if (isa == "avx512_core") p = PeakPath::avx512bw_maddubs;
    if (!peak_path_supported(p)) return 0;
    std::lock_guard<std::mutex> lk(g_peak_mu);
    auto it = g_peaks.find({static_cast<int>(p), threads});
    if (it == g_peaks.end()) it = g_peaks.emplace(std::make_pair(static_cast<int>(p), threads), measure_peak(p, threads)).first;
    return it->second.gops;
}

void add_bench_context() {
    const HostInfo& h = host_info();
    benchmark::AddCustomContext("qjit_cpu", h.model_name + " (" + h.family_model + ")");
    benchmark::AddCustomContext("qjit_cpu_simd_flags", h.simd_flags);
    benchmark::AddCustomContext("qjit_online_cpus", std::to_string(h.cpus));
    benchmark::AddCustomContext("qjit_llc_bytes", std::to_string(h.llc_bytes) + " (" + h.llc_source + ")");
    benchmark::AddCustomContext("qjit_rotate_bytes", std::to_string(rotate_target_bytes()));
    benchmark::AddCustomContext("qjit_rotate_hugepages",
                                std::string(g_thp ? "madvise(MADV_HUGEPAGE)" : "off") + ", THP mode " +
                                    read_first_line("/sys/kernel/mm/transparent_hugepage/enabled"));
    if (const char* git = std::getenv("QJIT_PERF_GIT")) benchmark::AddCustomContext("qjit_git", git); // scripts/perf.sh
    std::lock_guard<std::mutex> lk(g_peak_mu);
    for (const auto& [key, r] : g_peaks) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.2f", r.gops);
        benchmark::AddCustomContext("qjit_peak_gops/" + std::string(to_string(r.path)) + "/threads:" +
                                        std::to_string(r.threads),
                                    buf);
    }
}

} // namespace qjit::perf
