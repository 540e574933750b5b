"""`hft rerun RUN_ID`: rebuild a run folder from its result row, byte for byte.

A sweep with `artifacts_top_k` keeps trades and equity only for the trials a person will look at;
every trial's row (hft.store.results) still holds its resolved config, tags, `created` and wall
time. Runs are deterministic (same config, same ticks, same engine version → same trades and
equity), so running the row's config again and recording it with the row's own stamps gives the
folder the sweep would have written. The data must not have changed: the run id hashes the data
fingerprint, and a mismatch is refused with the reason.
"""

from __future__ import annotations

import json
from typing import Any

from hft.backtest.api import RunOutcome, compute_run, prepare_run, record_run
from hft.backtest.config import parse_config
from hft.errors import ConfigError, StoreError
from hft.store.fs import Store, open_store

__all__ = ["TAG_COLUMNS", "find_row", "rebuild", "rerun"]

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


def rebuild(row: dict[str, Any], st: Store) -> RunOutcome:
    """Run the row's config again and write its folder with the row's stamps."""
    run_id = row["run_id"]
    raw = json.loads(row["config"])
    raw.setdefault("data", {})["store"] = st.url
    where = f"run {run_id}"
    prep = prepare_run(parse_config(raw, where=where), store=st)
    if prep.run_id != run_id:
        raise ConfigError(
            f"{where}: the data or hft version changed since it ran (now run id {prep.run_id}); "
            "its folder cannot be rebuilt as it was"
        )
    res, _wall = compute_run(prep, where)
    return record_run(prep, res, float(row["wall_time_s"]), _tags(row), created=row.get("created"))


def rerun(run_id: str, store: str | Store, storage_options: dict[str, Any] | None = None) -> RunOutcome:
    """Rebuild the folder of `run_id` under `store` (see the module docstring)."""
    st = open_store(store, storage_options)
    return rebuild(find_row(st, run_id), st)
