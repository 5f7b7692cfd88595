#!/usr/bin/env bash
# One command for the perf/ harness (issue #7): builds bench_kernels and bench_models (Release),
# runs them with repetitions, writes the Google Benchmark JSON to perf/results/, renders
# perf/results.png and prints the qjit/oneDNN ratio table and the target check (perf/report).
#
#   bash scripts/perf.sh                                  # everything, 5 repetitions
#   bash scripts/perf.sh --benchmark_filter=conv1x1       # extra arguments go to bench_kernels
# Environment: QJIT_PERF_BUILD_DIR (default build), QJIT_PERF_REPS (5), QJIT_PERF_MIN_TIME (0.2 s),
# QJIT_PERF_OUT (perf/results), QJIT_PERF_MODELS=0 (skip bench_models), QJIT_PERF_NO_BUILD=1,
# QJIT_PERF_KERNEL_ARGS / QJIT_PERF_MODEL_ARGS (extra flags, e.g. --onednn_isa=all, --qjit_rotate_mb=0).
# oneDNN columns need libdnnl-dev at configure time; the chart needs python3-matplotlib.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${QJIT_PERF_BUILD_DIR:-build}
reps=${QJIT_PERF_REPS:-5}
min_time=${QJIT_PERF_MIN_TIME:-0.2}
out=${QJIT_PERF_OUT:-perf/results}
if [ -z "${QJIT_PERF_NO_BUILD:-}" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target bench_kernels bench_models -j "$(nproc)"
fi
mkdir -p "$out"
# Which qjit was measured (recorded in the JSON context); preset QJIT_PERF_GIT to override.
if [ -z "${QJIT_PERF_GIT:-}" ]; then
  QJIT_PERF_GIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' + uncommitted changes')"
fi
export QJIT_PERF_GIT
echo "perf: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Repetitions of all benchmarks interleave in random order, so that the host's slow and fast
# minutes (a shared VM swings 10-20 %) fall on qjit and oneDNN alike.
# shellcheck disable=SC2086
"$build/bench_kernels" ${QJIT_PERF_KERNEL_ARGS:-} --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
  --benchmark_enable_random_interleaving=true \
  --benchmark_out="$out/kernels.json" --benchmark_out_format=json "$@"
models=()
if [ "${QJIT_PERF_MODELS:-1}" != 0 ]; then
  # shellcheck disable=SC2086
  "$build/bench_models" ${QJIT_PERF_MODEL_ARGS:-} --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
    --benchmark_out="$out/models.json" --benchmark_out_format=json
  models=("$out/models.json")
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" perf/report "$out/kernels.json" "${models[@]}" --png perf/results.png --md "$out/report.md"
