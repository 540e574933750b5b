"""The feed client against a real HTTP server on 127.0.0.1 (the offline feed with fault injection)."""

from __future__ import annotations

import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hft.data.feed import FeedFaults, FeedServer
from hft.data.http import FeedClient, NotFound, RetryPolicy
from hft.errors import FeedError

HOUR = "/BTCUSD/2023/01/20/12h_ticks.bi5"
FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5)


def test_retries_transient_503_then_returns_the_exact_bytes(dukascopy_dir):
    with FeedServer(dukascopy_dir, faults=FeedFaults(fail_first=3)) as server:
        client = FeedClient(FAST)
        body = client.get(server.url + HOUR, "BTCUSD 2023-02-20T12")
    assert body == (dukascopy_dir / HOUR.lstrip("/")).read_bytes()
    assert client.retries == 3


def test_gives_up_naming_the_hour_url_and_last_status(dukascopy_dir):
    with FeedServer(dukascopy_dir, faults=FeedFaults(error_rate=1.0)) as server:
        client = FeedClient(RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=5))
        with pytest.raises(
            FeedError, match=r"BTCUSD 2023-02-20T12: http://.* still failing after 3 tries: HTTP 503"
        ):
            client.get(server.url + HOUR, "BTCUSD 2023-02-20T12")
    assert client.retries == 2


def test_404_is_not_retried(dukascopy_dir):
    with FeedServer(dukascopy_dir) as server:
        client = FeedClient(FAST)
        with pytest.raises(NotFound, match=r"XAUUSD 2030-01-01T00: .* 404"):
            client.get(server.url + "/XAUUSD/2030/00/01/00h_ticks.bi5", "XAUUSD 2030-01-01T00")
    assert client.retries == 0


def test_connection_refused_and_timeouts_are_retried_then_named(dukascopy_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = FeedClient(FAST)
    with pytest.raises(FeedError, match=r"still failing after 4 tries: ConnectionError"):
        client.get(f"http://127.0.0.1:{port}{HOUR}", "BTCUSD 2023-02-20T12")
    with FeedServer(dukascopy_dir, faults=FeedFaults(latency_ms=400)) as server:
        slow = FeedClient(RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=0.1))
        with pytest.raises(FeedError, match=r"after 2 tries: .*Timeout"):
            slow.get(server.url + HOUR, "BTCUSD 2023-02-20T12")


def test_concurrency_cap_limits_requests_in_flight(dukascopy_dir):
    with FeedServer(dukascopy_dir, faults=FeedFaults(latency_ms=200)) as server:
        client = FeedClient(FAST, max_concurrency=2)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: client.get(server.url + HOUR, "x"), range(8)))
        elapsed = time.perf_counter() - t0
    assert elapsed >= 4 * 0.2 * 0.95  # 8 requests, 2 at a time, 200 ms each: never faster than 0.8 s


def test_backoff_is_exponential_with_full_jitter_and_capped():
    policy = RetryPolicy(backoff_s=0.5, max_backoff_s=3.0)
    rng = random.Random(0)
    for attempt in range(8):
        ceiling = min(3.0, 0.5 * 2**attempt)
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # jitter spans the whole window
    assert policy.delay(0, rng, retry_after="2") == 2.0
    assert policy.delay(0, rng, retry_after="60") == 3.0
