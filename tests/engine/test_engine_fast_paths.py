"""The register-state kernels, the in-kernel tick check and the batched kernels change no result."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

import hft.engine.run as engine_run
from hft.engine import BUILTINS, BatchRun, Run, exec_params
from hft.engine import strategies as S
from hft.engine.strategies_nb import ZS_HEADER, zscore_nb
from hft.errors import DataError
from tests.engine.engine_helpers import PARAMS, configs, fixture_exec, tick_streams


@pytest.fixture
def generic_calls(monkeypatch) -> list[int]:
    """Chunk starts handed to the user-strategy path (`run._User.call`, the compiled generic loop
    over a user's signal): the slow run must land here, a built-in on its own kernel never does."""
    calls: list[int] = []
    real = engine_run._User.call

    def counting(self, fn, *args):
        calls.append(int(args[-2]))
        return real(self, fn, *args)

    monkeypatch.setattr(engine_run._User, "call", counting)
    return calls


@functools.cache
def array_state_copy(name: str):
    """A built-in's array-state signal as a new function, which has no kernel of its own: `Run` takes
    the user-strategy path (generic loop, checked). One copy per built-in for the module, so the
    generic loop is compiled once for it (~10 s) rather than once per test."""
    return njit(BUILTINS[name].signal.py_func)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_register_kernels_equal_the_array_state_path(name, eurusd, generic_calls):
    """Built-ins run through the generic user-strategy path (state in `ss`) give identical records."""
    ts, bid, ask = eurusd["ts"], eurusd["bid"], eurusd["ask"]
    fast = Run(BUILTINS[name], PARAMS[name], fixture_exec(name))
    # the same array-state signal as a new function: the user-strategy path (generic loop, checked)
    spec = dataclasses.replace(BUILTINS[name], signal=array_state_copy(name))
    slow = Run(spec, PARAMS[name], fixture_exec(name), trade_cap=5, mark_cap=4)
    assert slow._kernel is None
    for a in range(0, len(ts), 40_000):
        fast.feed(ts[a : a + 40_000], bid[a : a + 40_000], ask[a : a + 40_000])
        assert generic_calls == [], "a built-in with its own kernel must not take the generic loop"
        slow.feed(ts[a : a + 40_000], bid[a : a + 40_000], ask[a : a + 40_000])
        assert generic_calls and generic_calls[0] == 0, "the slow run did not take the generic loop"
        generic_calls.clear()
        np.testing.assert_array_equal(fast.ss, slow.ss)  # state saved back to the same slots
    f, s = fast.finish(), slow.finish()
    assert len(f.trades) > 0
    np.testing.assert_array_equal(f.trades, s.trades)
    np.testing.assert_array_equal(f.marks, s.marks)
    assert f.acct.tobytes() == s.acct.tobytes()


def test_writable_and_read_only_ticks_share_one_compiled_kernel(eurusd):
    """Ticks from NumPy arrays (writable) and from the store (Arrow's, read-only) give the same records
    through one compiled loop: Numba would otherwise compile (and cache) every kernel twice."""
    ts, bid, ask = (np.ascontiguousarray(eurusd[c][:30_000]) for c in ("ts", "bid", "ask"))
    frozen = [a.copy() for a in (ts, bid, ask)]
    for a in frozen:
        a.flags.writeable = False
    user = dataclasses.replace(BUILTINS["ema_cross"], signal=array_state_copy("ema_cross"))
    out = []
    for ticks in ((ts, bid, ask), frozen):
        for spec in (BUILTINS["ema_cross"], user):
            run = Run(spec, PARAMS["ema_cross"], fixture_exec("ema_cross"))
            run.feed(*ticks)
            out.append((run, run.finish()))
    assert len(out[0][1].trades) > 0
    for _, res in out[1:]:
        np.testing.assert_array_equal(res.trades, out[0][1].trades)
    kernels = {run._user.fn for run, _ in out if run._user is not None}
    assert len(kernels) == 1 and len(kernels.pop().signatures) == 1


@pytest.mark.parametrize(("bad", "problem"), [("nan", "NaN"), ("crossed", "crossed"), ("back", "backwards")])
def test_bad_tick_deep_in_a_chunk_rolls_the_whole_chunk_back(bad, problem, eurusd):
    ts, bid, ask = (np.array(eurusd[c]) for c in ("ts", "bid", "ask"))
    name = "ema_cross"
    ep = fixture_exec(name)
    cut, j = 30_000, 60_000  # the bad tick is far into the second chunk, after trades were made
    chunk = [ts[cut:].copy(), bid[cut:].copy(), ask[cut:].copy()]
    k = j - cut
    if bad == "nan":
        chunk[1][k] = np.nan
    elif bad == "crossed":
        chunk[1][k] = chunk[2][k] + 0.001
    else:
        chunk[0][k] = chunk[0][k - 1] - 1
    run = Run(BUILTINS[name], PARAMS[name], ep, trade_cap=4, mark_cap=4)  # drains inside the chunk
    run.feed(ts[:cut], bid[:cut], ask[:cut])
    before = (run.acct.copy(), run.ss.copy(), len(run._trades), len(run._marks))
    with pytest.raises(DataError, match=f"EURUSD: tick {k} of the chunk .*{problem}"):
        run.feed(*chunk, where="EURUSD")
    assert run.acct.tobytes() == before[0].tobytes()
    assert run.ss.tobytes() == before[1].tobytes()
    assert (len(run._trades), len(run._marks)) == before[2:]
    run.feed(ts[cut:], bid[cut:], ask[cut:])  # the corrected chunk continues as if nothing happened
    whole = Run(BUILTINS[name], PARAMS[name], ep)
    whole.feed(ts, bid, ask)
    got, want = run.finish(), whole.finish()
    assert len(want.trades) > 10
    np.testing.assert_array_equal(got.trades, want.trades)
    np.testing.assert_array_equal(got.marks, want.marks)
    assert got.acct.tobytes() == want.acct.tobytes()


def test_unvalidated_run_skips_the_check():
    ts = np.array([0, 10, 5, 20], dtype=np.int64) + 1_549_324_800_000
    run = Run(BUILTINS["ema_cross"], S.ema_cross_params(1, 2), exec_params(), validate=False)
    run.feed(ts, np.full(4, 1.0), np.full(4, 1.0001))
    assert run.finish().n_ticks == 4


@pytest.mark.parametrize("name", ["ema_cross", "filtered_ema", "zscore"])
def test_batch_kernel_equals_single_runs_with_hours_and_limits(name, eurusd):
    """Many configs (more than one SIMD width, mixed exec rules) through the per-tick batch kernel."""
    ts, bid, ask = eurusd["ts"], eurusd["bid"], eurusd["ask"]
    k = 11
    if name == "ema_cross":
        sps = [S.ema_cross_params(20 + 9 * j, 200 + 70 * j) for j in range(k)]
    elif name == "filtered_ema":
        sps = [S.filtered_ema_params(20 + 9 * j, 200 + 70 * j, 4e-5, 50, 1500) for j in range(k)]
    else:
        sps = [S.zscore_params(50 + 13 * j, 1.5 + 0.1 * j, 0.3) for j in range(k)]
    eps = []
    for j in range(k):
        eps.append(
            exec_params(
                size=100_000 * (1 + j % 3),
                latency_ms=[0, 5, 40][j % 3],
                slippage=1e-5 * (j % 2),
                taker_per_unit=2e-5,
                taker_bps=0.1 * (j % 2),
                stop_loss=[0.0, 8e-4, 3e-4][j % 3],
                take_profit=[0.0, 1.5e-3][j % 2],
                max_hold_ms=[0, 1_800_000, 600_000][j % 3],
                hours=None if j % 4 else (6 * 3_600_000, 21 * 3_600_000),
                sample_ms=[60_000, 1_000][j % 2],
            )
        )
    batch = BatchRun(BUILTINS[name], np.stack(sps), np.stack(eps), trade_cap=8, mark_cap=8)
    for a in range(0, len(ts), 33_333):
        batch.feed(ts[a : a + 33_333], bid[a : a + 33_333], ask[a : a + 33_333])
    results = batch.finish()
    assert sum(len(r.trades) for r in results) > 50
    for sp, ep, got in zip(sps, eps, results, strict=True):
        single = Run(BUILTINS[name], sp, ep)
        single.feed(ts, bid, ask)
        want = single.finish()
        np.testing.assert_array_equal(got.trades, want.trades)
        np.testing.assert_array_equal(got.marks, want.marks)
        assert got.acct.tobytes() == want.acct.tobytes()


def _realised_z(ts, bid, ask, sp) -> np.ndarray:
    """z at every tick as the array-state signal computes it, read back from its state."""
    w = int(sp[0])
    ss = np.zeros(ZS_HEADER + w)
    quotes = np.full(2, np.nan)
    out = np.full(len(ts), np.nan)
    for i in range(len(ts)):
        zscore_nb(ts[i], bid[i], ask[i], 0.0, ss, sp, quotes)
        if ss[0] >= w:
            mean = ss[2] / w
            var = ss[3] / w - mean * mean
            x = ss[ZS_HEADER + (int(ss[4]) - 1) % w]
            out[i] = (x - mean) / math.sqrt(var) if var > 0.0 else 0.0
    return out


@pytest.mark.parametrize(("entry_ulps", "exit_ulps"), [(-1, 0), (0, 0), (-1, -1), (-1, 1)])
def test_zscore_shortcut_decides_thresholds_met_exactly_like_the_division(
    entry_ulps, exit_ulps, eurusd, generic_calls
):
    """Entry and exit thresholds placed on (or one ulp beside) z values the ticks really produce.

    The register kernel skips the square root and division when its squared test is certain; at a
    threshold met exactly it must fall back and decide as `z > entry` / `z <= exit` do. Entry is set
    from the first tick i whose |z| reaches a level and exit from the first later tick j whose z is
    back inside 0.5 on the same side, so both decisions are taken right at the boundary.
    """
    n = 25_000
    ts, bid, ask = (np.ascontiguousarray(eurusd[c][:n]) for c in ("ts", "bid", "ask"))
    z = _realised_z(ts, bid, ask, S.zscore_params(60, 1.0, 0.5))
    zz = np.nan_to_num(z)
    for level in np.arange(1.5, 3.0, 0.05):  # the first level whose way back has a tick in [0, 0.5]
        i = int(np.argmax(np.abs(zz) >= level))
        side = math.copysign(1.0, z[i])
        j = i + 1 + int(np.argmax(side * zz[i + 1 :] <= 0.5))
        if side * z[j] >= 0.0:
            break
    assert (
        (np.abs(zz[:i]) < abs(z[i])).all() and (side * zz[i + 1 : j] > 0.5).all() and 0 <= side * z[j] <= 0.5
    )

    def ulps(v: float, k: int) -> float:
        for _ in range(abs(k)):
            v = float(np.nextafter(v, math.copysign(math.inf, k)))
        return v

    sp = S.zscore_params(60, ulps(abs(float(z[i])), entry_ulps), ulps(side * float(z[j]), exit_ulps))
    ep = exec_params(size=100_000, latency_ms=5)
    fast = Run(BUILTINS["zscore"], sp, ep)
    zs = BUILTINS["zscore"]  # the array-state signal as a new function: always the division
    slow = Run(dataclasses.replace(zs, signal=array_state_copy("zscore")), sp, ep)
    fast.feed(ts, bid, ask)
    assert generic_calls == []
    slow.feed(ts, bid, ask)
    assert generic_calls[:1] == [0]  # the slow run really went through the division
    f, s = fast.finish(), slow.finish()
    assert len(s.trades) > 20
    if entry_ulps < 0:  # z[i] is above the entry threshold: the first trade is decided at tick i
        fill = max(int(np.searchsorted(ts, ts[i] + 5)), i + 1)  # first tick after the 5 ms latency
        assert s.trades["entry_ts"][0] == ts[fill]
    np.testing.assert_array_equal(f.trades, s.trades)
    assert f.acct.tobytes() == s.acct.tobytes()


@st.composite
def batches(draw):
    name = draw(st.sampled_from(["ema_cross", "ema_cross", "zscore", "market_maker"]))
    return name, draw(st.lists(configs(name), min_size=1, max_size=12))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticks=tick_streams(), batch=batches(), cut=st.integers(0, 300))
def test_batch_equals_single_runs_generated(ticks, batch, cut):
    """Any mix of exec rules, chunk cuts and tiny record buffers: each config as if it ran alone.

    The vectorised EMA kernel folds drawdown records in per epoch and aggregates every config's
    gates; positions flipping, stops, peaks and hours windows in these streams exercise all of it.
    """
    ts, bid, ask = ticks
    name, cfgs = batch
    sps = [sp for _n, sp, _ep in cfgs]
    eps = [ep for _n, _sp, ep in cfgs]
    width = max(len(sp) for sp in sps)
    runs = BatchRun(
        BUILTINS[name], np.stack([np.resize(sp, width) for sp in sps]), np.stack(eps), trade_cap=3, mark_cap=2
    )
    cut = min(cut, len(ts))
    runs.feed(ts[:cut], bid[:cut], ask[:cut])
    runs.feed(ts[cut:], bid[cut:], ask[cut:])
    for sp, ep, got in zip(sps, eps, runs.finish(), strict=True):
        single = Run(BUILTINS[name], sp, ep)
        single.feed(ts, bid, ask)
        want = single.finish()
        np.testing.assert_array_equal(got.trades, want.trades)
        np.testing.assert_array_equal(got.marks, want.marks)
        assert got.acct.tobytes() == want.acct.tobytes()
