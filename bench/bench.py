#!/usr/bin/python3
"""Measures hookbridge on this machine and prints one table of ratios.

Run through bench/run.sh, which builds the programs and starts the broker;
this file starts everything else on free loopback ports, measures, stops
what it started, and prints the table. Every comparison is taken side by
side in the same run, so that a noisy machine slows both sides alike.

Sections (the numbers match the table):
  1. ingest throughput and latency, against a bare civetweb server
  2. API calls saved on a duplicate-heavy trace
  3. enricher pipeline speed, against a kcat consume-and-produce copy
  4. peak memory of the ingest and of the enricher holding many keys
  5. enricher events/s with 1, 2 and 3 replicas
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

SECRET = "bench-shared-key"
API_KEY = "bench-api-key"
CUSTOMER = "bench"
WINDOW_MS = 1000

# Sizes of the two modes; every wait below is bounded by these too.
MODES = {
    "quick": dict(wrk_s=3, pairs=2, lat_s=5, trace_objects=10,
                  trace_span_s=8, pipe_events=6000, mem_keys=100000,
                  scale_events=4000),
    "full": dict(wrk_s=10, pairs=3, lat_s=20, trace_objects=30,
                 trace_span_s=30, pipe_events=30000, mem_keys=100000,
                 scale_events=20000),
}


class BenchError(Exception):
    pass


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User and system CPU time `pid` has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise BenchError(f"no VmHWM for pid {pid}")


class Proc:
    """One started program; every one is stopped by stop_all() at exit."""

    running = []

    def __init__(self, name, argv, env, work, stdout=None):
        self.name = name
        self.log_path = os.path.join(work, f"{name}.log")
        full_env = dict(os.environ)
        full_env.update({k: str(v) for k, v in env.items()})
        log_file = open(self.log_path, "ab")
        self.p = subprocess.Popen(argv, env=full_env,
                                  stdout=stdout or log_file,
                                  stderr=log_file, stdin=subprocess.DEVNULL)
        log_file.close()
        Proc.running.append(self)
        with open(os.path.join(work, "pids"), "a") as f:
            f.write(f"{self.p.pid}\n")

    @property
    def pid(self):
        return self.p.pid

    def check(self):
        if self.p.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.p.returncode}; "
                             f"see {self.log_path}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        if self in Proc.running:
            Proc.running.remove(self)

    @classmethod
    def stop_all(cls):
        for proc in list(cls.running):
            proc.stop(timeout=10)


def wait_http(proc, url, timeout=30, status=200):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check()
        try:
            if requests.get(url, timeout=1).status_code == status:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise BenchError(f"{proc.name} did not answer {status} on {url} "
                     f"within {timeout}s")


class Bench:
    def __init__(self, args):
        self.args = args
        self.mode = MODES["quick" if args.quick else "full"]
        self.bin = args.build_dir
        self.work = args.work_dir
        self.brokers = args.brokers
        self.run_id = f"{int(time.time())}{random.randrange(1000):03d}"
        self.admin = AdminClient({"bootstrap.servers": self.brokers})
        self.rows = []
        self.facts = {}

    # ---- helpers: programs -------------------------------------------

    def program(self, name):
        path = os.path.join(self.bin, name)
        if not os.access(path, os.X_OK):
            raise BenchError(f"{path} is missing: build first")
        return path

    def topic(self, what):
        return f"bench.{self.run_id}.{what}"

    def start_ingest(self, raw_topic, name="ingest"):
        port = free_port()
        proc = Proc(name, [self.program("hookbridge-ingest")], {
            "HOOKBRIDGE_KAFKA_BROKERS": self.brokers,
            "HOOKBRIDGE_LISTEN": f"127.0.0.1:{port}",
            "HOOKBRIDGE_SECRET": SECRET,
            "HOOKBRIDGE_RAW_TOPIC": raw_topic,
            "HOOKBRIDGE_LOG_LEVEL": "info",
        }, self.work)
        wait_http(proc, f"http://127.0.0.1:{port}/readyz", timeout=60)
        return proc, port

    def start_api(self, name, seed=None):
        port = free_port()
        env = {
            "HOOKBRIDGE_TEST_API_LISTEN": f"127.0.0.1:{port}",
            "HOOKBRIDGE_TEST_API_CUSTOMER": CUSTOMER,
            "HOOKBRIDGE_TEST_API_KEY": API_KEY,
            "HOOKBRIDGE_TEST_API_RATE": 0,
            "HOOKBRIDGE_LOG_LEVEL": "warn",
        }
        if seed is not None:
            env["HOOKBRIDGE_TEST_API_SEED"] = seed
        proc = Proc(name, [self.program("hookbridge-test-api")], env,
                    self.work, stdout=subprocess.DEVNULL)
        wait_http(proc, f"http://127.0.0.1:{port}/healthz")
        return proc, port

    def start_enricher(self, name, raw_topic, api_port, group, **extra):
        port = free_port()
        env = {
            "HOOKBRIDGE_KAFKA_BROKERS": self.brokers,
            "HOOKBRIDGE_RAW_TOPIC": raw_topic,
            "HOOKBRIDGE_API_BASE":
                f"http://127.0.0.1:{api_port}/restful.svc/v2/",
            "HOOKBRIDGE_API_CUSTOMER": CUSTOMER,
            "HOOKBRIDGE_API_KEY": API_KEY,
            "HOOKBRIDGE_GROUP_ID": group,
            "HOOKBRIDGE_STATE_TOPIC": f"{group}.state",
            "HOOKBRIDGE_METRICS_LISTEN": f"127.0.0.1:{port}",
            "HOOKBRIDGE_LOG_LEVEL": "warn",
        }
        env.update(extra)
        proc = Proc(name, [self.program("hookbridge-enricher")], env,
                    self.work)
        wait_http(proc, f"http://127.0.0.1:{port}/healthz")
        proc.metrics_url = f"http://127.0.0.1:{port}/metrics"
        return proc

    def metrics(self, proc):
        text = requests.get(proc.metrics_url, timeout=5).text
        out = {}
        for line in text.splitlines():
            m = re.match(r"hookbridge_(\w+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(3))
        return out

    # ---- helpers: Kafka ----------------------------------------------

    def create_topic(self, name, partitions):
        futures = self.admin.create_topics(
            [NewTopic(name, partitions, 1)], operation_timeout=30)
        futures[name].result(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            md = self.admin.list_topics(name, timeout=5).topics.get(name)
            if md and md.error is None and len(md.partitions) == partitions:
                return
            time.sleep(0.1)
        raise BenchError(f"topic {name} not ready")

    def end_offsets(self, topic, partitions):
        c = Consumer({"bootstrap.servers": self.brokers,
                      "group.id": f"bench-{self.run_id}-offsets"})
        try:
            return [c.get_watermark_offsets(TopicPartition(topic, p),
                                            timeout=10)[1]
                    for p in range(partitions)]
        finally:
            c.close()

    def fill_raw(self, topic, ids, kind="candidate"):
        """Stores one raw record per id, as the ingest would."""
        p = Producer({"bootstrap.servers": self.brokers,
                      "linger.ms": 20, "acks": "all",
                      "queue.buffering.max.messages": 200000})
        failed = []
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        field = {"candidate": "CandidateId"}[kind]
        for i in ids:
            value = json.dumps({"EventType": "CandidateUpdated", field: i,
                                "ProjectId": 77,
                                "Timestamp": "2026-12-01T10:00:00Z"})
            while True:
                try:
                    p.produce(topic, key=f"{kind}:{i}", value=value,
                              headers=[("event-type", b"CandidateUpdated"),
                                       ("received-at", now.encode())],
                              on_delivery=lambda e, m: e and failed.append(e))
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
        if p.flush(120) != 0 or failed:
            raise BenchError(f"could not fill {topic}: {failed[:1]}")

    # ---- 1. ingest ---------------------------------------------------

    def wrk(self, port, seconds):
        out = subprocess.run(
            ["wrk", "-t2", "-c32", f"-d{seconds}s", "--timeout", "10s",
             "-s", os.path.join(self.args.bench_dir, "hooks.lua"),
             f"http://127.0.0.1:{port}/hooks/hrm"],
            env=dict(os.environ, BENCH_SECRET=SECRET), capture_output=True,
            text=True, timeout=seconds + 60, check=True).stdout
        return parse_kv(out, "wrk ")

    def loadgen(self, port, seconds):
        out = subprocess.run(
            [self.program("bench-loadgen"), str(port), "1000", str(seconds),
             "32", SECRET], capture_output=True, text=True,
            timeout=seconds + 60, check=True).stdout
        return parse_kv(out, "loadgen ")

    def section_ingest(self):
        m = self.mode
        log("1. ingest against a bare civetweb server (wrk, 32 connections)")
        bare_port = free_port()
        bare = Proc("bare-server", [self.program("bench-bare-server"),
                                    f"127.0.0.1:{bare_port}"], {}, self.work)
        wait_http(bare, f"http://127.0.0.1:{bare_port}/hooks/hrm")
        ingest, port = self.start_ingest(self.topic("ingest.raw"))

        # The broker's JIT needs a few seconds of load before it settles.
        self.wrk(bare_port, 2)
        self.wrk(port, 5)
        runs = {"a": [], "b": []}
        for i in range(m["pairs"]):
            for side, p in (("a", bare_port), ("b", port)):
                r = self.wrk(p, m["wrk_s"])
                log(f"   pair {i + 1} {side}: {fmt_wrk(r)}")
                runs[side].append(r)
        self.facts["ingest_statuses"] = self.ingest_statuses(port)

        lat_b = self.loadgen(port, m["lat_s"])
        lat_a = self.loadgen(bare_port, m["lat_s"])
        log(f"   1000 req/s ingest: {fmt_lat(lat_b)}")
        log(f"   1000 req/s bare:   {fmt_lat(lat_a)}")
        self.facts["ingest_hwm_kib"] = vm_hwm_kib(ingest.pid)
        ingest.stop()
        bare.stop()
        self.ingest_rows(runs, lat_a, lat_b)

    def ingest_statuses(self, port):
        text = requests.get(f"http://127.0.0.1:{port}/metrics",
                            timeout=5).text
        found = re.findall(r'ingest_requests_total\{status="(\d+)"\} (\d+)',
                           text)
        return " ".join(f"{s}:{n}" for s, n in found if n != "0")

    def ingest_rows(self, runs, lat_a, lat_b):
        ratios = [b["rps"] / a["rps"] for a, b in zip(runs["a"], runs["b"])]
        for side, label in (("a", "bare civetweb"), ("b", "ingest acks=all")):
            rs = runs[side]
            self.row(f"1 {label}: req/s (median)",
                     f"{statistics.median(r['rps'] for r in rs):.0f}")
            self.row(f"1 {label}: p50 / p99 ms (wrk, median)",
                     f"{statistics.median(r['p50_ms'] for r in rs):.2f} / "
                     f"{statistics.median(r['p99_ms'] for r in rs):.2f}")
            self.row(f"1 {label}: non-2xx (all runs)",
                     f"{sum(int(r['non2xx']) for r in rs)}",
                     "0" if side == "b" else "",
                     sum(int(r["non2xx"]) for r in rs) == 0,
                     detail="answered " + self.facts["ingest_statuses"]
                     if side == "b" else "")
        self.row("1 ingest/bare req/s ratio (median of pairs)",
                 f"{statistics.median(ratios):.2f}", ">= 0.6",
                 statistics.median(ratios) >= 0.6,
                 detail=" ".join(f"{r:.2f}" for r in ratios))
        ok = int(lat_b["non2xx"]) + int(lat_b["errors"]) + \
            int(lat_b["unanswered"]) == 0
        self.row("1 ingest p99 ms at fixed 1000 req/s (open loop)",
                 f"{lat_b['p99_ms']:.2f}", "<= 10",
                 lat_b["p99_ms"] <= 10 and ok,
                 detail=f"p50 {lat_b['p50_ms']:.2f}, bare p99 "
                        f"{lat_a['p99_ms']:.2f}, failed "
                        f"{int(lat_b['non2xx']) + int(lat_b['errors'])}")

    # ---- 2. API calls saved ------------------------------------------

    def make_trace(self, rng):
        """Changes and the notifications announcing them, in time order.

        Each change of an object is notified 1 to 5 times: the copies come
        within 0.3 s of each other, except that each later copy is late
        (one window plus 0.5 to 1.2 s after the first) with probability
        0.3, as HR Manager's retries are. Changes of one object are kept
        far apart, and changes are spread evenly over the span so the
        call rate stays under the budget.
        """
        m = self.mode
        base = int(self.run_id[-6:]) * 100
        objects = [("candidate" if i % 3 else "position", base + i)
                   for i in range(m["trace_objects"])]
        changes = []
        for obj in objects:
            changes += [obj] * rng.randint(1, 3)
        rng.shuffle(changes)
        spacing = m["trace_span_s"] / len(changes)
        events, last_change = [], {}
        t = 0.0
        for obj in changes:
            t = max(t + spacing, last_change.get(obj, -99) + 3 * WINDOW_MS /
                    1000 + 2)
            last_change[obj] = t
            events.append((t, "change", obj))
            for _ in range(rng.randint(1, 5) - 1):
                late = rng.random() < 0.3
                dt = (WINDOW_MS / 1000 + rng.uniform(0.5, 1.2)) if late \
                    else rng.uniform(0.0, 0.3)
                events.append((t + dt, "copy", obj))
        events.sort(key=lambda e: e[0])
        return objects, events

    def play_trace(self, api_port, ingest_port, events):
        """Plays the trace in real time; returns the final object versions
        and, per object, the times its notifications were stored."""
        api = requests.Session()
        hook = requests.Session()
        version, stored = {}, {}
        start = time.monotonic()
        for t, what, (kind, oid) in events:
            delay = start + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if what == "change":
                version[(kind, oid)] = version.get((kind, oid), 0) + 1
                obj = trace_object(kind, oid, version[(kind, oid)])
                resource = {"candidate": "Candidates",
                            "position": "Positions"}[kind]
                r = api.put(f"http://127.0.0.1:{api_port}/_control/objects/"
                            f"{resource}/{oid}", json=obj, timeout=10)
                r.raise_for_status()
            body = {"EventType": {"candidate": "CandidateUpdated",
                                  "position": "PositionPublished"}[kind],
                    {"candidate": "CandidateId",
                     "position": "PositionId"}[kind]: oid,
                    "UserData": SECRET, "Timestamp": "2026-12-01T10:00:00Z"}
            r = hook.post(f"http://127.0.0.1:{ingest_port}/hooks/hrm",
                          json=body, timeout=10)
            if r.status_code != 200:
                raise BenchError(f"ingest answered {r.status_code}: {r.text}")
            stored.setdefault((kind, oid), []).append(time.time())
        return version, stored

    def section_calls(self):
        log("2. API calls saved on a duplicate-heavy trace")
        rng = random.Random(int(self.run_id))
        raw = self.topic("trace.raw")
        api, api_port = self.start_api("trace-api")
        ingest, ingest_port = self.start_ingest(raw, "trace-ingest")
        start_offsets = {k: self.end_offsets(f"hrm.{k}", 6)
                         for k in ("candidate", "position")
                         if self.topic_exists(f"hrm.{k}")}
        enricher = self.start_enricher(
            "trace-enricher", raw, api_port, f"bench-{self.run_id}-trace",
            HOOKBRIDGE_API_RATE=5, HOOKBRIDGE_WINDOW_MS=WINDOW_MS)
        wait_http(enricher, enricher.metrics_url.replace("metrics", "readyz"))

        objects, events = self.make_trace(rng)
        since = int(time.time() * 1000)
        version, stored = self.play_trace(api_port, ingest_port, events)
        self.wait_answered([enricher], len(events), timeout=60,
                           counter="events_consumed_total")
        summary = self.wait_calls_settled(api_port, since, [enricher],
                                          timeout=60)
        final = self.final_states(version, start_offsets)
        calls = self.dump_trace(api_port, since, stored)
        enricher.stop()
        ingest.stop()
        api.stop()
        self.calls_rows(objects, events, stored, summary, final, calls)

    def wait_calls_settled(self, api_port, since, procs, timeout):
        """The call summary once no call is left to come.

        The enricher's pending_keys gauge is refreshed once a second, so
        a zero read just after the last notification can be stale: the
        calls are taken as complete only when the gauge reads zero and
        the API saw no new call for two windows."""
        url = (f"http://127.0.0.1:{api_port}/_control/calls/summary"
               f"?since_ms={since}")
        quiet = 2 * WINDOW_MS / 1000 + 0.5
        deadline = time.monotonic() + timeout
        last, changed = None, time.monotonic()
        while time.monotonic() < deadline:
            summary = requests.get(url, timeout=10).json()
            now = time.monotonic()
            if summary["total"] != last:
                last, changed = summary["total"], now
            idle = all(self.metrics(p).get("pending_keys", 1) == 0
                       for p in procs)
            if idle and now - changed >= quiet:
                return summary
            time.sleep(0.2)
        raise BenchError("the enricher's API calls did not settle")

    def dump_trace(self, api_port, since, stored):
        """Keeps each object's store and call times for a later look;
        returns them."""
        calls = requests.get(f"http://127.0.0.1:{api_port}/_control/calls"
                             f"?since_ms={since}", timeout=10).json()["calls"]
        out = {}
        for (kind, oid), times in stored.items():
            out[f"{kind}:{oid}"] = {
                "stored_ms": [int(t * 1000) for t in times],
                "expected": fold_windows(times, WINDOW_MS / 1000),
                "calls_ms": [c["t_ms"] for c in calls
                             if str(c["id"]) == str(oid) and
                             c["resource"].lower().startswith(kind)]}
        with open(os.path.join(self.work, "trace.json"), "w") as f:
            json.dump(out, f, indent=1)
        return out

    def topic_exists(self, name):
        md = self.admin.list_topics(name, timeout=10).topics.get(name)
        return md is not None and md.error is None

    def final_states(self, version, start_offsets):
        """Counts objects whose last record downstream is their last version."""
        last = {}
        for kind in ("candidate", "position"):
            for key, value in self.read_topic(f"hrm.{kind}",
                                              start_offsets.get(kind)):
                last[(kind, int(key))] = value
        good = sum(1 for obj, v in version.items()
                   if last.get(obj) is not None
                   and json.loads(last[obj]).get("Version") == v)
        return good, len(version)

    def read_topic(self, topic, start, partitions=6):
        ends = self.end_offsets(topic, partitions)
        start = start or [0] * partitions
        c = Consumer({"bootstrap.servers": self.brokers,
                      "group.id": f"bench-{self.run_id}-read",
                      "enable.auto.commit": False})
        c.assign([TopicPartition(topic, p, start[p])
                  for p in range(partitions)])
        left = sum(e - s for e, s in zip(ends, start))
        out = []
        deadline = time.monotonic() + 60
        while left > 0 and time.monotonic() < deadline:
            for msg in c.consume(1000, 1.0):
                if msg.error() is None:
                    out.append((msg.key().decode(), msg.value()))
                    left -= 1
        c.close()
        return out

    def calls_rows(self, objects, events, stored, summary, final, per_obj):
        notifications = len(events)
        on_time = sum(fold_windows(times, WINDOW_MS / 1000)
                      for times in stored.values())
        pairs = sum(fold_windows([t / 1000 for t in v["stored_ms"]],
                                 WINDOW_MS / 1000,
                                 [c / 1000 for c in v["calls_ms"]])
                    for v in per_obj.values())
        calls = summary["total"]
        peak = summary["max_in_any_1s_window"]
        self.row("2 notifications (naive: one API call each)",
                 f"{notifications}")
        self.row("2 distinct objects", f"{len(stored)}")
        self.row("2 distinct (object, window) pairs", f"{pairs}",
                 detail=f"{on_time} had every fetch started on time")
        self.row("2 actual API calls", f"{calls}", f"= {pairs}",
                 calls == pairs,
                 detail=f"saved {100 * (1 - calls / notifications):.0f}% "
                        f"of the naive {notifications}")
        self.row("2 max API calls in any 1 s window", f"{peak}", "<= 5",
                 peak <= 5)
        uncovered, close = contract_breaches(per_obj, WINDOW_MS)
        self.row("2 notifications without a later fetch", f"{uncovered}",
                 "0", uncovered == 0)
        self.row("2 fetches of one object < 1 window apart", f"{close}",
                 "0", close == 0)
        self.row("2 final states correct", f"{final[0]}/{final[1]}",
                 "all", final[0] == final[1])

    # ---- 3 and 5. enricher events/s ----------------------------------

    def seed_file(self, ids):
        path = os.path.join(self.work, "seed.json")
        with open(path, "w") as f:
            json.dump({"Candidates": {str(i): trace_object("candidate", i, 1)
                                      for i in ids}}, f)
        return path

    def wait_answered(self, procs, n, timeout, counter=None):
        """Waits until the replicas together answered (or consumed) n."""
        names = [counter] if counter else [
            "records_published_total", "tombstones_total",
            "republish_suppressed_total", "dlq_records_total"]
        deadline = time.monotonic() + timeout
        first = None
        while time.monotonic() < deadline:
            for p in procs:
                p.check()
            got = [self.metrics(p) for p in procs]
            done = sum(g.get(k, 0) for g in got for k in names)
            consumed = sum(g.get("events_consumed_total", 0) for g in got)
            if first is None and consumed > 0:
                first = (time.monotonic(), done)
            if done >= n:
                return first, time.monotonic()
            time.sleep(0.05)
        raise BenchError(f"enricher answered {done} of {n} in {timeout}s")

    def enrich_rate(self, raw, api_port, replicas, n):
        group = f"bench-{self.run_id}-r{replicas}-{random.randrange(10**6)}"
        procs = [self.start_enricher(f"enricher-{group}-{i}", raw, api_port,
                                     group, HOOKBRIDGE_API_RATE=1000000,
                                     HOOKBRIDGE_WINDOW_MS=0)
                 for i in range(replicas)]
        (t0, done0), t1 = self.wait_answered(procs, n, timeout=300)
        for p in procs:
            p.stop()
        return (n - done0) / (t1 - t0)

    def kcat_copy(self, raw, n):
        dst = self.topic(f"copy{random.randrange(10**6)}")
        self.create_topic(dst, 6)
        t0 = time.monotonic()
        cmd = (f"kcat -C -b {self.brokers} -t {raw} -o beginning -e -q "
               f"-f '%k\\t%s\\n' | kcat -P -b {self.brokers} -t {dst} "
               f"-K '\\t' -X acks=all")
        subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True,
                       timeout=300)
        t1 = time.monotonic()
        copied = sum(self.end_offsets(dst, 6))
        if copied != n:
            raise BenchError(f"kcat copied {copied} of {n}")
        return n / (t1 - t0)

    def section_pipeline(self):
        m = self.mode
        n = m["pipe_events"]
        log(f"3. enricher pipeline speed, {n} events, against a kcat copy")
        self.pipe_raw = self.topic("pipe.raw")
        self.create_topic(self.pipe_raw, 6)
        self.fill_raw(self.pipe_raw, range(1, n + 1))
        api, api_port = self.start_api("pipe-api",
                                       self.seed_file(range(1, n + 1)))
        self.pipe_api = (api, api_port)
        k1 = self.kcat_copy(self.pipe_raw, n)
        e = self.enrich_rate(self.pipe_raw, api_port, 1, n)
        k2 = self.kcat_copy(self.pipe_raw, n)
        kcat = (k1 + k2) / 2
        log(f"   kcat {k1:.0f} then {k2:.0f} ev/s; enricher {e:.0f} ev/s")
        self.row("3 kcat consume->produce copy: events/s", f"{kcat:.0f}")
        self.row("3 enricher (API instant, no limit): events/s", f"{e:.0f}")
        self.row("3 enricher/kcat ratio", f"{e / kcat:.2f}", ">= 0.5",
                 e / kcat >= 0.5)

    def wait_settled(self, procs, partitions, timeout):
        """Waits until the replicas share every partition, each holding
        some, and the split held for a second (cooperative rebalancing
        takes two rounds)."""
        deadline = time.monotonic() + timeout
        since = None
        while time.monotonic() < deadline:
            for p in procs:
                p.check()
            held = [self.metrics(p).get("assigned_partitions", 0)
                    for p in procs]
            if sum(held) == partitions and all(held):
                since = since or time.monotonic()
                if time.monotonic() - since >= 1.0:
                    return
            else:
                since = None
            time.sleep(0.1)
        raise BenchError(f"the group did not settle: {held}")

    def scale_rate(self, api_port, replicas, n):
        """Events/s of a settled group: the replicas join an empty raw
        topic and share it out first, so the rebalances are not timed,
        and the records come after (filling is several times faster than
        the group drains them)."""
        raw = self.topic(f"scale{replicas}.raw")
        self.create_topic(raw, 6)
        group = f"bench-{self.run_id}-x{replicas}"
        procs = [self.start_enricher(f"enricher-{group}-{i}", raw, api_port,
                                     group, HOOKBRIDGE_API_RATE=1000000,
                                     HOOKBRIDGE_WINDOW_MS=0)
                 for i in range(replicas)]
        self.wait_settled(procs, 6, timeout=90)
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        t_fill = time.monotonic()
        self.fill_raw(raw, range(1, n + 1))
        fill_s = time.monotonic() - t_fill
        (t0, done0), t1 = self.wait_answered(procs, n, timeout=300)
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        for p in procs:
            p.stop()
        log(f"   {replicas} replica(s): filled at {n / fill_s:.0f} ev/s, "
            f"enricher CPU {cpu * 1e6 / n:.0f} us per event")
        return (n - done0) / (t1 - t0)

    def section_scaling(self):
        n = min(self.mode["scale_events"], self.mode["pipe_events"])
        log(f"5. enricher scaling on 6 partitions, {n} events")
        api, api_port = self.pipe_api
        rates = []
        for replicas in (1, 2, 3):
            rate = self.scale_rate(api_port, replicas, n)
            log(f"   {replicas} replica(s): {rate:.0f} ev/s")
            rates.append(rate)
        api.stop()
        for replicas, rate in zip((1, 2, 3), rates):
            self.row(f"5 enricher x{replicas}: events/s "
                     f"(relative to x1)", f"{rate:.0f}",
                     detail=f"{rate / rates[0]:.2f}")

    # ---- 4. memory ---------------------------------------------------

    def section_memory(self):
        keys = self.mode["mem_keys"]
        log(f"4. peak memory; the enricher holding {keys} distinct keys")
        raw = self.topic("mem.raw")
        self.create_topic(raw, 6)
        self.fill_raw(raw, range(1, keys + 1))
        # The window outlasts the measurement, so every key stays held.
        enricher = self.start_enricher(
            "mem-enricher", raw, free_port(), f"bench-{self.run_id}-mem",
            HOOKBRIDGE_WINDOW_MS=600000)
        self.wait_answered([enricher], keys, timeout=120,
                           counter="pending_keys")
        hwm = vm_hwm_kib(enricher.pid)
        # SIGTERM would answer the held keys first; nothing here needs them.
        enricher.stop(signal.SIGKILL)
        ing = self.facts["ingest_hwm_kib"]
        self.row("4 ingest peak RSS after load 1 (MiB)", f"{ing / 1024:.1f}",
                 "<= 32", ing <= 32 * 1024)
        self.row(f"4 enricher peak RSS holding {keys} keys (MiB)",
                 f"{hwm / 1024:.1f}", "<= 64", hwm <= 64 * 1024)

    # ---- the table ---------------------------------------------------

    def row(self, name, value, target="", ok=None, detail=""):
        self.rows.append((name, value, target,
                          "" if ok is None else ("yes" if ok else "NO"),
                          detail))

    def run(self):
        sections = [self.section_ingest, self.section_calls,
                    self.section_pipeline, self.section_memory,
                    self.section_scaling]
        failed = []
        for section in sections:
            try:
                section()
            except (BenchError, subprocess.SubprocessError,
                    requests.RequestException, OSError) as e:
                log(f"error: {section.__name__}: {e}")
                failed.append(section.__name__)
                Proc.stop_all()
        self.print_table(failed)
        return 1 if failed else 0

    def print_table(self, failed):
        print()
        print(f"== hookbridge bench results ({'quick' if self.args.quick else 'full'}) ==")
        print(machine_line())
        widths = [max(len(r[i]) for r in self.rows + [HEADER])
                  for i in range(4)]
        for r in [HEADER] + self.rows:
            cells = [r[i].ljust(widths[i]) for i in range(4)]
            print("  ".join(cells) + (f"  {r[4]}" if r[4] else ""))
        print(PAIRS_TEXT)
        if failed:
            print(f"bench: error: sections not measured: {', '.join(failed)}")
        else:
            print("bench table complete: every row measured")


HEADER = ("measure", "value", "target", "met", "detail")

PAIRS_TEXT = """\
(object, window) pairs: for each object, the fetches the fold rule
requires given the times its notifications were stored: the first
notification not yet covered, at t, opens a window whose fetch starts at
t + W (and no earlier than W after the object's previous fetch), or
later when the API budget held it back (the object's first call from
then on, as the API recorded it); every notification stored before that
fetch starts is covered by it. W = {w} ms. The naive count is one API
call per notification.""".format(w=WINDOW_MS)


def fold_windows(times, window, calls=None):
    """Fetches the fold rule requires for one object's notification times
    (seconds, any origin): see PAIRS_TEXT. Without `calls` (the start
    times of the object's real fetches) every fetch is taken to start on
    time; with them, a window's fetch is the first real one from its due
    time on (less 50 ms: the enricher counts from when it read the
    notification, which can be a moment before the bench noted it stored).
    """
    fetches, begin, i = 0, None, 0
    times = sorted(times)
    calls = sorted(calls or [])
    while i < len(times):
        start = times[i] + window
        if begin is not None:
            start = max(start, begin + window)
        later = [c for c in calls if c >= start - 0.05]
        if later:
            start = max(start, later[0])
        begin = start
        fetches += 1
        while i < len(times) and times[i] <= begin:
            i += 1
    return fetches


def contract_breaches(per_obj, window_ms):
    """Counts, from the API's own call record, the notifications no fetch
    started after (the fold may never drop one) and the fetches of one
    object that started less than a window after its previous one (less
    50 ms: the API stamps a call when it arrives, a little after the
    enricher started it)."""
    uncovered = close = 0
    for v in per_obj.values():
        calls = sorted(v["calls_ms"])
        uncovered += sum(1 for t in v["stored_ms"]
                         if not any(c >= t for c in calls))
        close += sum(1 for a, b in zip(calls, calls[1:])
                     if b - a < window_ms - 50)
    return uncovered, close


def trace_object(kind, oid, version):
    field = {"candidate": "CandidateId", "position": "PositionId"}[kind]
    return {field: oid, "Version": version, "FirstName": "Kari",
            "LastName": f"Nordmann {oid}",
            "Email": f"kari.{oid}@example.com",
            "Status": "Interview" if version % 2 else "Offer",
            "Updated": "/Date(1523353751000+0200)/",
            "Projects": [{"ProjectId": 77, "Name": "Platform team"}]}


def parse_kv(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix):
            out = {}
            for k, v in re.findall(r"(\w+)=([-0-9.]+)", line):
                out[k] = float(v)
            return out
    raise BenchError(f"no '{prefix.strip()}' line in: {text[-500:]}")


def fmt_wrk(r):
    return (f"{r['rps']:.0f} req/s p50 {r['p50_ms']:.2f} ms p99 "
            f"{r['p99_ms']:.2f} ms non-2xx {int(r['non2xx'])}")


def fmt_lat(r):
    return (f"p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms max "
            f"{r['max_ms']:.2f} ms ok {int(r['ok'])} non-2xx "
            f"{int(r['non2xx'])} errors {int(r['errors'])}")


def machine_line():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return (f"machine: nproc={os.cpu_count()} cpu=\"{cpu}\" "
            f"memory={mem_kib / 1048576:.1f} GiB kernel={os.uname().release}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--bench-dir",
                    default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return Bench(args).run()
    finally:
        Proc.stop_all()


if __name__ == "__main__":
    sys.exit(main())
