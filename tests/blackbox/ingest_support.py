"""What the ingest's black-box tests share: starting hookbridge-ingest,
posting notifications, and watching its topics.

The ingest is observed only from outside: HTTP answers, the records on
its topics, its exit code and its log.
"""

import json
import re
import time

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition

import hbtest

HOOK = "/hooks/hrm"
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def ingest_env(port, brokers, **settings):
    """Settings for one ingest: its own port and topics, debug logs."""
    env = {
        "HOOKBRIDGE_LISTEN": f"127.0.0.1:{port}",
        "HOOKBRIDGE_KAFKA_BROKERS": brokers,
        "HOOKBRIDGE_RAW_TOPIC": hbtest.unique_topic("ingest-raw"),
        "HOOKBRIDGE_UNROUTED_TOPIC": hbtest.unique_topic("ingest-unrouted"),
        "HOOKBRIDGE_LOG_LEVEL": "debug",
    }
    env.update({f"HOOKBRIDGE_{k.upper()}": str(v)
                for k, v in settings.items()})
    return env


def start_ingest(start, brokers, ready=True, **settings):
    """Start hookbridge-ingest with `settings` (secret="k" sets
    HOOKBRIDGE_SECRET); wait for /readyz when `ready`. `start` is the
    service_factory fixture or a function of the same shape."""
    port = hbtest.free_port()
    env = ingest_env(port, brokers, **settings)
    svc = start("hookbridge-ingest", env=env, port=port)
    svc.wait_http("/healthz")
    if ready:
        svc.wait_http("/readyz", timeout=40)
    svc.raw_topic = env["HOOKBRIDGE_RAW_TOPIC"]
    svc.unrouted_topic = env["HOOKBRIDGE_UNROUTED_TOPIC"]
    return svc


def notification(event="CandidateUpdated", secret=None, **fields):
    """A notification as HR Manager sends it; the id field is given by
    the caller (CandidateId=...)."""
    body = {"EventType": event, **fields,
            "Timestamp": "2026-12-01T10:00:00Z"}
    if secret is not None:
        body["UserData"] = secret
    return body


def post(svc, body, headers=None, session=None, timeout=15):
    """POST `body` (dict as JSON, or str/bytes as is) to the hook."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    return (session or hbtest.http()).post(svc.url(HOOK), data=body,
                                           headers=hdrs, timeout=timeout)


def post_until_stored(svc, secret, timeout):
    """POST new notifications every 0.5 s until one is answered 200; any
    answer but 200 or 503 fails, and so does no 200 within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        resp = post(svc, notification(CandidateId=hbtest.unique_id(),
                                      secret=secret))
        if resp.status_code == 200:
            return resp
        assert resp.status_code == 503, resp.text
        assert time.monotonic() < deadline, \
            f"no hook stored within {timeout}s"
        time.sleep(0.5)


class TopicTail:
    """Reads the given topics from their beginning, keeping every record.

    One consumer for a whole test module, so each test only waits for
    what it sent instead of re-reading the topics.
    """

    def __init__(self, topics, timeout=30):
        self.records = []
        self._consumer = Consumer({
            "bootstrap.servers": hbtest.brokers(),
            "group.id": hbtest.unique_group("ingest-tail"),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
        })
        self._at_end = set()
        self._parts = []
        for topic in topics:
            hbtest.wait_for_topic(topic, timeout=timeout)
            meta = self._consumer.list_topics(topic=topic, timeout=10)
            self._parts += [TopicPartition(topic, p, -2)
                            for p in meta.topics[topic].partitions]
        self._consumer.assign(self._parts)

    def close(self):
        self._consumer.close()

    def _poll(self, seconds):
        msg = self._consumer.poll(seconds)
        if msg is None:
            return
        err = msg.error()
        where = (msg.topic(), msg.partition())
        if err is None:
            self.records.append(hbtest.Record(msg))
            self._at_end.discard(where)
        elif err.code() == KafkaError._PARTITION_EOF:
            self._at_end.add(where)
        else:
            raise KafkaException(err)

    def wait_for(self, pred, timeout=20):
        """Return the first record for which pred(record) holds."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.records if pred(r)]
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no matching record within {timeout}s; have "
                    f"{self.records[-5:]!r}")
            self._poll(0.2)

    def sync(self, timeout=20):
        """Read every partition to its end, as far as the background fetch
        (at most fetch.wait.max.ms behind, 100 ms here) knows it."""
        deadline = time.monotonic() + timeout
        settle = time.monotonic() + 0.3
        while time.monotonic() < settle or len(self._at_end) < len(self._parts):
            if time.monotonic() >= deadline:
                raise AssertionError("topics not read to their end")
            self._poll(0.05)

    def mentioning(self, text):
        """Records whose key, value or headers contain `text`."""
        text = str(text)
        return [r for r in self.records
                if text in (r.key or "") or text in (r.value or "")
                or any(text in (v or "") for v in r.headers.values())]


def check_nothing_published(svc, tail, marker_secret, ident):
    """After an error answer: once a later good notification is stored,
    no record on the ingest's topics mentions `ident`."""
    marker = hbtest.unique_id()
    resp = post(svc, notification(CandidateId=marker, secret=marker_secret))
    assert resp.status_code == 200, resp.text
    tail.wait_for(lambda r: r.key == f"candidate:{marker}")
    tail.sync()
    assert tail.mentioning(ident) == []
