"""Replicas of the enricher share the raw partitions and the API budget,
and a replica that dies is replaced by the others without losing any
object's final state."""

import random
import time

import hbtest
from enricher_support import (World, candidate, last_by_key, metric,
                              start_api, start_enricher, wait_assigned)

RATE = 5


def notify_trace(world, api, ids, count, seed, final=None):
    """Notifications over `ids` with many duplicates, each after bumping
    the object's Version; returns (and updates) id -> final version."""
    rng = random.Random(seed)
    final = {} if final is None else final
    for _ in range(count):
        obj_id = rng.choice(ids)
        final[obj_id] = final.get(obj_id, 0) + 1
        api.put("Candidates", obj_id, candidate(obj_id, final[obj_id]))
        world.notify("candidate", obj_id)
    return final


def final_states_arrived(final):
    def check(recs):
        last = last_by_key(recs)
        return all(str(k) in last and last[str(k)].value is not None and
                   last[str(k)].json()["Version"] == v
                   for k, v in final.items())
    return check


def test_two_replicas_share_the_partitions_and_stay_within_the_budget(
        service_factory, tmp_path):
    world = World(tmp_path, raw_partitions=6)
    api = start_api(service_factory)
    one = start_enricher(service_factory, world, api, name="one",
                         api_rate=RATE)
    two = start_enricher(service_factory, world, api, name="two",
                         api_rate=RATE)
    wait_assigned(one)
    wait_assigned(two)
    # Both hold partitions once the cooperative rebalance settles.
    deadline = time.monotonic() + 30
    while not all("assigned=3 " in s.log_text() for s in (one, two)):
        assert time.monotonic() < deadline, (one.log_tail(), two.log_tail())
        time.sleep(0.2)
    # Operators (and the bench) read the split from the metrics too.
    assert metric(one, "assigned_partitions") == 3
    assert metric(two, "assigned_partitions") == 3

    ids = [hbtest.unique_id() for _ in range(30)]
    final = notify_trace(world, api, ids, 150, seed=11)

    world.wait_records("candidate", final_states_arrived(final), timeout=90)
    assert api.summary()["max_in_any_1s_window"] <= RATE
    assert "fetched key=" in one.log_text()
    assert "fetched key=" in two.log_text()


def test_when_one_replica_is_killed_the_other_takes_over_every_object(
        service_factory, tmp_path):
    world = World(tmp_path, raw_partitions=6)
    api = start_api(service_factory)
    one = start_enricher(service_factory, world, api, name="one",
                         api_rate=20)
    two = start_enricher(service_factory, world, api, name="two",
                         api_rate=20)
    wait_assigned(one)
    wait_assigned(two)
    ids = [hbtest.unique_id() for _ in range(40)]

    final = notify_trace(world, api, ids, 100, seed=12)
    two.kill()
    notify_trace(world, api, ids, 100, seed=13, final=final)

    world.wait_records("candidate", final_states_arrived(final), timeout=90)
    assert "assigned=6 " in one.log_text()
