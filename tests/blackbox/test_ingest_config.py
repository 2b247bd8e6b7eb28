"""hookbridge-ingest refuses a wrong configuration at start with one line
naming the setting, and does what its authentication settings say."""

import subprocess

import hbtest
from ingest_support import (TopicTail, ingest_env, notification, post,
                            start_ingest)


def run_briefly(env=None, args=()):
    """Run the ingest to completion; return (exit code, output lines)."""
    port = hbtest.free_port()
    full = {"PATH": "/usr/bin:/bin",
            **ingest_env(port, "127.0.0.1:1"), **(env or {})}
    proc = subprocess.run([hbtest.binary("hookbridge-ingest"), *args],
                          env=full, capture_output=True, text=True,
                          timeout=20, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).splitlines()


def test_without_a_secret_it_refuses_to_start_naming_hookbridge_secret():
    code, lines = run_briefly()

    assert code == 2
    assert len(lines) == 1
    assert "HOOKBRIDGE_SECRET" in lines[0]


def test_secret_and_secret_file_together_are_refused_naming_both(tmp_path):
    path = tmp_path / "key"
    path.write_text("k\n")

    code, lines = run_briefly({"HOOKBRIDGE_SECRET": "k",
                               "HOOKBRIDGE_SECRET_FILE": str(path)})

    assert code == 2
    assert len(lines) == 1
    assert "HOOKBRIDGE_SECRET " in lines[0] + " "
    assert "HOOKBRIDGE_SECRET_FILE" in lines[0]


def test_a_secret_file_with_three_keys_is_refused(tmp_path):
    path = tmp_path / "keys"
    path.write_text("one\ntwo\nthree\n")

    code, lines = run_briefly({"HOOKBRIDGE_SECRET_FILE": str(path)})

    assert code == 2
    assert "HOOKBRIDGE_SECRET_FILE" in lines[-1]
    assert "one" not in lines[-1] and "three" not in lines[-1]


def test_a_missing_secret_file_is_refused_naming_it(tmp_path):
    code, lines = run_briefly(
        {"HOOKBRIDGE_SECRET_FILE": str(tmp_path / "absent")})

    assert code == 2
    assert "HOOKBRIDGE_SECRET_FILE" in lines[-1]


def test_a_bad_setting_names_itself_in_one_line():
    for env, args, name in [
            ({"HOOKBRIDGE_MAX_BODY": "lots"}, (), "HOOKBRIDGE_MAX_BODY"),
            ({"HOOKBRIDGE_ACK_TIMEOUT_MS": "0"}, (),
             "HOOKBRIDGE_ACK_TIMEOUT_MS"),
            ({}, ("--raw-partitions", "-3"), "HOOKBRIDGE_RAW_PARTITIONS"),
            ({"HOOKBRIDGE_LISTEN": "localhost:99999"}, (),
             "HOOKBRIDGE_LISTEN"),
            ({"HOOKBRIDGE_LOG_LEVEL": "loud"}, (), "HOOKBRIDGE_LOG_LEVEL"),
            ({"HOOKBRIDGE_ALLOW_UNAUTHENTICATED": "maybe"}, (),
             "HOOKBRIDGE_ALLOW_UNAUTHENTICATED")]:
        code, lines = run_briefly({"HOOKBRIDGE_SECRET": "k", **env}, args)
        assert code == 2, (name, lines)
        assert len(lines) == 1, (name, lines)
        assert name in lines[0], (name, lines)


def test_a_bad_catalog_stops_the_start_with_its_message(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text('{"event_type_field": "EventType"}')

    code, lines = run_briefly({"HOOKBRIDGE_SECRET": "k",
                               "HOOKBRIDGE_CATALOG": str(path)})

    assert code == 2
    assert "HOOKBRIDGE_CATALOG" in lines[-1]
    assert str(path) in lines[-1]


def test_help_lists_every_setting_and_version_prints_it():
    code, lines = run_briefly(args=("--help",))
    text = "\n".join(lines)

    assert code == 0
    for name in ("HOOKBRIDGE_KAFKA_BROKERS", "HOOKBRIDGE_LISTEN",
                 "HOOKBRIDGE_SECRET", "HOOKBRIDGE_SECRET_FILE",
                 "HOOKBRIDGE_ALLOW_UNAUTHENTICATED", "HOOKBRIDGE_CATALOG",
                 "HOOKBRIDGE_RAW_TOPIC", "HOOKBRIDGE_UNROUTED_TOPIC",
                 "HOOKBRIDGE_RAW_PARTITIONS", "HOOKBRIDGE_MAX_BODY",
                 "HOOKBRIDGE_ACK_TIMEOUT_MS", "HOOKBRIDGE_HTTP_THREADS",
                 "HOOKBRIDGE_REQUEST_TIMEOUT_MS", "HOOKBRIDGE_LOG_LEVEL",
                 "--kafka-brokers", "--ack-timeout-ms"):
        assert name in text

    code, lines = run_briefly(args=("--version",))
    assert code == 0
    assert lines[0].startswith("hookbridge-ingest ")


def test_unauthenticated_mode_takes_hooks_without_user_data_and_strips_it(
        service_factory, brokers):
    svc = start_ingest(service_factory, brokers,
                       allow_unauthenticated=1)
    tail = TopicTail([svc.raw_topic])
    try:
        plain, keyed = hbtest.unique_id(), hbtest.unique_id()
        assert post(svc, notification(CandidateId=plain)).status_code == 200
        resp = post(svc, notification(CandidateId=keyed, secret="anything"))
        assert resp.status_code == 200

        tail.wait_for(lambda r: r.key == f"candidate:{plain}")
        rec = tail.wait_for(lambda r: r.key == f"candidate:{keyed}")
        assert "UserData" not in rec.json()
    finally:
        tail.close()
    assert svc.stop() == 0
