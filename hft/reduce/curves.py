"""Per-run analytics for the leaders: equity and drawdown curves, trade statistics and volatility
clustering of returns. Each reads one run's `equity.parquet` / `trades.parquet` (small) eagerly."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from hft.reduce.scan import EQUITY_FILE, TRADES_FILE, RunsScan, Skipped

__all__ = [
    "RunDetail",
    "load_run",
    "equity_drawdown",
    "downsample",
    "trade_stats",
    "autocorrelation",
    "vol_clustering",
]


@dataclass
class RunDetail:
    run_id: str
    url: str
    equity: pl.DataFrame | None = None  # ts, equity, peak, drawdown, drawdown_frac
    trades: pl.DataFrame | None = None
    stats: dict = field(default_factory=dict)
    clustering: pl.DataFrame | None = None


def equity_drawdown(equity: pl.DataFrame) -> pl.DataFrame:
    """Running peak and drawdown (absolute and as a fraction of the peak) of the marked equity."""
    return (
        equity.sort("ts")
        .select("ts", "equity")
        .with_columns(pl.col("equity").cum_max().alias("peak"))
        .with_columns(
            (pl.col("peak") - pl.col("equity")).alias("drawdown"),
            ((pl.col("peak") - pl.col("equity")) / pl.col("peak")).alias("drawdown_frac"),
        )
    )


def downsample(df: pl.DataFrame, points: int = 600) -> pl.DataFrame:
    """At most about `points` rows for plotting: per bucket, the rows of the bucket's highest and
    lowest equity and deepest drawdown, so peaks and troughs survive."""
    if df.height <= points:
        return df
    step = max(1, df.height // (points // 3))
    b = (pl.int_range(pl.len()) // step).alias("_b")
    d = df.with_row_index("_i").with_columns(b)
    keep = pl.concat(
        [d.group_by("_b").agg(pl.col("_i").sort_by(c).last()).select("_i") for c in ("equity", "drawdown")]
        + [
            d.group_by("_b").agg(pl.col("_i").sort_by("equity").first()).select("_i"),
            d.select(pl.col("_i").last()),
        ]
    ).unique()
    return d.join(keep, on="_i").sort("_i").drop("_i", "_b")


def trade_stats(trades: pl.DataFrame, *, bins: int = 20) -> dict:
    """Net PnL distribution, holding time and the by-hour-of-entry (UTC) table."""
    n = trades.height
    out: dict = {"trades": n}
    if n == 0:
        return out
    t = trades.with_columns(
        ((pl.col("exit_time") - pl.col("entry_time")).dt.total_milliseconds() / 1000.0).alias("hold_s"),
        pl.col("entry_time").dt.hour().alias("hour"),
    )
    pnl = t["net_pnl"].to_numpy()
    q = np.quantile(pnl, [0.05, 0.25, 0.5, 0.75, 0.95])
    out["pnl"] = {
        "total": float(pnl.sum()),
        "mean": float(pnl.mean()),
        "std": float(pnl.std(ddof=1)) if n > 1 else None,
        "min": float(pnl.min()),
        "max": float(pnl.max()),
        **{f"p{int(p * 100):02d}": float(v) for p, v in zip((0.05, 0.25, 0.5, 0.75, 0.95), q, strict=True)},
        "win_rate": float((pnl > 0).mean()),
    }
    counts, edges = np.histogram(pnl, bins=bins)
    out["histogram"] = pl.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": counts.astype(np.int64)})
    hold = t["hold_s"].to_numpy()
    out["holding_s"] = {
        "mean": float(hold.mean()),
        "median": float(np.median(hold)),
        "p90": float(np.quantile(hold, 0.9)),
        "max": float(hold.max()),
    }
    out["by_hour"] = (
        t.group_by("hour")
        .agg(
            pl.len().alias("trades"),
            pl.col("net_pnl").sum().alias("net_pnl"),
            pl.col("net_pnl").mean().alias("mean_pnl"),
            (pl.col("net_pnl") > 0).mean().alias("win_rate"),
        )
        .sort("hour")
    )
    out["by_side"] = t.group_by("side").agg(pl.len().alias("trades"), pl.col("net_pnl").sum()).sort("side")
    out["by_exit"] = (
        t.group_by("exit_reason").agg(pl.len().alias("trades"), pl.col("net_pnl").sum()).sort("exit_reason")
    )
    return out


def autocorrelation(x: np.ndarray, lags: int) -> np.ndarray:
    """Sample ACF at lags 1..lags (biased estimator, the one Box-Jenkins and statsmodels use)."""
    x = np.asarray(x, dtype=np.float64)
    d = x - x.mean()
    denom = float(d @ d)
    out = np.full(lags, np.nan)
    if denom == 0.0:
        return out
    for k in range(1, min(lags, x.size - 1) + 1):
        out[k - 1] = float(d[:-k] @ d[k:]) / denom
    return out


def vol_clustering(equity: pl.DataFrame, lags: int = 20) -> pl.DataFrame:
    """ACF of returns and of absolute returns between marks: volatility clustering shows as
    positive, slowly decaying ACF of |r| while the ACF of r stays near zero."""
    eq = equity.sort("ts")["equity"].to_numpy()
    r = eq[1:] / eq[:-1] - 1.0 if eq.size > 1 else np.array([])
    r = r[np.isfinite(r)]
    band = 1.96 / np.sqrt(r.size) if r.size else np.nan
    return pl.DataFrame(
        {
            "lag": np.arange(1, lags + 1),
            "acf_returns": autocorrelation(r, lags) if r.size > 2 else np.full(lags, np.nan),
            "acf_abs_returns": autocorrelation(np.abs(r), lags) if r.size > 2 else np.full(lags, np.nan),
            "band": np.full(lags, band),
        }
    )


def _read(scan: RunsScan, url: str, name: str, run_url: str) -> pl.DataFrame | None:
    try:
        return pl.read_parquet(f"{run_url}/{name}", storage_options=scan.storage_options)
    except FileNotFoundError:
        scan.skip(Skipped(f"{run_url}/{name}", f"missing {name}"))
    except (pl.exceptions.PolarsError, OSError) as exc:
        text = str(exc).strip().splitlines()
        scan.skip(Skipped(f"{run_url}/{name}", f"unreadable {name}", text[0][:200] if text else ""))
    return None


def load_run(scan: RunsScan, run_id: str, run_url: str, *, lags: int = 20) -> RunDetail:
    """Curves and stats of one run; a missing or corrupt file leaves that part out (warned)."""
    detail = RunDetail(run_id, run_url)
    eq = _read(scan, run_url, EQUITY_FILE, run_url)
    if eq is not None and {"ts", "equity"} <= set(eq.columns):
        detail.equity = equity_drawdown(eq)
        detail.clustering = vol_clustering(eq, lags)
    tr = _read(scan, run_url, TRADES_FILE, run_url)
    if tr is not None and {"entry_time", "exit_time", "net_pnl"} <= set(tr.columns):
        detail.trades = tr
        detail.stats = trade_stats(tr)
    return detail
