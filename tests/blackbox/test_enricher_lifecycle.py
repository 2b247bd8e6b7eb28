"""What an operator sees of the enricher: its topics, its metrics, and how
it stops."""

import re
import time

import hbtest
from enricher_support import (World, calls_for, candidate, committed_offsets,
                              metric, start_api, start_enricher,
                              wait_assigned)


def series(svc, name):
    """labels text -> value of every hookbridge_`name` series."""
    text = hbtest.http().get(svc.url("/metrics"), timeout=5).text
    found = {}
    for m in re.finditer(rf"^hookbridge_{name}(\{{[^}}]*\}})? (\S+)$", text,
                         re.M):
        found[m.group(1) or ""] = float(m.group(2))
    assert found, f"no metric hookbridge_{name} in:\n{text}"
    return found


def wait_metric(svc, name, value, timeout=30):
    deadline = time.monotonic() + timeout
    while metric(svc, name) != value:
        svc.check_running()
        assert time.monotonic() < deadline, \
            f"hookbridge_{name} is {metric(svc, name)}, not {value}"
        time.sleep(0.1)


def test_sigterm_in_a_window_publishes_what_it_holds_commits_and_exits_0(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(obj_id, 7))
    enricher = start_enricher(service_factory, world, api, window_ms=4000)
    wait_assigned(enricher)

    _, offset = world.notify("candidate", obj_id)
    wait_metric(enricher, "events_consumed_total", 1)
    # The key now waits for its window to close; SIGTERM must not lose it.
    assert world.records("candidate", timeout=1, idle=1) == []
    assert enricher.stop(timeout=20) == 0

    recs = world.records("candidate", timeout=5)
    assert [r.json()["Version"] for r in recs] == [7]
    assert committed_offsets(world.group, world.raw_topic) == {0: offset + 1}
    assert "stopped" in enricher.log_text()

    # What was committed is not redone by the next replica of the group.
    again = start_enricher(service_factory, world, api, name="again")
    wait_assigned(again)
    time.sleep(1.5)
    assert len(calls_for(api, "candidate", obj_id)) == 1
    assert len(world.records("candidate", timeout=2)) == 1


def test_metrics_count_what_happened_to_each_notification(service_factory,
                                                          tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    kept, deleted, failing = (hbtest.unique_id() for _ in range(3))
    api.put("Candidates", kept, candidate(kept, 1))
    api.add_faults([{"resource": "Candidates", "id": str(failing),
                     "status": 503}])
    enricher = start_enricher(service_factory, world, api, window_ms=1000,
                              api_max_attempts=2)
    wait_assigned(enricher)

    for _ in range(3):
        world.notify("candidate", kept)
    world.notify("candidate", deleted, event="CandidateDeleted")
    world.notify("candidate", failing)

    wait_metric(enricher, "dlq_records_total", 1)
    wait_metric(enricher, "tombstones_total", 1)
    wait_metric(enricher, "records_published_total", 1)
    assert metric(enricher, "events_consumed_total") == 5
    assert metric(enricher, "events_folded_total") == 2
    fetches = series(enricher, "api_fetches_total")
    assert fetches['{status="200"}'] == 1
    assert fetches['{status="503"}'] == 2
    assert sum(fetches.values()) == 3
    batches = series(enricher, "batch_duration_seconds_count")
    assert sum(batches.values()) >= 2
    # The gauges are sampled once a second.
    wait_metric(enricher, "consumer_lag", 0)
    wait_metric(enricher, "pending_keys", 0)
    assert metric(enricher, "auth_paused") == 0
    assert metric(enricher, "assigned_partitions") == 1


def test_downstream_and_state_topics_are_created_compacted(service_factory,
                                                           tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(obj_id, 1))
    start_enricher(service_factory, world, api)

    world.notify("candidate", obj_id)
    world.wait_records("candidate", lambda r: len(r) >= 1)

    for kind in world.catalog["kinds"]:
        assert hbtest.topic_config(world.topic(kind))["cleanup.policy"] == \
            "compact", kind
    assert hbtest.topic_config(world.state_topic)["cleanup.policy"] == \
        "compact"
