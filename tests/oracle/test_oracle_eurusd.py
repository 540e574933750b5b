"""The kernels agree with the README oracle on two real EURUSD days (the fixture hours), for every
built-in strategy with stops, take-profit, max hold, trading hours, fees in units and bps, and
limit orders with a rebate, fill-through and an inventory cap."""

from __future__ import annotations

import pytest

from tests.oracle.harness import assert_agree, kernel_batch, kernel_run
from tests.oracle.simulator import simulate

TAKER = {
    "size": 100_000,
    "latency_ms": 40,
    "slippage": 0.00001,
    "taker_per_unit": 0.00002,
    "taker_bps": 0.1,
    "stop_loss": 0.0008,
    "take_profit": 0.0015,
    "max_hold_s": 1800,
    "trading_hours": {"start": "06:00", "end": "21:00"},
}
MAKER = {
    "size": 100_000,
    "latency_ms": 30,
    "maker_per_unit": -0.000002,
    "maker_bps": 0.05,
    "taker_per_unit": 0.00002,
    "max_inventory": 300_000,
    "fill_through": 0.00001,
    "stop_loss": 0.0015,
}
CASES = {
    "ema_cross": ({"fast": 200, "slow": 1000}, TAKER, None),
    "filtered_ema": ({"fast": 100, "slow": 600, "max_spread": 0.00004, "max_gap_ms": 1500}, TAKER, None),
    "market_maker": (
        {"half_spread": 0.00004, "skew_per_lot": 0.00002, "max_lots": 3, "tick": 0.00001},
        MAKER,
        None,
    ),
    # rolling windows cost the plain-Python oracle O(window) a tick: the first 40,000 ticks
    "zscore": ({"window": 300, "entry_z": 2.0, "exit_z": 0.5}, TAKER, 40_000),
    "donchian": ({"window": 1500}, TAKER, 40_000),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernels_agree_with_the_oracle_on_real_ticks(name, eurusd):
    params, ex, n = CASES[name]
    raw = {"strategy": {"name": name, "params": params}, "execution": ex}
    ticks = eurusd[:n] if n else eurusd
    ts, bid, ask = ticks["ts"], ticks["bid"], ticks["ask"]
    want = simulate(raw, ts, bid, ask)
    assert len(want.trades) >= 10, "the config must trade for the comparison to mean anything"
    assert_agree(kernel_run(raw, ts, bid, ask, cut=len(ts) // 3), want)
    (batched,) = kernel_batch([raw], ts, bid, ask)
    assert_agree(batched, want)
