"""In the exactly-once mode a read_committed consumer sees every
(object, version) once, even when the enricher is killed mid-trace."""

import collections
import random

import hbtest
from enricher_support import (World, candidate, last_by_key, start_api,
                              start_enricher, wait_assigned)


def test_a_kill_mid_trace_and_a_restart_publish_each_version_once(
        service_factory, tmp_path):
    world = World(tmp_path, raw_partitions=3)
    api = start_api(service_factory)
    settings = {"exactly_once": 1, "api_rate": 50, "window_ms": 200}
    first = start_enricher(service_factory, world, api, name="first",
                           **settings)
    wait_assigned(first)
    ids = [hbtest.unique_id() for _ in range(20)]
    rng = random.Random(5)
    final = {}

    def notify(count):
        for _ in range(count):
            obj_id = rng.choice(ids)
            final[obj_id] = final.get(obj_id, 0) + 1
            api.put("Candidates", obj_id, candidate(obj_id, final[obj_id]))
            world.notify("candidate", obj_id)

    notify(100)
    world.wait_records("candidate", lambda r: len(r) >= 5, timeout=30)
    first.kill()
    notify(100)
    start_enricher(service_factory, world, api, name="second", **settings)

    def done(recs):
        last = last_by_key(recs)
        return all(str(k) in last and last[str(k)].json()["Version"] == v
                   for k, v in final.items())
    recs = hbtest.consume_all(world.topic("candidate"), timeout=90, idle=90,
                              isolation="read_committed", stop_when=done)
    assert done(recs), recs
    seen = collections.Counter((r.key, r.json()["Version"]) for r in recs)
    assert [kv for kv, n in seen.items() if n > 1] == []
