"""The strategy helpers (`hft.engine.windows_nb`) against Polars' rolling functions on real EURUSD ticks.

pandas is not installed in this environment, so Polars (`rolling_*`, `rolling_*_by`, `ewm_mean`) is
the independent implementation. Windows are carved out of a flat state vector as the framework does
(`hft.engine.user.Layout`), then driven tick by tick by a small compiled loop.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from numba import njit

from hft.engine import windows_nb as W
from hft.engine.user import Layout

N = 60_000  # ticks of 2019-02-04


@pytest.fixture(scope="module")
def mids(eurusd):
    t = eurusd[:N]
    return t["ts"].astype("datetime64[ms]").astype(np.int64), ((t["bid"] + t["ask"]) * 0.5).astype(np.float64)


def _window(cap: int, span_s: float | None = None) -> np.ndarray:
    lay = Layout((), (), (("w", cap, span_s),))
    ss = np.zeros(lay.state_size(np.zeros(0)))
    _rec, ws, _p = lay.bind(ss, np.zeros(0), fresh=True)
    return ws.w


@njit
def _drive_ticks(w, x):
    out = np.full((x.size, 6), np.nan)
    for i in range(x.size):
        W.push(w, x[i])
        if W.full(w):
            out[i, 0] = W.mean(w)
            out[i, 1] = W.std(w)
            out[i, 2] = W.wmin(w)
            out[i, 3] = W.wmax(w)
            out[i, 4] = W.ago(w, 3)
        out[i, 5] = W.count(w)
    return out


@njit
def _drive_time(w, ts, x):
    out = np.empty((x.size, 4))
    for i in range(x.size):
        W.push_at(w, ts[i], x[i])
        out[i, 0] = W.mean(w)
        out[i, 1] = W.wmax(w)
        out[i, 2] = W.count(w)
        out[i, 3] = W.std(w)
    return out


@njit
def _drive_ema_cross(x, span):
    e = np.nan
    prev = np.nan
    out = np.empty((x.size, 2))
    for i in range(x.size):
        e = W.ema(e, x[i], span)
        d = x[i] - e
        out[i, 0] = e
        out[i, 1] = W.cross(prev, d)
        prev = d
    return out


@pytest.mark.parametrize("cap", [2, 50, 500])
def test_tick_window_mean_std_min_max_match_polars(mids, cap):
    _, x = mids
    got = _drive_ticks(_window(cap), x)
    s = pl.Series(x)
    want = {
        0: s.rolling_mean(cap).to_numpy(),
        1: s.rolling_std(cap, ddof=0).to_numpy(),
        2: s.rolling_min(cap).to_numpy(),
        3: s.rolling_max(cap).to_numpy(),
        4: s.shift(3).to_numpy(),
    }
    live = np.arange(x.size) >= cap - 1
    assert np.isnan(got[~live, 0]).all() and not np.isnan(got[live, 0]).any()
    np.testing.assert_allclose(got[live, 0], want[0][live], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got[live, 1], want[1][live], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(got[live, 2], want[2][live])  # min / max are exact
    np.testing.assert_array_equal(got[live, 3], want[3][live])
    lag = live & (np.arange(x.size) >= 3) & (cap > 3)
    np.testing.assert_allclose(got[lag, 4], want[4][lag], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got[:, 5], np.minimum(np.arange(1, x.size + 1), cap))


@pytest.mark.parametrize("span", ["1s", "30s"])
def test_time_window_matches_polars_rolling_by_time(mids, span):
    ts, x = mids
    seconds = float(span[:-1])
    got = _drive_time(_window(5_000, seconds), ts, x)
    df = pl.DataFrame({"t": ts.astype("datetime64[ms]"), "x": x})
    want = df.select(
        pl.col("x").rolling_mean_by("t", window_size=span).alias("mean"),
        pl.col("x").rolling_max_by("t", window_size=span).alias("max"),
        pl.col("x").rolling_std_by("t", window_size=span, ddof=0).alias("std"),
    )
    n_want = df.with_columns(one=pl.lit(1.0)).select(pl.col("one").rolling_sum_by("t", window_size=span))
    np.testing.assert_allclose(got[:, 0], want["mean"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got[:, 1], want["max"].to_numpy())
    np.testing.assert_array_equal(got[:, 2], n_want.to_numpy()[:, 0])
    np.testing.assert_allclose(got[:, 3], want["std"].fill_nan(0.0).fill_null(0.0).to_numpy(), atol=1e-9)
    assert got[:, 2].max() > 1  # several ticks per window: the test exercised eviction


def test_time_window_over_capacity_is_flagged_not_silent(mids):
    ts, x = mids
    w = _window(3, 60.0)  # far more than 3 ticks in a minute
    _drive_time(w, ts, x)
    assert w[W.W_OVER] == 1.0


def test_ema_and_crossings_match_polars(mids):
    _, x = mids
    got = _drive_ema_cross(x, 200.0)
    want = pl.Series(x).ewm_mean(span=200, adjust=False).to_numpy()
    np.testing.assert_allclose(got[:, 0], want, rtol=0, atol=1e-12)
    d = x - want
    up = (d[:-1] <= 0) & (d[1:] > 0)
    down = (d[:-1] >= 0) & (d[1:] < 0)
    sides = np.concatenate([[0], np.where(up, 1, np.where(down, -1, 0))])
    np.testing.assert_array_equal(got[:, 1], sides)
    assert (sides != 0).sum() > 50
