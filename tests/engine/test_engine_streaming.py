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


def test_checked_chunks_skip_the_tick_check_but_not_the_link_between_chunks(eurusd):
    """A chunk checked once (`check_ticks`, as a sweep actor's day cache does) feeds a batch with the
    result of an unchecked feed, bit for bit; a bad chunk is never trusted, and a checked chunk that
    starts before the previous one ended is rejected with the message an unchecked feed gives."""
    from hft.engine.run import check_ticks
    from hft.errors import DataError

    ts, bid, ask = eurusd["ts"], eurusd["bid"], eurusd["ask"]
    cut = int(np.searchsorted(ts, (ts[0] // 86_400_000 + 1) * 86_400_000))
    first, second = check_ticks(ts[:cut], bid[:cut], ask[:cut]), check_ticks(ts[cut:], bid[cut:], ask[cut:])
    assert first is not None and second is not None
    assert not (first.ts.flags.writeable or first.bid.flags.writeable or first.ask.flags.writeable)
    sps = np.stack([S.ema_cross_params(f, s) for f, s in [(50, 200), (300, 3000)]])

    def batch():
        return BatchRun(BUILTINS["ema_cross"], sps, fixture_exec("ema_cross"), trade_cap=8, mark_cap=8)

    checked, raw = batch(), batch()
    checked.feed_checked(first)
    checked.feed_checked(second)
    raw.feed(ts[:cut], bid[:cut], ask[:cut])
    raw.feed(ts[cut:], bid[cut:], ask[cut:])
    for got, want in zip(checked.finish(), raw.finish(), strict=True):
        assert len(want.trades) > 0
        assert got.trades.tobytes() == want.trades.tobytes() and got.marks.tobytes() == want.marks.tobytes()
        assert got.acct.tobytes() == want.acct.tobytes()

    for k, (t, b, a) in enumerate([(1, np.nan, 1.1), (1, 1.2, 1.1), (1, -1.0, 1.1), (-5, 1.0, 1.1)]):
        bad_ts, bad_bid, bad_ask = ts[:cut].copy(), bid[:cut].copy(), ask[:cut].copy()
        j = 100 + k
        bad_ts[j], bad_bid[j], bad_ask[j] = bad_ts[j - 1] + t, b, a
        assert check_ticks(bad_ts, bad_bid, bad_ask) is None, k

    late, plain = batch(), batch()
    late.feed_checked(second)
    plain.feed(ts[cut:], bid[cut:], ask[cut:])
    with pytest.raises(DataError, match=r"EURUSD: tick 0 .*backwards") as trusted:
        late.feed_checked(first, where="EURUSD")
    with pytest.raises(DataError) as unchecked:
        plain.feed(ts[:cut], bid[:cut], ask[:cut], where="EURUSD")
    assert str(trusted.value) == str(unchecked.value)
