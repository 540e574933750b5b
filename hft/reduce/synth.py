"""Synthetic run folders (summary, trades, equity) for tests and benchmarks of the reducer.

Metrics are drawn so they depend on the parameters (a smooth surface plus noise), which gives the
sensitivity tables and heatmaps something real to find. Files are written in the exact layout and
schemas `hft run` produces (hft.backtest.artifacts), many at a time with `fs.pipe`.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa

from hft.backtest import artifacts as A
from hft.store.fs import Store

__all__ = ["synth_run", "write_runs"]

_T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z in ms
_DAY = 86_400_000


def synth_run(
    i: int, group: str, *, seed: int = 0, n_trades: int = 40, n_marks: int = 300, daily: bool = True
) -> dict:
    """Run `i`: its summary row, trades and equity tables; reproducible from (seed, i).

    `daily=False` writes the row as runs did before daily returns were stored (no `n_days`,
    `daily_dates`, `daily_returns`)."""
    rng = np.random.default_rng([seed, i])
    if i % 3 == 2:
        strategy = "zscore"
        params = {
            "window": int(rng.choice([50, 100, 200, 400])),
            "entry_z": float(rng.choice([1.5, 2.0, 2.5])),
        }
        params["exit_z"] = 0.5
        skill = 0.5 - abs(math.log(params["window"] / 200)) * 0.4 + (params["entry_z"] - 2.0) * 0.3
    else:
        strategy = "ema_cross"
        fast = int(rng.choice([5, 10, 20, 40, 80]))
        params = {"fast": fast, "slow": int(fast * rng.choice([2, 4, 8]))}
        skill = 1.0 - abs(math.log(fast / 20)) * 0.5 - abs(math.log(params["slow"] / fast / 4)) * 0.3
    capital = 100_000.0
    # trades: entry every ~hour, held seconds..hours; PnL mean tied to `skill`
    entry = _T0 + np.sort(rng.integers(0, 5 * _DAY, n_trades)).astype(np.int64)
    hold = rng.integers(1_000, 3_600_000, n_trades).astype(np.int64)
    gross = rng.normal(20.0 * skill, 100.0, n_trades)
    fees = np.full(n_trades, 2.0)
    side = np.where(rng.random(n_trades) < 0.5, "long", "short")
    trades = pa.table(
        {
            "entry_time": pa.array(entry, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "exit_time": pa.array(entry + hold, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "side": pa.array(side.tolist(), pa.string()),
            "qty": pa.array(np.full(n_trades, 100_000.0)),
            "entry_price": pa.array(np.full(n_trades, 1.1)),
            "exit_price": pa.array(1.1 + gross / 100_000.0),
            "pnl": pa.array(gross),
            "fees": pa.array(fees),
            "net_pnl": pa.array(gross - fees),
            "exit_reason": pa.array(["signal"] * n_trades, pa.string()),
        }
    )
    # equity: GARCH-like returns so the volatility-clustering panel has clustering to show
    vol = np.empty(n_marks)
    r = np.empty(n_marks)
    v = 1e-6
    for k in range(n_marks):
        v = 5e-8 + 0.1 * (r[k - 1] ** 2 if k else 1e-6) + 0.85 * v
        vol[k] = math.sqrt(v)
        r[k] = rng.normal(skill * 3e-5, vol[k])
    equity = capital * np.cumprod(1.0 + r)
    ts = _T0 + np.arange(n_marks, dtype=np.int64) * (5 * _DAY // n_marks)
    day_close = np.zeros(n_marks, bool)
    day_idx = (ts - _T0) // _DAY
    day_close[:-1] = day_idx[1:] != day_idx[:-1]
    day_close[-1] = True
    equity_t = pa.table(
        {
            "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "equity": pa.array(equity),
            "position": pa.array(np.zeros(n_marks)),
            "day_close": pa.array(day_close),
        }
    )
    closes = equity[day_close]
    daily_r = closes / np.concatenate([[capital], closes[:-1]]) - 1.0
    peak = np.maximum.accumulate(np.concatenate([[capital], equity]))[1:]
    dd = peak - equity
    net = float(equity[-1] - capital)
    tnet = gross - fees
    sd = float(np.std(daily_r, ddof=1))
    run_id = f"{seed:04d}{i:012d}"
    metrics: dict[str, Any] = {
        "net_pnl": net,
        "total_return": net / capital,
        "final_equity": float(equity[-1]),
        "sharpe": float(np.mean(daily_r) / sd * math.sqrt(252)) if sd > 0 else None,
        "sortino": None,
        "max_drawdown": float(dd.max()),
        "max_drawdown_frac": float((dd / peak).max()),
        "calmar": None,
        "trades": n_trades,
        "win_rate": float((tnet > 0).mean()),
        "profit_factor": float(tnet[tnet > 0].sum() / -tnet[tnet < 0].sum()) if (tnet < 0).any() else None,
        "avg_trade": float(tnet.mean()),
        "median_trade": float(np.median(tnet)),
        "avg_holding_s": float(hold.mean() / 1000.0),
        "exposure": 0.5,
        "fees": float(fees.sum()),
        "days": int(daily_r.size),
        "ticks": 1_000_000,
    }
    row = {
        "run_id": run_id,
        "group": group,
        "strategy": strategy,
        "symbol": "EURUSD",
        "start": date(2024, 1, 1),
        "end": date(2024, 1, 5),
        "fingerprint": "synthetic",
        "params": "\n".join(f"{k}: {v}" for k, v in sorted(params.items())),
        **{f"param_{k}": v for k, v in params.items()},
        **metrics,
        "wall_time_s": 0.01,
    }
    if daily:
        stamps = ts[day_close] // _DAY
        row.update(
            n_days=int(daily_r.size),
            daily_dates=[date.fromordinal(date(1970, 1, 1).toordinal() + int(d)) for d in stamps],
            daily_returns=[float(x) for x in daily_r],
        )
    return {"row": row, "trades": trades, "equity": equity_t}


def write_runs(
    st: Store,
    n: int,
    *,
    groups: int = 4,
    seed: int = 0,
    curves: bool = True,
    start: int = 0,
    daily: bool = True,
) -> list[dict[str, Any]]:
    """Write runs `start..start+n` under `st` (the runs folder) as `{group}/{run_id}/`; returns rows."""
    rows: list[dict[str, Any]] = []
    batch: dict[str, bytes] = {}
    for i in range(start, start + n):
        group = f"g{i % groups}"
        run = synth_run(
            i, group, seed=seed, n_trades=40 if curves else 1, n_marks=300 if curves else 2, daily=daily
        )
        row = run["row"]
        folder = (group, row["run_id"])
        if curves:
            batch[st.path(*folder, A.TRADES_FILE)] = A.parquet_bytes(run["trades"])
            batch[st.path(*folder, A.EQUITY_FILE)] = A.parquet_bytes(run["equity"])
        batch[st.path(*folder, A.SUMMARY_PARQUET)] = A.parquet_bytes(A.summary_table(row))
        batch[st.path(*folder, A.SUMMARY_YAML)] = A.yaml_bytes({"run_id": row["run_id"], "group": group})
        rows.append(row)
        if len(batch) >= 2000:
            _flush(st, batch)
    _flush(st, batch)
    return rows


def _flush(st: Store, batch: dict[str, bytes]) -> None:
    if st.is_local:
        for path, data in batch.items():
            st.fs.makedirs(st.fs._parent(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
    else:
        st.fs.pipe(batch)
    batch.clear()
