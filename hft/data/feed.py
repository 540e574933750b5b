"""An offline, Dukascopy-compatible HTTP feed over a folder of hour files, with deterministic faults.

Both sources the client knows are served from one root, so a single `--feed-url` covers them:

- `GET /{SYMBOL}/{YYYY}/{MM}/{DD}/{HH}h_ticks.bi5` (month zero-based): the file's bytes;
- `GET /ticks/{BASE-QUOTE}/{YYYY}/{M}/{D}/{H}` (month one-based, no padding): the same hour as the
  JSON tick API encodes it;
- `GET /_stats`: requests per path and per status, so tests in another process can see what was fetched
  (`/_stats?reset=1` also clears the counts).

Faults are drawn from a hash of (seed, path, how many times that path was asked for), so the same
requests see the same faults whatever the thread interleaving.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hft.data.bi5 import decode_bi5
from hft.data.instruments import get_instrument
from hft.data.jsonapi import encode_json_hour
from hft.errors import ConfigError, DataError, UnknownSymbolError

__all__ = ["FeedFaults", "FeedServer", "serve_forever"]

log = logging.getLogger(__name__)

_BI5_ROUTE = re.compile(r"^/([A-Za-z0-9]+)/(\d{4})/(\d{2})/(\d{2})/(\d{2})h_ticks\.bi5$")
_JSON_ROUTE = re.compile(r"^/ticks/([A-Za-z0-9-]+)/([1-9]\d{3})/([1-9]\d?)/([1-9]\d?)/(0|[1-9]\d?)$")


class FeedFaults(BaseModel):
    """What can go wrong, per data request. Rates are tried in order on one uniform draw, so they must
    sum to at most 1: 503, then 429, then a body cut in half, then an empty 200, then a hang (the
    request is accepted and never answered). `fault_hours` limits every fault to those UTC hours
    (e.g. 0 and 23, the day's edges)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(0.0, ge=0, description="delay before every data response")
    error_rate: float = Field(0.0, ge=0, le=1, description="fraction answered 503")
    throttle_rate: float = Field(0.0, ge=0, le=1, description="fraction answered 429")
    truncate_rate: float = Field(0.0, ge=0, le=1, description="fraction of 200s with the body cut in half")
    empty_rate: float = Field(0.0, ge=0, le=1, description="fraction of 200s with an empty body")
    hang_rate: float = Field(0.0, ge=0, le=1, description="fraction accepted and never answered")
    fail_first: int = Field(0, ge=0, description="each path answers 503 to its first N requests")
    retry_after: int | None = Field(None, ge=0, description="Retry-After seconds sent with each 429")
    fault_hours: frozenset[int] | None = Field(None, description="UTC hours the faults apply to (None: all)")
    seed: int = 0

    @model_validator(mode="after")
    def _rates_fit(self) -> FeedFaults:
        total = self.error_rate + self.throttle_rate + self.truncate_rate + self.empty_rate + self.hang_rate
        if total > 1 + 1e-12:
            raise ValueError(
                f"error_rate + throttle_rate + truncate_rate + empty_rate + hang_rate = {total:g} exceeds 1"
            )
        if self.fault_hours is not None and not all(0 <= h <= 23 for h in self.fault_hours):
            raise ValueError(f"fault_hours {sorted(self.fault_hours)} must be UTC hours 0..23")
        return self

    @classmethod
    def checked(cls, **options: Any) -> FeedFaults:
        """Build from CLI options, turning validation failures into a `ConfigError` naming the option."""
        try:
            return cls(**options)
        except ValidationError as exc:
            why = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'faults'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ConfigError(f"invalid feed fault options: {why}") from exc

    @property
    def active(self) -> bool:
        rates = (self.error_rate, self.throttle_rate, self.truncate_rate, self.empty_rate, self.hang_rate)
        return bool(self.latency_ms or any(rates) or self.fail_first)

    def draw(self, path: str, attempt: int) -> str | None:
        """The fault for the `attempt`-th (0-based) request of `path`: 503, 429, truncate, empty, hang
        or None."""
        if self.fault_hours is not None:
            hour = _path_hour(path)
            if hour is None or hour not in self.fault_hours:
                return None
        if attempt < self.fail_first:
            return "503"
        digest = hashlib.blake2b(f"{self.seed}|{path}|{attempt}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        for kind, rate in (
            ("503", self.error_rate),
            ("429", self.throttle_rate),
            ("truncate", self.truncate_rate),
            ("empty", self.empty_rate),
            ("hang", self.hang_rate),
        ):
            if u < rate:
                return kind
            u -= rate
        return None


def _path_hour(path: str) -> int | None:
    """The UTC hour a data path asks for (None for other paths)."""
    m = _BI5_ROUTE.match(path) or _JSON_ROUTE.match(path)
    return int(m.group(5)) if m else None


class _Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.paths: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.by_path: dict[str, Counter[int]] = {}
            self.faults: Counter[str] = Counter()
            self.faults_by_path: dict[str, Counter[str]] = {}
            self.in_flight = 0
            self.max_in_flight = 0

    def next_attempt(self, path: str) -> int:
        """Count a request of `path`, returning how many came before it."""
        with self._lock:
            attempt = self.paths[path]
            self.paths[path] += 1
            return attempt

    def record(self, path: str, status: int, fault: str | None) -> None:
        with self._lock:
            self.statuses[status] += 1
            self.by_path.setdefault(path, Counter())[status] += 1
            if fault:
                self.faults[fault] += 1
                self.faults_by_path.setdefault(path, Counter())[fault] += 1

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.statuses.values()),
                "paths": dict(self.paths),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "by_path": {p: {str(k): v for k, v in sorted(c.items())} for p, c in self.by_path.items()},
                "faults": dict(self.faults),
                "faults_by_path": {p: dict(c) for p, c in self.faults_by_path.items()},
                "max_in_flight": self.max_in_flight,  # data requests being answered at once
            }


class _Handler(BaseHTTPRequestHandler):
    server: _FeedHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, so a pooled client reuses connections
    timeout = 60  # idle keep-alive connections give their thread back
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server_version = "hft-feed/1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            log.info("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, ctype: str = "application/octet-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: int, message: str) -> None:
        self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path == "/_stats":
            doc = self.server.stats.snapshot()
            if "reset" in parse_qs(url.query):
                self.server.stats.reset()
            self._send(200, json.dumps(doc, sort_keys=True).encode(), "application/json")
            return
        self.server.stats.enter()
        try:
            self._data(path)
        finally:
            self.server.stats.leave()

    def _data(self, path: str) -> None:
        attempt = self.server.stats.next_attempt(path)
        if not self._inside_root(path):
            self.server.stats.record(path, 403, None)
            self._text(403, f"refused: {path!r} escapes the feed root")
            return
        faults = self.server.faults
        fault = faults.draw(path, attempt) if faults.active else None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000.0)
        if fault == "hang":  # hold the connection without a byte of answer until the client leaves
            self.server.stats.record(path, 0, fault)
            self.server.stopping.wait(self.timeout)
            self.close_connection = True
            return
        if fault in ("503", "429"):
            status = int(fault)
            self.server.stats.record(path, status, fault)
            self.send_response(status)
            if status == 429 and faults.retry_after is not None:
                self.send_header("Retry-After", str(faults.retry_after))
            body = (
                "injected fault: " + ("service unavailable" if status == 503 else "slow down") + "\n"
            ).encode()
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        status, body, ctype = self._resolve(path)
        if status != 200 or not body:
            fault = None  # nothing to truncate or empty
        elif fault == "truncate":
            body = body[: len(body) // 2]
        elif fault == "empty":
            body = b""
        self.server.stats.record(path, status, fault)
        self._send(status, body, ctype)

    def _inside_root(self, path: str) -> bool:
        parts = path.split("/")
        if any(p in ("..", ".") or "\\" in p or "\0" in p for p in parts):
            return False
        target = (self.server.root / path.lstrip("/")).resolve()
        return target.is_relative_to(self.server.root)

    def _resolve(self, path: str) -> tuple[int, bytes, str]:
        if m := _BI5_ROUTE.match(path):
            file = self.server.root / path.lstrip("/")
            if not file.is_file() or not file.resolve().is_relative_to(self.server.root):
                return 404, f"no such hour: {path}\n".encode(), "text/plain; charset=utf-8"
            return 200, file.read_bytes(), "application/octet-stream"
        if m := _JSON_ROUTE.match(path):
            return self._json_hour(path, *m.groups())
        return 404, f"no route for {path}\n".encode(), "text/plain; charset=utf-8"

    def _json_hour(self, path: str, pair: str, *ymdh: str) -> tuple[int, bytes, str]:
        not_found = (404, f"no such hour: {path}\n".encode(), "text/plain; charset=utf-8")
        try:
            inst = get_instrument(pair)
            year, month, day, hh = map(int, ymdh)
            hour = datetime(year, month, day, hh, tzinfo=UTC)
        except (UnknownSymbolError, ValueError):
            return not_found
        file = self.server.root / inst.symbol / f"{hour.year:04d}/{hour.month - 1:02d}/{hour.day:02d}"
        file = file / f"{hour.hour:02d}h_ticks.bi5"
        if not file.is_file() or not file.resolve().is_relative_to(self.server.root):
            return not_found
        try:
            st = file.stat()
            body = _json_body(str(file), st.st_mtime_ns, st.st_size, inst.symbol, hour, inst.decimal_factor)
        except DataError as exc:
            return 500, f"{exc}\n".encode(), "text/plain; charset=utf-8"
        return 200, body, "application/json"


@lru_cache(maxsize=32)
def _json_body(file: str, mtime_ns: int, size: int, symbol: str, hour: datetime, factor: int) -> bytes:
    """JSON encoding costs ~1 µs a tick; retried and re-fetched hours (keyed by mtime and size) reuse it."""
    ticks = decode_bi5(Path(file).read_bytes(), symbol=symbol, hour=hour, decimal_factor=factor)
    return encode_json_hour(ticks, hour=hour, decimal_factor=factor)


class _FeedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], root: Path, faults: FeedFaults, verbose: bool) -> None:
        self.root = root
        self.faults = faults
        self.verbose = verbose
        self.stats = _Stats()
        self.stopping = threading.Event()  # releases hung requests
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close kept-alive connections too, so nothing is served after `stop()`."""
        self.stopping.set()
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _root(root: str | Path) -> Path:
    path = Path(root).resolve()
    if not path.is_dir():
        raise ConfigError(f"feed root {str(root)!r} is not a directory")
    return path


def _bind(host: str, port: int, root: Path, faults: FeedFaults, verbose: bool) -> _FeedHTTPServer:
    try:
        return _FeedHTTPServer((host, port), root, faults, verbose)
    except OSError as exc:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
        raise ConfigError(
            f"feed port {port} on {host} {why}; pick another with --port (0 = any free port)"
        ) from None


class FeedServer:
    """The feed on a background thread: `with FeedServer(dir) as feed: get(feed.url + ...)`."""

    def __init__(
        self,
        root: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FeedFaults | None = None,
        *,
        verbose: bool = False,
    ) -> None:
        self.root = _root(root)
        self.host = host
        self.port = port
        self.faults = faults or FeedFaults()
        self.verbose = verbose
        self._httpd: _FeedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FeedServer:
        if self._httpd is not None:
            return self
        self._httpd = _bind(self.host, self.port, self.root, self.faults, self.verbose)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="hft-feed", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FeedServer.url before start()")
        return f"http://{self.host}:{self.port}"

    def stats(self) -> dict[str, Any]:
        """Same document as `GET /_stats`."""
        if self._httpd is None:
            raise RuntimeError("FeedServer.stats() before start()")
        return self._httpd.stats.snapshot()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: FeedFaults | None = None,
    *,
    verbose: bool = False,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted (`hft feed serve`).

    Once listening, calls `announce(url)`; by default prints `hft feed: serving ROOT at URL` to stdout,
    which a parent process can read to learn an ephemeral port.
    """
    path = _root(root)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    httpd = _bind(host, port, path, faults or FeedFaults(), verbose)
    url = f"http://{host}:{httpd.server_address[1]}"
    if announce is None:
        print(f"hft feed: serving {path} at {url}", flush=True)
    else:
        announce(url)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
