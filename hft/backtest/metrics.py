"""Run metrics from the engine's records. Daily figures use UTC-day closing equity.

Sharpe = mean(r) / std(r, ddof=1) * sqrt(252) and Sortino = mean(r) / sqrt(mean(min(r, 0)^2)) *
sqrt(252), with r the returns between consecutive UTC-day closes (the first against starting
capital), over days that had ticks. Calmar = annualised return (compounded over 252 days a year)
/ max drawdown fraction. Drawdowns come from the engine, which tracks them at every tick.

Next to Sharpe: its standard error and 95 % interval under non-normal returns (Lo 2002 / Mertens
2002, from the skewness and kurtosis of r; annualised like Sharpe), the Probabilistic Sharpe Ratio
against 0 and `n_days` = len(r), the number of daily returns behind every ratio (hft.reduce.honest).
"""

from __future__ import annotations

import math

import numpy as np

from hft.engine import enums as E
from hft.reduce.honest import sharpe_stats

__all__ = ["ANNUALISATION", "compute_metrics", "daily_returns", "daily_series", "metrics_and_daily"]

ANNUALISATION = 252
METRIC_NOTE = "Sharpe/Sortino/Calmar: UTC-day returns, annualised with 252 days (sqrt(252))"


def _closes(marks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ts, equity) of the day-close marks."""
    at = np.flatnonzero(marks["day_close"] == 1)
    return marks["ts"][at], marks["equity"][at]


def _returns(closes: np.ndarray, capital: float) -> np.ndarray:
    prev = np.concatenate([[capital], closes[:-1]])
    return closes / prev - 1.0


def daily_returns(marks: np.ndarray, capital: float) -> np.ndarray:
    return _returns(_closes(marks)[1], capital)


def _series(ts: np.ndarray, r: np.ndarray) -> tuple[list, list[float]]:
    days = ((ts - 1) // 86_400_000).astype("datetime64[D]").astype(object)
    return list(days), r.tolist()


def daily_series(marks: np.ndarray, capital: float) -> tuple[list, list[float]]:
    """(UTC dates, returns) of the day closes: the series behind every daily ratio. A close is
    stamped 24:00 of its day (hft.engine.enums), so its date is that of the instant before."""
    ts, equity = _closes(marks)
    return _series(ts, _returns(equity, capital))


def metrics_and_daily(
    trades: np.ndarray, marks: np.ndarray, acct: np.ndarray, capital: float
) -> tuple[dict, tuple[list, list[float]]]:
    """`compute_metrics` and `daily_series` of one run, the day closes found once (a sweep actor
    records every trial)."""
    ts, equity = _closes(marks)
    r = _returns(equity, capital)
    return _metrics(trades, r, acct, capital), _series(ts, r)


def sharpe_uncertainty(r: np.ndarray) -> dict:
    """Sharpe's standard error, 95 % interval and PSR(0), annualised like Sharpe (None when undefined)."""
    ss = sharpe_stats(r, periods_per_year=ANNUALISATION)

    def ok(x):
        return _finite(x) if x is not None else None

    return {
        "sharpe_se": ok(ss.se),
        "sharpe_lo": ok(ss.lo),
        "sharpe_hi": ok(ss.hi),
        "psr": ok(ss.psr),
        "n_days": int(r.size),
    }


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def compute_metrics(trades: np.ndarray, marks: np.ndarray, acct: np.ndarray, capital: float) -> dict:
    return _metrics(trades, daily_returns(marks, capital), acct, capital)


def _metrics(trades: np.ndarray, r: np.ndarray, acct: np.ndarray, capital: float) -> dict:
    equity = float(acct[E.A_EQUITY])
    net = equity - capital
    days = int(r.size)
    sharpe = sortino = None
    if days >= 2:
        sd = float(np.std(r, ddof=1))
        if sd > 0:
            sharpe = float(np.mean(r)) / sd * math.sqrt(ANNUALISATION)
        down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
        if down > 0:
            sortino = float(np.mean(r)) / down * math.sqrt(ANNUALISATION)
    total_return = net / capital
    dd_frac = float(acct[E.A_MAX_DD_FRAC])
    calmar = None
    if days and dd_frac > 0 and 1.0 + total_return > 0:
        annual = (1.0 + total_return) ** (ANNUALISATION / days) - 1.0
        calmar = _finite(annual / dd_frac)
    tnet = trades["pnl"] - trades["fees"]
    n = int(trades.size)
    wins = tnet[tnet > 0].sum()
    losses = -tnet[tnet < 0].sum()
    span = float(acct[E.A_LAST_TS] - acct[E.A_FIRST_TS])
    return {
        "net_pnl": net,
        "total_return": total_return,
        "final_equity": equity,
        "sharpe": sharpe,
        **sharpe_uncertainty(r),
        "sortino": sortino,
        "max_drawdown": float(acct[E.A_MAX_DD]),
        "max_drawdown_frac": dd_frac,
        "calmar": calmar,
        "trades": n,
        "win_rate": float((tnet > 0).sum() / n) if n else None,
        "profit_factor": float(wins / losses) if losses > 0 else None,
        "avg_trade": float(tnet.mean()) if n else None,
        "median_trade": float(np.median(tnet)) if n else None,
        "avg_holding_s": float((trades["exit_ts"] - trades["entry_ts"]).mean() / 1000.0) if n else None,
        "exposure": float(acct[E.A_IN_MARKET_MS]) / span if span > 0 else 0.0,
        "fees": float(acct[E.A_FEES]),
        "days": days,
        "ticks": int(acct[E.A_N_TICKS]),
    }
