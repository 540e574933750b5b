"""Per-run analytics for the leaders: equity and drawdown curves, the traded symbol's price and its
buy-and-hold curve, daily and monthly returns, rolling Sharpe, the PnL split (gross, slippage, fees),
trade statistics and volatility clustering. Each reads one run's `equity.parquet`, `trades.parquet`
and `summary.yaml` (small) eagerly, from its folder or from its sweep's `kept.parquet` (only that run's
row group), and the run's tick days (`ts`, `bid`, `ask` only) for the price."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import yaml

from hft.reduce.scan import EQUITY_FILE, SUMMARY_YAML, TRADES_FILE, RunsScan, Skipped

__all__ = [
    "RunDetail",
    "load_run",
    "equity_drawdown",
    "downsample",
    "minmax_downsample",
    "daily_returns",
    "monthly_returns",
    "rolling_sharpe",
    "pnl_split",
    "quote_currency",
    "trade_stats",
    "autocorrelation",
    "vol_clustering",
]


@dataclass
class RunDetail:
    run_id: str
    url: str
    equity: pl.DataFrame | None = None  # ts, equity, peak, drawdown, drawdown_frac (+ buy_hold)
    trades: pl.DataFrame | None = None
    stats: dict = field(default_factory=dict)
    clustering: pl.DataFrame | None = None
    summary: dict = field(default_factory=dict)  # summary.yaml
    currency: str = ""  # quote currency: PnL, equity and capital are in it
    price: pl.DataFrame | None = None  # ts, mid: min/max per bucket of every tick of the run's days
    daily: pl.DataFrame | None = None  # date, equity, ret (UTC days, from the day closes)
    monthly: pl.DataFrame | None = None  # year, month, ret
    rolling: pl.DataFrame | None = None  # ts, sharpe
    split: dict = field(default_factory=dict)  # gross, slippage, fees, net (quote currency)
    notes: list[str] = field(default_factory=list)

    @property
    def capital(self) -> float:
        return float(self.summary.get("config", {}).get("execution", {}).get("capital") or 0.0)

    @property
    def symbol(self) -> str:
        return str(self.summary.get("data", {}).get("symbol") or "")

    @property
    def window(self) -> str:
        d = self.summary.get("data", {})
        return f"{d.get('start', '?')}..{d.get('end', '?')}"


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


def minmax_downsample(x: np.ndarray, y: np.ndarray, buckets: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """At most ~2 * `buckets` points: per equal-count bucket the lowest and the highest point, in time
    order, plus the first and last, so spikes survive (plain decimation would drop them)."""
    n = x.size
    if n <= 2 * buckets:
        return x, y
    step = -(-n // buckets)
    m = (n // step) * step
    body = y[:m].reshape(-1, step)
    base = np.arange(0, m, step)
    idx = [base + body.argmin(axis=1), base + body.argmax(axis=1), np.array([0, n - 1])]
    if m < n:
        tail = y[m:]
        idx.append(np.array([m + tail.argmin(), m + tail.argmax()]))
    keep = np.unique(np.concatenate(idx))
    return x[keep], y[keep]


def daily_returns(equity: pl.DataFrame, capital: float) -> pl.DataFrame:
    """UTC-day returns from the day-close rows (stamped 24:00, so the day is the instant before)."""
    closes = equity.filter(pl.col("day_close")).sort("ts") if "day_close" in equity.columns else None
    if closes is None or closes.is_empty():
        return pl.DataFrame(schema={"date": pl.Date, "equity": pl.Float64, "ret": pl.Float64})
    return closes.select(
        (pl.col("ts") - pl.duration(milliseconds=1)).dt.date().alias("date"),
        "equity",
        (pl.col("equity") / pl.col("equity").shift(1).fill_null(capital or None) - 1.0).alias("ret"),
    )


def monthly_returns(daily: pl.DataFrame) -> pl.DataFrame:
    """Compounded return of each calendar month from the daily returns."""
    return (
        daily.drop_nulls("ret")
        .group_by(pl.col("date").dt.year().alias("year"), pl.col("date").dt.month().alias("month"))
        .agg(((pl.col("ret") + 1.0).product() - 1.0).alias("ret"), pl.len().alias("days"))
        .sort("year", "month")
    )


def rolling_sharpe(equity: pl.DataFrame, window: int = 24) -> pl.DataFrame:
    """Sharpe of the last `window` hourly returns (hours holding a mark), annualised by √(252·24)."""
    hourly = (
        equity.sort("ts")
        .group_by_dynamic("ts", every="1h", label="right")
        .agg(pl.col("equity").last())
        .with_columns((pl.col("equity") / pl.col("equity").shift(1) - 1.0).alias("r"))
        .drop_nulls("r")
    )
    m = pl.col("r").rolling_mean(window)
    sd = pl.col("r").rolling_std(window)
    return hourly.select(
        "ts", pl.when(sd > 0).then(m / sd * math.sqrt(252 * 24)).otherwise(None).alias("sharpe")
    ).drop_nulls("sharpe")


def pnl_split(trades: pl.DataFrame, summary: dict) -> dict:
    """Net PnL = gross (before slippage) - slippage - fees, in the quote currency.

    Trade `pnl` is after slippage (fills carry it); slippage is estimated as the configured
    `slippage` x units of each market-order fill: both fills of a trade, except a limit exit and
    the limit entries of quoting strategies (`market_maker`), which pay none.
    """
    ex = summary.get("config", {}).get("execution", {})
    slip = float(ex.get("slippage") or 0.0)
    quoting = summary.get("config", {}).get("strategy", {}).get("name") == "market_maker"
    market_fills = (
        pl.lit(0 if quoting else 1) + (pl.col("exit_reason") != "limit").cast(pl.Int64)
        if "exit_reason" in trades.columns
        else pl.lit(2)
    )
    cost = (
        trades.select((pl.col("qty").abs() * slip * market_fills).sum()).item()
        if "qty" in trades.columns
        else 0
    )
    after_slip = float(trades["pnl"].sum()) if "pnl" in trades.columns else float(trades["net_pnl"].sum())
    fees = float(trades["fees"].sum()) if "fees" in trades.columns else 0.0
    return {
        "gross": after_slip + float(cost or 0.0),
        "slippage": float(cost or 0.0),
        "fees": fees,
        "net": after_slip - fees,
    }


def quote_currency(symbol: str) -> str:
    """`USD` for XAU/USD: PnL, equity and capital are in the quote currency."""
    try:
        from hft.data.instruments import get_instrument

        name = get_instrument(symbol).name
    except Exception:  # unknown or odd symbol: no unit rather than a wrong one
        return ""
    return name.split("/")[-1] if "/" in name else ""


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
    out["histogram"] = _hist(pnl, bins)
    hold = t["hold_s"].to_numpy()
    out["holding_s"] = {
        "mean": float(hold.mean()),
        "median": float(np.median(hold)),
        "p90": float(np.quantile(hold, 0.9)),
        "max": float(hold.max()),
    }
    hours = pl.DataFrame({"hour": pl.Series(range(24), dtype=t.schema["hour"])})
    out["by_hour"] = hours.join(
        t.group_by("hour").agg(
            pl.len().alias("trades"),
            pl.col("net_pnl").sum().alias("net_pnl"),
            pl.col("net_pnl").mean().alias("mean_pnl"),
            (pl.col("net_pnl") > 0).mean().alias("win_rate"),
        ),
        on="hour",
        how="left",
    ).with_columns(pl.col("trades").fill_null(0), pl.col("net_pnl").fill_null(0.0))  # empty hours kept
    out["hold_hist"] = _hist(hold, bins)
    out["by_side"] = t.group_by("side").agg(pl.len().alias("trades"), pl.col("net_pnl").sum()).sort("side")
    out["by_exit"] = (
        t.group_by("exit_reason").agg(pl.len().alias("trades"), pl.col("net_pnl").sum()).sort("exit_reason")
    )
    return out


def _hist(x: np.ndarray, bins: int) -> pl.DataFrame:
    counts, edges = np.histogram(x, bins=bins)
    return pl.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": counts.astype(np.int64)})


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


def _summary(scan: RunsScan, run_url: str) -> dict:
    try:
        with scan.store.fs.open(f"{run_url}/{SUMMARY_YAML}", "rb") as fh:
            doc = yaml.safe_load(fh.read())
        return doc if isinstance(doc, dict) else {}
    except (OSError, yaml.YAMLError):
        return {}


def _prices(scan: RunsScan, detail: RunDetail, points: int) -> None:
    """The run's ticks (from the store the runs folder sits in) as mid, min/max-downsampled, and the
    buy-and-hold equity of one lot (`size` units long from the first tick, at mid, no costs) at the
    equity marks, as the `buy_hold` column."""
    data = detail.summary.get("data", {})
    days, symbol = data.get("days") or [], data.get("symbol")
    if not days or not symbol:
        return
    root = scan.store.uri().rstrip("/").rsplit("/", 1)[0]
    files = [f"{root}/ticks/symbol={symbol}/date={d}/ticks.parquet" for d in days]
    try:
        ticks = pl.concat(
            [
                pl.read_parquet(f, columns=["ts", "bid", "ask"], storage_options=scan.storage_options)
                for f in files
            ]
        )
    except (FileNotFoundError, pl.exceptions.PolarsError, OSError) as exc:
        detail.notes.append(
            f"price chart left out: ticks not readable under {root}/ticks ({type(exc).__name__})"
        )
        return
    ts = ticks["ts"].dt.epoch("ms").to_numpy()
    mid = ((ticks["bid"] + ticks["ask"]) / 2).to_numpy()
    x, y = minmax_downsample(ts, mid, points)
    detail.price = pl.DataFrame({"ts": x, "mid": y}).with_columns(
        pl.from_epoch("ts", "ms").dt.replace_time_zone("UTC")
    )
    size = float(detail.summary.get("config", {}).get("execution", {}).get("size") or 0.0)
    if detail.equity is not None and size and mid.size:
        ets = detail.equity["ts"].dt.epoch("ms").to_numpy()
        at = mid[np.clip(np.searchsorted(ts, ets, side="right") - 1, 0, mid.size - 1)]
        detail.equity = detail.equity.with_columns(buy_hold=detail.capital + size * (at - mid[0]))


def _packed(scan: RunsScan, pack: str, run_id: str):
    """(summary, equity, trades) of a kept run from its sweep's pack; Nones (warned) if unreadable."""
    from hft.store.kept import read_kept

    try:
        got = read_kept(pack, run_id, scan.storage_options)
        if got is None:
            raise FileNotFoundError(f"run {run_id} is not in it")
        doc = yaml.safe_load(got.summary)
        return (doc if isinstance(doc, dict) else {}), got.equity, got.trades
    except (pl.exceptions.PolarsError, OSError, yaml.YAMLError) as exc:
        text = str(exc).strip().splitlines()
        scan.skip(Skipped(f"{pack} (run {run_id})", "unreadable kept run", text[0][:200] if text else ""))
        return {}, None, None


def load_run(
    scan: RunsScan,
    run_id: str,
    run_url: str,
    *,
    lags: int = 20,
    prices: bool = True,
    points: int = 1500,
    pack: str | None = None,
) -> RunDetail:
    """Curves and stats of one run, from its folder or, with `pack`, from its sweep's kept.parquet;
    a missing or corrupt file leaves that part out (warned)."""
    detail = RunDetail(run_id, run_url)
    if pack is not None:
        detail.summary, eq, tr = _packed(scan, pack, run_id)
    else:
        detail.summary = _summary(scan, run_url)
        eq = _read(scan, run_url, EQUITY_FILE, run_url)
        tr = _read(scan, run_url, TRADES_FILE, run_url)
    detail.currency = quote_currency(detail.symbol)
    if eq is not None and {"ts", "equity"} <= set(eq.columns):
        detail.equity = equity_drawdown(eq)
        detail.clustering = vol_clustering(eq, lags)
        capital = detail.capital or float(eq.sort("ts")["equity"][0])
        detail.daily = daily_returns(eq, capital)
        detail.monthly = monthly_returns(detail.daily)
        detail.rolling = rolling_sharpe(eq)
    if tr is not None and {"entry_time", "exit_time", "net_pnl"} <= set(tr.columns):
        detail.trades = tr
        detail.stats = trade_stats(tr)
        detail.split = pnl_split(tr, detail.summary)
    if prices:
        _prices(scan, detail, points)
    return detail
