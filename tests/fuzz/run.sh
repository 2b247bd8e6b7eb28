#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ with clang and runs each for
# the given number of seconds (default 60), one after another; prints the
# executions each one reached. Fails when any target finds a crash, a leak,
# undefined behaviour or a timeout; the reproducer is then kept in
# build-fuzz/tests/fuzz/work/<target>/ and named on the output.
#
#   tests/fuzz/run.sh            60 s per target
#   tests/fuzz/run.sh 3600       the release run: one hour per target
set -euo pipefail

readonly TARGETS=(fuzz_notification fuzz_catalog fuzz_object)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly BUILD_DIR="$ROOT/build-fuzz"
readonly SECONDS_EACH="${1:-60}"

[[ "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]] ||
  { echo "usage: tests/fuzz/run.sh [seconds per target]" >&2; exit 2; }

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOOKBRIDGE_FUZZ=ON \
  -DHOOKBRIDGE_FUZZ_SECONDS="$SECONDS_EACH" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${TARGETS[@]}"

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

rc=0
summary=()
for target in "${TARGETS[@]}"; do
  work="$BUILD_DIR/tests/fuzz/work/$target"
  log="$work/last-run.log"
  mkdir -p "$work/corpus"
  echo "==> $target for ${SECONDS_EACH}s (log $log)"
  status=0
  "$BUILD_DIR/tests/fuzz/$target" -max_total_time="$SECONDS_EACH" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$ROOT/tests/fuzz/json.dict" -artifact_prefix="$work/" \
    "$work/corpus" "$ROOT/tests/fuzz/corpus/$target" >"$log" 2>&1 ||
    status=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  if ((status != 0)); then
    rc=1
    summary+=("$target: FAILED (exit $status) after ${execs:-?} executions")
    grep -E 'ERROR:|runtime error:|SUMMARY:|Test unit written' "$log" |
      head -20 || true
  else
    summary+=("$target: ${execs:-?} executions in ${SECONDS_EACH}s, no finding")
  fi
done

printf '%s\n' "${summary[@]}"
exit "$rc"
