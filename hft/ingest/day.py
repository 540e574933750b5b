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

from hft.data.http import FeedClient, NotFound, RetryPolicy
from hft.data.instruments import get_instrument
from hft.data.sources import get_source
from hft.data.ticks import HOUR_MS, TICK_DTYPE, hour_label, hour_ms
from hft.errors import DataError
from hft.ingest.validate import DROP_REASONS, clean_ticks
from hft.store.fs import open_store
from hft.store.ticks import read_day, read_manifest, write_day

__all__ = ["DayTask", "DayResult", "ingest_day", "DONE_STATUSES"]

#: Hour statuses that count as stored; anything else is fetched again on the next run.
#: `suspect_empty` (empty between hours with ticks, still empty after refetching: a daily break, or a
#: feed glitch) counts as stored but is flagged; `recheck_suspect` fetches those hours again.
DONE_STATUSES = frozenset({"ok", "empty", "suspect_empty"})


def done_statuses(recheck_suspect: bool) -> frozenset[str]:
    return DONE_STATUSES - {"suspect_empty"} if recheck_suspect else DONE_STATUSES


@dataclass(frozen=True)
class DayTask:
    symbol: str
    day: date
    store: str
    base_url: str
    source: str = "bi5"
    storage_options: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    recheck_suspect: bool = False
    concurrency: int = 4  # requests in flight from this task
    attempts: int = 6
    timeout_s: float = 20.0
    backoff_s: float = 0.25
    refetch: int = 2  # extra tries for a corrupt body or a suspiciously empty hour
    now_ms: int | None = None  # hours starting within the last hour (or later) are not fetched yet


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


def _fetch_hour(client: FeedClient, task: DayTask, hour: datetime) -> tuple[np.ndarray | None, dict, int]:
    """(ticks or None, hour record, bytes read); never raises for data or feed problems."""
    inst = get_instrument(task.symbol)
    source = get_source(task.source)
    url = source.url(task.base_url, inst, hour)
    what = f"{inst.symbol} {hour_label(hour)}"
    nbytes, last_err = 0, ""
    for _ in range(task.refetch + 1):
        try:
            body = client.get(url, what)
            nbytes += len(body)
            ticks = source.decode(body, inst, hour)
        except DataError as exc:  # FeedError, NotFound or DecodeError: named and kept
            last_err = str(exc)
            if isinstance(exc, NotFound):
                break
            continue
        return ticks, {"status": "ok" if ticks.size else "empty", "url": url}, nbytes
    return None, {"status": "failed", "url": url, "error": last_err}, nbytes


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

    manifest = None if task.force else read_manifest(store, inst.symbol, task.day)
    old_hours: dict[str, dict] = (manifest or {}).get("hours", {})
    done = done_statuses(task.recheck_suspect)
    keep = {k for k, v in old_hours.items() if v.get("status") in done}
    existing = read_day(store, inst.symbol, task.day) if keep else None
    if existing is None:
        keep = set()  # the data file is gone: the manifest alone vouches for nothing
    todo = [h for k, h in due.items() if k not in keep]
    if not todo and manifest is not None:
        result.skipped, result.rows, result.hours = True, int(manifest.get("rows", 0)), old_hours
        result.seconds = time.perf_counter() - t0
        return result

    client = FeedClient(
        RetryPolicy(attempts=task.attempts, timeout_s=task.timeout_s, backoff_s=task.backoff_s),
        max_concurrency=task.concurrency,
    )
    try:
        with ThreadPoolExecutor(max_workers=max(1, task.concurrency)) as pool:
            fetched = dict(zip(todo, pool.map(lambda h: _fetch_hour(client, task, h), todo), strict=True))
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
        fetched_keys = [f"{h.hour:02d}" for h in fetched]
        _recheck_suspect_empties(client, task, fetched_keys, due, by_hour, records, result)
        for key in (f"{h:02d}" for h in range(24)):
            if key not in due and key not in records:
                records[key] = {"status": "pending"}
        result.retries = client.retries
    finally:
        client.close()

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


def _recheck_suspect_empties(client, task, fetched_keys, due, by_hour, records, result) -> None:
    """An empty hour between two hours with ticks is fetched again; if it stays empty it is stored
    as empty but flagged `suspect_empty` in the manifest and the report, never silently accepted."""

    def has_ticks(h: int) -> bool:
        arr = by_hour.get(f"{h:02d}")
        return arr is not None and arr.size > 0

    for key in sorted(fetched_keys):
        h = int(key)
        if records[key]["status"] != "empty" or not (has_ticks(h - 1) and has_ticks(h + 1)):
            continue
        for _ in range(task.refetch):
            ticks, rec, nbytes = _fetch_hour(client, task, due[key])
            result.bytes_in += nbytes
            if ticks is not None and ticks.size:
                clean, dropped = clean_ticks(ticks)
                _count(result, ticks, dropped)
                rec.update(
                    ticks=int(clean.size), dropped={k: v for k, v in dropped.items() if v}, refetched=True
                )
                by_hour[key], records[key] = clean, rec
                break
        else:
            records[key] = {
                **records[key],
                "status": "suspect_empty",
                "error": "empty while the neighbouring hours have ticks (retried)",
            }


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
