"""hookbridge-enricher refuses to start without what it needs, naming
the setting, and documents every setting in --help."""

import subprocess

import hbtest

SETTINGS = [
    "HOOKBRIDGE_KAFKA_BROKERS", "HOOKBRIDGE_CATALOG", "HOOKBRIDGE_RAW_TOPIC",
    "HOOKBRIDGE_API_BASE", "HOOKBRIDGE_API_CUSTOMER", "HOOKBRIDGE_API_KEY",
    "HOOKBRIDGE_API_KEY_FILE", "HOOKBRIDGE_API_RATE", "HOOKBRIDGE_WINDOW_MS",
    "HOOKBRIDGE_GROUP_ID", "HOOKBRIDGE_METRICS_LISTEN",
    "HOOKBRIDGE_DLQ_TOPIC", "HOOKBRIDGE_STATE_TOPIC",
    "HOOKBRIDGE_TOPIC_PARTITIONS", "HOOKBRIDGE_EXACTLY_ONCE",
    "HOOKBRIDGE_API_CONCURRENCY", "HOOKBRIDGE_API_TIMEOUT_MS",
    "HOOKBRIDGE_API_MAX_ATTEMPTS", "HOOKBRIDGE_API_BACKOFF_MS",
    "HOOKBRIDGE_AUTH_RETRY_MS", "HOOKBRIDGE_MAX_PENDING_KEYS",
    "HOOKBRIDGE_LOG_LEVEL",
]


def run(args=(), **env):
    return subprocess.run([hbtest.binary("hookbridge-enricher"), *args],
                          env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30,
                          check=False)


def test_a_missing_customer_stops_the_start_naming_it():
    proc = run(HOOKBRIDGE_API_KEY="k")
    assert proc.returncode == 2
    assert "HOOKBRIDGE_API_CUSTOMER" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_missing_api_key_stops_the_start_naming_it():
    proc = run(HOOKBRIDGE_API_CUSTOMER="acme")
    assert proc.returncode == 2
    assert "HOOKBRIDGE_API_KEY" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_bad_number_stops_the_start_naming_the_setting():
    proc = run(HOOKBRIDGE_API_CUSTOMER="acme", HOOKBRIDGE_API_KEY="k",
               HOOKBRIDGE_API_RATE="fast")
    assert proc.returncode == 2
    assert "HOOKBRIDGE_API_RATE" in proc.stderr


def test_the_api_rate_goes_up_to_a_million_calls_per_second():
    # An API without a real limit (a load test, an internal mirror) must
    # not be throttled by the setting's own ceiling.
    proc = run(HOOKBRIDGE_API_CUSTOMER="acme", HOOKBRIDGE_API_KEY="k",
               HOOKBRIDGE_API_RATE="1000001")
    assert proc.returncode == 2
    assert "from 1 to 1000000" in proc.stderr, proc.stderr


def test_the_api_key_is_never_echoed():
    proc = run(["--help"], HOOKBRIDGE_API_KEY="very-secret-key-123")
    assert "very-secret-key-123" not in proc.stdout + proc.stderr


def test_help_lists_every_setting_with_its_flag():
    proc = run(["--help"])
    assert proc.returncode == 0
    for name in SETTINGS:
        assert name in proc.stdout, name
        flag = "--" + name[len("HOOKBRIDGE_"):].lower().replace("_", "-")
        assert flag in proc.stdout, flag


def test_version_prints_the_version():
    proc = run(["--version"])
    assert proc.returncode == 0
    assert proc.stdout.startswith("hookbridge-enricher ")
