"""The per-tick execution loop, generic over the strategy's compiled signal function.

Order of work on tick i (tests/oracle/simulator.py states the same rules independently):
  1. equity samples / UTC-day close for the time before tick i;
  2. time in the market since the previous tick;
  3. an in-flight market order whose due time (decision ts + latency) has come fills here, buying at
     ask + slippage or selling at bid - slippage; it was decided on an earlier tick, never tick i;
  4. limit requests that have arrived replace the resting order; resting orders fill at their price
     when the opposite quote touches (or trades through by `fill_through`) them;
  5. mark to market at the liquidation side (bid for longs, ask for shorts), peak and drawdown;
  6. stop-loss / take-profit / max-hold checked against that side; a hit sends a closing market order;
  7. the strategy sees tick i and returns a target (-1, 0, +1 lots, or TARGET_NONE) and quotes;
     a differing target sends a market order that can fill on a later tick only.
All state lives in `acct` and the strategy's `ss` between kernel calls, so any split of the ticks
into chunks gives bit-identical results. Within a call the common tick runs in registers, in an
inner loop without calls: the strategy's scalars are locals, and steps 1-6 and most of 7 happen in
`events_nb` only when a precomputed gate fires (next event time, limit trigger prices, the band of
liquidation prices inside which neither the mark to market nor a stop can change anything, a target
that would change something). The loop stops early (returning the index) when a record buffer is
full, or, when checking, before a bad tick (returning -(index + 1)).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hft.engine.account_nb import equity_nb, fee_nb, fill_nb
from hft.engine.enums import (
    A_AVG,
    A_BLOCK,
    A_BUY_PX,
    A_BUY_REQ,
    A_CASH,
    A_ENTRY_FEES,
    A_ENTRY_TS,
    A_EQUITY,
    A_FEES,
    A_FINISHED,
    A_LAST_ASK,
    A_LAST_BID,
    A_LAST_TS,
    A_N_FILLS,
    A_N_MARKS,
    A_N_TICKS,
    A_N_TRADES,
    A_PEAK,
    A_PEND_QTY,
    A_POS,
    A_SELL_PX,
    A_SELL_REQ,
    A_STARTED,
    DAY_MS,
    G_BUY_TRIG,
    G_HI,
    G_HOLD_DUE,
    G_LO,
    G_NEXT_EVT,
    G_OUTSIDE,
    G_QUIET,
    G_QUIET_ANY,
    G_REQ_DUE,
    G_SELL_TRIG,
    M_DAY_CLOSE,
    M_EQUITY,
    M_POS,
    M_TS,
    N_ACCT,
    P_CAPITAL,
    P_SLIPPAGE,
    P_TAKER_FRAC,
    P_TAKER_UNIT,
    R_END,
    TARGET_NONE,
)
from hft.engine.events_nb import (
    arrive_nb,
    close_gates_nb,
    events_nb,
    in_hours_nb,
    mark_nb,
    mark_risk_nb,
    new_gates_nb,
    post_quotes_nb,
    target_nb,
)

__all__ = ["init_acct_nb", "run_loop_nb", "step_nb", "finish_nb", "in_hours_nb"]


@njit(cache=True)
def init_acct_nb(ep):
    acct = np.zeros(N_ACCT)
    acct[A_CASH] = ep[P_CAPITAL]
    acct[A_EQUITY] = ep[P_CAPITAL]
    acct[A_PEAK] = ep[P_CAPITAL]
    acct[A_BLOCK] = 0.0
    acct[A_BUY_PX] = np.nan
    acct[A_SELL_PX] = np.nan
    return acct


@njit(cache=True, inline="always")
def _hot(g):
    """The gates as typed locals for the hot loop."""
    return (
        np.int64(g[G_NEXT_EVT]),
        g[G_BUY_TRIG],
        g[G_SELL_TRIG],
        g[G_LO],
        g[G_HI],
        np.int64(g[G_HOLD_DUE]),
        np.int64(g[G_QUIET]),
        np.int64(g[G_REQ_DUE]),
    )


@njit(inline="always")  # never cached: strategies arrive as arguments
def run_loop_nb(
    step_fn, load_fn, save_fn, sig, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check, quoting
):
    """Advance one run over ticks[start:]; returns where it stopped (len(ts) unless a buffer filled).

    With `check`, a tick that `validate_nb.check_ticks_nb` would reject (NaN, infinite or
    non-positive quote, crossed quote, time going backwards) stops the loop before it is used and
    -(index + 1) is returned; the caller rolls the chunk back.

    `load_fn(ss, sp) -> (st, prm)` lifts the strategy's scalars into locals for the whole call,
    `step_fn(sig, st, prm, t, bid, ask, pos, ss, sp, quotes) -> (st, target)` is the per-tick signal
    and `save_fn(st, ss)` stores the scalars back. `quoting` is a constant: False for strategies that
    never return TARGET_NONE (so never rest limit orders), which drops the limit triggers from the
    common tick. Account scalars the common tick touches live in
    locals too; anything rarer happens in `events_nb` behind the gates.
    """
    n = ts.shape[0]
    start = max(start, 0)  # lets the compiler drop negative-index wraparound on every tick load
    st, prm = load_fn(ss, sp)
    g = new_gates_nb(ep, acct)
    next_evt, buy_trig, sell_trig, lo, hi, hold_due, quiet, req_due = _hot(g)
    pos = acct[A_POS]
    cash = acct[A_CASH]
    last = np.int64(acct[A_LAST_TS]) if acct[A_STARTED] != 0.0 else np.iinfo(np.int64).min
    nxt = min(min(next_evt, req_due), hold_due)
    bad = False
    raw = np.int64(0)
    phase = 0
    i = start
    while i < n:
        # the common tick: no calls in this loop, so the strategy state stays in registers; `|`
        # (not `or`) keeps the tests branch-free. It leaves at the first gate that fires, noting
        # where tick i stands, and the code below finishes that tick the slow way.
        phase = 0
        while i < n:
            u = np.uint64(i)  # an unsigned index needs no negative-index wraparound
            t = ts[u]
            b = bid[u]
            a = ask[u]
            # as `check_ticks_nb` (tick `start` always takes the slow path, which checks it against
            # the previous chunk; here it is compared with itself so that no read leaves the array)
            ok = (b > 0.0) & (a >= b) & (a < math.inf) & (t >= ts[u - np.uint64(i > start)])
            if (check & (not ok)) | (t >= nxt) | (quoting & ((a <= buy_trig) | (b >= sell_trig))):
                break  # (nxt includes the max-hold time)
            liq = b if pos > 0.0 else a
            if (liq <= lo) | (liq >= hi):
                phase = 1
                break
            st, raw = step_fn(sig, st, prm, t, b, a, pos, ss, sp, quotes)
            if raw != quiet:
                phase = 2
                break
            i += 1
        if i >= n:
            break
        u = np.uint64(i)
        t = ts[u]
        b = bid[u]
        a = ask[u]
        if phase == 0:
            prev = ts[i - 1] if i > start else last
            if check and not ((b > 0.0) and (a >= b) and (a < math.inf) and (t >= prev)):
                bad = True
                break
            # 1-4: samples, day closes, pending fills, limit requests and fills, hours window
            if t >= req_due and t < next_evt:  # quoting: a request arrives (no other event due)
                arrive_nb(ep, acct, g, t)
                buy_trig = g[G_BUY_TRIG]
                sell_trig = g[G_SELL_TRIG]
                req_due = np.int64(g[G_REQ_DUE])
                nxt = min(min(next_evt, req_due), hold_due)
            if t >= next_evt or a <= buy_trig or b >= sell_trig:
                if i > start:  # the equity marked at the previous tick, for the samples
                    acct[A_EQUITY] = equity_nb(cash, pos, bid[i - 1], ask[i - 1])
                if not events_nb(ep, acct, g, t, b, a, tbuf, mbuf):
                    break
                pos = acct[A_POS]
                cash = acct[A_CASH]
                next_evt, buy_trig, sell_trig, lo, hi, hold_due, quiet, req_due = _hot(g)
                nxt = min(min(next_evt, req_due), hold_due)
        if phase <= 1:
            # 5-6. the gates cover the mark to market (`mark_band_nb`: peak, max drawdown and its
            # fraction cannot move while the liquidation price stays inside) and the stop prices
            liq = b if pos > 0.0 else a
            if (liq <= lo) | (liq >= hi) | (t >= hold_due):
                acct[A_EQUITY] = equity_nb(cash, pos, b, a)
                mark_risk_nb(ep, acct, g, t, b, a)  # moves the gates for the new peak / drawdown too
                next_evt, buy_trig, sell_trig, lo, hi, hold_due, quiet, req_due = _hot(g)
                nxt = min(min(next_evt, req_due), hold_due)
            # 7. strategy
            st, raw = step_fn(sig, st, prm, t, b, a, pos, ss, sp, quotes)
        if raw != quiet:
            if raw == TARGET_NONE and g[G_OUTSIDE] == 0.0:
                post_quotes_nb(ep, acct, g, t, quotes)
                req_due = np.int64(g[G_REQ_DUE])
                nxt = min(min(next_evt, req_due), hold_due)
            elif raw == TARGET_NONE or g[G_QUIET_ANY] == 0.0:
                target_nb(ep, acct, g, t, raw, quotes)
                next_evt, buy_trig, sell_trig, lo, hi, hold_due, quiet, req_due = _hot(g)
                nxt = min(min(next_evt, req_due), hold_due)
        i += 1

    save_fn(st, ss)
    if i > start:
        acct[A_EQUITY] = equity_nb(cash, pos, bid[i - 1], ask[i - 1])
        acct[A_LAST_TS] = float(ts[i - 1])
        acct[A_LAST_BID] = bid[i - 1]
        acct[A_LAST_ASK] = ask[i - 1]
        acct[A_N_TICKS] += float(i - start)
    close_gates_nb(acct, g)
    return -(i + 1) if bad else i


@njit(cache=True, inline="always")
def _array_load(ss, sp):
    return 0, 0


@njit(cache=True, inline="always")
def _array_step(sig, st, prm, t, b, a, pos, ss, sp, quotes):
    return st, sig(t, b, a, pos, ss, sp, quotes)


@njit(cache=True, inline="always")
def _array_save(st, ss):
    pass


@njit(inline="always")  # never cached: user strategies arrive as arguments
def step_nb(signal_fn, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check=False):
    """`run_loop_nb` for a strategy that keeps all its state in `ss` (the user extension point)."""
    return run_loop_nb(
        _array_step,
        _array_load,
        _array_save,
        signal_fn,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        start,
        check,
        True,
    )


@njit(cache=True)
def finish_nb(ep, acct, tbuf, mbuf):
    """Flatten at the last tick's quotes (taker, slippage, no later tick exists) and close the books.

    Needs T_ROOM / M_ROOM free rows; pending orders and resting limits are cancelled.
    """
    if acct[A_STARTED] == 0.0 or acct[A_FINISHED] != 0.0:
        return
    nt = np.int64(acct[A_N_TRADES])
    nm = np.int64(acct[A_N_MARKS])
    pos = acct[A_POS]
    cash = acct[A_CASH]
    t = acct[A_LAST_TS]
    if pos != 0.0:
        q = -pos
        px = acct[A_LAST_ASK] + ep[P_SLIPPAGE] if q > 0.0 else acct[A_LAST_BID] - ep[P_SLIPPAGE]
        fee = fee_nb(abs(q), px, ep[P_TAKER_UNIT], ep[P_TAKER_FRAC])
        acct[A_FEES] += fee
        acct[A_N_FILLS] += 1.0
        pos, cash, avg, entry_ts, entry_fees, nt = fill_nb(
            q, px, fee, t, R_END, pos, cash, acct[A_AVG], acct[A_ENTRY_TS], acct[A_ENTRY_FEES], tbuf, nt
        )
        acct[A_POS] = pos
        acct[A_CASH] = cash
        acct[A_AVG] = avg
        acct[A_ENTRY_TS] = entry_ts
        acct[A_ENTRY_FEES] = entry_fees
    equity = cash
    acct[A_EQUITY] = equity
    mark_nb(acct)
    acct[A_PEND_QTY] = 0.0
    acct[A_BUY_PX] = np.nan
    acct[A_SELL_PX] = np.nan
    acct[A_BUY_REQ] = 0.0
    acct[A_SELL_REQ] = 0.0
    its = np.int64(t)
    mbuf[nm, M_TS] = its
    mbuf[nm, M_EQUITY] = equity
    mbuf[nm, M_POS] = 0.0
    mbuf[nm, M_DAY_CLOSE] = 0.0
    mbuf[nm + 1, M_TS] = (its // DAY_MS) * DAY_MS + DAY_MS
    mbuf[nm + 1, M_EQUITY] = equity
    mbuf[nm + 1, M_POS] = 0.0
    mbuf[nm + 1, M_DAY_CLOSE] = 1.0
    acct[A_N_MARKS] = float(nm + 2)
    acct[A_N_TRADES] = float(nt)
    acct[A_FINISHED] = 1.0
