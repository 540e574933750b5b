"""Fetching hour bodies politely: one pooled session, timeouts, capped concurrency, retries with
exponential backoff and full jitter on what is worth retrying (connection errors, timeouts, 429, 5xx).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from hft.errors import FeedError

__all__ = ["RetryPolicy", "FeedClient", "NotFound", "DeadlineExceeded"]

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 524})


class NotFound(FeedError):
    """The feed answered 404: it has no such hour (or the symbol/URL is wrong)."""


class DeadlineExceeded(FeedError):
    """The hour's (or day's) time budget ran out before the feed answered."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # total tries per URL
    backoff_s: float = 0.25  # first delay ceiling; doubles each retry
    max_backoff_s: float = 8.0
    timeout_s: float = 20.0  # connect and read timeout per try

    def delay(self, attempt: int, rng: random.Random, retry_after: str | None = None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_backoff_s)
        return rng.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**attempt))


class FeedClient:
    """Thread-safe GETs with at most `max_concurrency` requests in flight from this process."""

    def __init__(self, policy: RetryPolicy | None = None, max_concurrency: int = 4, seed: int | None = None):
        self.policy = policy or RetryPolicy()
        self._gate = threading.BoundedSemaphore(max(1, max_concurrency))
        self._rng = random.Random(seed)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(4, max_concurrency), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "hft-ingest/0.1 (+https://github.com/)"
        self.retries = 0  # retries made, for progress and tests

    def get(self, url: str, what: str, deadline: float | None = None) -> bytes:
        """Body of `url`; `what` (symbol and hour) names the request in errors.

        `deadline` (a `time.monotonic()` value) bounds every try and every wait, so a feed that
        accepts connections and never answers costs at most that long.
        """
        last = ""
        for attempt in range(self.policy.attempts):
            retry_after = None
            timeout = self.policy.timeout_s
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    raise DeadlineExceeded(
                        f"{what}: {url} no answer before the deadline ({last or 'no reply'})"
                    )
            try:
                with self._gate:
                    resp = self.session.get(url, timeout=timeout)
                    body = resp.content
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
            except requests.RequestException as exc:
                raise FeedError(f"{what}: request to {url} failed: {exc}") from exc
            else:
                if resp.status_code == 200:
                    return body
                if resp.status_code == 404:
                    raise NotFound(f"{what}: {url} answered 404 Not Found")
                if resp.status_code not in _RETRY_STATUS:
                    raise FeedError(f"{what}: {url} answered HTTP {resp.status_code} {resp.reason}")
                last = f"HTTP {resp.status_code} {resp.reason}"
                retry_after = resp.headers.get("Retry-After")
            if attempt + 1 < self.policy.attempts:
                self.retries += 1
                pause = self.policy.delay(attempt, self._rng, retry_after)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise DeadlineExceeded(f"{what}: {url} no answer before the deadline ({last})")
                time.sleep(pause)
        raise FeedError(f"{what}: {url} still failing after {self.policy.attempts} tries: {last}")

    def close(self) -> None:
        self.session.close()
