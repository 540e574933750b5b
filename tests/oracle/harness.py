"""Run a raw config through the compiled kernels (via the real config path) and compare with the oracle."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hft.backtest.api import execution_vector
from hft.backtest.config import ExecutionConfig, parse_config
from hft.backtest.metrics import compute_metrics, daily_returns
from hft.backtest.params import get_strategy
from hft.engine import EXIT_REASONS, BatchRun, Run
from hft.engine.enums import A_IN_MARKET_MS
from tests.engine.engine_helpers import SCRIPTED
from tests.oracle.simulator import OracleResult, oracle_metrics, simulate

__all__ = ["T0", "arrays", "kernel_inputs", "kernel_run", "kernel_batch", "assert_agree", "both"]

T0 = 1_549_324_800_000  # 2019-02-05 00:00 UTC


def arrays(ts, bid, ask):
    return np.asarray(ts, dtype=np.int64), np.asarray(bid, dtype=float), np.asarray(ask, dtype=float)


def kernel_inputs(raw: dict):
    """(spec, strategy vector, execution vector) as `hft run` builds them from the raw config."""
    if raw["strategy"]["name"] == "scripted":
        ex = ExecutionConfig.model_validate(raw["execution"])
        ep = execution_vector(SimpleNamespace(execution=ex))
        return SCRIPTED, np.array(raw["strategy"]["params"]["targets"], dtype=float), ep
    full = {"data": {"symbol": "EURUSD", "start": "2019-02-04", "end": "2019-02-05"}, **raw}
    cfg = parse_config(full, where="oracle test")
    params = cfg.strategy_params()
    spec = get_strategy(cfg.strategy.name).spec(params)
    return spec, params.encode(cfg.execution.size), execution_vector(cfg)


def kernel_run(raw: dict, ts, bid, ask, *, cut: int | None = None, **kw):
    ts, bid, ask = arrays(ts, bid, ask)
    spec, sp, ep = kernel_inputs(raw)
    run = Run(spec, sp, ep, **kw)
    cut = len(ts) if cut is None else min(cut, len(ts))
    run.feed(ts[:cut], bid[:cut], ask[:cut])
    run.feed(ts[cut:], bid[cut:], ask[cut:])
    return run.finish()


def kernel_batch(raws: list[dict], ts, bid, ask, **kw):
    ts, bid, ask = arrays(ts, bid, ask)
    inputs = [kernel_inputs(r) for r in raws]
    width = max(len(sp) for _, sp, _ in inputs)
    sps = np.stack([np.resize(sp, width) for _, sp, _ in inputs])
    # as the sweep worker does: state rows sized for the widest config (a registered spec's size
    # comes from the params it was made with, and the kernels do not bounds-check)
    widest = max(int(spec.state_size(sp)) for spec, sp, _ in inputs)
    spec = inputs[0][0]
    spec = type(spec)(spec.name, spec.signal, lambda _row: widest)
    runs = BatchRun(spec, sps, np.stack([ep for _, _, ep in inputs]), **kw)
    runs.feed(ts, bid, ask)
    return runs.finish()


def both(raw: dict, ts, bid, ask):
    """(kernel result, oracle result) for one raw config, already checked to agree."""
    got = kernel_run(raw, ts, bid, ask)
    want = simulate(raw, *arrays(ts, bid, ask))
    assert_agree(got, want)
    return got, want


def _close(x, y, rel=1e-9, abs_=1e-9):
    return x == pytest.approx(y, rel=rel, abs=abs_)


def assert_agree(got, want: OracleResult) -> None:
    """Trades (times, sides, reasons exactly; prices, PnL, fees to rounding) and every metric."""
    tr = got.trades
    rows = [
        (int(r["entry_ts"]), int(r["exit_ts"]), int(r["side"]), EXIT_REASONS[int(r["reason"])]) for r in tr
    ]
    wrows = [(w.entry_ts, w.exit_ts, w.side, w.reason) for w in want.trades]
    assert rows == wrows
    for r, w in zip(tr, want.trades, strict=True):
        assert _close(r["qty"], w.qty)
        assert _close(r["entry_price"], w.entry_price, abs_=1e-12)
        assert _close(r["exit_price"], w.exit_price, abs_=1e-12)
        assert _close(r["pnl"], w.pnl), (r, w)
        assert _close(r["fees"], w.fees), (r, w)
    assert _close(got.final_equity, want.final_equity, abs_=1e-7)
    capital = want.capital
    m = compute_metrics(got.trades, got.marks, got.acct, capital)
    o = oracle_metrics(want)
    for key in ("trades", "days", "win_rate"):
        assert m[key] == o[key], key
    for key in ("net_pnl", "final_equity", "max_drawdown", "fees", "avg_trade", "median_trade"):
        assert (m[key] is None) == (o[key] is None), key
        if o[key] is not None:
            assert _close(m[key], o[key], abs_=1e-7), (key, m[key], o[key])
    for key in ("total_return", "max_drawdown_frac", "exposure", "avg_holding_s"):
        assert (m[key] is None) == (o[key] is None), key
        if o[key] is not None:
            assert _close(m[key], o[key], abs_=1e-12), (key, m[key], o[key])
    assert int(got.acct[A_IN_MARKET_MS]) == want.in_market_ms
    r_got = daily_returns(got.marks, capital)
    eqs = [e for _, e in want.day_closes]
    r_want = [c / p - 1.0 for c, p in zip(eqs, [capital, *eqs[:-1]], strict=True)]
    np.testing.assert_allclose(r_got, r_want, rtol=0, atol=1e-12)
    closes = got.marks[got.marks["day_close"] == 1]
    assert closes["ts"].tolist() == [d for d, _ in want.day_closes]
    mk = got.marks
    assert list(zip(mk["ts"].tolist(), mk["day_close"].tolist(), strict=True)) == [
        (t, c) for t, _, _, c in want.marks
    ]
    np.testing.assert_allclose(mk["equity"], [e for _, e, _, _ in want.marks], rtol=1e-12, atol=1e-7)
    np.testing.assert_allclose(mk["pos"], [p for _, _, p, _ in want.marks], rtol=1e-12, atol=1e-9)
    if len(r_want) >= 2 and np.std(r_want) > 1e-9:  # Sharpe is ill-conditioned on near-equal returns
        for key in ("sharpe", "sortino"):
            assert (m[key] is None) == (o[key] is None), key
            if o[key] is not None:
                assert _close(m[key], o[key], rel=1e-6), (key, m[key], o[key])
