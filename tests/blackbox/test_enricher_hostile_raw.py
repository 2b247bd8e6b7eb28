"""Whatever lands on the raw topic, the enricher dead-letters what it
cannot use and goes on.

The raw topic is written by the ingest, but anyone allowed to write to it
can put anything there. Records with a missing, malformed or oversized
key, an event type that is missing or does not fit the key, a header no
Kafka client would normally send, or an id that tries to add a query
parameter to the fetch must neither stop the enricher nor hold up the
records behind them.
"""

import time

import hbtest
from enricher_support import (World, calls_for, candidate, committed_offsets,
                              start_api, start_enricher, wait_assigned)

GOOD_HEADERS = {"event-type": "CandidateUpdated",
                "received-at": "2026-12-01T10:00:00.000Z"}
BODY = '{"EventType": "CandidateUpdated", "CandidateId": 5}'


def hostile_records():
    """(what, key, value, headers) of records the enricher cannot use."""
    return [
        ("no key", None, BODY, GOOD_HEADERS),
        ("no colon", "candidate5", BODY, GOOD_HEADERS),
        ("empty id", "candidate:", BODY, GOOD_HEADERS),
        ("empty kind", ":5", BODY, GOOD_HEADERS),
        ("NUL in key", b"candidate:\x005", BODY, GOOD_HEADERS),
        ("key of 3000 bytes", "candidate:" + "9" * 3000, BODY, GOOD_HEADERS),
        ("kind not fitting the type", "position:5", BODY, GOOD_HEADERS),
        ("unknown type", "candidate:5", BODY,
         {**GOOD_HEADERS, "event-type": "NoSuchEvent"}),
        ("no type anywhere", "candidate:5", "not json", {}),
        ("header name of 70000 bytes", "candidate:5", BODY,
         {**GOOD_HEADERS, "x" * 70000: "v"}),
    ]


def test_hostile_raw_records_are_dead_lettered_and_the_next_one_enriched(
        service_factory, tmp_path):
    world = World(tmp_path)
    api = start_api(service_factory)
    good = hbtest.unique_id()
    api.put("Candidates", good, candidate(good, 1))
    enricher = start_enricher(service_factory, world, api)
    wait_assigned(enricher)

    hostile = hostile_records()
    for _, key, value, headers in hostile:
        hbtest.produce(world.raw_topic, key, value, headers=headers)
    # An id that would add a parameter to the query if it were not escaped.
    sneaky = "1&canid=2"
    hbtest.produce(world.raw_topic, f"candidate:{sneaky}", BODY,
                   headers=GOOD_HEADERS)
    _, last = hbtest.produce(world.raw_topic, f"candidate:{good}", BODY,
                             headers=GOOD_HEADERS)

    world.wait_records("candidate", lambda r: any(
        x.key == str(good) for x in r), timeout=30)
    dlq = hbtest.consume_all(world.dlq_topic, timeout=30, idle=30,
                             stop_when=lambda r: len(r) >= len(hostile))
    assert len(dlq) == len(hostile), [r.headers.get("error") for r in dlq]
    assert all(r.headers.get("error", "").startswith("invalid raw record")
               for r in dlq), [r.headers.get("error") for r in dlq]
    assert all(r.headers.get("attempts") == "0" for r in dlq)
    # The record with the oversized header keeps its other headers.
    big = [r for r in dlq if "header name" in r.headers["error"]]
    assert len(big) == 1
    assert big[0].headers["event-type"] == "CandidateUpdated"
    assert big[0].value == BODY

    # The id went to the API as one escaped value, not as a parameter.
    calls = calls_for(api, "candidate", sneaky)
    assert len(calls) == 1 and calls[0]["status"] == 200, api.calls()

    deadline = time.monotonic() + 15
    while committed_offsets(world.group, world.raw_topic)[0] != last + 1:
        enricher.check_running()
        assert time.monotonic() < deadline, "offset not committed"
        time.sleep(0.5)
    enricher.check_running()
    assert enricher.stop() == 0
