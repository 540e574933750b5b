"""K EMA-crossover configs stepped together, one tick at a time, in a loop the compiler vectorises.

The hot state of every config sits in structure-of-arrays rows (`X`: strategy, `H`: position and
gates, K contiguous values per row), and the common tick is one branch-free pass over k that updates
the EMAs and ORs together "this config needs the slow path" flags: a target that would change
something, or a liquidation price outside the band where neither the mark to market (peak, max
drawdown) nor a stop can move. Only when a flag or an aggregated event gate fires does a scalar pass
call the same `events_nb` / `mark_risk_nb` / `target_nb` as single runs, on that config's
`acct` row. Arithmetic per config is the same as
`signals_nb.ema_step` and `loop_nb.run_loop_nb`, so results equal K single runs bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hft.engine.enums import (
    A_CASH,
    A_EQUITY,
    A_IN_MARKET_MS,
    A_LAST_ASK,
    A_LAST_BID,
    A_LAST_TS,
    A_N_MARKS,
    A_N_TICKS,
    A_N_TRADES,
    A_NEXT_DAY,
    A_NEXT_SAMPLE,
    A_PEND_DUE,
    A_PEND_QTY,
    A_POS,
    A_STARTED,
    BIG,
    DAY_MS,
    G_BUY_TRIG,
    G_HI,
    G_HOLD_DUE,
    G_LO,
    G_NEXT_EVT,
    G_NEXT_HOURS,
    G_OPEN_T,
    G_QUIET,
    G_QUIET_ANY,
    G_REQ_DUE,
    G_SELL_TRIG,
    M_DAY_CLOSE,
    M_EQUITY,
    M_POS,
    M_ROOM,
    M_TS,
    N_G,
    P_SAMPLE_MS,
    T_ROOM,
)
from hft.engine.events_nb import close_gates_nb, events_nb, mark_risk_nb, new_gates_nb, target_nb

__all__ = ["batch_ema_cross_nb"]

# rows of H
_POS, _CASH, _LO, _HI, _HOLD, _QUIET = range(6)
_NH = 6


@njit(cache=True)
def _load_k(acct, G, H, k):
    H[_POS, k] = acct[k, A_POS]
    H[_CASH, k] = acct[k, A_CASH]
    H[_LO, k] = G[k, G_LO]
    H[_HI, k] = G[k, G_HI]
    H[_HOLD, k] = G[k, G_HOLD_DUE]
    H[_QUIET, k] = G[k, G_QUIET]


@njit(cache=True, inline="always")
def _equity(cash, pos, b, a):
    if pos > 0.0:
        return cash + pos * b
    if pos < 0.0:
        return cash + pos * a
    return cash


@njit(cache=True)
def _only_sample_due(acct, G, k, tf):
    if acct[k, A_STARTED] == 0.0 or tf < acct[k, A_NEXT_SAMPLE] or tf >= G[k, G_NEXT_HOURS]:
        return False
    return acct[k, A_PEND_QTY] == 0.0 or tf < acct[k, A_PEND_DUE]


@njit(cache=True)
def _sample_k(ep, acct, G, mbuf, k, t):
    """`events_nb` when only an equity sample is due: the marks and the exposure count, no refresh.

    Nothing the other gates depend on changes, so only the next event time is recomputed.
    """
    smp = np.int64(ep[k, P_SAMPLE_MS])
    nm = np.int64(acct[k, A_N_MARKS])
    pos = acct[k, A_POS]
    equity = acct[k, A_EQUITY]
    next_day = np.int64(acct[k, A_NEXT_DAY])
    if t >= next_day:
        mbuf[k, nm, M_TS] = next_day - DAY_MS
        mbuf[k, nm, M_EQUITY] = equity
        mbuf[k, nm, M_POS] = pos
        mbuf[k, nm, M_DAY_CLOSE] = 1.0
        nm += 1
        acct[k, A_NEXT_DAY] = float((t // DAY_MS) * DAY_MS + DAY_MS)
    mbuf[k, nm, M_TS] = (t // smp) * smp
    mbuf[k, nm, M_EQUITY] = equity
    mbuf[k, nm, M_POS] = pos
    mbuf[k, nm, M_DAY_CLOSE] = 0.0
    acct[k, A_N_MARKS] = float(nm + 1)
    nxt = float((t // smp) * smp + smp)
    acct[k, A_NEXT_SAMPLE] = nxt
    if pos != 0.0:
        acct[k, A_IN_MARKET_MS] = float(np.int64(acct[k, A_IN_MARKET_MS]) + (t - np.int64(G[k, G_OPEN_T])))
    G[k, G_OPEN_T] = float(t)
    if acct[k, A_PEND_QTY] != 0.0:
        nxt = min(nxt, acct[k, A_PEND_DUE])
    G[k, G_NEXT_EVT] = min(nxt, G[k, G_NEXT_HOURS])


@njit(cache=True)
def _aggregate(G):
    """Earliest event, highest buy trigger, lowest sell trigger, earliest request over configs."""
    evt = BIG
    buy = -np.inf
    sell = np.inf
    req = BIG
    for k in range(G.shape[0]):
        evt = min(evt, G[k, G_NEXT_EVT])
        buy = max(buy, G[k, G_BUY_TRIG])
        sell = min(sell, G[k, G_SELL_TRIG])
        req = min(req, G[k, G_REQ_DUE])
    return evt, buy, sell, req


@njit(cache=True)
def batch_ema_cross_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    """`runners_nb.batch_ema_cross_nb` with every config on the same tick; see the module docstring.

    All configs advance together, so `starts` holds one index K times; a full record buffer in any
    config stops them all before the tick (the caller drains and calls again). Returns K when it
    stopped early, else 0.
    """
    n = ts.shape[0]
    kk = ep.shape[0]
    i0 = max(starts[0], 0)
    cnt = ss[0, 2]
    G = np.empty((kk, N_G))
    X = np.empty((3, kk))
    P = np.empty((3, kk))
    H = np.empty((_NH, kk))
    for k in range(kk):
        G[k] = new_gates_nb(ep[k], acct[k])
        X[0, k] = ss[k, 0]
        X[1, k] = ss[k, 1]
        X[2, k] = ss[k, 3]
        P[0, k] = sp[k, 0]
        P[1, k] = sp[k, 1]
        P[2, k] = sp[k, 2]
        _load_k(acct, G, H, k)
    agg_evt, agg_buy, agg_sell, agg_req = -BIG, -np.inf, np.inf, BIG
    tcap = tbuf.shape[1]
    mcap = mbuf.shape[1]
    stopped = False
    i = i0
    while i < n:
        t = ts[i]
        b = bid[i]
        a = ask[i]
        tf = float(t)
        if tf >= agg_evt or a <= agg_buy or b >= agg_sell or tf >= agg_req:
            for k in range(kk):
                if acct[k, A_N_TRADES] + T_ROOM > tcap or acct[k, A_N_MARKS] + M_ROOM > mcap:
                    stopped = True
            if stopped:
                break
            for k in range(kk):
                book = a <= G[k, G_BUY_TRIG] or b >= G[k, G_SELL_TRIG] or tf >= G[k, G_REQ_DUE]
                if not (book or tf >= G[k, G_NEXT_EVT]):
                    continue
                if i > i0:  # the equity marked at the previous tick, for the samples
                    acct[k, A_EQUITY] = _equity(H[_CASH, k], H[_POS, k], bid[i - 1], ask[i - 1])
                if not book and _only_sample_due(acct, G, k, tf):
                    _sample_k(ep, acct, G, mbuf, k, t)
                    continue
                events_nb(ep[k], acct[k], G[k], t, b, a, tbuf[k], mbuf[k])
                _load_k(acct, G, H, k)
            agg_evt, agg_buy, agg_sell, agg_req = _aggregate(G)
        mid = (b + a) * 0.5
        if cnt == 0.0:  # first tick: both EMAs start at mid (the update below then adds exactly 0)
            for k in range(kk):
                X[0, k] = mid
                X[1, k] = mid
        cnt += 1.0
        # 5-7 for every config at once: EMA target, and whether any config needs the slow path
        flag = False
        for k in range(kk):
            f = X[0, k] + P[0, k] * (mid - X[0, k])
            s = X[1, k] + P[1, k] * (mid - X[1, k])
            live = cnt >= P[2, k]
            tg = X[2, k]
            tg = (1.0 if f > s else (-1.0 if f < s else tg)) if live else tg
            raw = tg if live else 0.0
            X[0, k] = f
            X[1, k] = s
            X[2, k] = tg
            liq = b if H[_POS, k] > 0.0 else a
            flag |= (liq <= H[_LO, k]) | (liq >= H[_HI, k]) | (tf >= H[_HOLD, k]) | (raw != H[_QUIET, k])
        if flag:  # rare: redo the checks per config, exactly as a single run would
            for k in range(kk):
                pos = H[_POS, k]
                liq = b if pos > 0.0 else a
                if liq <= H[_LO, k] or liq >= H[_HI, k] or tf >= H[_HOLD, k]:
                    acct[k, A_EQUITY] = _equity(H[_CASH, k], pos, b, a)
                    mark_risk_nb(ep[k], acct[k], G[k], t, b, a)
                    _load_k(acct, G, H, k)
                    agg_evt = min(agg_evt, G[k, G_NEXT_EVT])
                raw = X[2, k] if cnt >= P[2, k] else 0.0
                if raw != H[_QUIET, k] and G[k, G_QUIET_ANY] == 0.0:
                    target_nb(ep[k], acct[k], G[k], t, np.int64(raw), quotes[k])
                    _load_k(acct, G, H, k)
                    agg_evt = min(agg_evt, G[k, G_NEXT_EVT])
        i += 1

    for k in range(kk):
        ss[k, 0] = X[0, k]
        ss[k, 1] = X[1, k]
        ss[k, 2] = cnt
        ss[k, 3] = X[2, k]
        if i > i0:
            acct[k, A_EQUITY] = _equity(H[_CASH, k], H[_POS, k], bid[i - 1], ask[i - 1])
            acct[k, A_LAST_TS] = float(ts[i - 1])
            acct[k, A_LAST_BID] = bid[i - 1]
            acct[k, A_LAST_ASK] = ask[i - 1]
            acct[k, A_N_TICKS] += float(i - i0)
        close_gates_nb(acct[k], G[k])
        starts[k] = i
    return kk if stopped else 0
