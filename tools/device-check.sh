#!/usr/bin/env bash
# Native AVX-512 VNNI check on real hardware (issue #4): runs qjit's native test binaries (every ISA
# level the CPU runs, Zydis audit, dispatch) and perf/bench_kernels for the VNNI levels, and writes
# perf/device-results-<date>.txt with the CPU model, its ISA report and every result. Finishes well
# inside ten minutes on a 16-core machine (tests ~1-2 min, benchmarks ~2 min).
#
#   bash tools/device-check.sh bundle      # on a dev machine: build Release into build-device/ and
#                                           # collect binaries + non-glibc shared libs in
#                                           # build-device/bundle (carry that path to the device)
#   bash tools/device-check.sh run         # on the device: use build-device/bundle if present, else
#                                           # build from source first (needs cmake, ninja, g++, the
#                                           # -dev packages of scripts/setup.sh)
#   bash tools/device-check.sh             # = run
#
# Assumptions about the device (a bare Debian/Ubuntu-like x86-64 Linux, no network):
#   * with a bundle: only bash, coreutils (timeout, mktemp), grep/sed/awk and a Linux x86-64 kernel;
#     the bundle carries every shared library (glibc and its loader ld-linux-x86-64.so.2 included,
#     about 30 MB) and runs each binary through that loader, so the device's own libraries do not
#     matter;
#   * without one: a toolchain and the packages of scripts/setup.sh already installed (no apt here);
#   * no Bochs there: the emulated suite (test_emu) is left out — it runs in CI on every commit.
# Environment: QJIT_DEVICE_THREADS (default 1,<nproc>), QJIT_DEVICE_MIN_TIME (benchmark seconds,
# default 0.3), QJIT_DEVICE_OUT (result file).
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
build=build-device
bundle=$build/bundle

build_tree() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQJIT_BUILD_TESTS=ON -DQJIT_BUILD_PERF=ON \
    -DDNNL_LIBRARY=DNNL_LIBRARY-NOTFOUND >/dev/null &&
    cmake --build "$build" -j "$(nproc)"
}

if [ "$mode" = bundle ]; then
  build_tree || exit 1
  rm -rf "$bundle"
  mkdir -p "$bundle/bin" "$bundle/lib"
  for b in "$build"/test_* "$build"/bench_kernels; do
    [ -x "$b" ] || continue
    case "$(basename "$b")" in test_emu) continue ;; esac
    strip -o "$bundle/bin/$(basename "$b")" "$b"
  done
  # Every shared library the binaries load, glibc and its loader included: the device runs them
  # through the bundled loader, so its own glibc version does not matter.
  for b in "$bundle"/bin/*; do ldd "$b"; done | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | sort -u |
    while read -r lib; do cp -L "$lib" "$bundle/lib/"; done
  git rev-parse --short HEAD >"$bundle/COMMIT" 2>/dev/null || true
  echo "device-check: bundle in $bundle ($(du -sh "$bundle" | cut -f1)): $(ls "$bundle/bin" | wc -l) binaries, libraries: $(ls "$bundle/lib" | tr '\n' ' ')"
  exit 0
fi

if [ "$mode" != run ]; then
  echo "usage: $0 [bundle|run]" >&2
  exit 2
fi

start=$(date +%s)
loader=()
if [ -d "$bundle/bin" ]; then
  bin=$bundle/bin
  ld=$(ls "$bundle"/lib/ld-linux-x86-64.so.* 2>/dev/null | head -1)
  [ -n "$ld" ] && loader=("$ld" --library-path "$PWD/$bundle/lib")
  source_note="prebuilt bundle (commit $(cat "$bundle/COMMIT" 2>/dev/null || echo ?)), run through its own loader and glibc"
else
  echo "device-check: no $bundle, building from source"
  build_tree || { echo "device-check: build failed (see scripts/setup.sh for the packages)" >&2; exit 1; }
  bin=$build
  source_note="built here from $(git rev-parse --short HEAD 2>/dev/null || echo 'the working tree')"
fi

mkdir -p perf
out=${QJIT_DEVICE_OUT:-perf/device-results-$(date +%Y-%m-%d).txt}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx_vnni|avx512f|avx512bw|avx512vl|avx512dq|avx512_vnni|amx_tile|amx_int8)$' | tr '\n' ' ')
{
  echo "qjit device check, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $cpu (family $(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) CPUs)"
  echo "cpu flags (relevant): $flags"
  echo "binaries: $source_note"
  echo "kernel: $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out"
case " $flags " in
  *" avx512_vnni "*) ;;
  *) echo "NOTE: this CPU does not report avx512_vnni: the avx512_core_vnni tests skip and the VNNI benchmarks fall back" >>"$out" ;;
esac

# 1. Native tests: every gtest binary but the emulator's, each under a time limit.
echo "== native tests ==" >>"$out"
fail=0
for t in "$bin"/test_*; do
  name=$(basename "$t")
  [ "$name" = test_emu ] && continue
  log=$(mktemp)
  timeout 240 "${loader[@]}" "$t" --gtest_brief=1 >"$log" 2>&1
  rc=$?
  summary=$(grep -E '^\[  PASSED  \]|^\[  FAILED  \]|^\[  SKIPPED \] [0-9]' "$log" | tr '\n' ' ')
  printf '%-28s rc=%d %s\n' "$name" "$rc" "$summary" >>"$out"
  grep -E '^host: |^\[audit\]|^\[dispatch\]' "$log" >>"$out"
  if [ "$rc" -ne 0 ]; then
    fail=1
    grep -E 'Failure|FAILED|Expected|actual|reproduce' "$log" | head -20 | sed 's/^/    /' >>"$out"
  fi
  rm -f "$log"
done

# 2. Benchmarks: the conv / FC shapes at each level the CPU runs, single thread and all cores.
echo "== bench_kernels (GOPS = 2 x real MACs / s) ==" >>"$out"
threads=${QJIT_DEVICE_THREADS:-1,$(nproc)}
for isa in avx512_core_vnni avx512_core avx2_vnni avx2; do
  json=$(mktemp)
  timeout 200 "${loader[@]}" "$bin/bench_kernels" --qjit_isa="$isa" --qjit_threads="$threads" --qjit_rotate_mb=64 \
    --benchmark_filter='^qjit/(conv3x3_56x56_64to64|fc_1x2048x1000|conv1x1_56x56_64to256|fc_128x768x768)/zp:0' \
    --benchmark_min_time="${QJIT_DEVICE_MIN_TIME:-0.3}" --benchmark_format=json >"$json" 2>/dev/null
  rc=$?
  echo "-- --qjit_isa=$isa (rc=$rc)" >>"$out"
  # name, GOPS, label (kernel name with its __isa suffix)
  # Google Benchmark writes the counters before the label: print each run at its label.
  awk -F'"' '/"name":/{n=$4; g=""} /"GOPS":/{split($0,a,": "); g=a[2]; sub(/,$/,"",g)} /"label":/{if (g != "") printf "   %-52s %8.1f GOPS  %s\n", n, g, $4}' "$json" >>"$out"
  grep -o '"qjit_isa": "[^"]*"' "$json" | head -1 | sed 's/^/   /' >>"$out"
  rm -f "$json"
done
echo "total time: $(( $(date +%s) - start )) s; tests $( [ $fail = 0 ] && echo passed || echo FAILED )" >>"$out"
cat "$out"
exit $fail
