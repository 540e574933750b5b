"""Check stored days against their manifests: what `hft store --verify` and `hft ingest --verify` run.

A manifest is the commit record of a day (written after its data). A day is sound when its manifest
reads, its Parquet file reads to the end, and rows, file size and content hash match the manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from hft.errors import StoreError
from hft.store.fs import Store
from hft.store.ticks import (
    DATA_FILE,
    DIGEST_KEY,
    MANIFEST_FILE,
    list_days,
    partition_parts,
    read_day,
    tick_digest,
)

__all__ = ["DayProblem", "check_day", "verify_store", "manifest_state"]


@dataclass(frozen=True)
class DayProblem:
    symbol: str
    day: date
    file: str  # URL of the file at fault
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


def manifest_state(st: Store, symbol: str, day: date) -> tuple[dict | None, str | None]:
    """(manifest, None) or (None, why it is missing or unreadable)."""
    parts = partition_parts(symbol, day)
    try:
        raw = st.read_bytes(*parts, MANIFEST_FILE)
    except FileNotFoundError:
        return None, "manifest missing"
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"manifest damaged ({exc})"
    if not isinstance(doc, dict) or not isinstance(doc.get("hours", {}), dict):
        return None, "manifest damaged (not a manifest document)"
    return doc, None


def check_day(st: Store, symbol: str, day: date) -> DayProblem | None:
    """The first thing wrong with a stored day, or None when it is sound (reads the whole file)."""
    parts = partition_parts(symbol, day)
    manifest, why = manifest_state(st, symbol, day)
    if manifest is None:
        return DayProblem(symbol, day, st.uri(*parts, MANIFEST_FILE), str(why))
    data_uri = st.uri(*parts, DATA_FILE)
    try:
        size = st.fs.size(st.path(*parts, DATA_FILE))
    except FileNotFoundError:
        return DayProblem(symbol, day, data_uri, "data file missing")
    recorded = manifest.get("file_bytes")
    if recorded is not None and recorded != size:
        return DayProblem(symbol, day, data_uri, f"{size} bytes, manifest says {recorded} (truncated?)")
    try:
        ticks = read_day(st, symbol, day)
    except (StoreError, OSError, ValueError) as exc:
        return DayProblem(symbol, day, data_uri, f"unreadable ({str(exc).splitlines()[0][-160:]})")
    rows = manifest.get("rows")
    if ticks is None or ticks.size != rows:
        return DayProblem(
            symbol, day, data_uri, f"{0 if ticks is None else ticks.size} rows, manifest says {rows}"
        )
    digest = manifest.get(DIGEST_KEY)
    if digest is not None and digest != tick_digest(ticks):
        return DayProblem(symbol, day, data_uri, "content hash differs from the manifest's (damaged data)")
    return None


def verify_store(st: Store, symbol: str | None = None) -> tuple[int, list[DayProblem]]:
    """(days checked, problems) over every stored day of `symbol` (or of every symbol)."""
    symbols = [symbol] if symbol else [n[7:] for n in st.listdir("ticks") if n.startswith("symbol=")]
    checked, problems = 0, []
    for sym in symbols:
        for day in list_days(st, sym):
            checked += 1
            problem = check_day(st, sym, day)
            if problem is not None:
                problems.append(problem)
    return checked, problems
