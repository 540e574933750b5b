"""`hft rerun RUN_ID`: rebuild a run folder from its result row, byte for byte.

A sweep with `artifacts_top_k` keeps trades and equity only for the trials a person will look at;
every trial's row (hft.store.results) still holds its resolved config, tags, `created` and wall
time. Runs are deterministic (same config, same ticks, same engine version → same trades and
equity), so running the row's config again and recording it with the row's own stamps gives the
folder the sweep would have written. The data must not have changed: the run id hashes the data
fingerprint, and a mismatch is refused with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from hft.backtest.api import (
    PreparedRun,
    RunOutcome,
    compute_run,
    compute_runs,
    data_fingerprint,
    prepare_run,
    record_run,
)
from hft.backtest.config import parse_config
from hft.errors import ConfigError, StoreError
from hft.store.fs import Store, open_store

__all__ = ["TAG_COLUMNS", "find_row", "rebuild", "rebuild_many", "rerun"]

TAG_COLUMNS = ("sweep", "trial", "fold", "phase", "node_id")
_ROW_COLUMNS = ("run_id", "group", "status", "config", "created", "wall_time_s", *TAG_COLUMNS)


def find_row(st: Store, run_id: str) -> dict[str, Any]:
    """The completed result row of `run_id` anywhere under `{store}/runs` (parts or summaries)."""
    import polars as pl

    from hft.reduce.scan import scan_runs

    scan = scan_runs(st.uri("runs"), st.storage_options)
    cols = [c for c in _ROW_COLUMNS if c in scan.schema]
    rows = scan.collect(
        lambda lf: lf.filter((pl.col("run_id") == run_id) & (pl.col("status") == "complete")).select(cols)
    )
    if rows.is_empty():
        raise StoreError(f"run {run_id}: no completed result row under {st.uri('runs')} (check the id)")
    with_config = rows.filter(pl.col("config").is_not_null()) if "config" in rows.columns else rows.head(0)
    if with_config.is_empty():
        raise StoreError(
            f"run {run_id}: its row under {st.uri('runs', rows['group'][0])} has no config "
            "(written before rows carried one); rerun it with `hft run` from its summary.yaml"
        )
    return with_config.row(0, named=True)


def _tags(row: dict[str, Any]) -> dict[str, Any]:
    """The tags the run was recorded with: a bare `hft run` had none (its phase `run` is implied)."""
    tags = {k: row.get(k) for k in TAG_COLUMNS if row.get(k) is not None}
    if tags == {"phase": "run"}:
        return {}
    return tags


def _prepare(row: dict[str, Any], st: Store, data_ids: dict[tuple, tuple[str, list[str]]]) -> PreparedRun:
    """The row's run, prepared; refused when it would no longer get the row's run id."""
    run_id = row["run_id"]
    raw = json.loads(row["config"])
    raw.setdefault("data", {})["store"] = st.url
    where = f"run {run_id}"
    loaded = _loaded_module(raw)
    base = str(loaded[0] / "spec.yaml") if loaded else where
    cfg = parse_config(raw, where=base)
    key = (cfg.data.symbol, cfg.data.start, cfg.data.end)
    if key not in data_ids:
        data_ids[key] = data_fingerprint(st, *key)
    prep = prepare_run(cfg, store=st, data_id=data_ids[key], where=base)
    if prep.run_id != run_id:
        raise ConfigError(
            f"{where}: the data or hft version changed since it ran (now run id {prep.run_id}); "
            "its folder cannot be rebuilt as it was"
        )
    if loaded:  # the engine imports the file the process loaded; the run keeps its own config
        strategy = cfg.strategy.model_copy(update={"module": str(loaded[1])})
        prep = dataclasses.replace(prep, config=prep.config.model_copy(update={"strategy": strategy}))
    return prep


def _loaded_module(raw: dict[str, Any]) -> tuple[Path, Path] | None:
    """For a strategy file named relative to its spec's folder (`module: ./mine.py`) that this
    process has imported already (a sweep's driver, from the spec): (that folder, the file loaded),
    so the run resolves to the module loaded, which need not be on disk any more nor be found from
    the current folder; None otherwise (the module is resolved as usual)."""
    module = str((raw.get("strategy") or {}).get("module") or "")
    rel = PurePosixPath(module.replace("\\", "/"))
    if not module.endswith(".py") or rel.is_absolute():
        return None
    loaded = getattr(sys.modules.get(rel.stem), "__file__", None)
    if not loaded:
        return None
    path = Path(loaded).resolve()
    depth = len([p for p in rel.parts if p not in (".", "")])
    if depth < 1 or depth > len(path.parents):
        return None
    base = path.parents[depth - 1]
    return (base, path) if (base / rel).resolve() == path else None


def _record(row: dict[str, Any], prep: PreparedRun, res: Any, folder: bool) -> RunOutcome:
    wall = float(row["wall_time_s"])
    return record_run(prep, res, wall, _tags(row), folder=folder, created=row.get("created"))


def rebuild(row: dict[str, Any], st: Store) -> RunOutcome:
    """Run the row's config again and write its folder with the row's stamps."""
    prep = _prepare(row, st, {})
    res, _wall = compute_run(prep, f"run {row['run_id']}")
    return _record(row, prep, res, folder=True)


def rebuild_many(
    rows: Iterable[dict[str, Any]], st: Store, *, chunk: int = 16
) -> Iterator[tuple[dict[str, Any], RunOutcome, Any]]:
    """(row, outcome, engine result) of every row run again, no folder written: rows of one strategy
    and date range run together, `chunk` at a time (one read of the ticks each, batched kernels)."""
    data_ids: dict[tuple, tuple[str, list[str]]] = {}
    groups: dict[tuple, list[tuple[dict[str, Any], PreparedRun]]] = {}
    for row in rows:
        prep = _prepare(row, st, data_ids)
        d, strat = prep.config.data, prep.config.strategy
        groups.setdefault((strat.name, strat.module, d.symbol, d.start, d.end), []).append((row, prep))
    for items in groups.values():
        for i in range(0, len(items), chunk):
            part = items[i : i + chunk]
            results = compute_runs([p for _, p in part], where="kept runs")
            for (row, prep), res in zip(part, results, strict=True):
                yield row, _record(row, prep, res, folder=False), res


def rerun(run_id: str, store: str | Store, storage_options: dict[str, Any] | None = None) -> RunOutcome:
    """Rebuild the folder of `run_id` under `store` (see the module docstring)."""
    st = open_store(store, storage_options)
    return rebuild(find_row(st, run_id), st)
