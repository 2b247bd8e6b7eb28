"""The ingest's 200 means stored, even when the broker is killed.

A steady load of unique notifications runs into the ingest while the
broker is killed with SIGKILL and started again, twice. Afterwards every
notification the ingest answered 200 for is on the raw topic; the others
were answered 503 with Retry-After, or their connection failed. The
broker is killed: this test carries the label "long".
"""

import threading
import time

import requests

import hbtest
from ingest_support import (notification, post, post_until_stored,
                            start_ingest)

THREADS = 4
RATE_PER_THREAD = 40          # 160 notifications/s in all
LOAD_SECONDS = 50             # at least, and 12 s past each restart
AFTER_RESTART_SECONDS = 12
MAX_LOAD_SECONDS = 120        # the hard bound, however slow the restarts
MAX_PER_THREAD = RATE_PER_THREAD * MAX_LOAD_SECONDS
SECRET = "broker-kill-secret"


class Load:
    """Posts unique notifications from a few threads at a steady rate and
    keeps each one's outcome: its status code, or "refused" when the
    connection failed before an answer."""

    def __init__(self, svc):
        self.svc = svc
        self.outcomes = {}
        self.answered = []            # (monotonic time, outcome)
        self.bad_503 = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(THREADS)]

    def start(self):
        for thread in self._threads:
            thread.start()

    def stop(self, timeout=30):
        """Stop the load now and wait for its threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        assert not any(t.is_alive() for t in self._threads)

    def _run(self):
        session = requests.Session()
        session.trust_env = False
        period = 1.0 / RATE_PER_THREAD
        due = time.monotonic()
        ends = due + MAX_LOAD_SECONDS
        for _ in range(MAX_PER_THREAD):
            now = time.monotonic()
            if self._stop.is_set() or now >= ends:
                break
            if due > now:
                time.sleep(due - now)
            # A thread held up by a slow answer does not catch up in a
            # burst: the rate stays what HR Manager would send.
            due = max(due + period, time.monotonic())
            ident = hbtest.unique_id()
            self._record(ident, self._post(session, ident))

    def _post(self, session, ident):
        try:
            resp = post(self.svc, notification(CandidateId=ident,
                                               secret=SECRET),
                        session=session, timeout=20)
        except requests.RequestException:
            return "refused"
        if resp.status_code == 503 and \
                not resp.headers.get("Retry-After", "").isdigit():
            with self._lock:
                self.bad_503.append(ident)
        return resp.status_code

    def _record(self, ident, outcome):
        with self._lock:
            self.outcomes[ident] = outcome
            self.answered.append((time.monotonic(), outcome))

    def count(self, outcome):
        with self._lock:
            return sum(1 for o in self.outcomes.values() if o == outcome)


def test_every_hook_answered_200_is_on_the_raw_topic_after_two_broker_kills(
        service_factory, brokers):
    svc = start_ingest(service_factory, brokers, secret=SECRET,
                       ack_timeout_ms=2000)
    load = Load(svc)
    started = time.monotonic()
    load.start()
    restarts = []
    try:
        # A restart takes 10-20 s. Each kill comes a few seconds after the
        # broker is back, and the load goes on past the last restart.
        kill_at = started + 6
        for _ in range(2):
            time.sleep(max(0.0, kill_at - time.monotonic()))
            killed = time.monotonic()
            hbtest.broker_kill()
            time.sleep(2)
            hbtest.broker_restart()
            ready = time.monotonic()
            restarts.append((killed, ready))
            kill_at = ready + AFTER_RESTART_SECONDS
        time.sleep(max(0.0, started + LOAD_SECONDS - time.monotonic(),
                       ready + AFTER_RESTART_SECONDS - time.monotonic()))
    finally:
        load.stop(timeout=60)

    acked = {i for i, o in load.outcomes.items() if o == 200}
    others = {i: o for i, o in load.outcomes.items() if o != 200}
    assert set(others.values()) <= {503, "refused"}, others
    assert load.bad_503 == []

    wanted = {f"candidate:{i}" for i in acked}
    records = hbtest.consume_all(
        svc.raw_topic, timeout=90, idle=5,
        stop_when=lambda recs: wanted <= {r.key for r in recs})
    stored = {r.key for r in records}
    lost = wanted - stored
    recovered = []
    for killed, ready in restarts:
        first_200 = min((t for t, o in load.answered if o == 200 and t > ready),
                        default=None)
        recovered.append(first_200 is not None and
                         first_200 - ready < AFTER_RESTART_SECONDS)
        back = "never" if first_200 is None else f"{first_200 - ready:.1f}s"
        print(f"\nbroker killed at {killed - started:.1f}s, ready again "
              f"after {ready - killed:.1f}s, first 200 {back} later")
    print(f"broker kill x2: sent={len(load.outcomes)} "
          f"acknowledged={len(acked)} lost={len(lost)} "
          f"503={load.count(503)} refused={load.count('refused')} "
          f"stored_unacknowledged={len(stored - wanted)}")
    assert lost == set()
    # The load really met the kills, and after each restart the ingest
    # stored hooks again by itself, before the next kill.
    assert load.count(503) + load.count("refused") > 0
    assert recovered == [True, True]

    # The ingest serves again by itself, without being restarted.
    post_until_stored(svc, SECRET, timeout=60)
    assert svc.stop() == 0
