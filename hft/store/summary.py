"""What the store holds, from the per-day manifests only (cheap on S3: no Parquet is opened)."""

from __future__ import annotations

from typing import Any

from hft.store.fs import Store
from hft.store.ticks import list_days
from hft.store.verify import manifest_state

__all__ = ["summarise"]


def summarise(store: Store, symbol: str | None = None) -> list[dict[str, Any]]:
    """One row per symbol; `unvouched` lists the days whose manifest is missing or damaged (their
    ticks are not counted: `hft ingest` over those days fetches them again)."""
    symbols = [symbol] if symbol else [n[7:] for n in store.listdir("ticks") if n.startswith("symbol=")]
    rows = []
    for sym in symbols:
        days = list_days(store, sym)
        if not days:
            continue
        row: dict[str, Any] = {
            "symbol": sym,
            "first": days[0],
            "last": days[-1],
            "days": len(days),
            "rows": 0,
            "unvouched": [],
        }
        row.update(ok=0, empty=0, failed=0, suspect_empty=0, pending=0)
        for day in days:
            man, why = manifest_state(store, sym, day)
            if man is None:
                row["unvouched"].append((day, why))
                continue
            row["rows"] += int(man.get("rows", 0))
            for rec in man.get("hours", {}).values():
                status = rec.get("status", "failed")
                row[status] = row.get(status, 0) + 1
        rows.append(row)
    return rows
