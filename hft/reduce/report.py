"""`build_report`: one pass over the summaries, then the leaders' curves, into a `Report` that the
terminal, HTML and file exports render."""

from __future__ import annotations

import io
import posixpath
import warnings
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from hft.errors import HftError
from hft.reduce.curves import RunDetail, load_run
from hft.reduce.leaderboard import (
    DEFAULT_MIN_DAYS,
    check_metric,
    compare_strategies,
    descending_for,
    rank_runs,
    runs_table,
    runs_table_columns,
)
from hft.reduce.scan import RunsScan, SkippedArtifactWarning, scan_runs
from hft.reduce.selection import COLUMNS as SELECTION_COLUMNS
from hft.reduce.selection import DEFAULT_PBO_SPLITS, Selection, selection
from hft.reduce.sensitivity import explained_variance, heatmap_grid, sensitivity
from hft.reduce.walkforward import walkforward_summary, walkforward_table
from hft.store.fs import open_store

__all__ = ["Report", "build_report", "export_table"]


@dataclass
class Report:
    url: str
    by: str
    descending: bool
    runs: int  # committed runs that were read
    scan: RunsScan
    leaderboard: pl.DataFrame
    ranked: pl.DataFrame  # every run ranked by `by` (the export)
    strategies: pl.DataFrame
    sensitivity: pl.DataFrame
    eta2: pl.DataFrame
    heatmap: dict | None  # the leading strategy's (kept for callers of the first version)
    details: list[RunDetail] = field(default_factory=list)
    walkforward: pl.DataFrame | None = None
    walkforward_summary: pl.DataFrame | None = None
    importance: pl.DataFrame | None = None  # param, importance (Optuna)
    importance_study: str | None = None
    notes: list[str] = field(default_factory=list)
    heatmaps: list[dict] = field(default_factory=list)  # one per strategy with two parameters
    optuna_files: list[str] = field(default_factory=list)  # local sweep storages (Optuna plots)
    selection: Selection | None = None  # per-window n_tried, n_effective, DSR, PBO; WF degradation
    min_days: int = DEFAULT_MIN_DAYS
    phase: str | None = None  # the --phase filter (None: all)

    @property
    def skipped(self) -> dict[str, int]:
        return self.scan.skipped_counts()


def _pick_heatmap(eta2: pl.DataFrame, leader_strategy: str | None) -> tuple[str, str, str] | None:
    """The two parameters of the leading strategy that explain most of the objective."""
    if leader_strategy is None:
        return None
    top = eta2.filter(pl.col("strategy") == leader_strategy).sort("eta2", descending=True)["param"].to_list()
    return (leader_strategy, top[0], top[1]) if len(top) >= 2 else None


def build_report(
    url: str,
    *,
    storage_options: dict[str, Any] | None = None,
    by: str = "sharpe",
    top: int = 10,
    curves: int | None = None,
    groups: list[str] | None = None,
    where: pl.Expr | None = None,
    optuna_storage: str | None = None,
    study: str | None = None,
    heatmap: tuple[str, str] | None = None,
    lags: int = 20,
    prices: bool = True,
    progress=None,
    phase: str | None = None,
    min_days: int = DEFAULT_MIN_DAYS,
    pbo_splits: int = DEFAULT_PBO_SPLITS,
) -> Report:
    """Scan every run under `url` and compute everything a report shows.

    Runs the objective `by` cannot rank (null/NaN, pruned, failed) are kept in the export but not
    ranked. Every phase is ranked on its own, test first (hft.reduce.leaderboard); `leaderboard`
    holds the top `top` of each phase. `phase` (test | train | run | all) filters the rows. `curves`
    (default `top`) is how many ranked leaders get equity and trade analytics; `prices` reads their
    tick days for the price chart and buy-and-hold. `progress(done, total, what)` is told of each step.
    """
    tell = progress or (lambda done, total, what: None)
    tell(0, 1, "scanning run summaries")
    scan = scan_runs(url, storage_options, groups=groups)
    if phase not in (None, "all"):
        cond = pl.col("phase") == phase
        where = cond if where is None else where & cond
    if by != "dsr":
        check_metric(scan, by)
    desc = descending_for(by)
    rank_by = "sharpe" if by == "dsr" else by
    wanted = [
        *SELECTION_COLUMNS,
        *runs_table_columns(scan, rank_by),
        *(where.meta.root_names() if where is not None else []),
    ]
    with scan.held(wanted):  # one read of the objects for both
        sel = selection(scan, where=where, n_splits=pbo_splits)
        table = runs_table(scan, rank_by, where=where)
    keys = ["group", "phase", "fold", "trial", "run_id"]
    table = table.join(sel.dsr, on=keys, how="left", nulls_equal=True)
    ranked = rank_runs(table, by, desc, min_days=min_days)
    # the top of each phase; rows `by` cannot rank (a 1-day test window's Sharpe) still show, last
    lead = ranked.group_by("phase", maintain_order=True).head(top)
    eta2 = explained_variance(table, by)
    ranked_lead = lead.filter(pl.col("rank").is_not_null())
    leader_strategy = ranked_lead["strategy"][0] if ranked_lead.height else None
    grid = None
    choice = (
        (leader_strategy, *heatmap) if heatmap and leader_strategy else _pick_heatmap(eta2, leader_strategy)
    )
    if choice:
        grid = heatmap_grid(table, by, choice[0], choice[1], choice[2])
    grids = [grid] if grid else []
    for strategy in sorted(set(eta2["strategy"].to_list()) - {choice[0] if choice else None}):
        pick = _pick_heatmap(eta2, strategy)
        if pick:
            grids.append(heatmap_grid(table, by, *pick))
    report = Report(
        url=scan.store.uri(),
        by=by,
        descending=desc,
        runs=table.height,
        scan=scan,
        leaderboard=lead,
        ranked=ranked,
        strategies=compare_strategies(table, by),
        sensitivity=sensitivity(table, by),
        eta2=eta2,
        heatmap=grid,
        heatmaps=[g for g in grids if g.get("z")],
        optuna_files=list(scan.optuna_files),
        selection=sel,
        min_days=min_days,
        phase=phase,
    )
    n_curves = min(top if curves is None else curves, ranked_lead.height)
    folders = scan.run_folders
    for i, row in enumerate(ranked_lead.head(n_curves).iter_rows(named=True)):
        tell(i, n_curves, f"curves of run {i + 1}/{n_curves}")
        run_url = folders.get((row["group"], row["run_id"]))
        pack = None if run_url is not None else scan.packed(row["group"], row["run_id"])
        if pack is not None:  # a sweep's kept run: no folder, its trades and equity are in the pack
            run_url = pack
        if run_url is not None:
            report.details.append(load_run(scan, row["run_id"], run_url, lags=lags, prices=prices, pack=pack))
    tell(n_curves, n_curves, "walk-forward and Optuna tables")
    report.walkforward = walkforward_table(scan)
    if report.walkforward is not None:
        report.walkforward_summary = walkforward_summary(report.walkforward)
    storage = optuna_storage or _default_storage(scan)
    if storage:
        try:
            report.importance_study, report.importance = _importance(storage, study)
        except HftError as exc:
            msg = f"parameter importance from Optuna left out: {exc}"
            report.notes.append(msg)
            warnings.warn(msg, SkippedArtifactWarning, stacklevel=2)
    return report


def _importance(storage: str, study: str | None):
    from hft.reduce.optuna_io import param_importances

    return param_importances(storage, study)


def _default_storage(scan: RunsScan) -> str | None:
    """The one study file of the runs (a sweep's default journal, or optuna.db), if there is one."""
    files = [f for f in scan.optuna_files if posixpath.basename(f) in ("optuna.db", "optuna.journal")]
    if len(files) != 1:
        return None
    return f"sqlite:///{files[0]}" if files[0].endswith(".db") else files[0]


def export_table(df: pl.DataFrame, target: str, storage_options: dict[str, Any] | None = None) -> str:
    """Write `df` as CSV (one line per run) or Parquet (by extension) atomically to a local path or
    fsspec URL."""
    buf = io.BytesIO()
    if target.endswith(".parquet"):
        df.write_parquet(buf, compression="zstd")
    else:
        flat = df.with_columns(pl.col(c).cast(pl.String) for c, t in df.schema.items() if t.is_nested())
        # one line per row: `params` YAML (and any other multi-line text) joined with ", "; the
        # typed param_<name> columns already give one column per parameter
        text = [c for c, t in flat.schema.items() if t == pl.String]
        flat = flat.with_columns(pl.col(c).str.strip_chars().str.replace_all(r"\s*\n\s*", ", ") for c in text)
        flat.write_csv(buf)
    parent, name = posixpath.split(target.rstrip("/"))
    st = open_store(parent or ".", storage_options if "://" in target else None)
    st.write_bytes(buf.getvalue(), name)
    return st.uri(name)
