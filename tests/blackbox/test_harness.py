"""The black-box harness itself works against the real broker.

Every other black-box test trusts these helpers; if they were wrong, those
tests could pass without checking anything.
"""

import signal
import socket
import sys
import time

import pytest

import hbtest


def test_records_come_back_in_order_with_keys_values_and_headers():
    topic = hbtest.unique_topic("harness")
    hbtest.create_topic(topic)
    sent = [(f"k{i}", f'{{"n": {i}}}', {"event-type": f"T{i}", "n": str(i)})
            for i in range(3)]
    for key, value, headers in sent:
        hbtest.produce(topic, key, value, headers=headers)

    records = hbtest.consume_all(topic, timeout=20, idle=1)

    assert [(r.key, r.value, r.headers) for r in records] == sent
    assert [r.offset for r in records] == [0, 1, 2]
    assert all(r.topic == topic and r.partition == 0 for r in records)
    assert records[1].json() == {"n": 1}
    assert abs(records[0].timestamp / 1000 - time.time()) < 120


def test_a_null_value_reads_back_as_a_tombstone():
    topic = hbtest.unique_topic("harness")
    hbtest.create_topic(topic)
    hbtest.produce(topic, "gone", None)

    (record,) = hbtest.consume_all(topic, timeout=20, idle=1)

    assert record.key == "gone"
    assert record.value is None and record.value_bytes is None
    assert record.json() is None


def test_consume_all_reads_every_partition():
    topic = hbtest.unique_topic("harness")
    hbtest.create_topic(topic, partitions=3,
                        config={"cleanup.policy": "compact"})
    for part in range(3):
        hbtest.produce(topic, f"p{part}", "v", partition=part)

    records = hbtest.consume_all(topic, timeout=20, idle=1)

    assert sorted((r.partition, r.key) for r in records) == [
        (0, "p0"), (1, "p1"), (2, "p2")]
    assert hbtest.topic_config(topic)["cleanup.policy"] == "compact"


def test_consume_all_stops_as_soon_as_stop_when_holds():
    topic = hbtest.unique_topic("harness")
    hbtest.create_topic(topic)
    for i in range(5):
        hbtest.produce(topic, str(i), str(i))

    started = time.monotonic()
    records = hbtest.consume_all(topic, timeout=30, idle=10,
                                 stop_when=lambda rs: len(rs) >= 2)

    assert 2 <= len(records) <= 5
    assert time.monotonic() - started < 10


def test_consume_all_of_a_missing_topic_returns_nothing_at_the_timeout():
    started = time.monotonic()
    records = hbtest.consume_all(hbtest.unique_topic("absent"), timeout=2)

    assert records == []
    assert 1.5 <= time.monotonic() - started < 15


def test_unique_ids_and_topics_do_not_repeat():
    ids = {hbtest.unique_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(0 < i < 2**31 for i in ids)
    assert hbtest.unique_topic("a") != hbtest.unique_topic("a")


def test_free_port_can_be_bound_on_loopback():
    port = hbtest.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_service_answers_http_and_stops_on_sigterm(service_factory):
    port = hbtest.free_port()
    svc = service_factory(sys.executable,
                          args=["-m", "http.server", "--bind", "127.0.0.1",
                                str(port)], port=port, name="http-server")

    resp = svc.wait_http("/", timeout=20)

    assert resp.status_code == 200
    assert svc.wait_http("/absent", status=404).status_code == 404
    with pytest.raises(hbtest.HarnessError, match="did not answer 200"):
        svc.wait_http("/absent", timeout=1)
    assert svc.stop(signal.SIGTERM, timeout=10) == -signal.SIGTERM
    assert not svc.running()


def test_service_gets_only_the_environment_it_is_given(service_factory):
    svc = service_factory("/bin/sh", args=["-c", "env; exit 3"],
                          env={"HOOKBRIDGE_LISTEN": "1234"})

    assert svc.wait_exit(timeout=10) == 3
    lines = svc.log_text().splitlines()
    assert "HOOKBRIDGE_LISTEN=1234" in lines
    assert not any(line.startswith("HOOKBRIDGE_TEST_") for line in lines)


def test_a_service_that_dies_at_start_is_reported_with_its_log(
        service_factory):
    svc = service_factory("/bin/sh", args=["-c", "echo bad setting; exit 1"],
                          port=hbtest.free_port())

    started = time.monotonic()
    with pytest.raises(hbtest.HarnessError,
                       match="(?s)exited early with status 1.*bad setting"):
        svc.wait_http(timeout=60)
    assert time.monotonic() - started < 20


def test_broker_restart_keeps_data_and_serves_again():
    topic = hbtest.unique_topic("harness-restart")
    hbtest.create_topic(topic)
    hbtest.produce(topic, "before", "1")

    hbtest.broker_kill()
    with pytest.raises(Exception):
        hbtest.admin().list_topics(timeout=2)
    hbtest.broker_restart()
    hbtest.produce(topic, "after", "2")

    records = hbtest.consume_all(topic, timeout=30, idle=1)
    assert [(r.key, r.value) for r in records] == [("before", "1"),
                                                    ("after", "2")]
