#!/usr/bin/env bash
# The one test command: installs what is missing, builds, starts a real
# Kafka broker on loopback, runs ctest against it, and stops the broker.
#
#   tests/run.sh                 the default suite (everything but "long")
#   tests/run.sh -L long         the long fault and fuzz tests
#   tests/run.sh -R ingest -V    any ctest arguments replace the default
#
# Environment:
#   HOOKBRIDGE_BUILD_DIR     build directory (default: build)
#   HOOKBRIDGE_CMAKE_ARGS    extra CMake arguments, e.g. -DHOOKBRIDGE_SANITIZE=ON
#   CI                       when set, warnings are errors (HOOKBRIDGE_WERROR)
#
# Exported to the tests:
#   HOOKBRIDGE_TEST_BROKERS    bootstrap address of the broker
#   HOOKBRIDGE_TEST_KAFKA_DIR  its directory, for tests/harness/kafka.sh
#   HOOKBRIDGE_BUILD_DIR       the build directory, absolute
set -euo pipefail

# Debian packages the build and the tests need.
readonly PACKAGES=(
  build-essential cmake pkg-config
  libcivetweb-dev librdkafka-dev libcurl4-openssl-dev libcjson-dev
  clang clang-format libclang-rt-14-dev valgrind
  kcat wrk curl uuid-runtime docker-compose
  python3 python3-pytest python3-requests python3-confluent-kafka
  maven
)
readonly JAVA_PACKAGE=openjdk-17-jre-headless

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly KAFKA_SH="$ROOT/tests/harness/kafka.sh"

say() {
  printf '==> %s\n' "$*"
}

die() {
  printf 'tests/run.sh: %s\n' "$*" >&2
  exit 1
}

install_packages() {
  local -a wanted=("${PACKAGES[@]}") missing=()
  local pkg sudo=()
  command -v java >/dev/null 2>&1 || wanted+=("$JAVA_PACKAGE")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
      grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]} > 0)) || return 0

  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 ||
      die "not root and no sudo: install ${missing[*]}"
    sudo=(sudo)
  fi
  say "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -q </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

build() {
  local -a extra=() werror=()
  read -r -a extra <<<"${HOOKBRIDGE_CMAKE_ARGS:-}"
  [[ -z "${CI:-}" ]] || werror=(-DHOOKBRIDGE_WERROR=ON)
  say "building in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${werror[@]}" "${extra[@]}"
  cmake --build "$BUILD_DIR" -j"$(nproc)"
}

KAFKA_DIR=""

# Runs on every exit, including a failed test and Ctrl-C. The broker's log
# outlives its directory in the build tree when something failed.
cleanup() {
  local rc=$?
  if [[ -n "$KAFKA_DIR" ]]; then
    "$KAFKA_SH" stop "$KAFKA_DIR" || true
    if ((rc != 0)) && [[ -f "$KAFKA_DIR/kafka.log" ]]; then
      mkdir -p "$BUILD_DIR/Testing"
      cp "$KAFKA_DIR/kafka.log" "$BUILD_DIR/Testing/kafka-broker.log" &&
        say "broker log kept in $BUILD_DIR/Testing/kafka-broker.log"
    fi
    rm -rf "$KAFKA_DIR"
  fi
  exit "$rc"
}

main() {
  cd "$ROOT"
  install_packages

  "$KAFKA_SH" fetch

  BUILD_DIR="${HOOKBRIDGE_BUILD_DIR:-build}"
  mkdir -p "$BUILD_DIR"
  BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
  build

  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  KAFKA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hookbridge-kafka.XXXXXX")"
  say "starting Kafka in $KAFKA_DIR"
  HOOKBRIDGE_TEST_BROKERS="$("$KAFKA_SH" start "$KAFKA_DIR")"
  say "broker at $HOOKBRIDGE_TEST_BROKERS"
  export HOOKBRIDGE_TEST_BROKERS
  export HOOKBRIDGE_TEST_KAFKA_DIR="$KAFKA_DIR"
  export HOOKBRIDGE_BUILD_DIR="$BUILD_DIR"

  (($# > 0)) || set -- -LE long
  say "ctest $*"
  local rc=0
  ctest --test-dir "$BUILD_DIR" --output-on-failure "$@" || rc=$?
  return "$rc"
}

main "$@"
