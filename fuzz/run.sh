#!/usr/bin/env bash
# Runs the libFuzzer targets of build-asan (fuzz/README.md).
#   fuzz/run.sh smoke [seconds]        each target `seconds` (20) on its committed corpus; CI
#   fuzz/run.sh long [seconds] [jobs]  each target `seconds` (3600) with `jobs` (nproc) workers,
#                                      new inputs kept in build-asan/fuzz-work/<target>
#   fuzz/run.sh repro <target> <file>  runs one input (a crash file or a corpus entry)
# Findings land in build-asan/fuzz-artifacts/ (crash-*, leak-*, oom-*, timeout-*); the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${QJIT_FUZZ_BIN:-build-asan/fuzz}
mode=${1:-smoke}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p build-asan/fuzz-artifacts
common=(-rss_limit_mb=4096 -timeout=60 -print_final_stats=1 -artifact_prefix=build-asan/fuzz-artifacts/)
case "$mode" in
  smoke|long)
    secs=${2:-$([ "$mode" = smoke ] && echo 20 || echo 3600)}
    jobs=${3:-$(nproc)}
    for t in graph onnx openvino; do
      work=build-asan/fuzz-work/$t
      # smoke: a fresh scratch corpus each time (the run stays ~ the committed corpus + `seconds`);
      # long: keeps growing the previous campaigns' corpus.
      [ "$mode" = smoke ] && rm -rf "$work"
      mkdir -p "$work"
      extra=()
      [ "$mode" = long ] && extra=(-jobs="$jobs" -workers="$jobs")
      echo "fuzz/run.sh: ${t}_fuzzer for ${secs} s"
      log=build-asan/fuzz-work/$t.log
      rc=0
      "$bin/${t}_fuzzer" "${common[@]}" -max_total_time="$secs" "${extra[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
      grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$log" || true
      if [ "$rc" -ne 0 ]; then
        tail -n 60 "$log"
        echo "fuzz/run.sh: ${t}_fuzzer found a bug (exit $rc, $log, build-asan/fuzz-artifacts/)"
        exit 1
      fi
    done ;;
  repro)
    "$bin/$2_fuzzer" "${common[@]}" "$3" ;;
  *) echo "usage: $0 smoke|long [seconds] [jobs] | repro <graph|onnx|openvino> <file>" >&2; exit 2 ;;
esac
