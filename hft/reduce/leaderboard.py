"""Leaderboard, the narrow runs table and strategy comparison, as lazy Polars queries.

Rankings say what they rank: every row carries its `phase` (test = walk-forward out-of-sample
window, run = a single run, train = a sweep trial on its training window), `fold`, date range
(`window`) and `n_days`, the daily returns behind its ratios. Phases are ranked on their own, test
first (`rank` restarts per phase). A ratio (Sharpe, Sortino, Calmar, PSR, DSR) from fewer than
`min_days` daily returns is flagged `few_days` and ranked after every row that has enough, so it
never heads a ranking; rows that cannot be ranked (null, NaN, pruned or failed) get no rank.

The leaderboard is a `top_k` over a projected, filtered scan: only the columns shown are read from
each file, and only `top` rows are ever materialised.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from hft.errors import ConfigError
from hft.reduce.scan import METRIC_COLUMNS, RUN_URL, SUMMARY_PATH, RunsScan, with_run_url

__all__ = [
    "DEFAULT_MIN_DAYS",
    "PHASE_TITLES",
    "RATIO_METRICS",
    "rank_runs",
    "display_columns",
    "leaderboard_sections",
    "LOWER_IS_BETTER",
    "ID_COLUMNS",
    "check_metric",
    "descending_for",
    "leaderboard_query",
    "leaderboard",
    "runs_table",
    "runs_table_columns",
    "compare_strategies",
]

LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_frac", "fees", "wall_time_s", "sharpe_se"})
RATIO_METRICS = frozenset(
    {"sharpe", "sortino", "calmar", "psr", "dsr", "sharpe_lo", "sharpe_hi", "sharpe_se"}
)
DEFAULT_MIN_DAYS = 20
PHASES = ("test", "oos_check", "run", "train")  # the order rankings are shown in: out-of-sample first
PHASE_TITLES = {
    "test": "Out-of-sample: walk-forward test windows",
    "oos_check": "Out-of-sample checks, NOT selected: the next best train trials on the test windows "
    "(for in- vs out-of-sample agreement only)",
    "run": "Single runs",
    "train": "In-sample: sweep trials on their training windows",
}
ID_COLUMNS = ("run_id", "group", "strategy", "symbol")
CONTEXT = ("phase", "fold", "trial", "start", "end", "n_days", "status")
SHOWN = (
    "net_pnl",
    "total_return",
    "sharpe",
    "sharpe_lo",
    "sharpe_hi",
    "psr",
    "max_drawdown_frac",
    "trades",
    "win_rate",
    "profit_factor",
)

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
    """NaN and infinities, pruned and failed trials never win a leaderboard."""
    return (
        pl.col(by).is_not_null()
        & pl.col(by).cast(pl.Float64).is_finite()
        & (pl.col("status").fill_null("complete") == "complete")
    )


def _context(by: str, min_days: int) -> list[pl.Expr]:
    """n_days (old runs: their `days`), the window label, the phase order and the few-days flag."""
    n = pl.coalesce(pl.col("n_days"), pl.col("days")).alias("n_days")
    few = (pl.lit(by in RATIO_METRICS) & (n.fill_null(0) < min_days)).alias("few_days")
    window = pl.concat_str(pl.col("start").cast(pl.String), pl.lit(".."), pl.col("end").cast(pl.String))
    order = pl.col("phase").replace_strict({p: i for i, p in enumerate(PHASES)}, default=len(PHASES))
    return [n, few, window.alias("window"), order.cast(pl.Int32).alias("_phase_order")]


def rank_runs(table: pl.DataFrame, by: str, desc: bool, *, min_days: int = DEFAULT_MIN_DAYS) -> pl.DataFrame:
    """Every row, test phase first, ranked within its phase (few-days ratios after the rest)."""
    df = table.with_columns(_context(by, min_days)).with_columns(_ranked(by).alias("_ok"))
    df = df.sort(
        ["_phase_order", "_ok", "few_days", by, "run_id"],
        descending=[False, True, False, desc, False],
        nulls_last=True,
    )
    rank = pl.when(pl.col("_ok")).then(pl.col("_ok").cum_sum().over("phase")).cast(pl.UInt32)
    return df.with_columns(rank.alias("rank")).drop("_ok", "_phase_order")


def leaderboard_query(
    by: str,
    top: int,
    *,
    descending: bool | None = None,
    columns: tuple[str, ...] = (*ID_COLUMNS, *CONTEXT, *SHOWN),
    where: pl.Expr | None = None,
    min_days: int = DEFAULT_MIN_DAYS,
) -> Query:
    """Top `top` runs by `by` (test phase first, then rows `by` ranks, few-days ratios after the
    rest, unrankable rows last); ties broken by run_id."""
    desc = descending_for(by) if descending is None else descending
    cols = list(dict.fromkeys([*columns, by, "days", "params", SUMMARY_PATH]))

    def query(lf: pl.LazyFrame) -> pl.LazyFrame:
        if where is not None:
            lf = lf.filter(where)
        lf = lf.select(cols).with_columns(*_context(by, min_days), (~_ranked(by)).alias("_unranked"))
        key = pl.col(by).cast(pl.Float64)
        key = pl.when(key.is_finite()).then(-key if desc else key)
        return lf.with_columns(key.alias("_key")).bottom_k(
            top, by=["_phase_order", "_unranked", "few_days", "_key", "run_id"]
        )

    return query


def leaderboard(
    scan: RunsScan,
    by: str = "sharpe",
    top: int = 20,
    *,
    descending: bool | None = None,
    where: pl.Expr | None = None,
    min_days: int = DEFAULT_MIN_DAYS,
) -> pl.DataFrame:
    """The best `top` runs by `by` with each run's folder URL: out-of-sample (test) rows first,
    `rank` counting within each phase, null for rows `by` cannot rank (see the module docstring)."""
    check_metric(scan, by)
    if top < 1:
        raise ConfigError(f"--top {top}: must be at least 1")
    desc = descending_for(by) if descending is None else descending
    df = scan.collect(leaderboard_query(by, top, descending=desc, where=where, min_days=min_days))
    df = df.sort(["_phase_order", "_unranked", "few_days", "_key", "run_id"], nulls_last=True)
    rank = pl.when(~pl.col("_unranked")).then((~pl.col("_unranked")).cum_sum().over("phase")).cast(pl.UInt32)
    df = df.with_columns(rank.alias("rank")).drop("_phase_order", "_key", "_unranked", "days")
    return with_run_url(df).select("rank", pl.exclude("rank"))


def runs_table_columns(scan: RunsScan, by: str) -> list[str]:
    """The columns `runs_table` reads."""
    metrics = [c for c in METRIC_COLUMNS if c in scan.schema]
    cols = [*ID_COLUMNS, *CONTEXT, "sweep", by, *metrics, *scan.param_columns(), "params", SUMMARY_PATH]
    return [c for c in dict.fromkeys(cols) if c in scan.schema or c == SUMMARY_PATH]


def runs_table(scan: RunsScan, by: str, *, where: pl.Expr | None = None) -> pl.DataFrame:
    """Every run, but only the numbers a report aggregates: ids, metrics and typed parameters."""
    check_metric(scan, by)
    cols = runs_table_columns(scan, by)

    def query(lf: pl.LazyFrame) -> pl.LazyFrame:
        return (lf.filter(where) if where is not None else lf).select(cols)

    df = with_run_url(scan.collect(query)).drop(RUN_URL)
    # one line per cell (CSV, terminals): old runs stored their parameters as multi-line YAML
    return df.with_columns(pl.col("params").str.strip_chars().str.replace_all("\n", ", "))


def compare_strategies(table: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per strategy and symbol: how many runs, and the distribution of `by` and of net PnL."""
    desc = descending_for(by)
    m = pl.col(by).filter(_ranked(by))
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


def display_columns(by: str, columns: list[str]) -> list[str]:
    """What a leaderboard shows: rank, what the row is (phase, fold, window, n_days), then figures."""
    want = [
        "rank",
        "phase",
        "fold",
        "trial",
        "window",
        "n_days",
        "few_days",
        "run_id",
        "group",
        "strategy",
        by,
        "net_pnl",
        "sharpe",
        "sharpe_lo",
        "sharpe_hi",
        "psr",
        "dsr",
        "max_drawdown_frac",
        "trades",
        "params",
    ]
    return [c for c in dict.fromkeys(want) if c in columns]


def leaderboard_sections(
    lead: pl.DataFrame, by: str, columns: list[str] | None = None
) -> list[tuple[str, pl.DataFrame]]:
    """The leaderboard as (title, table) per phase, out-of-sample first; titles say what is ranked.
    `columns` (those of `lead`, in order) default to `display_columns`; the HTML report shows more."""
    from hft.tables import label

    out = []
    cols = display_columns(by, lead.columns) if columns is None else [c for c in columns if c in lead.columns]
    for phase in [*PHASES, *sorted(set(lead["phase"].drop_nulls()) - set(PHASES))]:
        part = lead.filter(pl.col("phase") == phase)
        if part.is_empty():
            continue
        windows = part["window"].n_unique() if "window" in part.columns else 1
        few = int(part["few_days"].sum()) if "few_days" in part.columns else 0
        title = f"{PHASE_TITLES.get(phase, phase)} ranked by {label(by)}"
        if windows > 1:
            title += f" ({windows} different date windows: compare within a window)"
        if few:
            title += f"; {few} row(s) with fewer daily returns than min_days ranked last"
        out.append((title, part.select(cols)))
    return out
