"""Shared engine-test inputs: a scripted user-style strategy, the fixture configs, and hypothesis
strategies for tick streams and execution configs (in the engine's encoded form: these tests compare
the kernels with each other; tests/oracle checks them against the README)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from numba import njit

from hft.engine import StrategySpec, exec_params
from hft.engine import strategies as S


@njit(cache=True)
def scripted_nb(ts, bid, ask, pos, ss, sp, quotes):
    n = np.int64(ss[0])
    ss[0] = n + 1
    if n < sp.shape[0]:
        return np.int64(sp[n])
    return np.int64(sp[sp.shape[0] - 1])


SCRIPTED = StrategySpec("scripted", scripted_nb, lambda sp: 1)


PARAMS = {
    "ema_cross": S.ema_cross_params(200, 1000),
    "zscore": S.zscore_params(300, 2.0, 0.5),
    "donchian": S.donchian_params(1500),
    "filtered_ema": S.filtered_ema_params(100, 600, 0.00004, 50, 1500),
    "market_maker": S.market_maker_params(0.00004, 0.00002, 3, 0.00001, 100_000),
}


def fixture_exec(name: str) -> np.ndarray:
    if name == "market_maker":
        return exec_params(
            size=100_000, latency_ms=30, maker_per_unit=-0.000002, max_inventory=300_000, fill_through=0.00001
        )
    return exec_params(
        size=100_000,
        latency_ms=40,
        slippage=0.00001,
        taker_per_unit=0.00002,
        taker_bps=0.1,
        stop_loss=0.0008,
        take_profit=0.0015,
        max_hold_ms=1_800_000,
        hours=(6 * 3_600_000, 21 * 3_600_000),
    )


@st.composite
def tick_streams(draw):
    n = draw(st.integers(5, 300))
    steps = draw(st.lists(st.sampled_from([-2, -1, 0, 0, 1, 2]), min_size=n, max_size=n))
    spreads = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    gaps = draw(st.lists(st.sampled_from([0, 1, 5, 20, 50, 400, 60_000, 3_600_000]), min_size=n, max_size=n))
    start = 1_549_324_800_000 + draw(st.integers(0, 86_400_000))
    ts = start + np.cumsum(np.array(gaps, dtype=np.int64))
    bid = 1.1 + np.cumsum(np.array(steps)) * 1e-5
    ask = bid + np.array(spreads) * 1e-5
    return ts, np.round(bid, 5), np.round(ask, 5)


@st.composite
def configs(draw, name: str | None = None):
    name = name or draw(st.sampled_from(sorted(PARAMS)))
    size = float(draw(st.sampled_from([1, 1000, 100_000])))
    if name == "ema_cross":
        fast = draw(st.integers(1, 10))
        sp = S.ema_cross_params(fast, fast + draw(st.integers(1, 20)))
    elif name == "zscore":
        sp = S.zscore_params(
            draw(st.integers(2, 30)),
            draw(st.sampled_from([0.5, 1.0, 2.0])),
            draw(st.sampled_from([0.0, 0.2])),
            draw(st.sampled_from([0.0, 1e-9, 2e-5])),  # min_std: 2e-5 often leaves z at 0
        )
    elif name == "donchian":
        sp = S.donchian_params(draw(st.integers(1, 30)))
    elif name == "filtered_ema":
        fast = draw(st.integers(1, 10))
        sp = S.filtered_ema_params(
            fast, fast + draw(st.integers(1, 20)), 3e-5, 3, draw(st.sampled_from([100, 1e12]))
        )
    else:
        sp = S.market_maker_params(
            draw(st.sampled_from([0.0, 1e-5, 3e-5])), 1e-5, draw(st.integers(1, 3)), 1e-5, size
        )
    hours = draw(st.one_of(st.none(), st.tuples(st.integers(0, 86_399_999), st.integers(1, 86_400_000))))
    if hours is not None and hours[0] == hours[1]:
        hours = None
    ep = exec_params(
        size=size,
        latency_ms=draw(st.sampled_from([0, 0.5, 1, 20, 49.5, 100])),
        slippage=draw(st.sampled_from([0.0, 1e-5])),
        taker_per_unit=draw(st.sampled_from([0.0, 2e-5])),
        taker_bps=draw(st.sampled_from([0.0, 0.5])),
        maker_per_unit=draw(st.sampled_from([0.0, -1e-6, 1e-6])),
        maker_bps=draw(st.sampled_from([0.0, 0.2])),
        stop_loss=draw(st.sampled_from([0.0, 2e-5, 1e-4])),
        take_profit=draw(st.sampled_from([0.0, 3e-5])),
        max_hold_ms=draw(st.sampled_from([0, 0.5, 50, 10_000, 10_000.25])),
        hours=hours,
        fill_through=draw(st.sampled_from([0.0, 1e-5])),
        max_inventory=size * draw(st.sampled_from([0, 1, 2])),
        sample_ms=draw(st.sampled_from([1000, 60_000])),
    )
    return name, sp, ep
