"""A batch built from one config's registered spec sizes every row's state from that row's params.

Built-in kernels are not bounds-checked, so a row given the first config's (smaller) state would
write into its neighbour's: each batched row must equal its own single run.
"""

from __future__ import annotations

import numpy as np

from hft.backtest.params import ZscoreParams, get_strategy
from hft.engine import BatchRun, Run, exec_params


def _ticks(n: int = 20_000, seed: int = 5):
    rng = np.random.default_rng(seed)
    mid = 2000.0 + np.cumsum(rng.normal(0, 0.05, n))
    spread = 0.02 + rng.random(n) * 0.02
    ts = 1_709_510_400_000 + np.cumsum(rng.integers(1, 400, n)).astype(np.int64)
    return ts, mid - spread / 2, mid + spread / 2


def test_rows_with_larger_windows_than_the_spec_config_keep_their_own_state():
    reg = get_strategy("zscore")
    small = ZscoreParams(window=10, entry_z=1.5, exit_z=0.2)
    configs = [
        small,
        ZscoreParams(window=900, entry_z=1.5, exit_z=0.2),
        ZscoreParams(window=40, entry_z=1.0, exit_z=0.1),
    ]
    spec = reg.spec(small)  # built from the smallest window on purpose
    ep = exec_params(size=1.0, latency_ms=20.0, capital=10_000.0)
    rows = [p.encode(1.0) for p in configs]
    width = max(r.size for r in rows)
    sp = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        sp[i, : r.size] = r
    ts, bid, ask = _ticks()
    batch = BatchRun(spec, sp, np.stack([ep] * len(rows)))
    batch.feed(ts, bid, ask)
    got = batch.finish()
    for p, row, res in zip(configs, rows, got, strict=True):
        single = Run(reg.spec(p), row, ep)
        single.feed(ts, bid, ask)
        ref = single.finish()
        assert res.trades.size == ref.trades.size > 0
        np.testing.assert_array_equal(res.trades, ref.trades)
        np.testing.assert_array_equal(res.acct, ref.acct)
