"""Trades and equity only where a person will look: the top K trials per objective and the Pareto front.

Sweep actors write result rows only (hft.store.results) unless the spec says `artifacts_top_k: all`.
At the end of the sweep, the K best completed trials of each training window by each objective
(default 20), and every trial of a multi-objective Pareto front, are packed with their summary.yaml
text into one object per sweep, `runs/{sweep}/kept.parquet` (hft.store.kept), which `hft report`
reads. Most come from the actors, which hold their local top K of each window (hft.sweep.retain) and
hand them over while the pool is still up; any other (an actor replaced, a resumed sweep, a Pareto
front member, a twin) is run again from its row (hft.backtest.rerun: deterministic, the same trades
and equity the actor computed), batched. A resumed sweep adds only the runs new to the kept set and
copies the rest from the old pack; runs that already have a folder (older sweeps, walk-forward test
runs) are left to it. Every other trial can be rebuilt later with `hft rerun RUN_ID --store …`.
"""

from __future__ import annotations

from typing import Any

import optuna
import polars as pl
import pyarrow as pa

from hft.backtest import artifacts as A
from hft.backtest.rerun import rebuild_many
from hft.reduce.scan import scan_runs
from hft.store.fs import Store
from hft.store.kept import copy_kept, kept_ids, kept_path, kept_row, write_kept
from hft.sweep.pool import ActorPool
from hft.sweep.spec import SweepSpec

__all__ = ["collect_retained", "kept_rows", "keep_artifacts", "top_by"]


def top_by(rows: pl.DataFrame, metric: str, direction: str, k: int) -> pl.DataFrame:
    """The `k` best rows of each fold by `metric` (finite only) in `direction`, ties to the lower
    trial number, one row per run id: the order hft.sweep.retain.WindowTopK keeps in each actor."""
    ok = rows.filter(pl.col(metric).is_not_null() & pl.col(metric).cast(pl.Float64).is_finite())
    top = ok.sort([metric, "trial"], descending=[direction == "maximize", False], nulls_last=True)
    top = top.unique(["fold", "run_id"], keep="first", maintain_order=True)  # K runs, not K twins
    return top.group_by("fold", maintain_order=True).head(k).select(rows.columns)


def kept_rows(
    spec: SweepSpec, st: Store, studies: list[tuple[int | None, optuna.Study]]
) -> tuple[pl.DataFrame, set[tuple[str, str]]]:
    """Rows of the trials to keep, and the (group, run_id) folders that already exist."""
    scan = scan_runs(st.uri("runs"), st.storage_options, groups=[spec.name])
    metrics = [o.metric for o in spec.objectives]
    cols = ["run_id", "group", "fold", "trial", "phase", "status", "created", "wall_time_s"]
    cols += ["sweep", "node_id", *metrics]
    done = (pl.col("phase") == "train") & (pl.col("status") == "complete")

    def query(lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.filter(done).select([c for c in dict.fromkeys(cols) if c in scan.schema])

    rows = scan.collect(query)
    k = 0 if spec.artifacts_top_k == "all" else spec.artifacts_top_k
    picks = []
    for o in spec.objectives:
        picks.append(top_by(rows, o.metric, o.direction, k))
    if spec.multi:
        front = [(f, t.number) for f, study in studies for t in study.best_trials]
        if front:
            fr = pl.DataFrame(front, schema={"fold": pl.Int64, "trial": pl.Int64}, orient="row")
            picks.append(rows.join(fr, on=["fold", "trial"], how="semi", nulls_equal=True))
    kept = pl.concat(picks, how="vertical_relaxed").unique("run_id", keep="first", maintain_order=True)
    if "config" in scan.schema and kept.height:  # the long config column for the kept rows only
        ids = kept["run_id"].to_list()
        configs = scan.collect(
            lambda lf: (
                lf.filter(done & pl.col("run_id").is_in(ids) & pl.col("config").is_not_null())
                .select("run_id", "config")
                .unique("run_id", keep="first")
            )
        )
        kept = kept.join(configs, on="run_id", how="left", maintain_order="left")
    return kept, set(scan.run_folders)


_TAKE_S = 120.0


def collect_retained(
    pool: ActorPool | None, windows: list[tuple], rows: list[dict[str, Any]]
) -> dict[str, pa.Table]:
    """Pack rows of `rows` (kept result rows) that the pool's actors hold, by run id; the actors drop
    `windows` (hft.sweep.retain). An actor that dies or does not answer in `_TAKE_S` holds nothing
    (its runs are rebuilt)."""
    if pool is None or not pool.actors:
        return {}
    import ray

    wanted = {r["run_id"]: (r["trial"], r.get("created")) for r in rows}
    out: dict[str, pa.Table] = {}
    started = [a for a in pool.actors if a in pool.ready]  # one that never started ran no trial
    for ref in [a.take_retained.remote(windows, wanted) for a in started]:
        try:
            got = ray.get(ref, timeout=_TAKE_S)
        except ray.exceptions.RayError:  # GetTimeoutError is one
            continue
        for run_id, trial, table in got:
            if wanted.get(run_id, (None,))[0] == trial:
                out.setdefault(run_id, table)
    return out


def keep_artifacts(
    spec: SweepSpec,
    st: Store,
    studies: list[tuple[int | None, optuna.Study]],
    pool: ActorPool | None = None,
) -> dict[str, Any]:
    """Pack the kept trials' trades, equity and summaries (see the module docstring), those `pool`'s
    actors hold from them; returns for sweep.yaml: K, the kept runs, those in the pack (the rest have
    folders), those new to it taken from the actors (`retained`) and run again now (`rebuilt`), and
    the pack's URL."""
    if spec.artifacts_top_k == "all":
        return {}
    rows, folders = kept_rows(spec, st, studies)
    want = [
        r
        for r in rows.iter_rows(named=True)
        if (r["group"], r["run_id"]) not in folders and r.get("config")  # no config: an old folder's row
    ]
    out: dict[str, Any] = {"top_k": spec.artifacts_top_k, "kept": rows.height, "packed": len(want)}
    have = set(kept_ids(st, spec.name))
    new = [r for r in want if r["run_id"] not in have]
    windows = [(st.url, spec.name, fold) for fold, _ in studies]
    held = collect_retained(pool, windows, new)  # also frees the actors' windows when nothing is new
    rebuild = [r for r in new if r["run_id"] not in held]
    out.update(retained=len(new) - len(rebuild), rebuilt=len(rebuild))
    if want:
        out["file"] = st.uri(*kept_path(spec.name))
    if not new:  # the pack already holds every kept run (and perhaps some that dropped out: harmless)
        return out
    old = have & {r["run_id"] for r in want}

    def packed():
        if old:
            yield from copy_kept(st, spec.name, old)
        # one pass over the ticks for all of them (K=20 with chunks of 16 was two reads of the month)
        chunk = max(16, spec.resources.batch, len(rebuild))
        for row, outcome, res in rebuild_many(rebuild, st, chunk=chunk) if rebuild else ():
            held[row["run_id"]] = kept_row(
                row["run_id"],
                row["group"],
                A.yaml_bytes(outcome.summary),
                A.trades_table(res.trades),
                A.equity_table(res.marks),
            )
        for row in new:  # in kept order, wherever each came from
            yield held[row["run_id"]]

    write_kept(st, spec.name, packed())
    return out
