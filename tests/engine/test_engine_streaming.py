"""Chunking never changes a result, and K batched configs equal K single runs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hft.engine import BUILTINS, BatchRun, Run, exec_params
from hft.engine import strategies as S
from tests.engine.engine_helpers import PARAMS, fixture_exec


def _run(name, sp, ep, pieces, **kw):
    run = Run(BUILTINS[name], sp, ep, **kw)
    for ts, bid, ask in pieces:
        run.feed(ts, bid, ask)
    return run.finish()


def _split(ticks, bounds):
    return [(ticks["ts"][a:b], ticks["bid"][a:b], ticks["ask"][a:b]) for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_chunked_runs_are_bit_identical(name, eurusd):
    n = len(eurusd)
    day = np.searchsorted(eurusd["ts"], (eurusd["ts"][0] // 86_400_000 + 1) * 86_400_000)
    whole = _run(name, PARAMS[name], fixture_exec(name), _split(eurusd, [0, n]))
    by_day = _run(name, PARAMS[name], fixture_exec(name), _split(eurusd, [0, int(day), n]))
    groups = _run(name, PARAMS[name], fixture_exec(name), _split(eurusd, [*range(0, n, 13_107), n]))
    rng = np.random.default_rng(7)
    cuts = sorted({0, n, *rng.integers(0, n, 40).tolist()})
    ragged = _run(name, PARAMS[name], fixture_exec(name), _split(eurusd, cuts), trade_cap=3, mark_cap=2)
    assert len(whole.trades) > 0
    for other in (by_day, groups, ragged):
        np.testing.assert_array_equal(other.trades, whole.trades)
        np.testing.assert_array_equal(other.marks, whole.marks)
        assert other.acct.tobytes() == whole.acct.tobytes()


@pytest.mark.parametrize("name", ["ema_cross", "zscore", "donchian", "market_maker"])
def test_batch_equals_single_runs(name, eurusd):
    ts, bid, ask = eurusd["ts"], eurusd["bid"], eurusd["ask"]
    if name == "ema_cross":
        sps = [S.ema_cross_params(f, s) for f, s in [(50, 200), (100, 1000), (300, 3000)]]
    elif name == "zscore":
        sps = [S.zscore_params(w, e, 0.5) for w, e in [(100, 1.5), (400, 2.0), (50, 2.5)]]
    elif name == "donchian":
        sps = [S.donchian_params(w) for w in (200, 1000, 3000)]
    else:
        sps = [S.market_maker_params(h, 2e-5, 3, 1e-5, 100_000) for h in (0.0, 2e-5, 5e-5)]
    eps = [fixture_exec(name)] * len(sps)
    eps[1] = exec_params(size=50_000, latency_ms=5, taker_per_unit=1e-5, max_inventory=150_000)
    width = max(len(sp) for sp in sps)
    padded = np.stack([np.pad(sp, (0, width - len(sp))) for sp in sps])
    batch = BatchRun(BUILTINS[name], padded, np.stack(eps), trade_cap=64, mark_cap=64)
    for a in range(0, len(ts), 50_000):
        batch.feed(ts[a : a + 50_000], bid[a : a + 50_000], ask[a : a + 50_000])
    results = batch.finish()
    assert sum(len(r.trades) for r in results) > 0
    for sp, ep, got in zip(sps, eps, results, strict=True):
        single = _run(name, sp, ep, [(ts, bid, ask)])
        np.testing.assert_array_equal(got.trades, single.trades)
        np.testing.assert_array_equal(got.marks, single.marks)
        assert got.acct.tobytes() == single.acct.tobytes()
