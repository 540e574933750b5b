"""Built-in strategies as compiled per-tick signal functions sharing one signature.

    signal(ts, bid, ask, pos, ss, sp, quotes) -> int

`ss` is the strategy's own float64 state (zeroed before the first tick), `sp` its float64 parameters,
`pos` the current position in units. Return the wanted position in lots of the run's size (-1, 0,
+1) or TARGET_NONE to leave market orders alone; quoting strategies write a limit buy price to
`quotes[0]` and a limit sell price to `quotes[1]` (NaN = no order on that side). Signals use mid =
(bid + ask) / 2. Each function keeps its last target in state so that "hold" is explicit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hft.engine.enums import TARGET_NONE

__all__ = [
    "ema_cross_nb",
    "zscore_nb",
    "donchian_nb",
    "filtered_ema_nb",
    "market_maker_nb",
    "ZS_HEADER",
    "DC_HEADER",
]

# ema_cross: sp = [alpha_fast, alpha_slow, warmup_ticks]; ss = [ema_fast, ema_slow, n, target]


@njit(cache=True, inline="always")
def ema_cross_nb(ts, bid, ask, pos, ss, sp, quotes):
    mid = (bid + ask) * 0.5
    n = ss[2]
    if n == 0.0:
        ss[0] = mid
        ss[1] = mid
    else:
        ss[0] += sp[0] * (mid - ss[0])
        ss[1] += sp[1] * (mid - ss[1])
    n += 1.0
    ss[2] = n
    if n < sp[2]:
        return 0
    if ss[0] > ss[1]:
        ss[3] = 1.0
    elif ss[0] < ss[1]:
        ss[3] = -1.0
    return np.int64(ss[3])


# zscore: sp = [window, entry_z, exit_z, min_std]; ss = [n, ref, sum, sumsq, head, target, buf[window]]
ZS_HEADER = 6


@njit(cache=True, inline="always")
def zscore_nb(ts, bid, ask, pos, ss, sp, quotes):
    """Mean reversion on the z-score of mid over the last `window` ticks (current one included).

    Sums are kept in O(1) over deviations from the first mid seen and recomputed exactly from the
    ring buffer each time it wraps, so rounding drift never outlives one window.
    """
    w = np.int64(sp[0])
    n = np.int64(ss[0])
    mid = (bid + ask) * 0.5
    if n == 0:
        ss[1] = mid
    x = mid - ss[1]
    head = np.int64(ss[4])
    if n >= w:
        old = ss[ZS_HEADER + head]
        ss[2] = ss[2] + x - old
        ss[3] = ss[3] + x * x - old * old
    else:
        ss[2] = ss[2] + x
        ss[3] = ss[3] + x * x
    ss[ZS_HEADER + head] = x
    head += 1
    if head == w:
        head = 0
    ss[4] = head
    n += 1
    ss[0] = n
    if n < w:
        return 0
    if head == 0:
        s = 0.0
        q = 0.0
        for j in range(w):
            v = ss[ZS_HEADER + j]
            s += v
            q += v * v
        ss[2] = s
        ss[3] = q
    mean = ss[2] / w
    var = ss[3] / w - mean * mean
    z = 0.0
    if var > 0.0:
        sd = math.sqrt(var)
        if sd > sp[3]:
            z = (x - mean) / sd
    tgt = ss[5]
    if z > sp[1]:
        tgt = -1.0
    elif z < -sp[1]:
        tgt = 1.0
    elif (tgt == 1.0 and z >= -sp[2]) or (tgt == -1.0 and z <= sp[2]):
        tgt = 0.0
    ss[5] = tgt
    return np.int64(tgt)


# donchian: sp = [window]; ss = [n, target, max_head, max_count, min_head, min_count,
#            max_val[w+1], max_idx[w+1], min_val[w+1], min_idx[w+1]]
DC_HEADER = 6


@njit(cache=True, inline="always")
def donchian_nb(ts, bid, ask, pos, ss, sp, quotes):
    """Breakout of mid above the highest / below the lowest mid of the previous `window` ticks.

    The band is kept with two monotonic deques (amortised O(1)); a break of the opposite band
    reverses the position, stops come from the engine's stop-loss.
    """
    w = np.int64(sp[0])
    cap = w + 1
    mxv = DC_HEADER
    mxi = DC_HEADER + cap
    mnv = DC_HEADER + 2 * cap
    mni = DC_HEADER + 3 * cap
    n = np.int64(ss[0])
    mid = (bid + ask) * 0.5
    mh = np.int64(ss[2])
    mc = np.int64(ss[3])
    nh = np.int64(ss[4])
    nc = np.int64(ss[5])
    oldest = n - w
    while mc > 0 and ss[mxi + mh] < oldest:
        mh = (mh + 1) % cap
        mc -= 1
    while nc > 0 and ss[mni + nh] < oldest:
        nh = (nh + 1) % cap
        nc -= 1
    if n >= w:
        if mid > ss[mxv + mh]:
            ss[1] = 1.0
        elif mid < ss[mnv + nh]:
            ss[1] = -1.0
    while mc > 0 and ss[mxv + (mh + mc - 1) % cap] <= mid:
        mc -= 1
    k = (mh + mc) % cap
    ss[mxv + k] = mid
    ss[mxi + k] = n
    mc += 1
    while nc > 0 and ss[mnv + (nh + nc - 1) % cap] >= mid:
        nc -= 1
    k = (nh + nc) % cap
    ss[mnv + k] = mid
    ss[mni + k] = n
    nc += 1
    ss[0] = n + 1
    ss[2] = mh
    ss[3] = mc
    ss[4] = nh
    ss[5] = nc
    return np.int64(ss[1])


# filtered_ema: sp = [alpha_fast, alpha_slow, warmup, max_spread, alpha_gap, max_gap_ms];
#               ss = [ema_fast, ema_slow, n, target, gap_ema, last_ts]


@njit(cache=True, inline="always")
def filtered_ema_nb(ts, bid, ask, pos, ss, sp, quotes):
    """EMA crossover that enters only on a tight spread and a busy tape (EMA of tick gaps).

    When the filter fails a wanted change of side becomes a move to flat: exits never wait.
    """
    mid = (bid + ask) * 0.5
    n = ss[2]
    if n == 0.0:
        ss[0] = mid
        ss[1] = mid
    else:
        ss[0] += sp[0] * (mid - ss[0])
        ss[1] += sp[1] * (mid - ss[1])
        gap = ts - ss[5]
        if n == 1.0:
            ss[4] = gap
        else:
            ss[4] += sp[4] * (gap - ss[4])
    ss[5] = ts
    n += 1.0
    ss[2] = n
    if n < sp[2]:
        return 0
    raw = ss[3]
    if ss[0] > ss[1]:
        raw = 1.0
    elif ss[0] < ss[1]:
        raw = -1.0
    if raw != ss[3]:
        ok = (ask - bid) <= sp[3] and ss[4] <= sp[5]
        ss[3] = raw if ok else 0.0
    return np.int64(ss[3])


# market_maker: sp = [half_spread, skew_per_lot, max_lots, tick, size]; ss = [unused]


@njit(cache=True, inline="always")
def market_maker_nb(ts, bid, ask, pos, ss, sp, quotes):
    """Quote both sides around a reservation price shifted against inventory (Avellaneda-style).

    Quotes round away from mid to the price tick, so unchanged quotes are not re-sent.
    """
    mid = (bid + ask) * 0.5
    lots = pos / sp[4]
    r = mid - sp[1] * lots
    tick = sp[3]
    quotes[0] = math.floor((r - sp[0]) / tick) * tick if lots < sp[2] else np.nan
    quotes[1] = math.ceil((r + sp[0]) / tick) * tick if lots > -sp[2] else np.nan
    return TARGET_NONE
