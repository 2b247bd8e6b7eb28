"""A webhook posted to hookbridge-ingest comes out of hookbridge-enricher
as the full object on its kind's topic."""

import hbtest
import ingest_support
from enricher_support import (World, candidate, start_api, start_enricher,
                              wait_assigned)


def test_a_posted_webhook_becomes_an_enriched_record(service_factory,
                                                     tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    obj_id = hbtest.unique_id()
    api.put("Candidates", obj_id, candidate(obj_id, 3, Email="ada@x.test"))
    ingest = ingest_support.start_ingest(
        service_factory, hbtest.brokers(), secret="shared-key",
        raw_topic=world.raw_topic, catalog=world.catalog_path)
    enricher = start_enricher(service_factory, world, api)
    wait_assigned(enricher)

    resp = ingest_support.post(ingest, ingest_support.notification(
        CandidateId=obj_id, secret="shared-key"))
    assert resp.status_code == 200, resp.text

    rec = world.wait_records("candidate", lambda r: len(r) >= 1)[0]
    assert rec.key == str(obj_id)
    assert rec.json() == candidate(obj_id, 3, Email="ada@x.test")
    assert rec.headers["ce_type"] == "hrm.CandidateUpdated"
    assert "shared-key" not in (rec.value or "")
