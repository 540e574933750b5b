"""What the store holds, from the per-day manifests only (cheap on S3: no Parquet is opened)."""

from __future__ import annotations

from typing import Any

from hft.store.fs import Store
from hft.store.ticks import list_days, read_manifest

__all__ = ["summarise"]


def summarise(store: Store, symbol: str | None = None) -> list[dict[str, Any]]:
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
        }
        row.update(ok=0, empty=0, failed=0, suspect_empty=0, pending=0)
        for day in days:
            man = read_manifest(store, sym, day) or {}
            row["rows"] += int(man.get("rows", 0))
            for rec in man.get("hours", {}).values():
                status = rec.get("status", "failed")
                row[status] = row.get(status, 0) + 1
        rows.append(row)
    return rows
