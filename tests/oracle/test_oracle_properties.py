"""The compiled kernels (single `Run` and batched `BatchRun`) agree with the README oracle on random
raw configs and random small tick streams: trades, fees, PnL, drawdowns and every metric."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oracle.harness import T0, assert_agree, kernel_batch, kernel_run
from tests.oracle.simulator import simulate

NAMES = ["ema_cross", "zscore", "donchian", "filtered_ema", "market_maker"]


@st.composite
def tick_streams(draw):
    """Prices on a 1e-5 grid (ties with stop levels happen), gaps from 0 ms to an hour, a drift so
    stops and take-profits fire, often across a UTC midnight."""
    n = draw(st.integers(2, 250))
    drift = draw(st.sampled_from([-1, 0, 0, 1]))
    steps = np.array(draw(st.lists(st.sampled_from([-3, -1, 0, 0, 1, 3]), min_size=n, max_size=n))) + drift
    spreads = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    gaps = draw(
        st.lists(st.sampled_from([0, 1, 5, 20, 49, 50, 51, 400, 60_000, 3_600_000]), min_size=n, max_size=n)
    )
    start = T0 + draw(st.integers(0, 86_400_000))
    ts = start + np.cumsum(np.array(gaps, dtype=np.int64))
    bid = np.round(1.1 + np.cumsum(steps) * 1e-5, 5)
    ask = np.round(bid + np.array(spreads) * 1e-5, 5)
    return ts, bid, ask


def _hms(s: int) -> str:
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


@st.composite
def params(draw, name: str, size: float) -> dict:
    if name in ("ema_cross", "filtered_ema"):
        fast = draw(st.integers(1, 10))
        p = {"fast": fast, "slow": fast + draw(st.integers(1, 20))}
        if name == "filtered_ema":
            p |= {
                "max_spread": draw(st.sampled_from([1.5e-5, 3.5e-5])),
                "gap_span": draw(st.integers(1, 5)),
                "max_gap_ms": draw(st.sampled_from([60.5, 1e9])),
            }
        return p
    if name == "zscore":  # thresholds off the values small windows of grid prices produce exactly
        return {
            "window": draw(st.integers(2, 30)),
            "entry_z": draw(st.sampled_from([0.8123, 1.3791, 2.0519])),
            "exit_z": draw(st.sampled_from([0.1337, 0.4142])),
            "min_std": draw(st.sampled_from([1e-9, 1.73e-5])),
        }
    if name == "donchian":
        return {"window": draw(st.integers(2, 30))}
    return {
        "half_spread": draw(st.sampled_from([0.0, 1e-5, 3e-5])),
        "skew_per_lot": draw(st.sampled_from([0.0, 1e-5])),
        "max_lots": draw(st.integers(1, 3)),
        "tick": 1e-5,
    }


@st.composite
def raw_configs(draw, name: str | None = None) -> dict:
    name = name or draw(st.sampled_from(NAMES))
    size = float(draw(st.sampled_from([1, 1000, 100_000])))
    ex: dict = {"size": size, "latency_ms": draw(st.sampled_from([0, 1, 20, 50, 100]))}
    options = {
        "capital": [100_000.0, 1_000.0],
        "slippage": [0.0, 1e-5],
        "taker_per_unit": [0.0, 2e-5],
        "taker_bps": [0.0, 0.5],
        "maker_per_unit": [0.0, -1e-6, 1e-6],
        "maker_bps": [0.0, 0.2, -0.1],
        "stop_loss": [2e-5, 2.5e-5, 1e-4],
        "take_profit": [3e-5, 4.5e-5],
        "max_hold_s": [0.05, 10.0],
        "fill_through": [0.0, 1e-5],
        "max_inventory": [size, 2 * size],
        "sample_s": [1, 60],
    }
    for key, values in options.items():
        if draw(st.booleans()):
            ex[key] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        a, b = draw(st.integers(0, 86_399)), draw(st.integers(0, 86_399))
        if a != b:
            ex["trading_hours"] = {"start": _hms(a), "end": _hms(b)}
    return {"strategy": {"name": name, "params": draw(params(name, size))}, "execution": ex}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticks=tick_streams(), raw=raw_configs(), cut=st.integers(0, 250))
def test_single_kernel_agrees_with_the_oracle(ticks, raw, cut):
    got = kernel_run(raw, *ticks, cut=cut, trade_cap=3, mark_cap=2)  # a chunk cut, mid-chunk drains
    assert_agree(got, simulate(raw, *ticks))


@st.composite
def batches(draw):
    name = draw(st.sampled_from(NAMES))
    return draw(st.lists(raw_configs(name), min_size=1, max_size=6))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticks=tick_streams(), raws=batches())
def test_batch_kernel_agrees_with_the_oracle(ticks, raws):
    for raw, got in zip(raws, kernel_batch(raws, *ticks, trade_cap=3, mark_cap=2), strict=True):
        assert_agree(got, simulate(raw, *ticks))
