"""Stalled and half-sent requests must not keep real senders out.

Each connection civetweb serves holds one of the ingest's worker threads
(HOOKBRIDGE_HTTP_THREADS) until the request is complete or
HOOKBRIDGE_REQUEST_TIMEOUT_MS passes without a byte; connections beyond
the workers wait in the listen queue. With the default thread count, a
hundred stalled clients still leave workers free for HR Manager.
"""

import socket
import time

import pytest

import hbtest
from ingest_support import HOOK, notification, post, start_ingest

SECRET = "slow-clients-shared-key"
STALLED = 100
REQUEST_TIMEOUT_MS = 4000


def half_request(index, port):
    """Bytes of a request that never completes: headers without their end,
    or a body shorter than its Content-Length."""
    if index % 2 == 0:
        return (f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/json\r\n").encode()
    body = b'{"EventType":"CandidateUpdated","Candi'
    return (f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body) + 100}\r\n\r\n").encode() + body


def open_stalled(port):
    socks = []
    for i in range(STALLED):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(half_request(i, port))
        socks.append(sock)
    return socks


def closed_by_server(sock, deadline):
    """True once the server has closed `sock` (EOF or reset)."""
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


@pytest.fixture
def ingest(service_factory, brokers):
    return start_ingest(service_factory, brokers, secret=SECRET,
                        request_timeout_ms=REQUEST_TIMEOUT_MS)


def test_real_sender_gets_200_within_2s_while_100_clients_stall(ingest):
    socks = open_stalled(ingest.port)
    try:
        time.sleep(0.5)  # let the server take every stalled connection
        started = time.monotonic()
        resp = post(ingest, notification(CandidateId=hbtest.unique_id(),
                                         secret=SECRET), timeout=10)
        elapsed = time.monotonic() - started
        assert resp.status_code == 200, resp.text
        assert elapsed < 2.0, f"200 took {elapsed:.2f}s"
        ingest.check_running()
    finally:
        for sock in socks:
            sock.close()


def test_stalled_connections_are_closed_after_the_request_timeout(ingest):
    socks = open_stalled(ingest.port)
    opened = time.monotonic()
    try:
        # None may be dropped long before the timeout: a slow but honest
        # sender must get its chance.
        early = opened + REQUEST_TIMEOUT_MS / 1000 / 2
        assert not closed_by_server(socks[0], early)

        deadline = opened + REQUEST_TIMEOUT_MS / 1000 + 5
        still_open = [i for i, sock in enumerate(socks)
                      if not closed_by_server(sock, deadline)]
        assert still_open == [], (f"{len(still_open)} stalled connections "
                                  f"still open after {deadline - opened:.0f}s")

        resp = post(ingest, notification(CandidateId=hbtest.unique_id(),
                                         secret=SECRET))
        assert resp.status_code == 200
    finally:
        for sock in socks:
            sock.close()
    assert ingest.stop() == 0
