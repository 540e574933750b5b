"""The built-in strategies with their scalar state in registers: load / step / save triples.

Same arithmetic, in the same order, as the array-state signals of `strategies_nb` (which stay the
public, documented form and the model for user strategies), but `load(ss, sp) -> (st, prm)` lifts
the scalars into a tuple once per kernel call, `step(sig, st, prm, t, bid, ask, pos, ss, sp, quotes)
-> (st, target)` runs per tick without touching memory except ring buffers, and `save(st, ss)`
writes the scalars back to the same slots. `sig` is unused here (it is the array signal for
strategies without a register form).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hft.engine.enums import TARGET_NONE
from hft.engine.strategies_nb import DC_HEADER, ZS_HEADER

__all__ = [
    "ema_load",
    "ema_step",
    "ema_save",
    "zscore_load",
    "zscore_step",
    "zscore_save",
    "donchian_load",
    "donchian_step",
    "donchian_save",
    "filtered_load",
    "filtered_step",
    "filtered_save",
    "mm_load",
    "mm_step",
    "mm_save",
]


# ema_cross: st = (ema_fast, ema_slow, n, target); prm = (alpha_fast, alpha_slow, warmup)
@njit(cache=True, inline="always")
def ema_load(ss, sp):
    return (ss[0], ss[1], ss[2], ss[3]), (sp[0], sp[1], sp[2])


@njit(cache=True, inline="always")
def ema_step(sig, st, prm, t, b, a, pos, ss, sp, quotes):
    # selects instead of branches; the first tick takes mid as it is, as `ema_cross_nb` does
    fast, slow, n, tgt = st
    mid = (b + a) * 0.5
    first = n == 0.0
    fast = mid if first else fast + prm[0] * (mid - fast)
    slow = mid if first else slow + prm[1] * (mid - slow)
    n += 1.0
    live = n >= prm[2]
    side = 1.0 if fast > slow else (-1.0 if fast < slow else tgt)
    tgt = side if live else tgt
    return (fast, slow, n, tgt), np.int64(tgt if live else 0.0)


@njit(cache=True, inline="always")
def ema_save(st, ss):
    ss[0], ss[1], ss[2], ss[3] = st


# zscore: st = (n, ref, sum, sumsq, head, target); ring of deviations in ss[ZS_HEADER:];
#         prm = (window, entry, exit, min_std, entry² shrunk, exit² grown, least variance for the shortcut)
_ZS_MARGIN = 1e-9
_ZS_TINY = 1e-300


@njit(cache=True, inline="always")
def zscore_load(ss, sp):
    st = (np.int64(ss[0]), ss[1], ss[2], ss[3], np.int64(ss[4]), ss[5])
    entry, exit_, min_std = sp[1], sp[2], sp[3]
    # squared thresholds for the shortcut in `zscore_step`, widened by a margin far above the rounding
    # of z = d / sd, so that it only decides what the exact test would decide the same way
    e2 = entry * entry * (1.0 - _ZS_MARGIN)
    x2 = exit_ * exit_ * (1.0 + _ZS_MARGIN)
    vmin = max(min_std, 0.0) ** 2 * (1.0 + _ZS_MARGIN) + _ZS_TINY
    if not (entry > 0.0 and exit_ >= 0.0):  # outside the typed range: always decide exactly
        vmin = math.inf
    return st, (np.int64(sp[0]), entry, exit_, min_std, e2, x2, vmin)


@njit(cache=True, inline="always", error_model="numpy")  # divisors are never 0: no checks per tick
def zscore_step(sig, st, prm, t, b, a, pos, ss, sp, quotes):
    n, ref, s, q, head, tgt = st
    w, entry, exit_, min_std, e2, x2, vmin = prm
    mid = (b + a) * 0.5
    if n == 0:
        ref = mid
    x = mid - ref
    slot = np.uint64(ZS_HEADER + head)  # unsigned: no negative-index wraparound
    if n >= w:
        old = ss[slot]
        s = s + x - old
        q = q + x * x - old * old
    else:
        s = s + x
        q = q + x * x
    ss[slot] = x
    head += 1
    if head == w:
        head = 0
    n += 1
    if n < w:
        return (n, ref, s, q, head, tgt), np.int64(0)
    if head == 0:
        s = 0.0
        q = 0.0
        for j in range(w):
            v = ss[ZS_HEADER + j]
            s += v
            q += v * v
    mean = s / w
    var = q / w - mean * mean
    d = x - mean
    dd = d * d
    # the common tick: the target certainly stays, decided without the square root and division
    if (var > vmin) & (
        ((tgt == 0.0) & (dd < e2 * var)) | ((tgt * d < 0.0) & (dd > x2 * var) & (dd > _ZS_TINY))
    ):
        return (n, ref, s, q, head, tgt), np.int64(tgt)
    z = 0.0
    if var > 0.0:
        sd = math.sqrt(var)
        if sd > min_std:
            z = d / sd
    if z > entry:
        tgt = -1.0
    elif z < -entry:
        tgt = 1.0
    elif (tgt == 1.0 and z >= -exit_) or (tgt == -1.0 and z <= exit_):
        tgt = 0.0
    return (n, ref, s, q, head, tgt), np.int64(tgt)


@njit(cache=True, inline="always")
def zscore_save(st, ss):
    n, ref, s, q, head, tgt = st
    ss[0] = n
    ss[1] = ref
    ss[2] = s
    ss[3] = q
    ss[4] = head
    ss[5] = tgt


# donchian: st = (n, target, max_head, max_count, min_head, min_count); deques in ss[DC_HEADER:]
@njit(cache=True, inline="always")
def donchian_load(ss, sp):
    st = (np.int64(ss[0]), ss[1], np.int64(ss[2]), np.int64(ss[3]), np.int64(ss[4]), np.int64(ss[5]))
    return st, (np.int64(sp[0]),)


@njit(cache=True, inline="always")
def donchian_step(sig, st, prm, t, b, a, pos, ss, sp, quotes):
    # slots go through np.uint64 so that no load pays for negative-index wraparound
    n, tgt, mh, mc, nh, nc = st
    w = prm[0]
    cap = w + 1
    mxv = DC_HEADER
    mxi = DC_HEADER + cap
    mnv = DC_HEADER + 2 * cap
    mni = DC_HEADER + 3 * cap
    mid = (b + a) * 0.5
    oldest = n - w
    while mc > 0 and ss[np.uint64(mxi + mh)] < oldest:
        mh += 1
        if mh == cap:
            mh = 0
        mc -= 1
    while nc > 0 and ss[np.uint64(mni + nh)] < oldest:
        nh += 1
        if nh == cap:
            nh = 0
        nc -= 1
    if n >= w:
        if mid > ss[np.uint64(mxv + mh)]:
            tgt = 1.0
        elif mid < ss[np.uint64(mnv + nh)]:
            tgt = -1.0
    while mc > 0:
        k = mh + mc - 1
        if k >= cap:
            k -= cap
        if ss[np.uint64(mxv + k)] > mid:
            break
        mc -= 1
    k = mh + mc
    if k >= cap:
        k -= cap
    ss[np.uint64(mxv + k)] = mid
    ss[np.uint64(mxi + k)] = n
    mc += 1
    while nc > 0:
        k = nh + nc - 1
        if k >= cap:
            k -= cap
        if ss[np.uint64(mnv + k)] < mid:
            break
        nc -= 1
    k = nh + nc
    if k >= cap:
        k -= cap
    ss[np.uint64(mnv + k)] = mid
    ss[np.uint64(mni + k)] = n
    nc += 1
    return (n + 1, tgt, mh, mc, nh, nc), np.int64(tgt)


@njit(cache=True, inline="always")
def donchian_save(st, ss):
    n, tgt, mh, mc, nh, nc = st
    ss[0] = n
    ss[1] = tgt
    ss[2] = mh
    ss[3] = mc
    ss[4] = nh
    ss[5] = nc


# filtered_ema: st = (ema_fast, ema_slow, n, target, gap_ema, last_ts);
#               prm = (alpha_fast, alpha_slow, warmup, max_spread, alpha_gap, max_gap_ms)
@njit(cache=True, inline="always")
def filtered_load(ss, sp):
    return (ss[0], ss[1], ss[2], ss[3], ss[4], ss[5]), (sp[0], sp[1], sp[2], sp[3], sp[4], sp[5])


@njit(cache=True, inline="always")
def filtered_step(sig, st, prm, t, b, a, pos, ss, sp, quotes):
    fast, slow, n, tgt, gap_ema, last_ts = st
    mid = (b + a) * 0.5
    if n == 0.0:
        fast = mid
        slow = mid
    else:
        fast += prm[0] * (mid - fast)
        slow += prm[1] * (mid - slow)
        gap = t - last_ts
        if n == 1.0:
            gap_ema = gap
        else:
            gap_ema += prm[4] * (gap - gap_ema)
    last_ts = float(t)
    n += 1.0
    if n < prm[2]:
        return (fast, slow, n, tgt, gap_ema, last_ts), np.int64(0)
    raw = tgt
    if fast > slow:
        raw = 1.0
    elif fast < slow:
        raw = -1.0
    if raw != tgt:
        ok = (a - b) <= prm[3] and gap_ema <= prm[5]
        tgt = raw if ok else 0.0
    return (fast, slow, n, tgt, gap_ema, last_ts), np.int64(tgt)


@njit(cache=True, inline="always")
def filtered_save(st, ss):
    ss[0], ss[1], ss[2], ss[3], ss[4], ss[5] = st


# market_maker: no state; prm = (half_spread, skew_per_lot, max_lots, tick, size)
@njit(cache=True, inline="always")
def mm_load(ss, sp):
    return 0.0, (sp[0], sp[1], sp[2], sp[3], sp[4])


@njit(cache=True, inline="always")
def mm_step(sig, st, prm, t, b, a, pos, ss, sp, quotes):
    half, skew, max_lots, tick, size = prm
    mid = (b + a) * 0.5
    lots = pos / size
    r = mid - skew * lots
    quotes[0] = math.floor((r - half) / tick) * tick if lots < max_lots else np.nan
    quotes[1] = math.ceil((r + half) / tick) * tick if lots > -max_lots else np.nan
    return st, np.int64(TARGET_NONE)


@njit(cache=True, inline="always")
def mm_save(st, ss):
    pass
