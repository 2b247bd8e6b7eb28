"""When the broker stops answering, a hook gets 503 with Retry-After once
the ack timeout passes, and the ingest recovers when the broker does.

The broker is frozen with SIGSTOP for a few seconds, which a shared
broker's other users would notice: this test carries the label "long".
"""

import os
import signal
import time

import hbtest
from ingest_support import (notification, post, post_until_stored,
                            start_ingest)


def broker_pid():
    with open(os.path.join(hbtest.kafka_dir(), "pid")) as f:
        return int(f.read().strip())


def test_a_hook_kafka_cannot_acknowledge_in_time_gets_503_with_retry_after(
        service_factory, brokers):
    svc = start_ingest(service_factory, brokers, secret="k",
                       ack_timeout_ms=1500)
    pid = broker_pid()

    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        resp = post(svc, notification(CandidateId=hbtest.unique_id(),
                                      secret="k"))
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)

    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == "2"
    assert "1500 ms" in resp.json()["error"]
    assert 1.4 < elapsed < 4

    # Once the broker answers again, so does the ingest.
    post_until_stored(svc, "k", timeout=40)
    assert svc.stop() == 0
