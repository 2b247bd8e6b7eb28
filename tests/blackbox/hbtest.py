"""Support for hookbridge's black-box tests.

The tests start the real binaries on free loopback ports against the real
Kafka broker that tests/run.sh starts, and observe them only from outside:
HTTP, Kafka topics, exit codes and logs. This module holds what every such
test needs; fixtures built on it live in conftest.py.

Environment (set by tests/run.sh and by the ctest registration):
    HOOKBRIDGE_TEST_BROKERS    bootstrap address of the test broker
    HOOKBRIDGE_TEST_KAFKA_DIR  that broker's directory, for kafka.sh kill|restart
    HOOKBRIDGE_BUILD_DIR       the CMake build directory holding the binaries
"""

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import requests
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
KAFKA_SH = os.path.join(REPO_ROOT, "tests", "harness", "kafka.sh")

# Environment a service inherits from the test process. Everything else,
# HOOKBRIDGE_* above all, must be given explicitly so that a test sees the
# defaults it believes it sees.
_INHERITED_ENV = ("PATH", "HOME", "TMPDIR", "TZ", "ASAN_OPTIONS",
                  "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS",
                  "LLVM_PROFILE_FILE")


class HarnessError(Exception):
    """The test environment or a service under test misbehaved."""


# What AddressSanitizer, LeakSanitizer and UBSan print when they find
# something in a sanitizer build (-DHOOKBRIDGE_SANITIZE=ON). Such a report
# is a defect even when the program went on to answer correctly.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:")


def _require_env(name, hint):
    value = os.environ.get(name)
    if not value:
        raise HarnessError(f"{name} is not set: {hint}")
    return value


def brokers():
    """Return the bootstrap address of the test broker (host:port)."""
    return _require_env(
        "HOOKBRIDGE_TEST_BROKERS",
        "run the suite with tests/run.sh, or start a broker with "
        "tests/harness/kafka.sh start DIR and export its address")


def kafka_dir():
    """Return the test broker's directory, as kafka.sh kill/restart take it."""
    return _require_env(
        "HOOKBRIDGE_TEST_KAFKA_DIR",
        "run the suite with tests/run.sh, which exports it")


def build_dir():
    """Return the CMake build directory that holds the binaries."""
    return _require_env(
        "HOOKBRIDGE_BUILD_DIR",
        "run the test through ctest, or export the build directory")


def binary(name):
    """Return the path of the built program `name`, failing if it is absent.

    The programs sit at the top of the build directory:
    hookbridge-ingest, hookbridge-enricher, hookbridge-test-api.
    """
    path = os.path.join(build_dir(), name)
    if not os.access(path, os.X_OK):
        raise HarnessError(f"{path} is missing or not executable: "
                           "was the project built?")
    return path


def broker_kill():
    """SIGKILL the test broker and wait until it is gone."""
    _kafka_sh("kill")


def broker_restart():
    """Start the test broker again on its ports and data; wait until ready."""
    _kafka_sh("restart")


def _kafka_sh(command):
    proc = subprocess.run([KAFKA_SH, command, kafka_dir()],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=180, check=False)
    if proc.returncode != 0:
        raise HarnessError(f"kafka.sh {command} failed "
                           f"({proc.returncode}):\n{proc.stderr}")


_http_session = None


def http():
    """Return a requests.Session that ignores proxy settings.

    Use it for every request to a service under test: traffic must stay on
    loopback even where the environment names a proxy.
    """
    global _http_session
    if _http_session is None:
        _http_session = requests.Session()
        _http_session.trust_env = False
    return _http_session


def free_port():
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_issued_ids = set()


def unique_id():
    """Return a random object id that no other test will use.

    Ids stay below 2**31 because HR Manager's ids are 32-bit integers; the
    range is wide enough that tests sharing one broker do not collide, and
    one process never gets the same id twice.
    """
    rng = random.SystemRandom()
    while True:
        value = rng.randrange(10**8, 2**31 - 1)
        if value not in _issued_ids:
            _issued_ids.add(value)
            return value


def unique_topic(prefix):
    """Return a topic name starting with `prefix` that no test has used."""
    return f"{prefix}-{secrets.token_hex(6)}"


def unique_group(prefix="test"):
    """Return a consumer group id that no test has used."""
    return f"{prefix}-{uuid.uuid4().hex}"


# ---------------------------------------------------------------- services


class Service:
    """One run of a program under test, logging to a file.

    `env` is added to a minimal environment (PATH, HOME, sanitizer options);
    nothing else from the test process leaks in. `port` is where
    wait_http() looks when it is not given one. The process stays in the
    test's process group, so an interrupted or timed-out run takes it down
    too.
    """

    def __init__(self, program, env=None, args=(), port=None, log_dir=None,
                 name=None):
        self.program = program
        self.args = list(args)
        self.port = port
        self.name = name or os.path.basename(program)
        self.env = {k: os.environ[k] for k in _INHERITED_ENV
                    if k in os.environ}
        self.env.setdefault("PATH", "/usr/bin:/bin")
        self.env.update({k: str(v) for k, v in (env or {}).items()})
        self._log_dir = log_dir or tempfile.mkdtemp(prefix="hookbridge-")
        self.log_path = os.path.join(
            self._log_dir, f"{self.name}-{secrets.token_hex(3)}.log")
        self.proc = None

    def start(self):
        """Start the program; return self."""
        if self.proc is not None:
            raise HarnessError(f"{self.name} was already started")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.program, *self.args], env=self.env,
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self):
        """The process id, or None before start()."""
        return self.proc.pid if self.proc else None

    def running(self):
        """True while the process has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def returncode(self):
        """The exit code, None while running; -N means killed by signal N."""
        return self.proc.poll() if self.proc else None

    def url(self, path="/", port=None):
        """Return http://127.0.0.1:PORT/PATH for this service."""
        port = port or self.port
        if port is None:
            raise HarnessError(f"{self.name}: no port given")
        return f"http://127.0.0.1:{port}{path}"

    def log_text(self):
        """Return everything the program has written so far."""
        try:
            with open(self.log_path, "rb") as log:
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        """Return the last `lines` lines of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def sanitizer_report(self):
        """Return the log from the first sanitizer report on, or None."""
        text = self.log_text()
        starts = [text.find(m) for m in SANITIZER_MARKERS if m in text]
        if not starts:
            return None
        start = text.rfind("\n", 0, min(starts)) + 1
        return "\n".join(text[start:].splitlines()[:60])

    def _fail(self, what):
        raise HarnessError(f"{self.name} {what}; log {self.log_path}:\n"
                           f"{self.log_tail()}")

    def check_running(self):
        """Raise with the log tail if the process has exited."""
        if self.proc is None:
            raise HarnessError(f"{self.name} was never started")
        code = self.proc.poll()
        if code is not None:
            self._fail(f"exited early with status {code}")

    def wait_http(self, path="/healthz", port=None, timeout=15, status=200):
        """Poll GET `path` until it answers `status`; return the response.

        Raises with the log tail if the process exits first or the deadline
        passes.
        """
        url = self.url(path, port)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            self.check_running()
            try:
                resp = http().get(url, timeout=2)
                if resp.status_code == status:
                    return resp
                last = f"status {resp.status_code}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            if time.monotonic() >= deadline:
                self._fail(f"did not answer {status} on {url} within "
                           f"{timeout}s (last: {last})")
            time.sleep(0.1)

    def wait_exit(self, timeout=30):
        """Wait for the process to exit; return its code or None."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Send `sig` and return the exit code once the process exits.

        A process that outlives `timeout` is killed and HarnessError raised:
        not exiting on SIGTERM is a defect the test must see. So is a
        sanitizer report in the log (a leak found at exit, say), whatever
        the exit code.
        """
        if self.proc is None:
            raise HarnessError(f"{self.name} was never started")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.wait_exit(timeout)
        if code is None:
            self.kill()
            self._fail(f"ignored signal {sig} for {timeout}s and was killed")
        report = self.sanitizer_report()
        if report is not None:
            raise HarnessError(f"{self.name} exited {code} with a sanitizer "
                               f"report; log {self.log_path}:\n{report}")
        return code

    def kill(self):
        """SIGKILL the process (if running) and reap it; return its code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        return False


# ------------------------------------------------------------------- kafka


class Record:
    """One Kafka record, decoded for assertions.

    key and value are str (UTF-8, undecodable bytes replaced) or None; a
    None value is a tombstone. key_bytes and value_bytes keep the raw
    bytes. headers maps name to str (None for a null header value); when a
    name repeats the last one wins, and header_list keeps them all.
    timestamp is in milliseconds since the epoch.
    """

    __slots__ = ("topic", "partition", "offset", "key", "value",
                 "key_bytes", "value_bytes", "headers", "header_list",
                 "timestamp")

    def __init__(self, msg):
        self.topic = msg.topic()
        self.partition = msg.partition()
        self.offset = msg.offset()
        self.key_bytes = msg.key()
        self.value_bytes = msg.value()
        self.key = _decode(self.key_bytes)
        self.value = _decode(self.value_bytes)
        self.header_list = [(name, _decode(val))
                            for name, val in (msg.headers() or [])]
        self.headers = dict(self.header_list)
        self.timestamp = msg.timestamp()[1]

    def json(self):
        """Return the value parsed as JSON (None for a tombstone)."""
        return None if self.value is None else json.loads(self.value)

    def __repr__(self):
        return (f"Record({self.topic}[{self.partition}]@{self.offset} "
                f"key={self.key!r} value={self.value!r} "
                f"headers={self.headers!r})")


def _decode(data):
    if data is None:
        return None
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def _encode(data):
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, (dict, list)):
        return json.dumps(data).encode()
    return str(data).encode()


def _base_config():
    return {"bootstrap.servers": brokers(), "client.id": "hookbridge-test"}


def admin():
    """Return an AdminClient for the test broker."""
    return AdminClient(_base_config())


def _topic_ready(client, name, partitions):
    meta = client.list_topics(topic=name, timeout=5)
    topic = meta.topics.get(name)
    if topic is None or topic.error is not None:
        return False
    if partitions is not None and len(topic.partitions) != partitions:
        return False
    return all(p.leader >= 0 for p in topic.partitions.values())


def create_topic(name, partitions=1, config=None, timeout=30):
    """Create `name` and wait until every partition has a leader.

    `config` is a dict of topic settings, e.g. {"cleanup.policy": "compact"}.
    """
    client = admin()
    topic = NewTopic(name, num_partitions=partitions, replication_factor=1,
                     config={k: str(v) for k, v in (config or {}).items()})
    futures = client.create_topics([topic], operation_timeout=timeout)
    futures[name].result(timeout)
    wait_for_topic(name, partitions, timeout, client)


def wait_for_topic(name, partitions=None, timeout=30, client=None):
    """Wait until `name` exists with leaders; raise HarnessError if not."""
    client = client or admin()
    deadline = time.monotonic() + timeout
    while not _topic_ready(client, name, partitions):
        if time.monotonic() >= deadline:
            raise HarnessError(f"topic {name} not ready after {timeout}s")
        time.sleep(0.1)


def topic_config(name, timeout=10):
    """Return the topic's configuration as a dict of str to str."""
    client = admin()
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = client.describe_configs([res])[res].result(timeout)
    return {k: v.value for k, v in configs.items()}


_producers = {}


def _producer():
    addr = brokers()
    if addr not in _producers:
        _producers[addr] = Producer({**_base_config(), "acks": "all",
                                     "linger.ms": 0,
                                     "message.timeout.ms": 30000})
    return _producers[addr]


def produce(topic, key, value, headers=None, partition=None, timeout=35):
    """Write one record and wait for the broker to acknowledge it.

    key and value may be str, bytes, a dict or list (sent as JSON) or None
    (a None value is a tombstone). headers is a dict or a list of pairs.
    Returns (partition, offset); raises KafkaException when the record is
    not acknowledged within the producer's 30 s message timeout.
    """
    outcome = {}

    def delivered(err, msg):
        outcome["err"] = err
        outcome["msg"] = msg

    if isinstance(headers, dict):
        headers = list(headers.items())
    hdrs = [(name, _encode(val)) for name, val in (headers or [])]
    kwargs = {"partition": partition} if partition is not None else {}
    prod = _producer()
    prod.produce(topic, key=_encode(key), value=_encode(value),
                 headers=hdrs, on_delivery=delivered, **kwargs)
    deadline = time.monotonic() + timeout
    while "err" not in outcome:
        if time.monotonic() >= deadline:
            raise HarnessError(f"no delivery report for {topic} within "
                               f"{timeout}s")
        prod.poll(0.1)
    if outcome["err"] is not None:
        raise KafkaException(outcome["err"])
    return outcome["msg"].partition(), outcome["msg"].offset()


def consume_all(topic, timeout=10, idle=2, isolation="read_uncommitted",
                stop_when=None):
    """Read `topic` from its beginning and return a list of Records.

    Returns as soon as `stop_when(records)` is true; otherwise once every
    partition has been read to its end and nothing new came for `idle`
    seconds; in any case when `timeout` seconds have passed. A topic that
    does not exist yet is waited for within the same timeout. No consumer
    group offsets are read or committed. `isolation` is
    "read_uncommitted" or "read_committed".
    """
    deadline = time.monotonic() + timeout
    consumer = Consumer({**_base_config(),
                         "group.id": unique_group("consume-all"),
                         "enable.auto.commit": False,
                         "enable.partition.eof": True,
                         "isolation.level": isolation})
    records = []
    try:
        partitions = _await_partitions(consumer, topic, deadline)
        if partitions is None:
            return records
        consumer.assign([TopicPartition(topic, p, -2) for p in partitions])
        at_end = set()
        last_new = time.monotonic()
        while True:
            now = time.monotonic()
            if stop_when is not None and stop_when(records):
                break
            if now >= deadline:
                break
            if len(at_end) == len(partitions) and now - last_new >= idle:
                break
            msg = consumer.poll(min(0.2, max(0.0, deadline - now)))
            if msg is None:
                continue
            err = msg.error()
            if err is None:
                records.append(Record(msg))
                at_end.discard(msg.partition())
                last_new = time.monotonic()
            elif err.code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
            elif err.fatal():
                raise KafkaException(err)
    finally:
        consumer.close()
    return records


def _await_partitions(consumer, topic, deadline):
    while True:
        meta = consumer.list_topics(topic=topic, timeout=5)
        info = meta.topics.get(topic)
        if info is not None and info.error is None and info.partitions:
            return sorted(info.partitions)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)
