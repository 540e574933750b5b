"""Run folders only where a person will look: the top K trials per objective and the Pareto front.

With `artifacts_top_k` set, sweep actors write result rows only (hft.store.results). At the end of
the sweep, the K best completed trials of each training window by each objective, and every trial
of a multi-objective Pareto front, get their run folder rebuilt from their row (hft.backtest.rerun:
byte for byte what the actor would have written). Walk-forward test runs always write theirs.
Every other trial can be rebuilt later with `hft rerun RUN_ID --store …`.
"""

from __future__ import annotations

from typing import Any

import optuna
import polars as pl

from hft.backtest.rerun import rebuild
from hft.reduce.scan import scan_runs
from hft.store.fs import Store
from hft.sweep.spec import SweepSpec

__all__ = ["kept_rows", "keep_artifacts"]


def kept_rows(
    spec: SweepSpec, st: Store, studies: list[tuple[int | None, optuna.Study]]
) -> tuple[pl.DataFrame, set[tuple[str, str]]]:
    """Rows of the trials to keep, and the (group, run_id) folders that already exist."""
    scan = scan_runs(st.uri("runs"), st.storage_options, groups=[spec.name])
    metrics = [o.metric for o in spec.objectives]
    cols = ["run_id", "group", "fold", "trial", "phase", "status", "config", "created", "wall_time_s"]
    cols += ["sweep", "node_id", *metrics]

    def query(lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.filter((pl.col("phase") == "train") & (pl.col("status") == "complete")).select(
            [c for c in dict.fromkeys(cols) if c in scan.schema]
        )

    rows = scan.collect(query)
    k = spec.artifacts_top_k or 0
    picks = []
    for o in spec.objectives:
        ok = rows.filter(pl.col(o.metric).is_not_null() & pl.col(o.metric).cast(pl.Float64).is_finite())
        top = ok.sort([o.metric, "trial"], descending=[o.direction == "maximize", False], nulls_last=True)
        picks.append(top.group_by("fold", maintain_order=True).head(k))
    if spec.multi:
        front = [(f, t.number) for f, study in studies for t in study.best_trials]
        if front:
            fr = pl.DataFrame(front, schema={"fold": pl.Int64, "trial": pl.Int64}, orient="row")
            picks.append(rows.join(fr, on=["fold", "trial"], how="semi", nulls_equal=True))
    kept = pl.concat(picks, how="vertical_relaxed").unique("run_id", keep="first", maintain_order=True)
    return kept, set(scan.run_folders)


def keep_artifacts(
    spec: SweepSpec, st: Store, studies: list[tuple[int | None, optuna.Study]]
) -> dict[str, Any]:
    """Rebuild the kept trials' folders that do not exist yet; returns counts for sweep.yaml."""
    if spec.artifacts_top_k is None:
        return {}
    rows, have = kept_rows(spec, st, studies)
    built = 0
    for row in rows.iter_rows(named=True):
        if (row["group"], row["run_id"]) in have:
            continue
        rebuild(row, st)
        built += 1
    return {"top_k": spec.artifacts_top_k, "kept": rows.height, "rebuilt": built}
