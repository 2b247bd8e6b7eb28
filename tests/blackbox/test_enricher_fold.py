"""The enricher folds bursts of notifications into one fetch per window,
and never drops a notification without a fetch that started after it."""

import time

import hbtest
from enricher_support import (World, calls_for, candidate, metric,
                              start_api, start_enricher, wait_assigned)


def test_fifty_notifications_in_one_window_make_one_fetch_and_one_record(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(obj_id, 1))
    enricher = start_enricher(service_factory, world, api,
                              window_ms=3000)
    wait_assigned(enricher)

    for version in range(1, 51):
        api.put("Candidates", obj_id, candidate(obj_id, version))
        world.notify("candidate", obj_id)

    recs = world.wait_records("candidate", lambda r: len(r) >= 1)
    time.sleep(1.5)  # a second fetch or record would show up by now
    recs = world.records("candidate")
    assert len(recs) == 1, recs
    assert recs[0].key == str(obj_id)
    assert recs[0].json()["Version"] == 50
    assert len(calls_for(api, "candidate", obj_id)) == 1
    assert metric(enricher, "events_folded_total") == 49


def test_a_notification_during_a_fetch_brings_a_second_fetch_and_the_newer_version_last(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(obj_id, 1))
    api.add_faults([{"resource": "Candidates", "id": str(obj_id),
                     "delay_ms": 1500, "count": 1}])
    enricher = start_enricher(service_factory, world, api, window_ms=200)
    wait_assigned(enricher)

    world.notify("candidate", obj_id)
    deadline = time.monotonic() + 10
    while not calls_for(api, "candidate", obj_id) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    # The API records a call when it arrives and answers it 1.5 s later:
    # the first fetch is in flight now, holding version 1.
    assert calls_for(api, "candidate", obj_id)
    api.put("Candidates", obj_id, candidate(obj_id, 2))
    world.notify("candidate", obj_id)

    recs = world.wait_records(
        "candidate",
        lambda r: any(x.json()["Version"] == 2 for x in r), timeout=30)
    assert recs[-1].json()["Version"] == 2
    assert len(calls_for(api, "candidate", obj_id)) == 2
