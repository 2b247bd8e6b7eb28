"""Under a mix of API faults every object ends current or dead-lettered.

The test API answers a fifth of the calls with a 5xx, throws bursts of
429 with Retry-After, answers some calls slowly and some too slowly for
the enricher's time limit, and refuses the API key for a few seconds in
the middle. One object fails on every call. Afterwards each object's last
downstream record is its final version, or a DLQ record with an `error`
header names it; the enricher never made more calls in a second than its
budget, and it left the refused-key pause by itself.
"""

import random
import time

import hbtest
import hrmapi
from enricher_support import (World, candidate, last_by_key, metric,
                              start_api, start_enricher, wait_assigned)

RATE = 20
OBJECTS = 400
NOTIFICATIONS = 1800
PHASES = 6
AUTH_PAUSE_PHASE = 3
TIMEOUT_MS = 1500

# First match wins, so the always-failing object comes first. The 5xx
# rules together fail 20% of the remaining calls: 10% first, then 1/9 of
# the 90% left.
BASE_FAULTS = [
    {"status": 500, "probability": 0.10},
    {"status": 502, "probability": 1 / 9},
    {"delay_ms": 600, "probability": 0.05},             # slow but in time
    {"delay_ms": TIMEOUT_MS + 1500, "probability": 0.03},  # a timeout
]


def test_a_fault_mix_ends_each_object_current_or_in_the_dlq_within_budget(
        service_factory, tmp_path):
    world = World(tmp_path, raw_partitions=3)
    api = start_api(service_factory)
    doomed = hbtest.unique_id()
    api.add_faults([{"resource": "Candidates", "id": str(doomed),
                     "status": 500}] + BASE_FAULTS, seed=3)
    enricher = start_enricher(service_factory, world, api, api_rate=RATE,
                              window_ms=300, api_timeout_ms=TIMEOUT_MS,
                              api_backoff_ms=100, api_max_attempts=5,
                              auth_retry_ms=1000)
    wait_assigned(enricher)

    ids = [hbtest.unique_id() for _ in range(OBJECTS)] + [doomed]
    rng = random.Random(17)
    final = {}
    started_ms = hrmapi.now_ms()
    paused_seen = False
    for phase in range(PHASES):
        for _ in range(NOTIFICATIONS // PHASES):
            obj_id = rng.choice(ids)
            final[obj_id] = final.get(obj_id, 0) + 1
            api.put("Candidates", obj_id, candidate(obj_id, final[obj_id]))
            world.notify("candidate", obj_id)
        # A burst of 429s, each with Retry-After, ahead of the other rules.
        api.add_faults([{"status": 429, "retry_after": 1, "count": 5}])
        if phase == AUTH_PAUSE_PHASE:
            api.set_apikey("revoked-" + api.apikey)
            enricher.wait_http("/readyz", status=503, timeout=20)
            paused_seen = metric(enricher, "auth_paused") == 1
            time.sleep(4)
            api.set_apikey(api.apikey)
        time.sleep(2)
    final[doomed] = final.get(doomed, 0)

    def settled(dlq_keys):
        def check(recs):
            last = last_by_key(recs)
            return all(
                f"candidate:{k}" in dlq_keys or
                (str(k) in last and last[str(k)].value is not None and
                 last[str(k)].json()["Version"] == v)
                for k, v in final.items() if k != doomed)
        return check

    deadline = time.monotonic() + 150
    while True:
        dlq = hbtest.consume_all(world.dlq_topic, timeout=5, idle=1)
        dlq_keys = {r.key for r in dlq}
        recs = hbtest.consume_all(world.topic("candidate"), timeout=10,
                                  idle=1)
        if settled(dlq_keys)(recs) and f"candidate:{doomed}" in dlq_keys:
            break
        assert time.monotonic() < deadline, (
            f"not settled: dlq={sorted(dlq_keys)}\n{enricher.log_tail()}")
        time.sleep(3)

    summary = api.summary(since_ms=started_ms)
    by_status = summary["by_status"]
    fivexx = by_status.get("500", 0) + by_status.get("502", 0)
    timeouts = fetches_without_reply(enricher)
    current = sum(1 for k, v in final.items()
                  if k != doomed and f"candidate:{k}" not in dlq_keys)
    print(f"\nAPI fault mix: objects={len(final)} notifications="
          f"{NOTIFICATIONS} api_calls={summary['total']} "
          f"by_status={by_status} timeouts={timeouts} "
          f"max_in_any_1s_window={summary['max_in_any_1s_window']} "
          f"current={current} dlq_records={len(dlq)} "
          f"dlq_objects={len(dlq_keys)}")
    # The faults really happened, in about the proportions asked for.
    assert 0.1 < fivexx / summary["total"] < 0.3, by_status
    assert by_status.get("429", 0) >= 10 and by_status.get("401", 0) >= 1
    assert timeouts >= 1
    assert all(r.headers.get("error") for r in dlq), dlq
    assert all(r.headers.get("attempts", "").isdigit() for r in dlq), dlq
    assert summary["max_in_any_1s_window"] <= RATE
    assert paused_seen
    assert metric(enricher, "auth_pauses_total") >= 1
    # The refused key put nothing in the DLQ: every DLQ record names a
    # failure of the object itself, not a refusal.
    assert not any("401" in r.headers["error"] for r in dlq), dlq
    enricher.wait_http("/readyz", status=200, timeout=30)
    assert metric(enricher, "auth_paused") == 0
    assert enricher.stop() == 0


def fetches_without_reply(svc):
    """API calls the enricher gave up on without an answer (timeouts)."""
    text = hbtest.http().get(svc.url("/metrics"), timeout=5).text
    for line in text.splitlines():
        if line.startswith('hookbridge_api_fetches_total{status="0"} '):
            return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError(f"no count of calls without a reply in:\n{text}")
