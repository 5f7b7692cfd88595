#!/usr/bin/env bash
# Sanitizer and fuzz runs of issue #6 (fuzz/README.md), each timed:
#   asan  build-asan: clang, -fsanitize=address,undefined (leaks checked) + libFuzzer coverage, no
#         benchmarks; the whole ctest suite but the Bochs emulator tests (they decode generated code,
#         label emu), the perf smoke and the C package test (it links an uninstrumented C program,
#         label package); test_random_graphs runs QJIT_ASAN_GRAPHS (300) graphs.
#   tsan  build-tsan: clang, -fsanitize=thread; test_concurrency, test_code_cache and test_code_arena.
#   fuzz  the libFuzzer targets of build-asan, QJIT_FUZZ_SECONDS (20) each on the committed corpora.
# Usage: scripts/sanitize.sh [asan|tsan|fuzz|all]...   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
san_flags=(-G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
           "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DQJIT_BUILD_PERF=OFF)

timed() { # name command...
  local t0=$SECONDS
  "${@:2}"
  echo "sanitize.sh: $1 took $((SECONDS - t0)) s"
}

asan_build() {
  cmake -S . -B build-asan "${san_flags[@]}" -DQJIT_SANITIZE=address,undefined -DQJIT_FUZZ=ON >/dev/null
  cmake --build build-asan -j "$jobs"
}
asan_test() {
  (cd build-asan && QJIT_GRAPH_COUNT=${QJIT_ASAN_GRAPHS:-300} ctest --output-on-failure -j "$jobs" -LE 'emu|perf-smoke|package')
}
tsan_build() {
  cmake -S . -B build-tsan "${san_flags[@]}" -DQJIT_SANITIZE=thread >/dev/null
  cmake --build build-tsan -j "$jobs" --target test_concurrency test_code_cache test_code_arena
}
tsan_test() {
  build-tsan/test_concurrency
  build-tsan/test_code_cache
  build-tsan/test_code_arena
}
fuzz_smoke() {
  [ -x build-asan/fuzz/graph_fuzzer ] || asan_build
  bash fuzz/run.sh smoke "${QJIT_FUZZ_SECONDS:-20}"
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(all)
for s in "${steps[@]}"; do
  case "$s" in
    asan) timed asan-build asan_build; timed asan-ctest asan_test ;;
    tsan) timed tsan-build tsan_build; timed tsan-test tsan_test ;;
    fuzz) timed fuzz-smoke fuzz_smoke ;;
    all) timed asan-build asan_build; timed asan-ctest asan_test; timed tsan-build tsan_build
         timed tsan-test tsan_test; timed fuzz-smoke fuzz_smoke ;;
    *) echo "usage: $0 [asan|tsan|fuzz|all]..." >&2; exit 2 ;;
  esac
done
