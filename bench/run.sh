#!/usr/bin/env bash
# The benchmark command: builds hookbridge (Release) into its own build
# directory, starts its own Kafka broker on loopback, measures on this
# machine and prints one table of ratios, each taken side by side in the
# same run (bench/bench.py says what is measured and how).
#
#   bench/run.sh            the full bench (about 10 minutes)
#   bench/run.sh --quick    shorter runs and smaller traces (about 3 minutes)
#
# Environment:
#   HOOKBRIDGE_BENCH_BUILD_DIR   build directory (default: build-bench)
#   HOOKBRIDGE_BENCH_KEEP=1      keep the logs of a run that succeeded
#
# Exits 0 when every section was measured, whether or not the targets
# were met; 1 when a section could not be measured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly KAFKA_SH="$ROOT/tests/harness/kafka.sh"

die() {
  printf 'bench: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

QUICK=()
TIME_LIMIT=1200
case "${1:-}" in
  "") ;;
  --quick)
    QUICK=(--quick)
    TIME_LIMIT=420
    ;;
  -h | --help) usage ;;
  *) die "unknown argument '$1' (only --quick)" ;;
esac

for tool in cmake wrk kcat java /usr/bin/python3; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' is required (tests/run.sh lists the Debian packages)"
done

BUILD_DIR="${HOOKBRIDGE_BENCH_BUILD_DIR:-$ROOT/build-bench}"
WORK=""

# Every process the bench started is listed in $WORK/pids; whatever is
# still running there at exit is stopped, then the broker.
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  if [[ -n "$WORK" ]]; then
    if [[ -f "$WORK/pids" ]]; then
      while read -r pid; do
        kill -TERM "$pid" 2>/dev/null || true
      done <"$WORK/pids"
      sleep 1
      while read -r pid; do
        kill -KILL "$pid" 2>/dev/null || true
      done <"$WORK/pids"
    fi
    "$KAFKA_SH" stop "$WORK/kafka" >/dev/null 2>&1 || true
    if ((rc == 0)) && [[ -z "${HOOKBRIDGE_BENCH_KEEP:-}" ]]; then
      rm -rf "$WORK"
    else
      printf 'bench: logs kept in %s\n' "$WORK" >&2
    fi
  fi
  exit "$rc"
}

main() {
  printf 'bench: building (Release) in %s\n' "$BUILD_DIR" >&2
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DHOOKBRIDGE_SANITIZE=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target hookbridge-ingest \
    hookbridge-enricher hookbridge-test-api bench-bare-server \
    bench-loadgen >/dev/null

  "$KAFKA_SH" fetch
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/hookbridge-bench.XXXXXX")"
  local brokers
  brokers="$("$KAFKA_SH" start "$WORK/kafka")"
  printf 'bench: broker at %s, work directory %s\n' "$brokers" "$WORK" >&2

  timeout --kill-after=10 "$TIME_LIMIT" /usr/bin/python3 \
    "$ROOT/bench/bench.py" "${QUICK[@]}" --brokers "$brokers" \
    --build-dir "$BUILD_DIR" --work-dir "$WORK"
}

main
