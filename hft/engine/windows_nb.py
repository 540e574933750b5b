"""Compiled helpers for user strategies: rolling windows over ticks or over time, EMA, crossings.

A window is a float64 array the framework carves out of the strategy's state (`hft.strategy.Window`,
`TimeWindow`): a header (slots `W_*`) then `cap` timestamps and `cap` values in a ring. Helpers only
ever index inside `[0, len(w))` using the header the framework wrote, so a strategy that goes
through them cannot touch memory outside its own state. Values are kept as deviations from the first
one pushed into the empty window, and the running sums are recomputed exactly each time the ring
wraps, so rounding drift never outlives one window (the same scheme as the built-in z-score).

Tick windows hold the last `cap` values. Time windows hold the values pushed in the last `span`
milliseconds, `(t - span, t]`, as `polars.rolling_*_by(window_size=...)`; more than `cap` of them is
an overflow the engine reports after the chunk (the oldest is dropped meanwhile).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "W_COUNT",
    "W_HEAD",
    "W_LEN",
    "W_SUM",
    "W_SUMSQ",
    "W_REF",
    "W_SPAN",
    "W_OVER",
    "W_CAP",
    "W_HEADER",
    "window_size",
    "push",
    "push_at",
    "count",
    "full",
    "last",
    "ago",
    "mean",
    "std",
    "wmin",
    "wmax",
    "ema",
    "alpha",
    "cross",
    "crossed_above",
    "crossed_below",
]

W_COUNT = 0  # unused (kept so the layout stays put)
W_HEAD = 1  # ring slot the next value goes to
W_LEN = 2  # values currently in the window
W_SUM = 3  # sum of (value - ref) over the window
W_SUMSQ = 4
W_REF = 5  # first value pushed
W_SPAN = 6  # ms for a time window; 0 for a tick window
W_OVER = 7  # 1.0 once a time window needed more than `cap` slots
W_CAP = 8
W_HEADER = 9


def window_size(cap: int) -> int:
    """Floats a window of `cap` values takes in the state vector."""
    return W_HEADER + 2 * int(cap)


@njit(cache=True, inline="always")
def _cap(w):
    return np.int64(w[W_CAP])


@njit(cache=True, inline="always")
def _resum(w):
    cap = _cap(w)
    n = np.int64(w[W_LEN])
    head = np.int64(w[W_HEAD])
    s = 0.0
    q = 0.0
    for j in range(n):
        k = head - n + j
        if k < 0:
            k += cap
        v = w[W_HEADER + cap + k]
        s += v
        q += v * v
    w[W_SUM] = s
    w[W_SUMSQ] = q


@njit(cache=True, inline="always")
def _append(w, t, x, timed):
    cap = _cap(w)
    n = np.int64(w[W_LEN])
    if n == 0:  # empty: sums are 0, so the reference can move to this value
        w[W_REF] = x
    v = x - w[W_REF]
    head = np.int64(w[W_HEAD])
    if n == cap:  # full: the oldest value (at head) leaves
        old = w[W_HEADER + cap + head]
        w[W_SUM] += v - old
        w[W_SUMSQ] += v * v - old * old
    else:
        w[W_SUM] += v
        w[W_SUMSQ] += v * v
        w[W_LEN] = n + 1
    if timed:  # a constant at each call site: tick windows store no times
        w[W_HEADER + head] = t
    w[W_HEADER + cap + head] = v
    head += 1
    if head == cap:
        head = 0
    w[W_HEAD] = head
    if head == 0:
        _resum(w)


@njit(cache=True, inline="always")
def push(w, x):
    """Add `x` to a tick window; once it holds `cap` values the oldest leaves."""
    _append(w, 0.0, x, False)


@njit(cache=True, inline="always")
def push_at(w, t, x):
    """Add `x` seen at `t` (ms) to a time window; values at or before `t - span` leave first."""
    cap = _cap(w)
    cut = t - w[W_SPAN]
    n = np.int64(w[W_LEN])
    head = np.int64(w[W_HEAD])
    gone = 0
    while gone < n:
        k = head - n + gone
        if k < 0:
            k += cap
        if w[W_HEADER + k] > cut:
            break
        v = w[W_HEADER + cap + k]
        w[W_SUM] -= v
        w[W_SUMSQ] -= v * v
        gone += 1
    if gone:
        w[W_LEN] = n - gone
        if n - gone == 0:
            w[W_SUM] = 0.0
            w[W_SUMSQ] = 0.0
    if n - gone == cap:
        w[W_OVER] = 1.0
    _append(w, float(t), x, True)


@njit(cache=True, inline="always")
def count(w):
    """Values in the window now."""
    return np.int64(w[W_LEN])


@njit(cache=True, inline="always")
def full(w):
    """True once a tick window holds `cap` values."""
    return w[W_LEN] == w[W_CAP]


@njit(cache=True, inline="always")
def ago(w, k):
    """The value pushed `k` pushes ago (0 = the newest); NaN if the window holds no such value."""
    cap = _cap(w)
    if k < 0 or k >= np.int64(w[W_LEN]):
        return np.nan
    j = np.int64(w[W_HEAD]) - 1 - k
    if j < 0:
        j += cap
    return w[W_HEADER + cap + j] + w[W_REF]


@njit(cache=True, inline="always")
def last(w):
    """The newest value (NaN when empty)."""
    return ago(w, 0)


@njit(cache=True, inline="always")
def mean(w):
    """Mean of the values in the window (NaN when empty)."""
    n = w[W_LEN]
    if n == 0.0:
        return np.nan
    return w[W_REF] + w[W_SUM] / n


@njit(cache=True, inline="always")
def std(w):
    """Population standard deviation (ddof = 0) of the values in the window (NaN when empty)."""
    n = w[W_LEN]
    if n == 0.0:
        return np.nan
    m = w[W_SUM] / n
    var = w[W_SUMSQ] / n - m * m
    return math.sqrt(var) if var > 0.0 else 0.0


@njit(cache=True, inline="always")
def _extreme(w, sign):
    cap = _cap(w)
    n = np.int64(w[W_LEN])
    if n == 0:
        return np.nan
    head = np.int64(w[W_HEAD])
    best = -np.inf
    for j in range(n):
        k = head - n + j
        if k < 0:
            k += cap
        v = sign * w[W_HEADER + cap + k]
        if v > best:
            best = v
    return sign * best + w[W_REF]


@njit(cache=True, inline="always")
def wmin(w):
    """Lowest value in the window (a scan: O(window) per call)."""
    return _extreme(w, -1.0)


@njit(cache=True, inline="always")
def wmax(w):
    """Highest value in the window (a scan: O(window) per call)."""
    return _extreme(w, 1.0)


@njit(cache=True, inline="always")
def alpha(span):
    """EMA weight of a span in ticks, 2 / (span + 1) (pandas' `ewm(span=...)`)."""
    return 2.0 / (span + 1.0)


@njit(cache=True, inline="always")
def ema(prev, x, span):
    """Next EMA: `x` itself when `prev` is NaN (start the scalar at NaN), else prev + alpha * (x - prev)."""
    if math.isnan(prev):
        return x
    return prev + alpha(span) * (x - prev)


@njit(cache=True, inline="always")
def cross(prev, now):
    """+1 when a quantity goes from <= 0 to > 0, -1 from >= 0 to < 0, else 0 (NaN `prev`: 0)."""
    if prev <= 0.0 < now:
        return 1
    if prev >= 0.0 > now:
        return -1
    return 0


@njit(cache=True, inline="always")
def crossed_above(a_prev, b_prev, a, b):
    """`a` was at or below `b` and is now above it."""
    return a_prev <= b_prev and a > b


@njit(cache=True, inline="always")
def crossed_below(a_prev, b_prev, a, b):
    """`a` was at or above `b` and is now below it."""
    return a_prev >= b_prev and a < b
