#!/usr/bin/env bash
# Runs what docker/compose.yaml runs, as plain processes from a build
# directory, and checks the README's quickstart against it.
#
#   tests/compose/mirror.sh [--keep] [BUILD_DIR]
#
# No machine that runs the tests has a container engine, so this is how the
# compose setup is exercised: the same programs with the same settings,
# read from "docker-compose config" (which applies docker/.env, or the
# defaults that docker/.env.example lists), a real Kafka broker on the
# host port compose publishes (9092), the demo API on 8090 and the ingest
# on 8080. Then the quickstart's curl and kcat commands run exactly as
# README.md writes them, and the candidate they show must be the seeded
# one, enriched.
#
# --keep leaves everything running after the check until Ctrl-C.
# BUILD_DIR defaults to $HOOKBRIDGE_BUILD_DIR, then build/.
# Needs docker-compose (for "config" only), Java, kcat, curl, python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly COMPOSE="$ROOT/docker/compose.yaml"
readonly SEED="$ROOT/docker/demo-seed.json"
readonly KAFKA_SH="$ROOT/tests/harness/kafka.sh"
readonly SUPPORT="$ROOT/tests/compose/mirror_support.py"
readonly FIXED_PORTS=(8080 8090 9092)
readonly KAFKA_PORT=9092
readonly READY_TIMEOUT=30
readonly READ_TIMEOUT=60

WORK=""
KEEP=0
FAILED=1
declare -a PIDS=() NAMES=()

say() {
  printf 'mirror: %s\n' "$*"
}

die() {
  printf 'mirror: %s\n' "$*" >&2
  exit 1
}

python() {
  "${HOOKBRIDGE_TEST_PYTHON:-/usr/bin/python3}" "$@"
}

compose_config() {
  if command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f "$COMPOSE" config
  elif docker compose version >/dev/null 2>&1; then
    docker compose -f "$COMPOSE" config
  else
    die "needs docker-compose or the docker compose plugin to read $COMPOSE"
  fi
}

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

check_ports() {
  local port taken=()
  for port in "${FIXED_PORTS[@]}"; do
    port_taken "$port" && taken+=("$port")
  done
  ((${#taken[@]} == 0)) ||
    die "port(s) ${taken[*]} already in use: compose publishes 8080, 8090" \
      "and 9092 and the README's commands use them; stop what holds them"
}

# The fenced code between <!-- quickstart:NAME --> and its closing marker
# in README.md, so that what is checked is what a user copies.
quickstart_block() {
  local name="$1" file="$ROOT/README.md"
  # shellcheck disable=SC2016 # the backticks are the fence, not a command
  sed -n "/<!-- quickstart:$name -->/,/<!-- \/quickstart:$name -->/p" \
    "$file" | sed -n '/^```/,/^```/p' | sed '/^```/d'
}

# On a failure each log's tail is shown first, while it still ends with
# the failure rather than with the shutdown, since the work directory goes
# away. Then the programs stop in reverse start order, then the broker.
cleanup() {
  local rc=$? i
  if ((FAILED)) && [[ -n "$WORK" ]]; then
    for i in "${NAMES[@]}" kafka/kafka; do
      [[ -f "$WORK/$i.log" ]] || continue
      printf -- '--- tail of %s.log\n' "$i" >&2
      tail -n 25 "$WORK/$i.log" >&2
    done
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    wait_exit "${PIDS[i]}" || kill -KILL "${PIDS[i]}" 2>/dev/null || true
  done
  if [[ -n "$WORK" ]]; then
    "$KAFKA_SH" stop "$WORK/kafka" >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
  exit "$rc"
}

wait_exit() {
  local pid="$1" n
  for ((n = 0; n < 150; n++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  return 1
}

start_broker() {
  say "starting Kafka on 127.0.0.1:$KAFKA_PORT"
  "$KAFKA_SH" fetch
  HOOKBRIDGE_KAFKA_PORT="$KAFKA_PORT" "$KAFKA_SH" start "$WORK/kafka" \
    >/dev/null
  [[ "$(cat "$WORK/kafka/brokers")" == "127.0.0.1:$KAFKA_PORT" ]] ||
    die "the broker did not take port $KAFKA_PORT (tests/harness/kafka.sh" \
      "lacks HOOKBRIDGE_KAFKA_PORT?)"
}

# Starts one service with only the environment compose would give its
# container, and waits until its health check answers.
start_service() {
  local name="$1" program="$2" health="$3" pid n
  local -a env
  [[ -x "$BUILD_DIR/$program" ]] || die "no $BUILD_DIR/$program: build first"
  mapfile -d '' env <"$WORK/$name.env"
  env -i PATH="$PATH" "${env[@]}" "$BUILD_DIR/$program" \
    </dev/null >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  NAMES+=("$name")
  for ((n = 0; n < READY_TIMEOUT * 5; n++)); do
    kill -0 "$pid" 2>/dev/null || die "$name ($program) exited at start"
    curl -fsS -o /dev/null --max-time 1 "$health" 2>/dev/null && {
      say "$name is up ($health)"
      return 0
    }
    sleep 0.2
  done
  die "$name not healthy after ${READY_TIMEOUT}s at $health"
}

# The read command waits for one record; it is repeated while the topic
# does not exist yet, just as the README tells a user to do.
read_candidate() {
  local block="$1" out="$2" deadline
  deadline=$((SECONDS + READ_TIMEOUT))
  while ((SECONDS < deadline)); do
    if (cd "$ROOT" && timeout 20 bash -euo pipefail -c "$block") \
      >"$out" 2>"$out.err" && [[ -s "$out" ]]; then
      return 0
    fi
    sleep 1
  done
  cat "$out.err" >&2
  die "the quickstart's kcat command showed no record in ${READ_TIMEOUT}s"
}

main() {
  local arg post read_block
  BUILD_DIR=""
  for arg in "$@"; do
    case "$arg" in
      --keep) KEEP=1 ;;
      -*) die "unknown option '$arg' (--keep)" ;;
      *) BUILD_DIR="$arg" ;;
    esac
  done
  BUILD_DIR="${BUILD_DIR:-${HOOKBRIDGE_BUILD_DIR:-$ROOT/build}}"
  [[ -d "$BUILD_DIR" ]] || die "no build directory $BUILD_DIR"
  BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"

  post="$(quickstart_block post)"
  read_block="$(quickstart_block read)"
  [[ -n "$post" && -n "$read_block" ]] ||
    die "no quickstart:post or quickstart:read block in README.md"
  check_ports

  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/hookbridge-mirror.XXXXXX")"
  compose_config >"$WORK/config.yaml"
  python "$SUPPORT" plan "$WORK/config.yaml" "$WORK" >"$WORK/plan"

  start_broker
  local name program health
  while read -r name program health; do
    start_service "$name" "$program" "$health"
  done <"$WORK/plan"

  say "running the quickstart's POST"
  printf '%s\n' "$post" >"$WORK/post.sh"
  (cd "$ROOT" && bash -euo pipefail "$WORK/post.sh") ||
    die "the quickstart's curl command failed"
  say "running the quickstart's kcat"
  read_candidate "$read_block" "$WORK/read.out"
  cat "$WORK/read.out"
  python "$SUPPORT" check "$SEED" "$WORK/post.sh" "$WORK/read.out"
  FAILED=0
  say "1 passed, 0 failed"

  if ((KEEP)); then
    say "running until Ctrl-C: ingest on 8080, demo API on 8090," \
      "Kafka on 9092"
    while :; do sleep 3600; done
  fi
}

main "$@"
