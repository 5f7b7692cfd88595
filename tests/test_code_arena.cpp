// The executable code arena (emitters/code_arena.*): installed code runs at a 64-byte aligned address
// whose mapping is read+execute and never writable (memfd mode and the mprotect fallback); freed
// blocks are reused; memory stays bounded by the live kernels over many compile / destroy cycles;
// concurrent install / free is safe (this suite runs under TSan in scripts/sanitize.sh); build_kernel's
// kernels live in the arena and QJIT_PERF_MAP names their executable addresses; after fork() neither
// process overwrites code the other still runs.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "emitters/code_arena.hpp"
#include "emitters/generator.hpp"
#include "jit/code_cache.hpp"
#include "qjit/qjit.hpp"
#include "tools/model_zoo.hpp"

using namespace qjit;

namespace {

// mov eax, imm32; ret, padded with int3 to `bytes`.
std::vector<uint8_t> return_code(uint32_t value, size_t bytes = 6) {
    std::vector<uint8_t> c(std::max<size_t>(bytes, 6), 0xCC);
    c[0] = 0xB8;
    std::memcpy(&c[1], &value, 4);
    c[5] = 0xC3;
    return c;
}

int call(const CodeBlock& b) { return reinterpret_cast<int (*)()>(const_cast<uint8_t*>(b.data()))(); }

// The /proc/self/maps line of the mapping that holds p ("" if none).
std::string mapping_of(const void* p) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        uintptr_t lo = 0, hi = 0;
        char dash = 0;
        std::istringstream s(line);
        s >> std::hex >> lo >> dash >> hi;
        if (a >= lo && a < hi) return line;
    }
    return "";
}

std::string perms_of(const void* p) {
    const std::string l = mapping_of(p);
    const size_t sp = l.find(' ');
    return sp == std::string::npos ? "" : l.substr(sp + 1, 4);
}

void check_install_and_run(CodeArena& arena) {
    std::vector<CodeBlock> blocks;
    for (uint32_t i = 0; i < 50; ++i) {
        const std::vector<uint8_t> code = return_code(1000 + i, 6 + 97 * i);
        blocks.push_back(arena.install(code.data(), code.size()));
        const CodeBlock& b = blocks.back();
        EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u) << i;
        EXPECT_EQ(b.size(), code.size());
        EXPECT_EQ(std::memcmp(b.data(), code.data(), code.size()), 0) << i;
        const std::string perms = perms_of(b.data());
        EXPECT_EQ(perms.substr(0, 3), "r-x") << mapping_of(b.data());
        EXPECT_EQ(perms_of(b.data() + b.size() - 1).substr(0, 3), "r-x");
    }
    for (uint32_t i = 0; i < 50; ++i) EXPECT_EQ(call(blocks[i]), static_cast<int>(1000 + i));
    // Free every other block, install again: the new code runs (reused space in memfd mode).
    for (size_t i = 0; i < blocks.size(); i += 2) blocks[i].reset();
    for (uint32_t i = 0; i < 25; ++i) {
        const std::vector<uint8_t> code = return_code(5000 + i, 64);
        CodeBlock b = arena.install(code.data(), code.size());
        EXPECT_EQ(call(b), static_cast<int>(5000 + i));
        blocks.push_back(std::move(b));
    }
    for (size_t i = 1; i < 50; i += 2) EXPECT_EQ(call(blocks[i]), static_cast<int>(1000 + i));
}

} // namespace

TEST(CodeArena, InstalledCodeRunsAlignedAndNeverWritable) {
    CodeArena arena(CodeArena::Options{size_t{64} << 10, true});
    check_install_and_run(arena);
    CodeArena fallback(CodeArena::Options{size_t{64} << 10, false});
    EXPECT_FALSE(fallback.stats().memfd);
    check_install_and_run(fallback);
    EXPECT_EQ(fallback.stats().live_blocks, 0u);
    EXPECT_EQ(fallback.stats().mapped_bytes, 0u);
    EXPECT_EQ(arena.stats().live_blocks, 0u);
}

TEST(CodeArena, MemoryStaysBoundedByLiveBlocks) {
    for (bool memfd : {true, false}) {
        const size_t chunk = size_t{64} << 10;
        CodeArena arena(CodeArena::Options{chunk, memfd});
        size_t peak = 0;
        for (int cycle = 0; cycle < 200; ++cycle) {
            std::vector<CodeBlock> live;
            for (uint32_t i = 0; i < 40; ++i) {
                const std::vector<uint8_t> code = return_code(i, 1 + (cycle * 131 + i * 977) % 9000);
                live.push_back(arena.install(code.data(), code.size()));
            }
            // A block larger than a chunk gets a chunk of its own.
            const std::vector<uint8_t> big = return_code(7, 3 * chunk + 100);
            live.push_back(arena.install(big.data(), big.size()));
            EXPECT_EQ(call(live.back()), 7);
            peak = std::max(peak, arena.stats().mapped_bytes);
            live.clear();
            const CodeArena::Stats s = arena.stats();
            EXPECT_EQ(s.live_blocks, 0u) << cycle;
            EXPECT_EQ(s.live_bytes, 0u) << cycle;
            if (memfd) EXPECT_LE(s.mapped_bytes, chunk) << "empty arena keeps at most one chunk (cycle " << cycle << ")";
            else EXPECT_EQ(s.mapped_bytes, 0u);
        }
        // 40 blocks of < 9 KiB + one of 3 chunks: a handful of chunks, not one per cycle.
        EXPECT_LE(peak, 12 * chunk) << "memfd " << memfd;
    }
}

TEST(CodeArena, ConcurrentInstallAndFree) {
    CodeArena arena(CodeArena::Options{size_t{64} << 10, true});
    std::vector<std::thread> threads;
    std::vector<int> bad(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&arena, &bad, t] {
            std::vector<CodeBlock> mine;
            for (uint32_t i = 0; i < 300; ++i) {
                const uint32_t v = static_cast<uint32_t>(t) * 100000 + i;
                const std::vector<uint8_t> code = return_code(v, 6 + (i * 37) % 3000);
                mine.push_back(arena.install(code.data(), code.size()));
                if (call(mine.back()) != static_cast<int>(v)) bad[static_cast<size_t>(t)]++;
                if (i % 3 == 0) mine.erase(mine.begin());
            }
        });
    for (auto& th : threads) th.join();
    for (int b : bad) EXPECT_EQ(b, 0);
    EXPECT_EQ(arena.stats().live_blocks, 0u);
}

// Compiling and destroying models over and over: the global arena's live bytes come back to where
// they were (the code cache holds kernels weakly) and its mapped bytes stop growing.
TEST(CodeArena, CompileDestroyCyclesReturnTheCode) {
    CodeCache::global().clear();
    const size_t live_before = CodeArena::global().stats().live_bytes;
    size_t mapped_after_first = 0;
    for (int cycle = 0; cycle < 30; ++cycle) {
        zoo::ChainConfig cfg = zoo::random_chain_config(static_cast<uint64_t>(1 + cycle % 5));
        {
            CompiledModel m = compile(zoo::build_chain(cfg));
            EXPECT_GT(CodeArena::global().stats().live_bytes, live_before);
        }
        const CodeArena::Stats s = CodeArena::global().stats();
        EXPECT_EQ(s.live_bytes, live_before) << "cycle " << cycle;
        if (cycle == 0) mapped_after_first = s.mapped_bytes;
        EXPECT_LE(s.mapped_bytes, std::max<size_t>(mapped_after_first, size_t{1} << 20)) << "cycle " << cycle;
    }
}

// build_kernel copies code + pool into the arena: the kernel runs there (its pool reached RIP-relative),
// and the perf map line names that executable address and the instruction bytes.
TEST(CodeArena, BuildKernelRunsFromTheArenaAndThePerfMapNamesIt) {
    const std::string map = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    std::remove(map.c_str());
    setenv("QJIT_PERF_MAP", "1", 1);
    const auto k = build_kernel("arena_probe", 4096, [](Generator& g) {
        const int off = g.pool_i32({0, 0, 0, 0, 4242});
        g.mov(Xbyak::util::eax, g.pool(off + 16));
        g.ret();
    });
    unsetenv("QJIT_PERF_MAP");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(k->code()) % 64, 0u);
    EXPECT_EQ(perms_of(k->entry()).substr(0, 3), "r-x") << mapping_of(k->entry());
    EXPECT_NE(mapping_of(k->entry()).find("qjit-code"), std::string::npos) << mapping_of(k->entry());
    EXPECT_EQ(reinterpret_cast<int (*)()>(const_cast<void*>(k->entry()))(), 4242);
    std::ifstream in(map);
    std::string line, want;
    {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%lx %zx ", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(k->code())),
                      k->text_bytes());
        want = std::string(buf) + "arena_probe";
    }
    bool found = false;
    while (std::getline(in, line)) found = found || line == want;
    EXPECT_TRUE(found) << "no line '" << want << "' in " << map;
    std::remove(map.c_str());
}

// fork() shares the memfd's pages: after it, the parent frees a block and installs new code (which,
// without the fork handlers, would land in the freed block); the child must still run the old code
// there, and code it installs itself must not reach the parent.
TEST(CodeArena, ForkedProcessesDoNotOverwriteEachOthersCode) {
    CodeArena arena(CodeArena::Options{size_t{64} << 10, true});
    const std::vector<uint8_t> a_code = return_code(111, 200);
    CodeBlock a = arena.install(a_code.data(), a_code.size());
    CodeBlock keep = arena.install(a_code.data(), a_code.size()); // the chunk stays in use
    int to_child[2], to_parent[2];
    ASSERT_EQ(pipe(to_child), 0);
    ASSERT_EQ(pipe(to_parent), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        char c = 0;
        int status = 0;
        if (read(to_child[0], &c, 1) != 1) _exit(10);
        if (call(a) != 111) status |= 1; // the parent has replaced its copy of `a` by now
        const std::vector<uint8_t> mine = return_code(333, 200);
        std::vector<CodeBlock> blocks;
        for (int i = 0; i < 20; ++i) {
            blocks.push_back(arena.install(mine.data(), mine.size()));
            if (call(blocks.back()) != 333) status |= 2;
        }
        if (call(a) != 111) status |= 4;
        if (write(to_parent[1], &c, 1) != 1) status |= 8;
        _exit(status);
    }
    EXPECT_EQ(arena.stats().frozen_chunks, 1u);
    const uint8_t* a_at = a.data();
    a.reset();
    const std::vector<uint8_t> b_code = return_code(222, 200);
    std::vector<CodeBlock> blocks;
    for (int i = 0; i < 20; ++i) {
        blocks.push_back(arena.install(b_code.data(), b_code.size()));
        EXPECT_NE(blocks.back().data(), a_at) << "a block of a frozen chunk was handed out again";
        EXPECT_EQ(call(blocks.back()), 222);
    }
    char c = 1;
    ASSERT_EQ(write(to_child[1], &c, 1), 1);
    ASSERT_EQ(read(to_parent[0], &c, 1), 1);
    int status = -1;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child: 1 = its old code was overwritten, 2 = its new code did not run";
    EXPECT_EQ(call(keep), 111);
    for (const CodeBlock& b : blocks) EXPECT_EQ(call(b), 222) << "the child's code reached the parent";
    for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) close(fd);
    blocks.clear();
    keep.reset();
    EXPECT_EQ(arena.stats().frozen_chunks, 0u) << "the frozen chunk is unmapped with its last block";
}
