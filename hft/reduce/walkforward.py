"""The walk-forward out-of-sample table a walk-forward sweep leaves at
`{runs}/{sweep}/walkforward.parquet` (fold, train/test windows, params and the OOS metrics)."""

from __future__ import annotations

import posixpath

import polars as pl

from hft.reduce.scan import METRIC_COLUMNS, RunsScan, Skipped

__all__ = ["WALKFORWARD_COLUMNS", "walkforward_table", "walkforward_summary"]

WALKFORWARD_COLUMNS = ("fold", "train_start", "train_end", "test_start", "test_end", "params")


def walkforward_table(scan: RunsScan) -> pl.DataFrame | None:
    """Every sweep's folds, with a `sweep` column; None when no sweep wrote one."""
    frames = []
    for url in scan.walkforward:
        sweep = posixpath.basename(posixpath.dirname(url))
        try:
            df = pl.read_parquet(url, storage_options=scan.storage_options)
        except (pl.exceptions.PolarsError, OSError) as exc:
            text = str(exc).strip().splitlines()
            scan.skip(Skipped(url, "unreadable walkforward.parquet", text[0][:200] if text else ""))
            continue
        missing = [c for c in WALKFORWARD_COLUMNS if c not in df.columns]
        if missing:
            scan.skip(Skipped(url, "walkforward.parquet without columns", ", ".join(missing)))
            continue
        metrics = [c for c in METRIC_COLUMNS if c in df.columns]
        train = [f"train_{m}" for m in METRIC_COLUMNS if f"train_{m}" in df.columns]  # in-sample objectives
        cols = [*WALKFORWARD_COLUMNS, *metrics, *train]
        frames.append(
            df.select(cols)
            .with_columns(pl.col(m).cast(METRIC_COLUMNS[m]) for m in metrics)
            .with_columns(pl.col(c).cast(pl.Float64) for c in train)
            .with_columns(pl.lit(sweep).alias("sweep"))
            .select("sweep", *cols)
            .sort("fold")
        )
    if not frames:
        return None
    return pl.concat(frames, how="diagonal_relaxed")


def walkforward_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per sweep: folds, total OOS net PnL and trades, and the mean of every other OOS metric."""
    metrics = [c for c in METRIC_COLUMNS if c in table.columns]
    summed = [c for c in ("net_pnl", "trades", "fees") if c in metrics]
    return (
        table.group_by("sweep")
        .agg(
            pl.len().alias("folds"),
            *(pl.col(c).sum().alias(f"sum_{c}") for c in summed),
            *(pl.col(c).mean().alias(f"mean_{c}") for c in metrics),
            (pl.col("net_pnl") > 0).mean().alias("share_folds_profitable")
            if "net_pnl" in metrics
            else pl.lit(None),
        )
        .sort("sweep")
    )
