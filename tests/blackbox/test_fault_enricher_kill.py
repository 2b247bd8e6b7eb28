"""An enricher killed with SIGKILL and started again loses no object.

A trace of 10,000 raw notifications over 1,000 candidates is written
straight to the raw topic (as the ingest would write them; posting 10,000
hooks would test the ingest's speed, not the enricher's recovery). The
enricher is killed with SIGKILL three times while it works through the
trace and started again each time. Afterwards every object's last
downstream record is its final version. The restarts may publish a version
twice (at-least-once); the test prints how often that happened.
"""

import collections
import datetime
import random
import time

from confluent_kafka import Producer

import hbtest
from enricher_support import (World, candidate, metric, start_api,
                              start_enricher, wait_assigned)

OBJECTS = 1000
NOTIFICATIONS = 10000
PHASES = 5
KILLS = 3


def produce_phase(world, api, rng, ids, count, final):
    """Bump the objects a phase touches in the API, then write its
    notifications to the raw topic in one batch."""
    picks = [rng.choice(ids) for _ in range(count)]
    for obj_id in picks:
        final[obj_id] = final.get(obj_id, 0) + 1
    for obj_id in set(picks):
        api.put("Candidates", obj_id, candidate(obj_id, final[obj_id]))

    producer = Producer({"bootstrap.servers": hbtest.brokers(),
                         "acks": "all", "linger.ms": 20})
    failed = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(err)

    for obj_id in picks:
        now = datetime.datetime.now(datetime.timezone.utc)
        received = now.strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{now.microsecond // 1000:03d}Z"
        body = ('{"EventType": "CandidateUpdated", "CandidateId": %d, '
                '"Timestamp": "2026-12-01T10:00:00Z"}' % obj_id)
        producer.produce(world.raw_topic, key=f"candidate:{obj_id}",
                         value=body, on_delivery=delivered,
                         headers=[("event-type", b"CandidateUpdated"),
                                  ("received-at", received.encode())])
        producer.poll(0)
    assert producer.flush(60) == 0
    assert failed == []


class FinalStates:
    """A stop_when for consume_all that reads each record once."""

    def __init__(self, final):
        self.final = {str(k): v for k, v in final.items()}
        self.last = {}
        self.seen = 0

    def __call__(self, records):
        for rec in records[self.seen:]:
            self.last[rec.key] = rec
        self.seen = len(records)
        return not self.missing()

    def missing(self):
        return [k for k, v in self.final.items()
                if k not in self.last or self.last[k].value is None
                or self.last[k].json()["Version"] != v]


def test_three_enricher_kills_during_a_10k_trace_leave_every_final_state(
        service_factory, tmp_path):
    world = World(tmp_path, raw_partitions=6)
    api = start_api(service_factory)
    # A rate that makes each phase's fetches take a few seconds, so that
    # each kill falls in the middle of them.
    settings = {"api_rate": 300, "window_ms": 200}
    ids = [hbtest.unique_id() for _ in range(OBJECTS)]
    rng = random.Random(61)
    final = {}
    replica = start_enricher(service_factory, world, api, name="enricher-0",
                             **settings)
    wait_assigned(replica)

    published_before_kill = []
    for phase in range(PHASES):
        produce_phase(world, api, rng, ids, NOTIFICATIONS // PHASES, final)
        if phase >= KILLS:
            continue
        # Kill it in the middle of the work: once it has published part of
        # the phase, before it can have fetched all of it.
        deadline = time.monotonic() + 60
        while metric(replica, "records_published_total") < 50:
            assert time.monotonic() < deadline, replica.log_tail()
            time.sleep(0.05)
        time.sleep(rng.uniform(0.1, 1.0))
        published_before_kill.append(
            int(metric(replica, "records_published_total")))
        assert replica.kill() == -9
        replica = start_enricher(service_factory, world, api,
                                 name=f"enricher-{phase + 1}", **settings)

    check = FinalStates(final)
    records = hbtest.consume_all(world.topic("candidate"), timeout=240,
                                 idle=240, stop_when=check)
    check(records)
    per_version = collections.Counter(
        (r.key, r.json()["Version"]) for r in records if r.value is not None)
    duplicates = sum(n - 1 for n in per_version.values())
    print(f"\nenricher kill x{KILLS}: notifications={NOTIFICATIONS} "
          f"objects={len(final)} downstream_records={len(records)} "
          f"duplicate_records={duplicates} "
          f"published_by_each_killed_replica={published_before_kill}")
    assert check.missing() == []
    assert replica.stop() == 0
