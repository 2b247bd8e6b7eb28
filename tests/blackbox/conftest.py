"""pytest fixtures shared by hookbridge's black-box tests.

A missing test broker fails the whole run instead of skipping it: a suite
that silently skips would hide breakage.
"""

import os

import pytest

import hbtest


def pytest_configure(config):
    if not os.environ.get("HOOKBRIDGE_TEST_BROKERS"):
        raise pytest.UsageError(
            "HOOKBRIDGE_TEST_BROKERS is not set: run the suite with "
            "tests/run.sh, or start a broker with "
            "'tests/harness/kafka.sh start DIR' and export its address")


@pytest.fixture(scope="session", autouse=True)
def broker_reachable():
    """Fail every test at once, clearly, when the broker does not answer."""
    try:
        hbtest.admin().list_topics(timeout=15)
    except Exception as exc:  # any failure here means the same thing
        pytest.fail(f"test broker {hbtest.brokers()} does not answer: {exc}",
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def service_factory(request, tmp_path):
    """Return start(program, env=None, args=(), port=None, name=None).

    start() launches a Service (program is a name from the build directory
    such as "hookbridge-ingest", or a path) and returns it running. Every
    service is killed when the test ends, pass or fail; after a failure
    the tail of each service's log is printed with the test's output. A
    service whose log holds a sanitizer report fails the test, even one
    the test never stopped itself.
    """
    services = []

    def start(program, env=None, args=(), port=None, name=None):
        path = program if os.sep in program else hbtest.binary(program)
        svc = hbtest.Service(path, env=env, args=args, port=port,
                             log_dir=str(tmp_path), name=name)
        services.append(svc)
        return svc.start()

    yield start

    failed = any(getattr(getattr(request.node, f"report_{when}", None),
                         "failed", False) for when in ("setup", "call"))
    reports = []
    for svc in services:
        code = svc.kill()
        if failed:
            print(f"\n--- {svc.name} (pid {svc.pid}, exit {code}), "
                  f"log {svc.log_path}:\n{svc.log_tail(60)}")
        report = svc.sanitizer_report()
        if report is not None:
            reports.append(f"--- {svc.name}, log {svc.log_path}:\n{report}")
    if reports:
        pytest.fail("sanitizer report from a service under test:\n"
                    + "\n".join(reports), pytrace=False)


@pytest.fixture
def brokers():
    """The bootstrap address of the test broker."""
    return hbtest.brokers()
