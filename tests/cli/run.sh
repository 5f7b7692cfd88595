#!/usr/bin/env bash
# ctest cli: the `qjit` tool on the demo's OpenVINO IR model: run (random and .npy input, .npy
# output), describe, check (oracles agree), dump, bench, QJIT_VERBOSE, QJIT_PERF_MAP, and one-line
# errors with a non-zero exit.  Usage: run.sh BUILD_DIR
set -euo pipefail
b=$1
tmp=$(mktemp -d /tmp/qjit_cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$b/qjit-demo" --runs 1 --threads 1 --model-out "$tmp/m.xml" > "$tmp/demo.txt"
[ -s "$tmp/m.bin" ] || fail "the demo wrote no weights file"

"$b/qjit" run "$tmp/m.xml" > "$tmp/run.txt"
grep -q '^logits f32\[1,10\]' "$tmp/run.txt" || fail "run: $(cat "$tmp/run.txt")"
# A seeded input is deterministic; the same run twice prints the same values.
"$b/qjit" run "$tmp/m.xml" --threads 2 --output "$tmp/y.npy" > "$tmp/run2.txt"
[ "$(head -1 "$tmp/run.txt")" = "$(head -1 "$tmp/run2.txt")" ] || fail "threads 1 and 2 differ"
head -c 6 "$tmp/y.npy" | od -c | grep -q 'N   U   M   P   Y' || fail "no .npy written"
# An .npy written by qjit reads back as an input of the right shape only: [1,10] is rejected.
if "$b/qjit" run "$tmp/m.xml" --input "$tmp/y.npy" 2> "$tmp/err.txt"; then fail "wrong input shape accepted"; fi
[ "$(wc -l < "$tmp/err.txt")" -eq 1 ] && grep -q "wants \[1,3,32,32\]" "$tmp/err.txt" || fail "error: $(cat "$tmp/err.txt")"

"$b/qjit" describe "$tmp/m.xml" | grep -q "JIT kernels" || fail describe
"$b/qjit" check "$tmp/m.xml" > "$tmp/check.txt" || fail "check: $(cat "$tmp/check.txt")"
grep -q "bit-exact" "$tmp/check.txt" && grep -q "^AGREE" "$tmp/check.txt" || fail "check output"
"$b/qjit" dump "$tmp/m.xml" --out "$tmp/dump" > /dev/null
ls "$tmp/dump"/*.bin > /dev/null && [ -s "$tmp/dump/schedule.txt" ] || fail dump
"$b/qjit" bench "$tmp/m.xml" --runs 20 2> /dev/null | grep -q "p50" || fail bench
"$b/qjit" run "$tmp/m.xml" --shape input=2,3,32,32 | grep -q '^logits f32\[2,10\]' || fail "--shape"

QJIT_VERBOSE=1 "$b/qjit" run "$tmp/m.xml" > "$tmp/verbose.txt"
grep -q "^qjit_verbose,exec,.*conv_u8s8" "$tmp/verbose.txt" || fail "QJIT_VERBOSE: $(cat "$tmp/verbose.txt")"
QJIT_PERF_MAP=1 "$b/qjit" run "$tmp/m.xml" > /dev/null &
pid=$!
wait $pid
grep -q " conv_u8s8" "/tmp/perf-$pid.map" || fail "no perf map /tmp/perf-$pid.map"
rm -f "/tmp/perf-$pid.map"

for bad in "frob $tmp/m.xml" "run $tmp/none.xml" "run $tmp/m.bin" "run $tmp/m.xml --threads x" "dump $tmp/m.xml"; do
  if "$b/qjit" $bad > /dev/null 2> "$tmp/err.txt"; then fail "qjit $bad succeeded"; fi
  [ "$(wc -l < "$tmp/err.txt")" -eq 1 ] || fail "qjit $bad: $(cat "$tmp/err.txt")"
done
echo "cli: pass"
