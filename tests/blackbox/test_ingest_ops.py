"""hookbridge-ingest under operating conditions: Kafka away or slow,
readiness, metrics, key rotation, and shutdown with requests in flight."""

import json
import re
import socket
import threading
import time

import hbtest
from ingest_support import (TopicTail, check_nothing_published,
                            notification, post, start_ingest)


def metric(svc, series):
    """The value of one /metrics series, e.g. 'x_total{status="200"}'."""
    text = hbtest.http().get(svc.url("/metrics"), timeout=5).text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in /metrics:\n{text}")


def test_with_kafka_unreachable_it_is_alive_not_ready_and_answers_503(
        service_factory):
    dead = f"127.0.0.1:{hbtest.free_port()}"
    svc = start_ingest(service_factory, dead, ready=False, secret="k",
                       ack_timeout_ms=1000)

    assert hbtest.http().get(svc.url("/healthz"), timeout=5).status_code \
        == 200
    assert hbtest.http().get(svc.url("/readyz"), timeout=5).status_code \
        == 503
    started = time.monotonic()
    resp = post(svc, notification(CandidateId=1, secret="k"))
    elapsed = time.monotonic() - started

    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == "1"
    assert "error" in resp.json()
    assert elapsed < 1.5
    # Bad input is still told what is wrong.
    assert post(svc, notification(CandidateId=1, secret="no")).status_code \
        == 401
    assert svc.stop() == 0


class Forwarder:
    """A TCP port that comes to life later and then leads to the broker."""

    def __init__(self, port, target):
        self.port = port
        self.target = target
        self._sock = None
        self._stop = threading.Event()

    def start(self):
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        host, port = self.target.rsplit(":", 1)
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except socket.timeout:
                continue
            upstream = socket.create_connection((host, int(port)))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def stop(self):
        self._stop.set()
        if self._sock is not None:
            self._sock.close()


def test_it_becomes_ready_by_itself_once_kafka_appears(service_factory,
                                                       brokers):
    port = hbtest.free_port()
    svc = start_ingest(service_factory, f"127.0.0.1:{port}", ready=False,
                       secret="k")
    assert hbtest.http().get(svc.url("/readyz"), timeout=5).status_code \
        == 503
    assert post(svc, notification(CandidateId=1, secret="k")).status_code \
        == 503

    forwarder = Forwarder(port, brokers)
    forwarder.start()
    try:
        svc.wait_http("/readyz", timeout=45)
        ident = hbtest.unique_id()
        resp = post(svc, notification(CandidateId=ident, secret="k"))
        assert resp.status_code == 200, resp.text
        records = hbtest.consume_all(svc.raw_topic, timeout=20, stop_when=(
            lambda rs: any(r.key == f"candidate:{ident}" for r in rs)))
        assert any(r.key == f"candidate:{ident}" for r in records)
        assert "kafka ready" in svc.log_text()
    finally:
        assert svc.stop() == 0
        forwarder.stop()


def test_metrics_count_requests_by_status_and_show_the_producer(
        service_factory, brokers):
    svc = start_ingest(service_factory, brokers, secret="k")
    for _ in range(3):
        post(svc, notification(CandidateId=hbtest.unique_id(), secret="k"))
    post(svc, notification(CandidateId=1, secret="bad"))
    post(svc, "not json")
    hbtest.http().get(svc.url("/hooks/hrm"), timeout=5)

    assert metric(svc, 'hookbridge_ingest_requests_total{status="200"}') == 3
    assert metric(svc, 'hookbridge_ingest_requests_total{status="401"}') == 1
    assert metric(svc, 'hookbridge_ingest_requests_total{status="400"}') == 1
    assert metric(svc, 'hookbridge_ingest_requests_total{status="405"}') == 1
    assert metric(svc, "hookbridge_ingest_publish_seconds_count") == 3
    assert metric(svc, 'hookbridge_ingest_publish_seconds_bucket{le="+Inf"}') \
        == 3
    assert metric(svc, "hookbridge_ingest_requests_in_flight") == 0
    assert metric(svc, "hookbridge_ingest_producer_queue_depth") == 0
    assert metric(svc, "hookbridge_ingest_kafka_errors_total") == 0
    assert metric(svc, "hookbridge_ingest_kafka_ready") == 1
    assert svc.stop() == 0


def test_both_keys_of_a_secret_file_are_accepted_and_never_leak(
        service_factory, brokers, tmp_path):
    old, new = "old-" + hbtest.unique_topic("k"), "new-" + \
        hbtest.unique_topic("k")
    path = tmp_path / "hook-keys"
    path.write_text(f"{old}\n  {new}  \n")
    svc = start_ingest(service_factory, brokers, secret_file=str(path))
    tail = TopicTail([svc.raw_topic, svc.unrouted_topic])
    try:
        ids = [hbtest.unique_id(), hbtest.unique_id()]
        for ident, key in zip(ids, (old, new)):
            resp = post(svc, notification(CandidateId=ident, secret=key))
            assert resp.status_code == 200, resp.text
        assert post(svc, notification(CandidateId=1, secret=old[:-1])) \
            .status_code == 401
        assert post(svc, notification("Unknown", secret=new)).status_code \
            == 200

        for ident in ids:
            tail.wait_for(lambda r, i=ident: r.key == f"candidate:{i}")
        tail.wait_for(lambda r: r.key == "Unknown")
        tail.sync()
        page = hbtest.http().get(svc.url("/metrics"), timeout=5).text
    finally:
        tail.close()
    assert svc.stop() == 0

    for secret in (old, new):
        assert tail.mentioning(secret) == []
        assert secret not in page
        assert secret not in svc.log_text()
    assert "DEBUG" in svc.log_text()


def test_comma_separated_keys_rotate_and_a_wrong_one_publishes_nothing(
        service_factory, brokers):
    svc = start_ingest(service_factory, brokers, secret=" first , second ")
    tail = TopicTail([svc.raw_topic])
    try:
        for key in ("first", "second"):
            resp = post(svc, notification(CandidateId=hbtest.unique_id(),
                                          secret=key))
            assert resp.status_code == 200, resp.text
        ident = hbtest.unique_id()
        resp = post(svc, notification(CandidateId=ident, secret="first,"))
        assert resp.status_code == 401
        check_nothing_published(svc, tail, "second", ident)
    finally:
        tail.close()
    assert svc.stop() == 0


def test_sigterm_lets_requests_in_flight_finish_with_200_and_exits_0(
        service_factory, brokers):
    # A long linger keeps each record in the producer for a while, so the
    # requests are surely waiting on Kafka when the signal comes.
    svc = start_ingest(service_factory, brokers, secret="k",
                       rdkafka_linger_ms=700)
    ids = [hbtest.unique_id() for _ in range(8)]
    answers = {}

    def send(ident):
        answers[ident] = post(svc, notification(CandidateId=ident,
                                                secret="k"), timeout=20)

    threads = [threading.Thread(target=send, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while metric(svc, "hookbridge_ingest_requests_in_flight") < len(ids):
        assert time.monotonic() < deadline, "requests never got in flight"
        time.sleep(0.02)

    code = svc.stop()
    for t in threads:
        t.join(20)

    assert code == 0
    assert sorted(a.status_code for a in answers.values()) == [200] * 8
    records = hbtest.consume_all(svc.raw_topic, timeout=20, idle=1)
    assert sorted(r.key for r in records) == sorted(
        f"candidate:{i}" for i in ids)
    assert re.search(r"stopping signal=SIGTERM", svc.log_text())


def test_the_default_body_limit_is_64_kib_exactly(service_factory, brokers):
    svc = start_ingest(service_factory, brokers, secret="k")
    ident = hbtest.unique_id()
    base = json.dumps(notification(CandidateId=ident, secret="k", Pad=""))
    pad = "p" * (65536 - len(base))
    at_limit = base.replace('"Pad": ""', f'"Pad": "{pad}"')
    assert len(at_limit) == 65536

    assert post(svc, at_limit).status_code == 200
    resp = post(svc, at_limit.replace('"Pad": "', '"Pad": "p'))
    assert resp.status_code == 413
    assert "65536" in resp.json()["error"]
    assert svc.stop() == 0
