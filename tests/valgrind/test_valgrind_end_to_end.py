"""The three programs run a short end-to-end trace under valgrind's
memcheck without an invalid access or a leak.

The ingest, the enricher and the test HR Manager API each run under
memcheck with full leak checking; a few notifications go through them
(stored, refused with 401 and 400, unrouted, enriched, tombstoned), their
/metrics pages are read, and SIGTERM stops them. Each must exit 0 with
memcheck's summary showing no errors: --error-exitcode turns any invalid
read or write, use of uninitialised memory, or definite or indirect leak
into a failing exit status. hookbridge.supp holds only suppressions for
noise inside the libraries, each with its reason.
"""

import os
import re
import signal

import hbtest
import hrmapi
from enricher_support import World, candidate, last_by_key
from ingest_support import ingest_env, notification, post

ERROR_EXIT = 99
STARTUP_TIMEOUT = 90


def memcheck(start, tmp_path, program, env, port, name):
    """Start `program` from the build directory under memcheck."""
    log = os.path.join(str(tmp_path), f"{name}.memcheck")
    args = ["--tool=memcheck", "--leak-check=full",
            "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect",
            f"--error-exitcode={ERROR_EXIT}", "--num-callers=30",
            f"--suppressions={os.environ['HOOKBRIDGE_VALGRIND_SUPP']}",
            f"--log-file={log}", hbtest.binary(program)]
    svc = start(os.environ["HOOKBRIDGE_VALGRIND"], env=env, args=args,
                port=port, name=name)
    svc.memcheck_log = log
    return svc


def memcheck_summary(svc):
    with open(svc.memcheck_log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    found = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
    return (int(found[-1]) if found else None), text


def test_a_short_run_under_memcheck_has_no_invalid_access_and_no_leak(
        service_factory, tmp_path, brokers):
    world = World(tmp_path, raw_partitions=2)

    api_port = hbtest.free_port()
    api_svc = memcheck(service_factory, tmp_path, "hookbridge-test-api",
                       {"HOOKBRIDGE_TEST_API_LISTEN": f"127.0.0.1:{api_port}"},
                       api_port, "test-api")
    api_svc.wait_http("/healthz", timeout=STARTUP_TIMEOUT)
    api = hrmapi.HrmApi(api_port, service=api_svc, timeout=30)

    ingest_port = hbtest.free_port()
    env = ingest_env(ingest_port, brokers, secret="vg-secret",
                     raw_topic=world.raw_topic, catalog=world.catalog_path,
                     http_threads=8)
    ingest = memcheck(service_factory, tmp_path, "hookbridge-ingest", env,
                      ingest_port, "ingest")
    ingest.wait_http("/readyz", timeout=STARTUP_TIMEOUT)
    ingest.unrouted_topic = env["HOOKBRIDGE_UNROUTED_TOPIC"]

    enricher_port = hbtest.free_port()
    env = world.env(api, metrics_listen=f"127.0.0.1:{enricher_port}",
                    api_max_attempts=2)
    enricher = memcheck(service_factory, tmp_path, "hookbridge-enricher",
                        env, enricher_port, "enricher")
    enricher.wait_http("/readyz", timeout=STARTUP_TIMEOUT)

    ids = [hbtest.unique_id() for _ in range(4)]
    gone = hbtest.unique_id()
    for obj_id in ids:
        api.put("Candidates", obj_id, candidate(obj_id, 1))
    api.delete("Candidates", gone, reply404=True)
    for obj_id in ids + [gone]:
        resp = post(ingest, notification(CandidateId=obj_id,
                                         secret="vg-secret"), timeout=30)
        assert resp.status_code == 200, resp.text
    assert post(ingest, notification(CandidateId=1, secret="wrong"),
                timeout=30).status_code == 401
    assert post(ingest, '{"EventType":', timeout=30).status_code == 400
    assert post(ingest, notification(event="SomethingNew", CandidateId=1,
                                     secret="vg-secret"),
                timeout=30).status_code == 200

    def done(recs):
        last = last_by_key(recs)
        return all(str(k) in last for k in ids + [gone])
    recs = world.wait_records("candidate", done, timeout=120)
    assert last_by_key(recs)[str(gone)].value is None
    for svc in (ingest, enricher):
        assert "hookbridge_" in hbtest.http().get(svc.url("/metrics"),
                                                  timeout=30).text

    results = {}
    for svc in (ingest, enricher, api_svc):
        code = svc.stop(signal.SIGTERM, timeout=120)
        errors, text = memcheck_summary(svc)
        results[svc.name] = (code, errors)
        print(f"\n{svc.name}: exit {code}, memcheck errors {errors}")
        if code != 0 or errors != 0:
            print(text[-6000:])
    assert results == {name: (0, 0) for name in results}
