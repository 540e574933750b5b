"""The batched EMA-crossover kernel (`batch_nb`) at sweep widths, on real ticks, against single runs.

Its fast paths are taken per tick for all configs at once: equity samples written in place when
nothing else is due, EMAs kept the way round each config's expected target wants them, scalar
gates updated only from the configs that moved. Each is checked here where it has the most to get
wrong: more configs than one 512-bit pass takes (32) plus a remainder, every config in a different
state when a sample comes (warming up, flat, long, short, with an order in flight for longer than a
sample period, outside its trading hours), several sample periods in one batch, ties of the two
EMAs while live, and record buffers small enough to stop the kernel many times a chunk.
"""

from __future__ import annotations

import numpy as np
import pytest

from hft.engine import BUILTINS, BatchRun, Run, exec_params
from hft.engine import strategies as S

K = 45  # one 32-wide pass of the live loop, an 8-wide one, and a scalar remainder
HOUR = 3_600_000
SLOW_WARMUP = 120_000  # ticks (~22 h of the fixture): samples and a day close while warming up
LATE = 90_000  # ms: an order in flight across at least one one-minute sample


def _configs(long_warmup: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(3)
    sps, eps = [], []
    for j in range(K):
        fast = int(rng.integers(5, 300))
        slow = SLOW_WARMUP if long_warmup and j % 9 == 0 else fast + int(rng.integers(10, 1500))
        sps.append(S.ema_cross_params(fast, slow))
        eps.append(
            exec_params(
                size=(1_000.0, 100_000.0)[j % 2],
                latency_ms=(0, 40, LATE)[j % 3],
                slippage=0.00001,
                taker_per_unit=0.00002,
                sample_ms=(60_000, 300_000, 1_000, 60_000)[j % 4],
                stop_loss=0.0008 if j % 5 == 1 else 0.0,
                take_profit=0.0015 if j % 5 == 2 else 0.0,
                max_hold_ms=1_800_000 if j % 5 == 3 else 0.0,
                hours=(6 * HOUR, 21 * HOUR) if j % 7 == 4 else None,
            )
        )
    return sps, eps


@pytest.mark.parametrize("long_warmup", [False, True], ids=["live-early", "long-warmup"])
def test_batch_ema_kernel_at_sweep_width_equals_single_runs(long_warmup, eurusd):
    ts, bid, ask = (np.array(eurusd[c]) for c in ("ts", "bid", "ask"))
    # the first 5,000 ticks at one price: the two EMAs of every config stay equal (no target yet)
    # past the end of the warm-up when it is short, so the live pass starts on ties
    bid[:5_000] = bid[0]
    ask[:5_000] = ask[0]
    sps, eps = _configs(long_warmup)
    batch = BatchRun(BUILTINS["ema_cross"], np.stack(sps), np.stack(eps), trade_cap=8, mark_cap=64)
    for a in range(0, len(ts), 50_000):
        batch.feed(ts[a : a + 50_000], bid[a : a + 50_000], ask[a : a + 50_000])
    results = batch.finish()
    for j, (sp, ep, got) in enumerate(zip(sps, eps, results, strict=True)):
        single = Run(BUILTINS["ema_cross"], sp, ep)
        single.feed(ts, bid, ask)
        want = single.finish()
        np.testing.assert_array_equal(got.trades, want.trades, err_msg=f"config {j}")
        np.testing.assert_array_equal(got.marks, want.marks, err_msg=f"config {j}")
        assert got.acct.tobytes() == want.acct.tobytes(), f"config {j}"
    # the states the samples had to be written in did occur
    marks = np.concatenate([r.marks for r in results])
    assert (marks["pos"] > 0).any() and (marks["pos"] < 0).any() and (marks["pos"] == 0).any()
    assert marks["day_close"].any()
    assert all(len(results[j].trades) > 5 for j in range(2, K, 3))  # orders in flight across samples
    if long_warmup:
        warm_end = ts[SLOW_WARMUP - 1]
        for j in range(0, K, 9):
            assert results[j].marks["ts"][0] < warm_end  # sampled while warming up
            assert len(results[j].trades) > 0 and results[j].trades["entry_ts"][0] > warm_end
