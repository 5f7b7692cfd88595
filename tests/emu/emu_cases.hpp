// Cases of the window (grouped conv, MaxPool, AvgPool), eltwise and concat-copy emitters for the
// Bochs suites (test_emu_bochs.cpp): each is prepared by the same tester the native suites use
// (tests/support/group_pool_testing, eltwise_testing), its kernel, inputs, poisoned output and
// calls are laid into an EmuImage, and after the run its written-back output is checked against
// Oracle B byte for byte (the concat copy against the bytes it must move). See README.md here.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "qjit/qjit.hpp"
#include "tests/emu/emu_image.hpp"

namespace qjit::test {

// One output buffer of the image and how to judge it.
struct EmuCheck {
    std::string kernel;
    emu::Ref dst, code;
    size_t bytes = 0, code_bytes = 0;
    std::function<::testing::AssertionResult(const std::vector<uint8_t>&)> check;
};

struct EmuCaseSet {
    bool group_conv = true, pool = true, eltwise = true, concat = true;
};

// Adds the cases of level `isa` (the families `which` selects) to img; returns the kernel count.
int64_t add_emitter_cases(emu::EmuImage& img, Isa isa, uint64_t base, const EmuCaseSet& which,
                          std::vector<EmuCheck>* out);

// The grouped-conv control of the negative runs: one avx512_core_vnni depthwise kernel (vpdpbusd).
int64_t add_group_conv_control(emu::EmuImage& img, std::vector<EmuCheck>* out);

} // namespace qjit::test
