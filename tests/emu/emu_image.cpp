#include "tests/emu/emu_image.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace qjit::emu {
namespace {

constexpr uint64_t kPayloadLba = 64;   // boot.asm PAYLOAD_LBA
constexpr uint64_t kSector = 512;
constexpr uint64_t kCylinder = 16 * 63 * kSector; // image sizes are whole cylinders (heads 16, spt 63)

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t append(std::vector<uint8_t>& v, const void* data, size_t bytes, size_t align, uint8_t fill) {
    const uint64_t off = round_up(v.size(), align);
    v.resize(off, 0);
    const auto* p = static_cast<const uint8_t*>(data);
    if (p) v.insert(v.end(), p, p + bytes);
    else v.resize(off + bytes, fill);
    return off;
}

void put64(std::vector<uint8_t>& v, uint64_t off, uint64_t x) { std::memcpy(v.data() + off, &x, 8); }
uint64_t get64(const std::vector<uint8_t>& v, uint64_t off) {
    uint64_t x = 0;
    if (off + 8 <= v.size()) std::memcpy(&x, v.data() + off, 8);
    return x;
}

bool exists(const std::string& p) {
    struct stat st {};
    return !p.empty() && stat(p.c_str(), &st) == 0;
}

std::string env_or(const char* name, const char* fallback) {
    const char* e = std::getenv(name);
    return e && *e ? e : fallback;
}

} // namespace

Ref EmuImage::add_input(const void* data, size_t bytes, size_t align) {
    return Ref{0, append(in_, data, bytes, align, 0)};
}

Ref EmuImage::add_output(size_t bytes, uint8_t poison, size_t align) {
    return Ref{1, append(out_, nullptr, bytes, align, poison)};
}

Ref EmuImage::add_args(std::vector<uint8_t> bytes, std::vector<std::pair<size_t, Ref>> ptr_fields) {
    const Ref at = add_input(bytes.data(), bytes.size(), 64);
    args_.push_back(Args{at, std::move(ptr_fields)});
    return at;
}

size_t EmuImage::add_call(Ref code, Ref args) {
    calls_.push_back(Call{code, args});
    return calls_.size() - 1;
}

uint64_t EmuImage::guest_address(Ref r) const { return kPayloadBase + (r.arena == 0 ? in_off_ : out_off_) + r.off; }

uint64_t EmuImage::payload_bytes() const { return total_bytes_; }

void EmuImage::write(const std::string& boot_bin, const std::string& path) {
    const uint64_t n = calls_.size();
    desc_off_ = kSector;
    res_off_ = round_up(desc_off_ + n * 32, 64);
    out_off_ = round_up(res_off_ + n * 32, 4096);
    in_off_ = round_up(out_off_ + out_.size(), 4096);
    wb_bytes_ = round_up(out_off_ + out_.size(), kSector);
    total_bytes_ = round_up(in_off_ + in_.size(), kSector);
    if (kPayloadBase + total_bytes_ > 240ull << 20) throw std::runtime_error("emu payload larger than the guest memory");

    std::vector<uint8_t> p(total_bytes_, 0);
    std::memcpy(p.data(), "QJITEMU1", 8);
    put64(p, 8, total_bytes_ / kSector);
    put64(p, 16, wb_bytes_ / kSector);
    put64(p, 24, n);
    put64(p, 32, kPayloadBase + desc_off_);
    for (uint64_t i = 0; i < n; ++i) {
        put64(p, desc_off_ + i * 32, guest_address(calls_[i].code));
        put64(p, desc_off_ + i * 32 + 8, guest_address(calls_[i].args));
        put64(p, desc_off_ + i * 32 + 16, kPayloadBase + res_off_ + i * 32);
    }
    std::memcpy(p.data() + out_off_, out_.data(), out_.size());
    std::vector<uint8_t> in = in_;
    for (const Args& a : args_)
        for (const auto& [field, target] : a.ptrs) put64(in, a.at.off + field, guest_address(target));
    std::memcpy(p.data() + in_off_, in.data(), in.size());
    payload_ = std::move(p);

    std::ifstream b(boot_bin, std::ios::binary);
    if (!b) throw std::runtime_error("cannot read the boot image " + boot_bin);
    std::vector<uint8_t> img((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>());
    if (img.size() > kPayloadLba * kSector) throw std::runtime_error("boot image overlaps the payload");
    img.resize(kPayloadLba * kSector, 0);
    img.insert(img.end(), payload_.begin(), payload_.end());
    img.resize(round_up(img.size(), kCylinder), 0);
    std::ofstream o(path, std::ios::binary | std::ios::trunc);
    o.write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size()));
    if (!o) throw std::runtime_error("cannot write the disk image " + path);
}

std::string find_bochs() {
    const std::string b = env_or("QJIT_BOCHS", "/usr/bin/bochs");
    return exists(b) ? b : "";
}

std::string bochs_missing_reason() {
    const std::string b = env_or("QJIT_BOCHS", "/usr/bin/bochs");
    const std::string bios = env_or("QJIT_BOCHS_BIOS", "/usr/share/bochs/BIOS-bochs-latest");
    const std::string vga = env_or("QJIT_BOCHS_VGABIOS", "/usr/share/bochs/VGABIOS-lgpl-latest");
    std::string why;
    if (!exists(b)) why += " emulator " + b + " not found;";
    if (!exists(bios)) why += " BIOS " + bios + " not found;";
    if (!exists(vga)) why += " VGA BIOS " + vga + " not found;";
    if (why.empty()) return "";
    return "Bochs is required for the emulated AVX-512 tests:" + why +
           " install it with `bash scripts/setup.sh` (Debian: bochs bochsbios vgabios nasm)";
}

RunReport EmuImage::run(const std::string& path, const std::string& cpu, double timeout_s) {
    RunReport r;
    if (const std::string why = bochs_missing_reason(); !why.empty()) {
        r.error = why;
        return r;
    }
    const uint64_t img_bytes = [&] {
        struct stat st {};
        stat(path.c_str(), &st);
        return static_cast<uint64_t>(st.st_size);
    }();
    const std::string rc = path + ".bochsrc", cmds = path + ".cmds", log = path + ".log", out = path + ".out";
    {
        std::ofstream f(rc);
        f << "memory: guest=256, host=256\n"
          << "romimage: file=\"" << env_or("QJIT_BOCHS_BIOS", "/usr/share/bochs/BIOS-bochs-latest") << "\"\n"
          << "vgaromimage: file=\"" << env_or("QJIT_BOCHS_VGABIOS", "/usr/share/bochs/VGABIOS-lgpl-latest") << "\"\n"
          << "cpu: model=" << cpu << ", count=1, ips=50000000, reset_on_triple_fault=0\n"
          << "boot: disk\n"
          << "ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14\n"
          << "ata0-master: type=disk, path=\"" << path << "\", mode=flat, cylinders=" << img_bytes / kCylinder
          << ", heads=16, spt=63\n"
          << "display_library: rfb, options=\"timeout=0\"\n"
          << "sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy\n"
          << "speaker: enabled=0\n"
          << "mouse: enabled=0\n"
          << "clock: sync=none\n"
          << "port_e9_hack: enabled=1\n"
          << "panic: action=fatal\n"
          << "error: action=report\n"
          << "info: action=ignore\n"
          << "debug: action=ignore\n"
          << "log: \"" << log << "\"\n";
        std::ofstream c(cmds);
        c << "c\nquit\n";
    }
    const std::string cmd = "timeout -k 5 " + std::to_string(static_cast<int>(timeout_s)) + " " + find_bochs() +
                            " -q -f '" + rc + "' -rc '" + cmds + "' > '" + out + "' 2>&1 < /dev/null";
    const auto t0 = std::chrono::steady_clock::now();
    const int rc_code = std::system(cmd.c_str());
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
        std::ifstream f(out);
        r.log.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    // Bochs exits 1 even after a clean shutdown: judge by what the guest wrote back.
    std::ifstream f(path, std::ios::binary);
    f.seekg(static_cast<std::streamoff>(kPayloadLba * kSector));
    back_.assign(wb_bytes_, 0);
    f.read(reinterpret_cast<char*>(back_.data()), static_cast<std::streamsize>(wb_bytes_));
    r.status = static_cast<int>(get64(back_, 40));
    r.tests_done = get64(back_, 88);
    r.fault_vector = get64(back_, 56);
    r.fault_error = get64(back_, 64);
    r.fault_rip = get64(back_, 72);
    r.fault_test = get64(back_, 48);
    r.xcr0 = get64(back_, 96);
    r.cpuid7_ebx = get64(back_, 104);
    r.cpuid7_ecx = get64(back_, 112);
    r.ran = r.status != 0;
    if (!r.ran) {
        const int code = WIFEXITED(rc_code) ? WEXITSTATUS(rc_code) : -1;
        r.error = code == 124 || code == 137 ? "Bochs timed out after " + std::to_string(static_cast<int>(timeout_s)) +
                                                   " s with nothing written back"
                                             : "Bochs (exit " + std::to_string(code) + ") wrote nothing back";
    }
    return r;
}

std::vector<uint8_t> EmuImage::output(Ref r, size_t bytes) const {
    const uint64_t off = (r.arena == 0 ? in_off_ : out_off_) + r.off;
    if (r.arena != 1 || off + bytes > back_.size()) return {};
    return std::vector<uint8_t>(back_.begin() + static_cast<std::ptrdiff_t>(off),
                                back_.begin() + static_cast<std::ptrdiff_t>(off + bytes));
}

CallResult EmuImage::result(size_t call) const {
    CallResult c;
    const uint64_t off = res_off_ + call * 32;
    c.done = get64(back_, off) == 1;
    c.preserved = static_cast<uint32_t>(get64(back_, off + 8));
    c.cycles = get64(back_, off + 16);
    c.mxcsr_after = static_cast<uint32_t>(get64(back_, off + 24));
    return c;
}

} // namespace qjit::emu
