"""Every metric against a hand-computed case and against an independent Polars computation."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from hft.backtest import run_backtest
from hft.backtest.metrics import compute_metrics
from hft.engine import MARK_DTYPE, TRADE_DTYPE
from hft.engine import enums as E


def test_metrics_hand_computed():
    # three trades: +30 -10 +5 net of fees (pnl 32, -8, 7; fees 2 each), holding 10 s, 20 s, 30 s
    trades = np.array(
        [
            (0, 10_000, 1, 1.0, 1.0, 1.1, 32.0, 2.0, 0),
            (20_000, 40_000, -1, 1.0, 1.1, 1.2, -8.0, 2.0, 1),
            (50_000, 80_000, 1, 1.0, 1.2, 1.3, 7.0, 2.0, 5),
        ],
        dtype=TRADE_DTYPE,
    )
    # capital 1000; day closes 1010, 990, 1025 -> returns 1%, -1.98019..%, 3.53535..%
    marks = np.array(
        [(0, 1010.0, 0, 1), (1, 990.0, 0, 1), (2, 1025.0, 0, 1), (3, 1025.0, 0, 0)], dtype=MARK_DTYPE
    )
    acct = np.zeros(E.N_ACCT)
    acct[E.A_EQUITY] = 1025.0
    acct[E.A_MAX_DD] = 20.0
    acct[E.A_MAX_DD_FRAC] = 20.0 / 1010.0
    acct[E.A_FIRST_TS] = 0.0
    acct[E.A_LAST_TS] = 100_000.0
    acct[E.A_IN_MARKET_MS] = 60_000.0
    acct[E.A_FEES] = 6.0
    m = compute_metrics(trades, marks, acct, 1000.0)
    r = [0.01, 990 / 1010 - 1, 1025 / 990 - 1]
    mean = sum(r) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    down = math.sqrt((990 / 1010 - 1) ** 2 / 3)
    assert m["net_pnl"] == 25.0 and m["total_return"] == 0.025
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(252), rel=1e-12)
    assert m["sortino"] == pytest.approx(mean / down * math.sqrt(252), rel=1e-12)
    assert m["calmar"] == pytest.approx((1.025 ** (252 / 3) - 1) / (20 / 1010), rel=1e-12)
    assert m["trades"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(35 / 10)
    assert m["avg_trade"] == pytest.approx(25 / 3)
    assert m["median_trade"] == 5.0
    assert m["avg_holding_s"] == 20.0
    assert m["exposure"] == 0.6
    assert m["fees"] == 6.0 and m["max_drawdown"] == 20.0 and m["days"] == 3


def test_metrics_match_polars_on_a_real_run(tmp_path, store_copy):
    out = run_backtest("configs/zscore.yaml", store=store_copy)
    m = out.summary["metrics"]
    folder = out.folder
    tr = pl.read_parquet(f"{folder}/trades.parquet")
    eq = pl.read_parquet(f"{folder}/equity.parquet")
    capital = out.summary["config"]["execution"]["capital"]
    assert m["trades"] == tr.height > 20
    net = tr["pnl"] - tr["fees"]
    assert m["avg_trade"] == pytest.approx(net.mean(), rel=1e-9)
    assert m["median_trade"] == pytest.approx(net.median(), rel=1e-9)
    assert m["win_rate"] == pytest.approx((net > 0).mean(), rel=1e-12)
    pf = net.filter(net > 0).sum() / -net.filter(net < 0).sum()
    assert m["profit_factor"] == pytest.approx(pf, rel=1e-9)
    hold = (tr["exit_time"] - tr["entry_time"]).dt.total_milliseconds().mean() / 1000
    assert m["avg_holding_s"] == pytest.approx(hold, rel=1e-9)
    assert m["fees"] == pytest.approx(tr["fees"].sum(), rel=1e-9)
    # realised trades explain the whole equity change: flat at the end, cash only
    assert m["net_pnl"] == pytest.approx(net.sum(), abs=1e-6)
    closes = eq.filter(pl.col("day_close")).sort("ts")
    assert closes.height == 2
    daily = closes.with_columns(prev=pl.col("equity").shift(1).fill_null(capital)).with_columns(
        r=pl.col("equity") / pl.col("prev") - 1
    )["r"]
    assert m["sharpe"] == pytest.approx(daily.mean() / daily.std() * 252**0.5, rel=1e-9)
    down = (daily.clip(upper_bound=0) ** 2).mean() ** 0.5
    assert m["sortino"] == pytest.approx(daily.mean() / down * 252**0.5, rel=1e-9)
    # drawdown and exposure recomputed per tick from the stored ticks and the trades alone:
    # equity after tick k = capital + closed trades' net PnL + the open trade marked at its exit
    # side (bid long, ask short) less its entry fee (per-unit taker fee: qty * taker_per_unit)
    ticks = pl.read_parquet(f"{store_copy}/ticks/symbol=EURUSD/*/ticks.parquet").sort(
        "ts", maintain_order=True
    )
    t = ticks["ts"].dt.epoch("ms").to_numpy()
    bid, ask = ticks["bid"].to_numpy(), ticks["ask"].to_numpy()
    unit = out.summary["config"]["execution"]["taker_per_unit"]
    assert out.summary["config"]["execution"]["taker_bps"] == 0  # the entry fee is qty * unit
    equity = np.full(t.size, float(capital))
    open_ = np.zeros(t.size, dtype=bool)
    for r in tr.iter_rows(named=True):
        e0 = int(r["entry_time"].timestamp() * 1000)
        e1 = int(r["exit_time"].timestamp() * 1000)
        held = (t >= e0) & ((t < e1) | (r["exit_reason"] == "end"))  # flattened after the last tick
        side = 1 if r["side"] == "long" else -1
        liq = bid if side == 1 else ask
        equity[held] += side * r["qty"] * (liq[held] - r["entry_price"]) - r["qty"] * unit
        equity[(t >= e1) & ~held] += r["pnl"] - r["fees"]
        open_ |= held
    assert open_.any() and m["max_drawdown"] > 0
    path = np.concatenate([equity, [capital + net.sum()]])  # then the final flat equity
    peak = np.maximum.accumulate(np.concatenate([[capital], path]))[1:]
    assert m["max_drawdown"] == pytest.approx((peak - path).max(), rel=1e-9)
    assert m["max_drawdown_frac"] == pytest.approx(((peak - path) / peak).max(), rel=1e-9)
    in_mkt = int((np.diff(t) * open_[:-1]).sum())  # time to the next tick while a position is open
    assert m["exposure"] == pytest.approx(in_mkt / (t[-1] - t[0]), rel=1e-12)
    assert m["total_return"] == pytest.approx(m["net_pnl"] / capital, rel=1e-12)
