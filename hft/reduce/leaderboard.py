"""Leaderboard, the narrow runs table and strategy comparison, as lazy Polars queries.

The leaderboard is a `top_k` over a projected, filtered scan: only the columns shown are read from
each `summary.parquet`, and only `top` rows are ever materialised.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from hft.errors import ConfigError
from hft.reduce.scan import METRIC_COLUMNS, RUN_URL, SUMMARY_PATH, RunsScan, with_run_url

__all__ = [
    "LOWER_IS_BETTER",
    "ID_COLUMNS",
    "check_metric",
    "descending_for",
    "leaderboard_query",
    "leaderboard",
    "runs_table",
    "compare_strategies",
]

LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_frac", "fees", "wall_time_s"})
ID_COLUMNS = ("run_id", "group", "strategy", "symbol")
SHOWN = ("net_pnl", "total_return", "sharpe", "max_drawdown_frac", "trades", "win_rate", "profit_factor")

Query = Callable[[pl.LazyFrame], pl.LazyFrame]


def check_metric(scan: RunsScan, by: str) -> None:
    dtype = scan.schema.get(by)
    if dtype is None or not dtype.is_numeric():
        numeric = sorted(c for c, t in scan.schema.items() if t.is_numeric() and not c.startswith("param_"))
        raise ConfigError(f"--by {by!r}: not a numeric summary column; choose one of {', '.join(numeric)}")


def descending_for(by: str) -> bool:
    """Bigger is better except for drawdowns, fees and wall time."""
    return by not in LOWER_IS_BETTER


def _ranked(by: str) -> pl.Expr:
    """NaN and infinities never win a leaderboard."""
    return pl.col(by).is_not_null() & pl.col(by).cast(pl.Float64).is_finite()


def leaderboard_query(
    by: str,
    top: int,
    *,
    descending: bool | None = None,
    columns: tuple[str, ...] = (*ID_COLUMNS, *SHOWN),
    where: pl.Expr | None = None,
) -> Query:
    """Top `top` runs by `by`; ties broken by run_id so the order is reproducible."""
    desc = descending_for(by) if descending is None else descending
    cols = list(dict.fromkeys([*columns, by, "params", SUMMARY_PATH]))

    def query(lf: pl.LazyFrame) -> pl.LazyFrame:
        if where is not None:
            lf = lf.filter(where)
        lf = lf.filter(_ranked(by)).select(cols)
        if desc:
            return lf.top_k(top, by=[by, "run_id"], reverse=[False, True])
        return lf.bottom_k(top, by=[by, "run_id"], reverse=[False, True])

    return query


def leaderboard(
    scan: RunsScan,
    by: str = "sharpe",
    top: int = 20,
    *,
    descending: bool | None = None,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """The best `top` runs by `by` (rank 1 first), with each run's folder URL."""
    check_metric(scan, by)
    if top < 1:
        raise ConfigError(f"--top {top}: must be at least 1")
    desc = descending_for(by) if descending is None else descending
    df = scan.collect(leaderboard_query(by, top, descending=desc, where=where))
    df = df.sort([by, "run_id"], descending=[desc, False], nulls_last=True)
    return with_run_url(df).with_row_index("rank", offset=1)


def runs_table(scan: RunsScan, by: str, *, where: pl.Expr | None = None) -> pl.DataFrame:
    """Every run, but only the numbers a report aggregates: ids, metrics and typed parameters."""
    check_metric(scan, by)
    metrics = [c for c in METRIC_COLUMNS if c in scan.schema]
    cols = list(dict.fromkeys([*ID_COLUMNS, by, *metrics, *scan.param_columns(), "params", SUMMARY_PATH]))

    def query(lf: pl.LazyFrame) -> pl.LazyFrame:
        return (lf.filter(where) if where is not None else lf).select(cols)

    return with_run_url(scan.collect(query)).drop(RUN_URL)


def compare_strategies(table: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per strategy and symbol: how many runs, and the distribution of `by` and of net PnL."""
    desc = descending_for(by)
    m = pl.col(by).filter(pl.col(by).is_not_null() & pl.col(by).cast(pl.Float64).is_finite())
    extra = [] if by == "net_pnl" else [pl.col("net_pnl").mean().alias("mean_net_pnl")]
    return (
        table.group_by("strategy", "symbol")
        .agg(
            pl.len().alias("runs"),
            (m.max() if desc else m.min()).alias(f"best_{by}"),
            m.mean().alias(f"mean_{by}"),
            m.median().alias(f"median_{by}"),
            m.quantile(0.25, interpolation="linear").alias(f"p25_{by}"),
            m.quantile(0.75, interpolation="linear").alias(f"p75_{by}"),
            *extra,
            (pl.col("net_pnl") > 0).mean().alias("share_profitable"),
            pl.col("trades").mean().alias("mean_trades"),
        )
        .sort(f"best_{by}", descending=desc, nulls_last=True)
    )
