"""POST /hooks/hrm answers every row of the contract table truthfully.

One ingest and one reader of its topics serve the whole module; every
test uses ids of its own, so each checks exactly what it sent.
"""

import datetime
import http.client
import json
import secrets
import time

import pytest

import hbtest
from ingest_support import (HOOK, RFC3339_MS, TopicTail,
                            check_nothing_published, notification, post,
                            start_ingest)

SECRET = "hook-key-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    log_dir = str(tmp_path_factory.mktemp("ingest"))

    def start(program, env, port):
        return hbtest.Service(hbtest.binary(program), env=env, port=port,
                              log_dir=log_dir).start()

    svc = start_ingest(start, hbtest.brokers(), secret=SECRET,
                       max_body=4096)
    yield svc
    code = svc.stop()
    assert code == 0, svc.log_tail()


@pytest.fixture(scope="module")
def tail(ingest):
    reader = TopicTail([ingest.raw_topic, ingest.unrouted_topic])
    yield reader
    reader.close()


def expect_error(resp, status, text):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert text in resp.json()["error"]


# ---- 200: stored on the raw topic --------------------------------------


def test_a_known_event_is_stored_with_key_headers_and_without_user_data(
        ingest, tail):
    ident = hbtest.unique_id()
    body = notification(CandidateId=ident, ProjectId=77, secret=SECRET)
    before = datetime.datetime.now(datetime.timezone.utc)

    resp = post(ingest, body)

    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "stored"
    assert resp.json()["key"] == f"candidate:{ident}"
    rec = tail.wait_for(lambda r: r.key == f"candidate:{ident}")
    assert rec.topic == ingest.raw_topic
    expected = dict(body)
    del expected["UserData"]
    assert rec.json() == expected
    assert SECRET not in rec.value
    assert rec.headers["event-type"] == "CandidateUpdated"
    assert RFC3339_MS.match(rec.headers["received-at"])
    received = datetime.datetime.strptime(
        rec.headers["received-at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
    assert abs((received - before).total_seconds()) < 30
    assert set(rec.headers) == {"event-type", "received-at"}


def test_a_string_id_becomes_the_key_as_it_is(ingest, tail):
    ident = f"P-{hbtest.unique_id()}"
    resp = post(ingest, notification("PositionPublished", PositionId=ident,
                                     secret=SECRET))

    assert resp.status_code == 200, resp.text
    rec = tail.wait_for(lambda r: r.key == f"position:{ident}")
    assert rec.headers["event-type"] == "PositionPublished"
    assert rec.json()["PositionId"] == ident


def test_other_fields_reach_kafka_byte_for_byte(ingest, tail):
    ident = hbtest.unique_id()
    raw = ('{"EventType": "CandidateHired", "CandidateId": %d, '
           '"UserData": "%s", "Big": 123456789012345678901234567890, '
           '"Name": "\u00c5sa \\u00e9", "Nested": {"a": [1, {"b": null}]}}'
           % (ident, SECRET))

    resp = post(ingest, raw.encode())

    assert resp.status_code == 200, resp.text
    rec = tail.wait_for(lambda r: r.key == f"candidate:{ident}")
    # Each member keeps its bytes; only the white space between members
    # goes with the removed one.
    assert rec.value == ('{"EventType": "CandidateHired","CandidateId": %d,'
                         '"Big": 123456789012345678901234567890,'
                         '"Name": "\u00c5sa \\u00e9",'
                         '"Nested": {"a": [1, {"b": null}]}}' % ident)


def test_json_media_types_with_parameters_are_accepted(ingest, tail):
    for ctype in ("application/json; charset=utf-8", "Application/JSON",
                  "application/cloudevents+json"):
        ident = hbtest.unique_id()
        resp = post(ingest, notification(CandidateId=ident, secret=SECRET),
                    headers={"Content-Type": ctype})
        assert resp.status_code == 200, (ctype, resp.text)
        tail.wait_for(lambda r, i=ident: r.key == f"candidate:{i}")


# ---- 200: unrouted ------------------------------------------------------


def test_an_unknown_event_type_goes_to_the_unrouted_topic(ingest, tail):
    event = f"InvoicePaid{hbtest.unique_id()}"
    body = notification(event, InvoiceId=5, secret=SECRET)

    resp = post(ingest, body)

    assert resp.status_code == 200, resp.text
    rec = tail.wait_for(lambda r: r.key == event)
    assert rec.topic == ingest.unrouted_topic
    assert rec.headers["event-type"] == event
    assert RFC3339_MS.match(rec.headers["received-at"])
    assert "UserData" not in rec.json()
    assert rec.json()["InvoiceId"] == 5


# ---- 401 ----------------------------------------------------------------


def test_a_wrong_user_data_is_401_and_nothing_is_published(ingest, tail):
    ident = hbtest.unique_id()
    resp = post(ingest, notification(CandidateId=ident,
                                     secret=SECRET + "x"))

    expect_error(resp, 401, "UserData is wrong")
    check_nothing_published(ingest, tail, SECRET, ident)


def test_a_missing_user_data_is_401_and_nothing_is_published(ingest, tail):
    ident = hbtest.unique_id()
    resp = post(ingest, notification(CandidateId=ident))

    expect_error(resp, 401, "UserData is missing")
    check_nothing_published(ingest, tail, SECRET, ident)


# ---- 400 ----------------------------------------------------------------


@pytest.mark.parametrize("template, error", [
    ('{"EventType": "CandidateUpdated", "CandidateId": %d', "not valid JSON"),
    ('[{"EventType": "CandidateUpdated", "CandidateId": %d}]',
     "not a JSON object"),
    ('{"EventType": "CandidateUpdated", "Other": %d, "UserData": "$S"}',
     "CandidateId is missing"),
    ('{"EventType": "CandidateUpdated", "CandidateId": [%d], '
     '"UserData": "$S"}', "CandidateId must be"),
    ('{"EventType": "CandidateUpdated", "CandidateId": %d.5, '
     '"UserData": "$S"}', "CandidateId must be"),
    ('{"EventType": "CandidateUpdated", "CandidateId": "", "X": %d, '
     '"UserData": "$S"}', "CandidateId must be"),
    ('{"EventType": 12, "CandidateId": %d, "UserData": "$S"}',
     "EventType is not a string"),
    ('{"CandidateId": %d, "UserData": "$S"}', "EventType is missing"),
], ids=["not-json", "array", "id-missing", "id-array", "id-fraction",
        "id-empty", "type-number", "type-missing"])
def test_a_malformed_notification_is_400_and_nothing_is_published(
        ingest, tail, template, error):
    ident = hbtest.unique_id()
    body = (template % ident).replace("$S", SECRET)

    expect_error(post(ingest, body), 400, error)
    check_nothing_published(ingest, tail, SECRET, ident)


# ---- 413 ----------------------------------------------------------------


def test_a_body_over_the_limit_is_413_and_nothing_is_published(ingest, tail):
    ident = hbtest.unique_id()
    body = notification(CandidateId=ident, secret=SECRET, Pad="x" * 5000)

    expect_error(post(ingest, body), 413, "larger than 4096 bytes")
    check_nothing_published(ingest, tail, SECRET, ident)


def test_a_chunked_body_over_the_limit_is_413(ingest, tail):
    ident = hbtest.unique_id()
    text = json.dumps(notification(CandidateId=ident, secret=SECRET,
                                   Pad="y" * 6000)).encode()
    chunks = (text[i:i + 1000] for i in range(0, len(text), 1000))

    resp = hbtest.http().post(ingest.url(HOOK), data=chunks, timeout=15,
                              headers={"Content-Type": "application/json"})

    expect_error(resp, 413, "larger than")
    check_nothing_published(ingest, tail, SECRET, ident)


def test_a_sender_still_sending_past_the_limit_reads_its_413(ingest, tail):
    # The answer is sent when the limit is passed, while the sender still
    # has chunks to go. Closing then, with its bytes unread, would reset
    # the connection under the sender before it reads the 413.
    ident = hbtest.unique_id()
    text = json.dumps(notification(CandidateId=ident, secret=SECRET,
                                   Pad="z" * 12000)).encode()

    def slow_chunks():
        for i in range(0, len(text), 1000):
            time.sleep(0.02)
            yield text[i:i + 1000]

    resp = hbtest.http().post(ingest.url(HOOK), data=slow_chunks(),
                              timeout=15,
                              headers={"Content-Type": "application/json"})
    expect_error(resp, 413, "larger than")
    check_nothing_published(ingest, tail, SECRET, ident)


def test_a_chunked_body_under_the_limit_is_stored(ingest, tail):
    ident = hbtest.unique_id()
    text = json.dumps(notification(CandidateId=ident, secret=SECRET)).encode()
    chunks = (text[i:i + 10] for i in range(0, len(text), 10))

    resp = hbtest.http().post(ingest.url(HOOK), data=chunks, timeout=15,
                              headers={"Content-Type": "application/json"})

    assert resp.status_code == 200, resp.text
    tail.wait_for(lambda r: r.key == f"candidate:{ident}")


# ---- 415 ----------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["text/plain",
                                   "application/x-www-form-urlencoded",
                                   "application/jsonp"])
def test_a_content_type_that_is_not_json_is_415(ingest, tail, ctype):
    ident = hbtest.unique_id()
    resp = post(ingest, notification(CandidateId=ident, secret=SECRET),
                headers={"Content-Type": ctype})

    expect_error(resp, 415, "Content-Type")
    check_nothing_published(ingest, tail, SECRET, ident)


def test_a_request_without_content_type_is_judged_by_its_body(ingest, tail):
    ident = hbtest.unique_id()
    conn = http.client.HTTPConnection("127.0.0.1", ingest.port, timeout=15)
    body = json.dumps(notification(CandidateId=ident, secret=SECRET))
    conn.putrequest("POST", HOOK)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body.encode())

    assert conn.getresponse().status == 200
    conn.close()
    tail.wait_for(lambda r: r.key == f"candidate:{ident}")


# ---- 405 ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_another_method_on_the_hook_is_405_allowing_post(ingest, tail,
                                                         method):
    ident = hbtest.unique_id()
    body = json.dumps(notification(CandidateId=ident, secret=SECRET))

    resp = hbtest.http().request(method, ingest.url(HOOK), data=body,
                                 timeout=15)

    expect_error(resp, 405, "POST")
    assert resp.headers["Allow"] == "POST"
    check_nothing_published(ingest, tail, SECRET, ident)


# ---- connections ----------------------------------------------------------


def test_several_requests_share_one_kept_alive_connection(ingest, tail):
    conn = http.client.HTTPConnection("127.0.0.1", ingest.port, timeout=15)
    ports = set()
    idents = [hbtest.unique_id() for _ in range(5)]
    for n, ident in enumerate(idents):
        # A rejected request keeps the connection too.
        secret = SECRET if n != 2 else "wrong"
        body = json.dumps(notification(CandidateId=ident, secret=secret))
        conn.request("POST", HOOK, body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == (401 if n == 2 else 200)
        ports.add(conn.sock.getsockname()[1])
    conn.close()

    assert len(ports) == 1
    for n, ident in enumerate(idents):
        if n != 2:
            tail.wait_for(lambda r, i=ident: r.key == f"candidate:{i}")


def test_requests_session_reuses_its_connection(ingest):
    session = hbtest.http().__class__()
    session.trust_env = False
    for _ in range(3):
        resp = post(ingest, notification(CandidateId=hbtest.unique_id(),
                                         secret=SECRET), session=session)
        assert resp.status_code == 200
    adapter = session.get_adapter(ingest.url(HOOK))
    pool = next(iter(adapter.poolmanager.pools._container.values()))
    assert pool.num_connections == 1
    session.close()


def test_unknown_paths_are_404_and_health_endpoints_answer(ingest):
    assert hbtest.http().post(ingest.url("/hooks/hrm/x"), data="{}",
                              timeout=5).status_code == 404
    assert hbtest.http().get(ingest.url("/healthz"), timeout=5).status_code \
        == 200
    assert hbtest.http().get(ingest.url("/readyz"), timeout=5).status_code \
        == 200
