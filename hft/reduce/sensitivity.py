"""How the objective moves with each parameter: per-value (or per-quantile-bin) aggregates, the
share of the objective's variance each parameter explains (η², the correlation ratio), and the
2-parameter grid behind the heatmap."""

from __future__ import annotations

import numpy as np
import polars as pl

from hft.errors import ConfigError

__all__ = ["param_levels", "sensitivity", "explained_variance", "heatmap_grid"]

LEVEL = "_level"


def _valid(table: pl.DataFrame, by: str, params: list[str]) -> pl.DataFrame:
    keep = pl.col(by).is_not_null() & pl.col(by).cast(pl.Float64).is_finite()
    for p in params:
        keep = keep & pl.col(p).is_not_null()
    return table.filter(keep)


def param_levels(values: pl.Series, max_levels: int = 12, bins: int = 8) -> tuple[pl.Series, list[str]]:
    """Level index of every value and the level labels: the distinct values when there are at most
    `max_levels`, else `bins` quantile bins labelled `[lo, hi]`."""
    if values.dtype.is_numeric():
        x = values.cast(pl.Float64).to_numpy()
        distinct = np.unique(x)
        if distinct.size > max_levels:
            edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
            idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
            labels = [f"[{_fmt(edges[i])}, {_fmt(edges[i + 1])}]" for i in range(edges.size - 1)]
            return pl.Series(LEVEL, idx, pl.Int64), labels
        idx = np.searchsorted(distinct, x)
        return pl.Series(LEVEL, idx, pl.Int64), [_fmt(v) for v in distinct]
    distinct = sorted(values.cast(pl.String).unique().to_list())
    lookup = {v: i for i, v in enumerate(distinct)}
    return pl.Series(LEVEL, [lookup[v] for v in values.cast(pl.String).to_list()], pl.Int64), distinct


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.4g}"


def _params_of(table: pl.DataFrame, strategy: str) -> list[str]:
    sub = table.filter(pl.col("strategy") == strategy)
    return [c for c in table.columns if c.startswith("param_") and sub[c].null_count() < sub.height]


def sensitivity(table: pl.DataFrame, by: str, *, max_levels: int = 12, bins: int = 8) -> pl.DataFrame:
    """Long table: strategy, param, level, runs and mean/median/std/min/max of `by` at that level."""
    frames = []
    for strategy in sorted(table["strategy"].drop_nulls().unique().to_list()):
        for param in _params_of(table, strategy):
            sub = _valid(table.filter(pl.col("strategy") == strategy), by, [param])
            if sub.is_empty():
                continue
            idx, labels = param_levels(sub[param], max_levels, bins)
            agg = (
                sub.with_columns(idx)
                .group_by(LEVEL)
                .agg(
                    pl.len().alias("runs"),
                    pl.col(by).mean().alias("mean"),
                    pl.col(by).median().alias("median"),
                    pl.col(by).std().alias("std"),
                    pl.col(by).min().alias("min"),
                    pl.col(by).max().alias("max"),
                )
                .sort(LEVEL)
            )
            frames.append(
                agg.with_columns(
                    pl.lit(strategy).alias("strategy"),
                    pl.lit(param.removeprefix("param_")).alias("param"),
                    pl.col(LEVEL)
                    .map_elements(lambda i, lab=labels: lab[i], return_dtype=pl.String)
                    .alias("level"),
                ).select("strategy", "param", "level", "runs", "mean", "median", "std", "min", "max")
            )
    if not frames:
        return pl.DataFrame(
            schema={"strategy": pl.String, "param": pl.String, "level": pl.String, "runs": pl.UInt32}
            | {k: pl.Float64 for k in ("mean", "median", "std", "min", "max")}
        )
    return pl.concat(frames, how="vertical_relaxed")


def explained_variance(table: pl.DataFrame, by: str, *, max_levels: int = 12, bins: int = 8) -> pl.DataFrame:
    """η² per (strategy, param): between-level variance of `by` over its total variance, a
    model-free importance used when no Optuna study is given."""
    rows = []
    for strategy in sorted(table["strategy"].drop_nulls().unique().to_list()):
        for param in _params_of(table, strategy):
            sub = _valid(table.filter(pl.col("strategy") == strategy), by, [param])
            if sub.height < 2:
                continue
            idx, labels = param_levels(sub[param], max_levels, bins)
            y = sub[by].cast(pl.Float64).to_numpy()
            total = float(((y - y.mean()) ** 2).sum())
            g = idx.to_numpy()
            between = sum((g == k).sum() * (y[g == k].mean() - y.mean()) ** 2 for k in np.unique(g))
            rows.append(
                {
                    "strategy": strategy,
                    "param": param.removeprefix("param_"),
                    "eta2": float(between / total) if total > 0 else 0.0,
                    "levels": len(labels),
                    "runs": sub.height,
                }
            )
    schema = {
        "strategy": pl.String,
        "param": pl.String,
        "eta2": pl.Float64,
        "levels": pl.Int64,
        "runs": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema).sort(["strategy", "eta2"], descending=[False, True])


def heatmap_grid(
    table: pl.DataFrame, by: str, strategy: str, x: str, y: str, *, max_levels: int = 12, bins: int = 8
) -> dict:
    """Mean of `by` over the (x level, y level) grid of one strategy's runs; None where no run."""
    px, py = f"param_{x}", f"param_{y}"
    for p in (px, py):
        if p not in table.columns:
            raise ConfigError(f"heatmap: unknown parameter {p.removeprefix('param_')!r} for {strategy}")
    sub = _valid(table.filter(pl.col("strategy") == strategy), by, [px, py])
    if sub.is_empty():
        return {"x": x, "y": y, "x_labels": [], "y_labels": [], "z": [], "n": []}
    ix, xl = param_levels(sub[px], max_levels, bins)
    iy, yl = param_levels(sub[py], max_levels, bins)
    agg = (
        sub.select(pl.col(by).cast(pl.Float64).alias("v"))
        .with_columns(ix.alias("ix"), iy.alias("iy"))
        .group_by("ix", "iy")
        .agg(pl.col("v").mean().alias("mean"), pl.len().alias("n"))
    )
    z: list[list[float | None]] = [[None] * len(xl) for _ in yl]
    n = [[0] * len(xl) for _ in yl]
    for row in agg.iter_rows(named=True):
        z[row["iy"]][row["ix"]] = row["mean"]
        n[row["iy"]][row["ix"]] = row["n"]
    return {"strategy": strategy, "by": by, "x": x, "y": y, "x_labels": xl, "y_labels": yl, "z": z, "n": n}
