"""hookbridge-test-api behaves like the HR Manager API the enricher expects.

The enricher's tests trust this server to answer, count, limit and fail
exactly as told; these tests hold it to that. Each test starts its own
server on a free port.
"""

import json
import os
import signal
import threading
import time

import pytest
import requests

from hrmapi import HrmApi, HrmApiError, now_ms, start_test_api

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

CANDIDATE = {
    "CandidateId": 1234,
    "FirstName": "Ingrid",
    "Registered": "/Date(1523353751000+0200)/",
    "LastUpdated": "/Date(1523440151000+0200)/",
}


@pytest.fixture
def api(service_factory):
    return start_test_api(service_factory)


def statuses(api, n, resource="Candidates", param="canid", obj_id=1):
    return [api.fetch(resource, param, obj_id).status_code for _ in range(n)]


def wait_for_fraction(fraction):
    """Sleep until the wall clock is `fraction` into a second."""
    now = time.time()
    wait = (fraction - (now - int(now))) % 1.0
    time.sleep(wait)


def test_serves_a_stored_object_inside_items_with_dates_untouched(api):
    api.put("Candidates", 1234, CANDIDATE)

    resp = api.fetch("Candidates", "canid", 1234)

    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.json() == {"Items": [CANDIDATE], "TotalCount": 1}
    assert "/Date(1523353751000+0200)/" in resp.text


def test_accepts_the_path_without_a_slash_before_the_query(api):
    api.put("Positions", 77, {"PositionId": 77})

    resp = api.http.get(f"{api.base_url()}demo/Positions?posid=77",
                        headers={"apikey": api.apikey}, timeout=5)

    assert resp.status_code == 200
    assert resp.json()["Items"] == [{"PositionId": 77}]


def test_takes_the_id_from_any_query_parameter_url_decoded(api):
    api.put("LayoutTemplates", "a b/c", {"Name": "odd id"})

    resp = api.http.get(f"{api.base_url()}demo/LayoutTemplates/?id=a%20b%2Fc",
                        headers={"apikey": api.apikey}, timeout=5)

    assert resp.json()["Items"] == [{"Name": "odd id"}]
    assert api.calls()[-1]["id"] == "a b/c"


def test_keeps_a_stored_object_byte_for_byte(api):
    text = '{"CandidateId":1,"Big":12345678901234567890,"D":"\\/Date(1)\\/"}'
    api.put("Candidates", 1, text)

    resp = api.fetch("Candidates", "canid", 1)

    assert resp.text == '{"Items":[' + text + '],"TotalCount":1}'


def test_answers_empty_items_for_an_unknown_id(api):
    api.put("Candidates", 1, {"CandidateId": 1})

    resp = api.fetch("Candidates", "canid", 2)

    assert resp.status_code == 200
    assert resp.json() == {"Items": [], "TotalCount": 0}


def test_answers_empty_items_after_a_delete(api):
    api.put("Candidates", 5, {"CandidateId": 5})
    api.delete("Candidates", 5)

    assert api.fetch("Candidates", "canid", 5).json()["Items"] == []
    assert api.get("Candidates", 5) is None


def test_answers_404_for_an_object_marked_gone(api):
    api.put("Candidates", 6, {"CandidateId": 6})
    api.delete("Candidates", 6, reply404=True)

    assert api.fetch("Candidates", "canid", 6).status_code == 404

    api.put("Candidates", 6, {"CandidateId": 6, "Back": True})
    assert api.fetch("Candidates", "canid", 6).json()["Items"][0]["Back"]


def test_rejects_a_wrong_or_missing_apikey_with_401(api):
    api.put("Candidates", 1234, CANDIDATE)

    wrong = api.fetch("Candidates", "canid", 1234, apikey="not-the-key")
    missing = api.http.get(api.object_url("Candidates", "canid", 1234),
                           timeout=5)

    assert wrong.status_code == 401
    assert "denied" in wrong.json()["Message"]
    assert missing.status_code == 401
    assert "Ingrid" not in wrong.text + missing.text


def test_rejects_a_wrong_customer_with_404(api):
    api.put("Candidates", 1234, CANDIDATE)

    resp = api.fetch("Candidates", "canid", 1234, customer="acme")

    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "Message" in resp.json()


def test_rejects_a_request_without_an_id_with_400(api):
    resp = api.http.get(f"{api.base_url()}demo/Candidates/",
                        headers={"apikey": api.apikey}, timeout=5)

    assert resp.status_code == 400


def test_records_every_call_with_its_status(api):
    api.put("Candidates", 1, {"CandidateId": 1})
    api.delete("Positions", 2, reply404=True)
    before = now_ms()

    api.fetch("Candidates", "canid", 1)
    api.fetch("Candidates", "canid", 1, apikey="wrong")
    api.fetch("Positions", "posid", 2)
    api.fetch("Projects", "projectid", 3)

    calls = api.calls()
    assert [(c["resource"], c["id"], c["status"], c["apikey_ok"])
            for c in calls] == [("Candidates", "1", 200, True),
                                ("Candidates", "1", 401, False),
                                ("Positions", "2", 404, True),
                                ("Projects", "3", 200, True)]
    assert all(before - 5 <= c["t_ms"] <= now_ms() + 5 for c in calls)
    assert [c["t_ms"] for c in calls] == sorted(c["t_ms"] for c in calls)
    assert [c["status"] for c in api.calls(resource="Candidates")] == [200,
                                                                      401]
    assert len(api.calls(id="2")) == 1
    assert api.calls(since_ms=now_ms() + 1000) == []


def test_the_summary_counts_calendar_seconds_and_sliding_windows(api):
    # 6 calls late in one second, 9 early in the next: 9 share a calendar
    # second, but all 15 fall within one 1000 ms window.
    wait_for_fraction(0.75)
    start = now_ms()
    statuses(api, 6)
    wait_for_fraction(0.25)
    statuses(api, 9)
    time.sleep(1.6)
    statuses(api, 3)

    summary = api.summary(since_ms=start)

    assert summary["total"] == 18
    assert summary["by_status"] == {"200": 18}
    assert summary["max_per_second"] == 9
    assert summary["max_in_any_1s_window"] == 15


def test_the_summary_max_per_second_is_right_for_a_known_burst(api):
    wait_for_fraction(0.1)
    statuses(api, 20)
    time.sleep(1.2)
    statuses(api, 4, obj_id=2)

    summary = api.summary()

    assert summary["total"] == 24
    assert summary["max_per_second"] == 20
    assert summary["max_in_any_1s_window"] == 20
    assert api.summary(since_ms=api.calls(id="2")[0]["t_ms"])["total"] == 4


def test_a_rate_of_n_answers_429_with_retry_after_beyond_n_in_one_second(
        api):
    api.set_rate(5)

    replies = [api.fetch("Candidates", "canid", 1) for _ in range(8)]

    assert [r.status_code for r in replies] == [200] * 5 + [429] * 3
    assert all(r.headers["Retry-After"] == "1" for r in replies[5:])
    assert api.summary()["by_status"] == {"200": 5, "429": 3}
    time.sleep(1.05)
    assert api.fetch("Candidates", "canid", 1).status_code == 200


def test_the_rate_setting_at_start_limits_calls(service_factory):
    api = start_test_api(service_factory, HOOKBRIDGE_TEST_API_RATE="3")

    assert statuses(api, 5) == [200, 200, 200, 429, 429]
    api.set_rate(0)
    assert statuses(api, 20) == [200] * 20


def test_no_1s_window_holds_more_admitted_calls_than_the_rate(api):
    api.set_rate(10)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        api.fetch("Candidates", "canid", 1)
        time.sleep(0.01)

    admitted = [c["t_ms"] for c in api.calls() if c["status"] == 200]

    assert 20 <= len(admitted) <= 30
    for i, t in enumerate(admitted):
        assert sum(1 for u in admitted[i:] if u - t < 1000) <= 10


def test_a_fault_rule_with_count_applies_exactly_count_times(api):
    api.put("Candidates", 7, {"CandidateId": 7})
    api.add_faults([{"resource": "Candidates", "id": 7, "status": 503,
                     "retry_after": 2, "count": 3}])

    replies = [api.fetch("Candidates", "canid", 7) for _ in range(5)]

    assert [r.status_code for r in replies] == [503, 503, 503, 200, 200]
    assert all(r.headers["Retry-After"] == "2" for r in replies[:3])
    assert "Retry-After" not in replies[3].headers
    assert api.fetch("Candidates", "canid", 8).status_code == 200
    rule, = api.faults()
    assert (rule["applied"], rule["remaining"]) == (3, 0)


def test_the_first_matching_live_rule_wins(api):
    api.add_faults([{"id": "1", "status": 500, "count": 1},
                    {"resource": "Candidates", "status": 429},
                    {"status": 502}])

    assert statuses(api, 2) == [500, 429]
    assert statuses(api, 1, "Positions", "posid") == [502]


def test_probability_rules_are_deterministic_for_a_seed(api):
    rule = {"status": 500, "probability": 0.5}

    api.add_faults([rule], seed=42)
    first = statuses(api, 40)
    api.clear_faults()
    api.add_faults([rule], seed=42)
    again = statuses(api, 40)
    api.clear_faults()
    api.add_faults([rule], seed=43)
    other = statuses(api, 40)

    assert first == again
    assert 8 <= first.count(500) <= 32
    assert other != first


def test_delay_ms_delays_the_reply_without_holding_up_others(api):
    api.put("Candidates", 1, {"CandidateId": 1})
    api.add_faults([{"id": "1", "delay_ms": 600}])
    slow = {}

    def fetch_slow():
        began = time.monotonic()
        slow["resp"] = api.fetch("Candidates", "canid", 1)
        slow["took"] = time.monotonic() - began

    worker = threading.Thread(target=fetch_slow)
    worker.start()
    time.sleep(0.1)
    began = time.monotonic()
    fast = api.fetch("Candidates", "canid", 2)
    fast_took = time.monotonic() - began
    worker.join()

    assert fast.status_code == 200 and fast_took < 0.3
    assert slow["resp"].status_code == 200
    assert slow["resp"].json()["Items"] == [{"CandidateId": 1}]
    assert slow["took"] >= 0.6


def test_a_delay_longer_than_the_client_timeout_makes_a_timeout(api):
    api.add_faults([{"status": 503, "delay_ms": 1500, "count": 1}])

    with pytest.raises(requests.Timeout):
        api.fetch("Candidates", "canid", 1, timeout=0.3)

    assert api.fetch("Candidates", "canid", 1).status_code == 200
    assert api.calls()[0]["status"] == 503


def test_an_apikey_change_takes_effect(api):
    api.set_apikey("rotated-key")

    assert api.fetch("Candidates", "canid", 1).status_code == 401
    assert api.fetch("Candidates", "canid", 1,
                     apikey="rotated-key").status_code == 200


def test_reset_clears_everything(api):
    api.put("Candidates", 1, {"CandidateId": 1})
    api.add_faults([{"status": 500}])
    api.set_rate(1)
    api.set_apikey("other")
    statuses(api, 3)

    api.reset()

    assert api.calls() == []
    assert api.faults() == []
    assert api.get("Candidates", 1) is None
    assert statuses(api, 5) == [200] * 5
    assert api.summary()["total"] == 5


def test_the_seed_file_loads_and_reset_restores_it(service_factory,
                                                   tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"Candidates": {"1234": CANDIDATE},
                                "Positions": {"9": {"PositionId": 9}}}))
    api = start_test_api(service_factory, HOOKBRIDGE_TEST_API_SEED=seed)

    assert api.fetch("Candidates", "canid", 1234).json()["Items"] == [
        CANDIDATE]
    api.delete("Positions", 9)
    api.reset()
    assert api.fetch("Positions", "posid", 9).json()["TotalCount"] == 1


def test_the_demo_seed_loads_with_hr_manager_dates(service_factory):
    path = os.path.join(REPO_ROOT, "docker", "demo-seed.json")
    api = start_test_api(service_factory, HOOKBRIDGE_TEST_API_SEED=path)
    with open(path, encoding="utf-8") as seed_file:
        seed = json.load(seed_file)

    for resource, objects in seed.items():
        param = {"Candidates": "canid", "Positions": "posid"}.get(
            resource, "id")
        for obj_id, obj in objects.items():
            resp = api.fetch(resource, param, obj_id)
            assert resp.json()["Items"] == [obj]
    assert "/Date(" in api.fetch("Candidates", "canid", 1234).text


def test_a_bad_seed_file_stops_the_start_with_a_clear_line(service_factory,
                                                         tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text('{"Candidates": {"1": [1, 2]}}')
    svc = service_factory("hookbridge-test-api", env={
        "HOOKBRIDGE_TEST_API_LISTEN": "127.0.0.1:1",
        "HOOKBRIDGE_TEST_API_SEED": str(seed)})

    assert svc.wait_exit(10) == 2
    assert "HOOKBRIDGE_TEST_API_SEED" in svc.log_text()
    assert "Candidates.1" in svc.log_text()


def test_control_routes_refuse_bad_input_with_a_clear_answer(api):
    url = f"{api.url}/_control"

    not_object = api.http.put(f"{url}/objects/Candidates/1", data="[1]")
    trailing = api.http.put(f"{url}/objects/Candidates/1", data="{} x")
    typo = api.http.post(f"{url}/faults",
                         json={"rules": [{"stauts": 500}]})
    big = api.http.put(f"{url}/objects/Candidates/1",
                       data='{"a":"' + "x" * (2 * 1024 * 1024) + '"}')
    rate = api.http.put(f"{url}/rate", json={"rate": -1})
    unknown = api.http.get(f"{url}/nothing")
    method = api.http.patch(f"{url}/rate", json={"rate": 1})

    assert not_object.status_code == 400
    assert trailing.status_code == 400
    assert typo.status_code == 400 and "stauts" in typo.json()["error"]
    assert big.status_code == 413
    assert rate.status_code == 400
    assert unknown.status_code == 404
    assert method.status_code == 405
    assert api.faults() == [] and api.get("Candidates", 1) is None
    with pytest.raises(HrmApiError):
        api.add_faults([{"resource": "Candidates"}])


def test_the_call_record_keeps_the_newest_calls_when_full(service_factory):
    api = start_test_api(service_factory, HOOKBRIDGE_TEST_API_MAX_CALLS="5")

    for i in range(8):
        api.fetch("Candidates", "canid", i)

    assert [c["id"] for c in api.calls()] == ["3", "4", "5", "6", "7"]
    assert api.summary()["total"] == 5


def test_sigterm_stops_the_server_with_exit_0_even_during_a_delay(api):
    api.add_faults([{"delay_ms": 60000}])
    outcome = []

    def fetch_stalled():
        try:
            outcome.append(api.fetch("Candidates", "canid", 1, timeout=30))
        except requests.RequestException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=fetch_stalled)
    worker.start()
    time.sleep(0.2)

    began = time.monotonic()
    code = api.service.stop(signal.SIGTERM, timeout=10)

    assert code == 0
    assert time.monotonic() - began < 5
    worker.join(5)
    assert outcome, "the stalled call was left hanging"


def test_hrmapi_points_the_enricher_at_this_server(api):
    env = api.enricher_env()

    assert env["HOOKBRIDGE_API_BASE"] == (
        f"http://127.0.0.1:{api.port}/restful.svc/v2/")
    assert env["HOOKBRIDGE_API_CUSTOMER"] == "demo"
    assert HrmApi(api.port).base_url("demo") == env["HOOKBRIDGE_API_BASE"]
