"""What the enricher publishes: objects with RFC 3339 dates and
CloudEvents headers, tombstones for deletes and vanished objects, nothing
for unchanged content, and the same ce_id for the same input."""

import time

import hbtest
from enricher_support import (RFC3339_MS_UTC, World, calls_for, candidate,
                              metric, start_api, start_enricher,
                              wait_assigned)


def test_a_delete_publishes_a_tombstone_without_a_fetch(service_factory,
                                                        tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    enricher = start_enricher(service_factory, world, api)
    wait_assigned(enricher)

    world.notify("candidate", obj_id, event="CandidateDeleted")

    recs = world.wait_records("candidate", lambda r: len(r) >= 1)
    assert recs[0].key == str(obj_id)
    assert recs[0].value is None
    assert recs[0].headers["ce_type"] == "hrm.CandidateDeleted"
    assert calls_for(api, "candidate", obj_id) == []


def test_a_404_and_an_empty_items_list_both_publish_tombstones(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    gone_404, gone_empty = hbtest.unique_id(), hbtest.unique_id()
    api.delete("Candidates", gone_404, reply404=True)
    enricher = start_enricher(service_factory, world, api)
    wait_assigned(enricher)

    world.notify("candidate", gone_404)
    world.notify("candidate", gone_empty)

    recs = world.wait_records("candidate", lambda r: len(r) >= 2)
    assert {r.key for r in recs} == {str(gone_404), str(gone_empty)}
    assert all(r.value is None for r in recs)
    assert [c["status"] for c in calls_for(api, "candidate", gone_404)] == \
        [404]
    assert [c["status"] for c in
            calls_for(api, "candidate", gone_empty)] == [200]


def test_dates_become_rfc3339_utc_and_every_cloudevents_header_is_right(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(
        obj_id, 1, Created="/Date(1523353751000+0200)/",
        Nested={"When": "/Date(0)/"}))
    enricher = start_enricher(service_factory, world, api)
    wait_assigned(enricher)

    world.notify("candidate", obj_id, event="CandidateRegistered")
    partition, offset = world.notify("candidate", obj_id)
    raw = hbtest.consume_all(world.raw_topic, timeout=10)
    received_at = [r for r in raw if r.offset == offset][0] \
        .headers["received-at"]

    rec = world.wait_records("candidate", lambda r: len(r) >= 1)[0]
    obj = rec.json()
    assert obj["Created"] == "2018-04-10T09:49:11.000Z"
    assert obj["Nested"]["When"] == "1970-01-01T00:00:00.000Z"
    assert rec.key == str(obj_id)
    h = rec.headers
    assert h["ce_specversion"] == "1.0"
    assert h["ce_id"] == f"{world.raw_topic}:{partition}:{offset}"
    assert h["ce_source"] == f"hookbridge/{api.customer}"
    assert h["ce_type"] == "hrm.CandidateUpdated"
    assert h["ce_subject"] == f"candidate/{obj_id}"
    assert h["ce_time"] == received_at
    assert RFC3339_MS_UTC.match(h["ce_time"])
    assert h["content-type"] == "application/json"


def test_an_unchanged_object_is_not_published_again(service_factory,
                                                    tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(obj_id, 1))
    enricher = start_enricher(service_factory, world, api, window_ms=200)
    wait_assigned(enricher)

    world.notify("candidate", obj_id)
    world.wait_records("candidate", lambda r: len(r) >= 1)
    time.sleep(0.5)  # the next notification falls in a new window
    world.notify("candidate", obj_id)
    deadline = time.monotonic() + 15
    while len(calls_for(api, "candidate", obj_id)) < 2:
        assert time.monotonic() < deadline, "no second fetch"
        time.sleep(0.1)
    time.sleep(1.0)

    assert len(world.records("candidate")) == 1
    assert metric(enricher, "republish_suppressed_total") == 1


def test_the_same_input_read_by_a_second_group_gets_the_same_ce_ids(
        service_factory, tmp_path):
    first = World(tmp_path)
    api = start_api(service_factory)
    ids = [hbtest.unique_id() for _ in range(5)]
    for obj_id in ids:
        api.put("Candidates", obj_id, candidate(obj_id, 1))
        first.notify("candidate", obj_id)
        first.notify("candidate", obj_id, event="CandidateStatusUpdated")
    one = start_enricher(service_factory, first, api, name="first")
    recs1 = first.wait_records("candidate", lambda r: len(r) >= 5)
    one.stop()

    second = World(tmp_path, raw_topic=first.raw_topic)
    start_enricher(service_factory, second, api, name="second")
    recs2 = second.wait_records("candidate", lambda r: len(r) >= 5)

    def ids_of(recs):
        return {r.key: r.headers["ce_id"] for r in recs}

    assert ids_of(recs1) == ids_of(recs2)
    assert len(set(ids_of(recs1).values())) == 5
