#!/usr/bin/env bash
# Runs a real single-node Apache Kafka broker (KRaft, combined broker and
# controller) for the test suite, from the Maven Central artifacts.
#
#   kafka.sh fetch          resolve the broker jars into the cache (once)
#   kafka.sh start DIR      format a new broker in DIR, start it, wait ready
#   kafka.sh stop DIR       SIGTERM, then SIGKILL after 30 s; idempotent
#   kafka.sh kill DIR       SIGKILL the broker and wait until it is gone
#   kafka.sh restart DIR    start DIR's broker again: same ports, same data
#
# start and restart print the bootstrap address and write it to DIR/brokers.
# The broker listens on 127.0.0.1 only. Its log is DIR/kafka.log, the JVM's
# own output DIR/kafka.out.
#
# Environment:
#   HOOKBRIDGE_CACHE        cache root (default $XDG_CACHE_HOME/hookbridge
#                           or ~/.cache/hookbridge)
#   HOOKBRIDGE_KAFKA_HEAP   broker heap (default 768m)
#   HOOKBRIDGE_KAFKA_READY_TIMEOUT   seconds to wait for readiness (90)
#   HOOKBRIDGE_KAFKA_PORT   client port for start (default: a free one);
#                           tests/compose/mirror.sh needs the fixed 9092
set -euo pipefail

readonly KAFKA_VERSION=3.9.1
HARNESS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HARNESS_DIR
readonly POM="$HARNESS_DIR/kafka/pom.xml"
readonly CACHE_ROOT="${HOOKBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hookbridge}"
readonly KAFKA_HOME="$CACHE_ROOT/kafka-$KAFKA_VERSION"
readonly LIBS="$KAFKA_HOME/libs"
readonly STAMP="$LIBS/.complete"
readonly HEAP="${HOOKBRIDGE_KAFKA_HEAP:-768m}"
readonly READY_TIMEOUT="${HOOKBRIDGE_KAFKA_READY_TIMEOUT:-90}"
readonly STOP_TIMEOUT=30
readonly KILL_TIMEOUT=15
readonly POLL=0.2

die() {
  printf 'kafka.sh: %s\n' "$*" >&2
  exit 1
}

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "'$tool' is required but not installed (tests/run.sh installs it)"
  done
}

usage() {
  sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# The stamp records which pom produced the jars, so editing the pom
# (a version bump) refreshes the cache instead of silently reusing it.
pom_digest() {
  sha256sum "$POM" | cut -d' ' -f1
}

fetch_is_current() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_digest)" ]]
}

cmd_fetch() {
  fetch_is_current && return 0
  need mvn java sha256sum flock
  mkdir -p "$KAFKA_HOME"

  # Two runs sharing a cache must not both write it.
  exec 9>"$KAFKA_HOME/.lock"
  flock 9
  if fetch_is_current; then
    exec 9>&-
    return 0
  fi

  local tmp
  tmp="$(mktemp -d "$KAFKA_HOME/libs.tmp.XXXXXX")"
  printf '==> fetching Apache Kafka %s jars into %s\n' \
    "$KAFKA_VERSION" "$LIBS" >&2
  # Maven's output is kept for a failure only: even with -q it writes
  # stray terminal escape codes.
  if ! mvn -B -q -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" \
    </dev/null >"$KAFKA_HOME/fetch.log" 2>&1; then
    cat "$KAFKA_HOME/fetch.log" >&2
    rm -rf "$tmp"
    die "mvn could not resolve the Kafka jars (is Maven Central reachable?)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || {
    rm -rf "$tmp"
    die "mvn finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
  }
  pom_digest >"$tmp/.complete"
  chmod 755 "$tmp"

  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  exec 9>&-
}

require_libs() {
  fetch_is_current ||
    die "Kafka jars are not in $LIBS: run '$0 fetch' first"
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Echoes the broker's pid if DIR's broker is alive. A recorded pid is only
# trusted while that process is still a JVM running DIR's configuration:
# pids are reused, and a reaped broker must not be mistaken for a live one.
broker_pid() {
  local dir="$1" pid cmdline
  [[ -f "$dir/pid" ]] || return 1
  pid="$(cat "$dir/pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
  [[ "$cmdline" == *kafka.Kafka*"$dir/server.properties"* ]]
  echo "$pid"
}

conf_value() {
  sed -n "s/^$2=//p" "$1/server.properties" | tail -n 1
}

# Few internal partitions keep the first consumer group and the first
# transaction quick. A broker killed with SIGKILL stays registered until its
# session expires, and its successor cannot register before that, so the
# session is kept short (Kafka's default is 9 s) to make restarts quick.
write_config() {
  local dir="$1" port="$2" cport="$3"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
num.network.threads=2
num.io.threads=4
EOF

  cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/kafka.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.raft=WARN
log4j.logger.org.apache.kafka.metadata=WARN
log4j.logger.org.apache.kafka.image=WARN
log4j.logger.org.apache.kafka.controller=WARN
log4j.logger.kafka.controller=WARN
EOF
}

# A KRaft cluster id is 16 random bytes in unpadded URL-safe base64; Kafka
# rejects ids that begin with '-' because they read as an option.
cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && break
  done
  echo "$id"
}

java_opts() {
  local dir="$1"
  printf '%s\n' "-Xmx$HEAP" -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "-Dlog4j.configuration=file:$dir/log4j.properties" \
    "-Dkafka.logs.dir=$dir"
}

format_storage() {
  local dir="$1"
  local -a opts
  mapfile -t opts < <(java_opts "$dir")
  java "${opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
    -t "$(cluster_id)" -c "$dir/server.properties" \
    </dev/null >"$dir/format.out" 2>&1 || {
    cat "$dir/format.out" >&2
    die "formatting the broker storage in $dir/data failed"
  }
}

# setsid detaches the broker from the caller's session and process group:
# a test that restarts the broker may itself be killed by a ctest timeout,
# and the broker must outlive it. All of its output goes to files so that
# no caller's pipe stays open behind it.
launch() {
  local dir="$1"
  local -a opts
  mapfile -t opts < <(java_opts "$dir")
  rm -f "$dir/pid"
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo "$$" >"$1/pid"; shift; exec "$@"' launch "$dir" \
    java "${opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >>"$dir/kafka.out" 2>&1 &
  disown
  local waited=0
  while [[ ! -s "$dir/pid" ]]; do
    ((waited++ < 50)) || die "the broker process did not start"
    sleep 0.1
  done
}

log_tail() {
  local dir="$1"
  printf -- '--- tail of %s/kafka.out\n' "$dir" >&2
  tail -n 20 "$dir/kafka.out" >&2 2>/dev/null || true
  printf -- '--- tail of %s/kafka.log\n' "$dir" >&2
  tail -n 40 "$dir/kafka.log" >&2 2>/dev/null || true
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Ready means the broker answers a metadata request that lists itself; a
# KRaft broker only opens its client listener once it is unfenced, so this
# is also when it accepts produce and topic creation.
broker_answers() {
  local addr="$1"
  kcat -b "$addr" -L -m 2 -J 2>/dev/null |
    grep -q '"brokers":\[{"id":1,'
}

# Returns 0 when ready, 1 on timeout, 2 when the broker process died.
wait_ready() {
  local dir="$1" port="$2" deadline
  deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    broker_pid "$dir" >/dev/null || return 2
    if port_open "$port" && broker_answers "127.0.0.1:$port"; then
      return 0
    fi
    sleep "$POLL"
  done
  return 1
}

# Waits for the broker to exit; returns 1 if it is still alive at the end.
wait_gone() {
  local dir="$1" timeout="$2" deadline
  deadline=$((SECONDS + timeout))
  while broker_pid "$dir" >/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep "$POLL"
  done
}

run_until_ready() {
  local dir="$1" port="$2" rc=0
  launch "$dir"
  wait_ready "$dir" "$port" || rc=$?
  case "$rc" in
    0)
      echo "127.0.0.1:$port" >"$dir/brokers"
      echo "127.0.0.1:$port"
      ;;
    1)
      log_tail "$dir"
      cmd_stop "$dir" >/dev/null 2>&1 || true
      die "broker in $dir not ready after ${READY_TIMEOUT}s"
      ;;
  esac
  return "$rc"
}

cmd_start() {
  local dir="$1" attempt port cport rc
  need java kcat python3
  require_libs
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if broker_pid "$dir" >/dev/null; then
    die "a broker is already running in $dir"
  fi
  [[ ! -e "$dir/server.properties" ]] ||
    die "$dir already holds a broker; use 'restart' to reuse its data"

  # A port picked as free can be taken before the JVM binds it; that race
  # is rare, so a bind failure is simply retried on new ports.
  for attempt in 1 2 3; do
    port="${HOOKBRIDGE_KAFKA_PORT:-$(free_port)}"
    cport="$(free_port)"
    [[ "$port" != "$cport" ]] || continue
    rm -rf "$dir/data" "$dir/kafka.log" "$dir/kafka.out"
    write_config "$dir" "$port" "$cport"
    format_storage "$dir"
    rc=0
    run_until_ready "$dir" "$port" || rc=$?
    ((rc == 0)) && return 0
    grep -q 'Address already in use' "$dir/kafka.out" "$dir/kafka.log" \
      2>/dev/null || break
    printf 'kafka.sh: port taken, retrying (attempt %d)\n' "$attempt" >&2
  done
  log_tail "$dir"
  die "the broker in $dir exited during startup"
}

cmd_restart() {
  local dir="$1" port rc=0
  need java kcat
  require_libs
  [[ -f "$dir/server.properties" ]] ||
    die "no broker configuration in $dir: use 'start' first"
  dir="$(cd "$dir" && pwd)"
  cmd_stop "$dir"
  port="$(conf_value "$dir" advertised.listeners)"
  port="${port##*:}"
  run_until_ready "$dir" "$port" || rc=$?
  if ((rc != 0)); then
    log_tail "$dir"
    die "the broker in $dir exited during restart"
  fi
}

cmd_stop() {
  local dir="$1" pid
  [[ -d "$dir" ]] || return 0
  dir="$(cd "$dir" && pwd)"
  pid="$(broker_pid "$dir")" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$dir" "$STOP_TIMEOUT" && return 0
  printf 'kafka.sh: broker %s ignored SIGTERM for %ss, killing it\n' \
    "$pid" "$STOP_TIMEOUT" >&2
  cmd_kill "$dir"
}

cmd_kill() {
  local dir="$1" pid
  [[ -d "$dir" ]] || die "no broker directory $dir"
  dir="$(cd "$dir" && pwd)"
  pid="$(broker_pid "$dir")" || return 0
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$dir" "$KILL_TIMEOUT" ||
    die "broker $pid still alive ${KILL_TIMEOUT}s after SIGKILL"
}

main() {
  (($# >= 1)) || usage
  local cmd="$1"
  shift
  case "$cmd" in
    fetch)
      (($# == 0)) || usage
      cmd_fetch
      ;;
    start | stop | kill | restart)
      (($# == 1)) || usage
      [[ -n "$1" ]] || die "empty broker directory"
      "cmd_$cmd" "$1"
      ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$cmd' (fetch, start, stop, kill, restart)" ;;
  esac
}

main "$@"
