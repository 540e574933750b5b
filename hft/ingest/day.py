"""One ingest unit: a UTC day of one symbol, fetched hour by hour, validated and published.

The day is the unit of atomicity: its Parquet file and then its manifest are replaced whole, so an
interrupted ingest leaves each day either as before or complete. Hours already stored are kept
from the existing file, so a rerun fetches only what is missing, failed or suspect.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from hft.data.calendar import break_pair, day_expectations
from hft.data.http import DeadlineExceeded, FeedClient, NotFound, RetryPolicy
from hft.data.instruments import get_instrument
from hft.data.sources import get_source
from hft.data.ticks import HOUR_MS, TICK_DTYPE, hour_label, hour_ms
from hft.errors import DataError, StoreError
from hft.ingest.validate import DROP_REASONS, clean_ticks
from hft.store.fs import open_store
from hft.store.ticks import DIGEST_KEY, read_day, read_manifest, tick_digest, write_day

__all__ = ["DayTask", "DayResult", "ingest_day", "hour_done", "DONE_STATUSES"]

#: Hour statuses that can count as stored; anything else is fetched again on the next run.
DONE_STATUSES = frozenset({"ok", "empty"})


def hour_done(rec: dict[str, Any] | None, expect: str) -> bool:
    """Whether a stored hour record needs no fetching again.

    An `empty` hour counts only when the calendar says the market was closed, or when this version
    checked it (fetched again, or accepted with `--accept-empty`): empty hours written by older
    versions, which trusted a single empty body, are fetched again so a rerun repairs silent losses.
    """
    if not rec or rec.get("status") not in DONE_STATUSES:
        return False
    return rec["status"] == "ok" or expect == "closed" or bool(rec.get("checked"))


@dataclass(frozen=True)
class DayTask:
    symbol: str
    day: date
    store: str
    base_url: str
    source: str = "bi5"
    storage_options: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    accept_empty: bool = False  # store hours that stay empty when the market should trade as empty
    concurrency: int = 4  # requests in flight from this task
    attempts: int = 6
    timeout_s: float = 20.0
    backoff_s: float = 0.25
    refetch: int = 2  # extra tries for a corrupt body or a suspiciously empty hour
    now_ms: int | None = None  # hours starting within the last hour (or later) are not fetched yet
    deadline_s: float = 300.0  # the whole day's fetching, retries included: a hung feed fails the day


@dataclass
class DayResult:
    symbol: str
    day: date
    skipped: bool = False
    rows: int = 0
    fetched_hours: int = 0
    fetched_ticks: int = 0
    bytes_in: int = 0
    retries: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this task's process (all threads): ticks per core
    hours: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    node_id: str | None = None

    def by_status(self, status: str) -> list[str]:
        return sorted(h for h, v in self.hours.items() if v["status"] == status)


def _fetch_hour(
    client: FeedClient, task: DayTask, hour: datetime, expect: str, deadline: float
) -> tuple[np.ndarray | None, dict, int]:
    """(ticks or None, hour record, bytes read); never raises for data or feed problems.

    A corrupt body, and an empty one for an hour the market may have traded (`expect` not
    `closed`), are fetched again up to `task.refetch` more times.
    """
    inst = get_instrument(task.symbol)
    source = get_source(task.source)
    url = source.url(task.base_url, inst, hour)
    what = f"{inst.symbol} {hour_label(hour)}"
    nbytes, last_err, tries, empty = 0, "", 0, None
    for _ in range(task.refetch + 1):
        tries += 1
        try:
            body = client.get(url, what, deadline)
            nbytes += len(body)
            ticks = source.decode(body, inst, hour)
        except DataError as exc:  # FeedError, NotFound or DecodeError: named and kept
            last_err = str(exc)
            if isinstance(exc, NotFound | DeadlineExceeded):
                break
            continue
        if ticks.size:
            rec = {"status": "ok", "url": url}
            return ticks, (rec if tries == 1 else {**rec, "tries": tries}), nbytes
        empty = ticks
        if expect == "closed":
            break
    if empty is None:
        return None, {"status": "failed", "url": url, "error": last_err}, nbytes
    rec: dict[str, Any] = {"status": "empty", "url": url}
    if expect != "closed":
        rec.update(checked=True, tries=tries)
    if expect == "open":
        rec = _suspect(rec, task, "empty although the market should trade then")
    return empty, rec, nbytes


def _suspect(rec: dict[str, Any], task: DayTask, why: str) -> dict[str, Any]:
    if task.accept_empty:
        return {**rec, "status": "empty", "checked": True, "accepted": True}
    return {**rec, "status": "suspect_empty", "error": f"{why} (fetched {rec.get('tries', 1)} times)"}


def ingest_day(task: DayTask, node_id: str | None = None) -> DayResult:
    """Fetch what the day still lacks and publish it; `node_id` (the Ray node) goes in the manifest."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    inst = get_instrument(task.symbol)
    store = open_store(task.store, task.storage_options)
    result = DayResult(inst.symbol, task.day, node_id=node_id)
    day_start = datetime(task.day.year, task.day.month, task.day.day, tzinfo=UTC)
    hours = [day_start + timedelta(hours=h) for h in range(24)]
    now_ms = task.now_ms if task.now_ms is not None else int(time.time() * 1000)
    due = {f"{h.hour:02d}": h for h in hours if hour_ms(h) + HOUR_MS <= now_ms}

    expect = day_expectations(inst.symbol, task.day)
    manifest = None if task.force else read_manifest(store, inst.symbol, task.day)
    old_hours: dict[str, dict] = (manifest or {}).get("hours", {})
    keep = {k for k, v in old_hours.items() if k in due and hour_done(v, expect[k])}
    existing = _trusted_day(store, inst.symbol, task.day, manifest) if keep else None
    if existing is None:
        keep = set()  # the data file is gone or damaged: the manifest alone vouches for nothing
    todo = [h for k, h in due.items() if k not in keep]
    if not todo and manifest is not None:
        result.skipped, result.rows, result.hours = True, int(manifest.get("rows", 0)), old_hours
        result.seconds = time.perf_counter() - t0
        return result

    client = FeedClient(
        RetryPolicy(attempts=task.attempts, timeout_s=task.timeout_s, backoff_s=task.backoff_s),
        max_concurrency=task.concurrency,
    )
    deadline = time.monotonic() + task.deadline_s

    def fetch(hour: datetime) -> tuple[np.ndarray | None, dict, int]:
        return _fetch_hour(client, task, hour, expect[f"{hour.hour:02d}"], deadline)

    try:
        with ThreadPoolExecutor(max_workers=max(1, task.concurrency)) as pool:
            fetched = dict(zip(todo, pool.map(fetch, todo), strict=True))
        result.retries = client.retries
    finally:
        client.close()
    by_hour: dict[str, np.ndarray] = {}
    records: dict[str, dict] = {}
    if existing is not None:
        idx = (existing["ts"] - hour_ms(day_start)) // HOUR_MS
        for k in keep:
            by_hour[k] = existing[idx == int(k)]
            records[k] = old_hours[k]
    for hour, (ticks, rec, nbytes) in fetched.items():
        key = f"{hour.hour:02d}"
        result.bytes_in += nbytes
        result.fetched_hours += 1
        if ticks is not None:
            clean, dropped = clean_ticks(ticks)
            _count(result, ticks, dropped)
            rec.update(ticks=int(clean.size), dropped={k: v for k, v in dropped.items() if v})
            by_hour[key] = clean
        records[key] = rec
    pair = break_pair(inst.symbol, task.day)
    pause = [records.get(k, {}) for k in pair or ()]
    if pause and all(r.get("status") == "empty" and not r.get("accepted") for r in pause):
        for k in pair:  # the daily pause lasts one hour: one of the two must have ticks
            records[k] = _suspect(records[k], task, "both candidate hours of the daily break are empty")
    for key in (f"{h:02d}" for h in range(24)):
        if key not in due and key not in records:
            records[key] = {"status": "pending"}

    parts = [by_hour[k] for k in sorted(by_hour) if by_hour[k].size]
    day_ticks = np.concatenate(parts) if parts else np.empty(0, dtype=TICK_DTYPE)
    result.rows, result.hours = int(day_ticks.size), records
    write_day(
        store,
        inst.symbol,
        task.day,
        day_ticks,
        {
            "source": task.source,
            "feed": task.base_url,
            "hours": records,
            "dropped": _total_dropped(records),
            "node_id": node_id,
            "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    result.seconds = time.perf_counter() - t0
    result.cpu_seconds = time.process_time() - cpu0
    return result


def _trusted_day(store, symbol: str, day: date, manifest: dict | None) -> np.ndarray | None:
    """The stored day when it is readable and matches its manifest (rows, content hash), else None."""
    try:
        existing = read_day(store, symbol, day)
    except StoreError:
        return None
    if existing is None or manifest is None or int(manifest.get("rows", -1)) != existing.size:
        return None
    recorded = manifest.get(DIGEST_KEY)
    if recorded is not None and recorded != tick_digest(existing):
        return None
    return existing


def _total_dropped(records: dict[str, dict]) -> dict[str, int]:
    total = dict.fromkeys(DROP_REASONS, 0)
    for rec in records.values():
        for reason, n in rec.get("dropped", {}).items():
            total[reason] = total.get(reason, 0) + n
    return total


def _count(result: DayResult, ticks: np.ndarray, dropped: dict[str, int]) -> None:
    result.fetched_ticks += int(ticks.size)
    for reason, n in dropped.items():
        result.dropped[reason] += n


def result_dict(result: DayResult) -> dict[str, Any]:
    d = asdict(result)
    d["day"] = result.day.isoformat()
    return d
