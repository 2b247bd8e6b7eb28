"""The shared key and the API key never leave the programs that hold them.

One full run with distinctive keys and debug logs: good hooks, a hook with
a wrong key (401), hooks that carry the right key but are refused (400),
an unrouted event type, a period in which the API refuses the key (401),
and an object that goes to the DLQ. Afterwards neither key appears in any
record of any topic the run used (key, value or header), in any service's
log, or in any /metrics page.
"""

import secrets
import time

import hbtest
from enricher_support import (World, candidate, last_by_key, start_api,
                              start_enricher, wait_assigned)
from ingest_support import notification, post, start_ingest


def leaks(text, keys):
    return [k for k in keys if k in text]


def record_text(rec):
    parts = [rec.key or "", rec.value or ""]
    parts += [f"{name}={value or ''}" for name, value in rec.header_list]
    return "\n".join(parts)


def test_neither_key_appears_in_any_topic_log_or_metric_after_a_full_run(
        service_factory, tmp_path, brokers):
    shared = "shared-" + secrets.token_hex(12)
    apikey = "apikey-" + secrets.token_hex(12)
    keys = (shared, apikey)
    world = World(tmp_path, raw_partitions=2)
    api = start_api(service_factory, HOOKBRIDGE_TEST_API_KEY=apikey,
                    HOOKBRIDGE_LOG_LEVEL="debug")
    ingest = start_ingest(service_factory, brokers, secret=shared,
                          raw_topic=world.raw_topic,
                          catalog=world.catalog_path)
    enricher = start_enricher(service_factory, world, api, api_max_attempts=2,
                              auth_retry_ms=500)
    wait_assigned(enricher)

    good = [hbtest.unique_id() for _ in range(5)]
    doomed = hbtest.unique_id()
    for obj_id in good + [doomed]:
        api.put("Candidates", obj_id, candidate(obj_id, 1))
    api.add_faults([{"resource": "Candidates", "id": str(doomed),
                     "status": 500}])

    def hook(body, status):
        resp = post(ingest, body)
        assert resp.status_code == status, resp.text
        assert not leaks(resp.text + str(resp.headers), keys)

    for obj_id in good[:3] + [doomed]:
        hook(notification(CandidateId=obj_id, secret=shared), 200)
    hook(notification(CandidateId=hbtest.unique_id(),
                      secret="wrong-" + secrets.token_hex(8)), 401)
    hook(notification(secret=shared), 400)                     # no id
    hook('{"EventType": "CandidateUpdated", "UserData": "%s", '
         '"CandidateId": ' % shared, 400)                      # cut short
    hook(notification(event="SomethingNew", CandidateId=1, secret=shared),
         200)                                                  # unrouted

    # The API refuses the key for a while, then takes it again.
    api.set_apikey("revoked-" + secrets.token_hex(8))
    for obj_id in good[3:]:
        hook(notification(CandidateId=obj_id, secret=shared), 200)
    enricher.wait_http("/readyz", status=503, timeout=20)
    time.sleep(1.5)
    api.set_apikey(apikey)

    def all_good(recs):
        last = last_by_key(recs)
        return all(str(k) in last for k in good)
    world.wait_records("candidate", all_good, timeout=60)
    dlq = hbtest.consume_all(world.dlq_topic, timeout=30, idle=30,
                             stop_when=lambda r: len(r) >= 1)
    assert [r.key for r in dlq] == [f"candidate:{doomed}"]
    assert any(c["status"] == 401 for c in api.calls())

    pages = [hbtest.http().get(svc.url("/metrics"), timeout=5).text
             for svc in (ingest, enricher)]
    for page in pages:
        assert "hookbridge_" in page
        assert leaks(page, keys) == []

    topics = [world.raw_topic, ingest.unrouted_topic, world.dlq_topic,
              world.state_topic, world.topic("candidate")]
    for topic in topics:
        recs = hbtest.consume_all(topic, timeout=15, idle=2)
        assert recs, f"nothing on {topic}: the run did not use it"
        for rec in recs:
            assert leaks(record_text(rec), keys) == [], rec

    assert enricher.stop() == 0
    assert ingest.stop() == 0
    assert api.service.stop() == 0
    for svc in (ingest, enricher, api.service):
        assert leaks(svc.log_text(), keys) == [], svc.log_path
    # The logs did record the failures whose messages could have carried a
    # key, so the greps above looked at something.
    assert "401" in ingest.log_text() or "unauthorized" in \
        ingest.log_text().lower()
