"""How the enricher treats a misbehaving API: it honours Retry-After,
dead-letters what keeps failing, pauses instead of dead-lettering when
the key is refused, and stays within the API budget."""

import random
import time

import hbtest
from enricher_support import (World, calls_for, candidate, committed_offsets,
                              last_by_key, metric, start_api, start_enricher,
                              wait_assigned)


def test_a_429_with_retry_after_2_delays_the_next_api_call_by_2_seconds(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    throttled, other = hbtest.unique_id(), hbtest.unique_id()
    api.put("Candidates", throttled, candidate(throttled, 1))
    api.put("Candidates", other, candidate(other, 1))
    api.add_faults([{"resource": "Candidates", "id": str(throttled),
                     "status": 429, "retry_after": 2, "count": 1}])
    enricher = start_enricher(service_factory, world, api)
    wait_assigned(enricher)

    world.notify("candidate", throttled)
    deadline = time.monotonic() + 15
    while not calls_for(api, "candidate", throttled):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    world.notify("candidate", other)

    world.wait_records("candidate", lambda r: len(r) >= 2)
    calls = api.calls()
    assert calls[0]["status"] == 429
    assert calls[1]["t_ms"] - calls[0]["t_ms"] >= 2000, calls


def test_a_5xx_until_the_last_attempt_goes_to_the_dlq_and_the_offset_moves_on(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(obj_id, 1))
    api.add_faults([{"resource": "Candidates", "id": str(obj_id),
                     "status": 500, "count": 3}])
    enricher = start_enricher(service_factory, world, api,
                              api_max_attempts=3)
    wait_assigned(enricher)

    _, offset = world.notify("candidate", obj_id, Marker="m-1")

    dlq = hbtest.consume_all(world.dlq_topic, timeout=30, idle=30,
                             stop_when=lambda r: len(r) >= 1)
    assert len(dlq) == 1
    rec = dlq[0]
    assert rec.key == f"candidate:{obj_id}"
    assert rec.json()["Marker"] == "m-1"
    assert rec.headers["event-type"] == "CandidateUpdated"
    assert "received-at" in rec.headers
    assert rec.headers["error"] == "HTTP 500 after 3 attempts"
    assert rec.headers["attempts"] == "3"
    assert len(calls_for(api, "candidate", obj_id)) == 3
    assert world.records("candidate", timeout=3) == []
    deadline = time.monotonic() + 15
    while committed_offsets(world.group, world.raw_topic)[0] != offset + 1:
        assert time.monotonic() < deadline, "offset not committed"
        time.sleep(0.5)
    assert metric(enricher, "dlq_records_total") == 1


def test_a_refused_api_key_pauses_without_dlq_and_recovers_when_accepted(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(obj_id, 1))
    api.set_apikey("revoked-" + api.apikey)
    enricher = start_enricher(service_factory, world, api,
                              auth_retry_ms=500, api_max_attempts=2)
    wait_assigned(enricher)

    world.notify("candidate", obj_id)
    enricher.wait_http("/readyz", status=503, timeout=15)
    time.sleep(2)  # several probes, all refused
    assert len(calls_for(api, "candidate", obj_id)) >= 3
    assert metric(enricher, "auth_paused") == 1
    assert hbtest.consume_all(world.dlq_topic, timeout=3) == []

    api.set_apikey(api.apikey)
    recs = world.wait_records("candidate", lambda r: len(r) >= 1)
    assert recs[0].json()["Version"] == 1
    enricher.wait_http("/readyz", status=200, timeout=10)
    assert hbtest.consume_all(world.dlq_topic, timeout=3) == []


def trace(world, api, ids, notifications, seed=7):
    """Notifications over `ids` with many duplicates; the object's Version
    is bumped before each. Returns id -> final version."""
    rng = random.Random(seed)
    final = {}
    for _ in range(notifications):
        obj_id = rng.choice(ids)
        final[obj_id] = final.get(obj_id, 0) + 1
        api.put("Candidates", obj_id, candidate(obj_id, final[obj_id]))
        world.notify("candidate", obj_id)
    return final


def wait_final_states(world, final, timeout=60):
    def done(recs):
        last = last_by_key(recs)
        return all(str(k) in last and last[str(k)].value is not None and
                   last[str(k)].json()["Version"] == v
                   for k, v in final.items())
    return world.wait_records("candidate", done, timeout=timeout)


def test_a_trace_with_duplicates_ends_in_every_final_state_within_the_rate(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    ids = [hbtest.unique_id() for _ in range(30)]
    enricher = start_enricher(service_factory, world, api, api_rate=5,
                              window_ms=500)
    wait_assigned(enricher)

    final = trace(world, api, ids, 300)

    recs = wait_final_states(world, final, timeout=90)
    assert len(recs) < 300
    assert api.summary()["max_in_any_1s_window"] <= 5
    assert metric(enricher, "events_consumed_total") == 300
