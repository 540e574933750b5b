"""Which hours of a date range the store lacks, so a run can say what its numbers are missing."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from typing import Any

from hft.data.calendar import day_expectations
from hft.errors import UnknownSymbolError
from hft.store.fs import Store
from hft.store.ticks import DATA_FILE, partition_parts
from hft.store.verify import manifest_state

__all__ = ["data_gaps", "format_gaps"]

#: Hour statuses that are holes in the data (`ok` and `empty` are data; see the README's Ingest).
GAP_STATUSES = ("failed", "suspect_empty", "pending")

_cache: dict[tuple, list[dict[str, Any]]] = {}
_lock = threading.Lock()


def data_gaps(st: Store, symbol: str, start: date, end: date, key: str | None = None) -> list[dict[str, Any]]:
    """`[{"day": "2024-03-05", "status": "missing"}, {"day": …, "hours": {"failed": ["10"]}}, …]`.

    A day is `missing` when nothing is stored for it although the market trades that day (an
    unstored Saturday of FX is no gap), `no_manifest` when its manifest is missing or damaged; hours
    are listed by status when failed, suspect or pending, and as `missing` when the manifest lacks
    them. `key` (the run's data fingerprint, which covers every hour status) caches the answer, so
    a sweep reads the manifests once per process.
    """
    cache_key = (st.url, json.dumps(st.storage_options, sort_keys=True, default=str), symbol, start, end, key)
    if key is not None:
        with _lock:
            if cache_key in _cache:
                return _cache[cache_key]
    gaps: list[dict[str, Any]] = []
    day = start
    while day <= end:
        gap = _day_gap(st, symbol, day)
        if gap:
            gaps.append({"day": day.isoformat(), **gap})
        day += timedelta(days=1)
    if key is not None:
        with _lock:
            _cache[cache_key] = gaps
    return gaps


def _day_gap(st: Store, symbol: str, day: date) -> dict[str, Any] | None:
    manifest, why = manifest_state(st, symbol, day)
    if manifest is None:
        if st.exists(*partition_parts(symbol, day), DATA_FILE):
            return {"status": "no_manifest", "detail": why}
        try:
            closed = set(day_expectations(symbol, day).values()) == {"closed"}
        except UnknownSymbolError:
            closed = False
        return None if closed else {"status": "missing"}
    hours = manifest.get("hours") or {}
    by_status: dict[str, list[str]] = {}
    for h in (f"{i:02d}" for i in range(24)):
        status = (hours.get(h) or {}).get("status", "missing")
        if status in (*GAP_STATUSES, "missing"):
            by_status.setdefault(status, []).append(h)
    return {"hours": by_status} if by_status else None


def format_gaps(gaps: list[dict[str, Any]], limit: int = 6) -> str:
    """`2024-03-05 failed 10,11; 2024-03-06 missing; …` for a one-line warning."""
    parts = []
    for g in gaps[:limit]:
        if "hours" in g:
            parts.append(g["day"] + " " + " ".join(f"{s} {','.join(h)}" for s, h in g["hours"].items()))
        else:
            parts.append(f"{g['day']} {g['status']}")
    more = f"; and {len(gaps) - limit} more day(s)" if len(gaps) > limit else ""
    return "; ".join(parts) + more
