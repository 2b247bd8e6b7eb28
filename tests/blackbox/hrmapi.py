"""A client for hookbridge-test-api, the project's stand-in HR Manager API.

Tests that exercise the enricher start the test API, put the objects the
enricher should find, optionally make the API misbehave, and read back
what the enricher asked for:

    api = start_test_api(service_factory, HOOKBRIDGE_TEST_API_RATE=5)
    api.put("Candidates", 1234, {"CandidateId": 1234, ...})
    api.add_faults([{"resource": "Candidates", "status": 503, "count": 2}])
    ...start the enricher with **api.enricher_env()...
    assert api.summary()["max_in_any_1s_window"] <= 5

This module needs nothing from hbtest; start_test_api() only uses the
service_factory fixture's start() function.
"""

import socket
import time
import urllib.parse

import requests

PROGRAM = "hookbridge-test-api"
DEFAULT_CUSTOMER = "demo"
DEFAULT_APIKEY = "demo-key"


class HrmApiError(Exception):
    """A control request to the test API was refused."""


class HrmApi:
    """The control routes of a running hookbridge-test-api on `port`.

    `customer` and `apikey` are what the server was started with, so that
    tests can hand them to the enricher; `service` is the running process
    when start_test_api() started it.
    """

    def __init__(self, port, customer=DEFAULT_CUSTOMER,
                 apikey=DEFAULT_APIKEY, service=None, timeout=10):
        self.port = port
        self.customer = customer
        self.apikey = apikey
        self.service = service
        self.timeout = timeout
        self.url = f"http://127.0.0.1:{port}"
        self.http = requests.Session()
        self.http.trust_env = False  # traffic stays on loopback

    # ------------------------------------------------------------ addresses

    def base_url(self, customer=None):
        """The API base for HOOKBRIDGE_API_BASE, ending in /restful.svc/v2/.

        The customer alias is not part of the base (the enricher appends
        HOOKBRIDGE_API_CUSTOMER); `customer` is accepted so a caller can
        name it, and is the same base for every customer.
        """
        del customer
        return f"{self.url}/restful.svc/v2/"

    def object_url(self, resource, param, obj_id, customer=None):
        """The API URL of one object, e.g. .../demo/Candidates/?canid=12."""
        query = urllib.parse.urlencode({param: str(obj_id)})
        return (f"{self.base_url()}{customer or self.customer}/"
                f"{resource}/?{query}")

    def enricher_env(self):
        """Settings that point an enricher at this API."""
        return {"HOOKBRIDGE_API_BASE": self.base_url(),
                "HOOKBRIDGE_API_CUSTOMER": self.customer,
                "HOOKBRIDGE_API_KEY": self.apikey}

    def fetch(self, resource, param, obj_id, apikey=None, customer=None,
              timeout=None):
        """GET one object the way the enricher does; return the Response."""
        headers = {"apikey": self.apikey if apikey is None else apikey}
        return self.http.get(self.object_url(resource, param, obj_id,
                                             customer),
                             headers=headers,
                             timeout=timeout or self.timeout)

    # -------------------------------------------------------------- control

    def _control(self, method, path, body=None, params=None):
        resp = self.http.request(method, f"{self.url}/_control/{path}",
                                 json=body, params=params,
                                 timeout=self.timeout)
        if resp.status_code != 200:
            raise HrmApiError(f"{method} /_control/{path}: "
                              f"{resp.status_code} {resp.text}")
        return resp.json()

    @staticmethod
    def _object_path(resource, obj_id):
        return (f"objects/{urllib.parse.quote(str(resource), safe='')}/"
                f"{urllib.parse.quote(str(obj_id), safe='')}")

    def put(self, resource, obj_id, obj):
        """Store `obj` (a dict, or JSON text sent as is) under the id."""
        path = self._object_path(resource, obj_id)
        if isinstance(obj, (str, bytes)):
            resp = self.http.put(f"{self.url}/_control/{path}", data=obj,
                                 timeout=self.timeout)
            if resp.status_code != 200:
                raise HrmApiError(f"PUT /_control/{path}: "
                                  f"{resp.status_code} {resp.text}")
            return resp.json()
        return self._control("PUT", path, obj)

    def get(self, resource, obj_id):
        """The stored object, or None when nothing (or a gone mark) is."""
        resp = self.http.get(
            f"{self.url}/_control/{self._object_path(resource, obj_id)}",
            timeout=self.timeout)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()

    def delete(self, resource, obj_id, reply404=False):
        """Remove the object: the API then answers an empty Items list, or
        with reply404=True a 404."""
        params = {"reply": "404"} if reply404 else None
        return self._control("DELETE", self._object_path(resource, obj_id),
                             params=params)

    def calls(self, resource=None, id=None, since_ms=None):
        """The recorded API calls, oldest first: dicts with t_ms,
        resource, id, status and apikey_ok."""
        # pylint: disable=redefined-builtin
        params = {k: str(v) for k, v in (("resource", resource), ("id", id),
                                         ("since_ms", since_ms))
                  if v is not None}
        return self._control("GET", "calls", params=params)["calls"]

    def summary(self, since_ms=None):
        """{"total", "by_status", "max_per_second", "max_in_any_1s_window"}
        over the recorded calls (those since `since_ms`)."""
        params = {"since_ms": str(since_ms)} if since_ms is not None else None
        return self._control("GET", "calls/summary", params=params)

    def add_faults(self, rules, seed=None):
        """Append fault rules; `seed` restarts the probability generator.
        Returns how many were added."""
        body = {"rules": list(rules)}
        if seed is not None:
            body["seed"] = seed
        return self._control("POST", "faults", body)["added"]

    def faults(self):
        """The fault rules with how often each applied and what remains."""
        return self._control("GET", "faults")["rules"]

    def clear_faults(self):
        """Remove every fault rule."""
        self._control("DELETE", "faults")

    def set_apikey(self, key):
        """Accept only `key` from now on (a rotation or a revocation)."""
        self._control("PUT", "apikey", {"apikey": key})

    def set_rate(self, rate):
        """Admit `rate` calls per sliding second; 0 removes the limit."""
        self._control("PUT", "rate", {"rate": rate})

    def reset(self):
        """Back to the start: seed objects only, no calls, no faults, the
        configured rate and key."""
        self._control("POST", "reset")


def now_ms():
    """Wall-clock milliseconds, comparable with the t_ms of calls."""
    return int(time.time() * 1000)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url, proc_alive, timeout):
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc_alive():
        try:
            if session.get(url, timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return False


def start_test_api(service_factory, timeout=15, attempts=3, **env):
    """Start hookbridge-test-api on a free loopback port; return an HrmApi.

    `env` holds settings such as HOOKBRIDGE_TEST_API_RATE=5. A port taken
    by someone else between choosing and binding is retried on another.
    """
    customer = env.get("HOOKBRIDGE_TEST_API_CUSTOMER", DEFAULT_CUSTOMER)
    apikey = env.get("HOOKBRIDGE_TEST_API_KEY", DEFAULT_APIKEY)
    for _ in range(attempts):
        port = _free_port()
        svc = service_factory(PROGRAM, port=port, env={
            "HOOKBRIDGE_TEST_API_LISTEN": f"127.0.0.1:{port}", **env})
        if _wait_healthy(f"http://127.0.0.1:{port}/healthz", svc.running,
                         timeout):
            return HrmApi(port, customer=customer, apikey=apikey, service=svc)
        if svc.running():
            break
    raise HrmApiError(f"{PROGRAM} did not become healthy; log "
                      f"{svc.log_path}:\n{svc.log_tail()}")
