"""The rare parts of a tick, kept out of the hot loop and run only when a gate in `g` fires.

`loop_nb` and `batch_nb` handle the common tick (strategy update, mark to market, a few compares)
in registers. Everything else (equity samples and day closes, in-flight market orders, limit
requests and fills, time in the market, the trading-hours window, risk exits, orders from a changed
target) works here on one `acct` row, in the order documented in `loop_nb`, with the same float
operations as before; `refresh_nb` then recomputes the gates, so that a tick on which no gate fires
is one where this code would have changed nothing.

Kernels here use NumPy's error model: no divisor can be zero (size, sample period and capital are
validated at the boundary, the peak never falls below the capital), so Python's per-division checks
and their exception paths are left out of the compiled code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hft.engine.account_nb import fee_nb, fill_nb
from hft.engine.enums import (
    A_AVG,
    A_BLOCK,
    A_BUY_PX,
    A_BUY_REQ,
    A_BUY_REQ_DUE,
    A_BUY_REQ_PX,
    A_CASH,
    A_ENTRY_FEES,
    A_ENTRY_TS,
    A_EQUITY,
    A_FEES,
    A_FIRST_TS,
    A_IN_MARKET_MS,
    A_LAST_TS,
    A_MAX_DD,
    A_MAX_DD_FRAC,
    A_N_FILLS,
    A_N_MARKS,
    A_N_TRADES,
    A_NEXT_DAY,
    A_NEXT_SAMPLE,
    A_PEAK,
    A_PEND_DUE,
    A_PEND_QTY,
    A_PEND_REASON,
    A_POS,
    A_SELL_PX,
    A_SELL_REQ,
    A_SELL_REQ_DUE,
    A_SELL_REQ_PX,
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
    G_OUTSIDE,
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
    P_FILL_THROUGH,
    P_HOURS_END,
    P_HOURS_ON,
    P_HOURS_START,
    P_LATENCY,
    P_MAKER_FRAC,
    P_MAKER_UNIT,
    P_MAX_HOLD,
    P_MAX_INVENTORY,
    P_SAMPLE_MS,
    P_SIZE,
    P_SLIPPAGE,
    P_STOP_LOSS,
    P_TAKE_PROFIT,
    P_TAKER_FRAC,
    P_TAKER_UNIT,
    QUIET_NEVER,
    R_HOURS,
    R_LIMIT,
    R_MAX_HOLD,
    R_SIGNAL,
    R_STOP_LOSS,
    R_TAKE_PROFIT,
    T_ROOM,
    TARGET_NONE,
)

__all__ = [
    "ms_ceil_nb",
    "in_hours_nb",
    "new_gates_nb",
    "refresh_nb",
    "exit_gates_nb",
    "events_nb",
    "risk_nb",
    "mark_risk_nb",
    "target_nb",
    "arrive_nb",
    "post_quotes_nb",
    "close_gates_nb",
    "mark_band_nb",
    "mark_nb",
]


@njit(cache=True, error_model="numpy", _nrt=False)
def in_hours_nb(t, start, end):
    tod = t % DAY_MS
    if start <= end:
        return start <= tod < end
    return tod >= start or tod < end


@njit(cache=True, inline="always", error_model="numpy")
def ms_ceil_nb(x):
    """Whole ms at or after a real delay: with integer-ms ticks, `t >= t0 + x` iff `t >= t0 + ceil(x)`."""
    return np.int64(math.ceil(x))


@njit(cache=True, inline="always", error_model="numpy")
def _same_px(x, y):
    return x == y or (math.isnan(x) and math.isnan(y))


@njit(cache=True, error_model="numpy", _nrt=False)
def mark_nb(acct):
    """Step 5 for the equity in `acct[A_EQUITY]`: peak and drawdowns (money and fraction)."""
    equity = acct[A_EQUITY]
    if equity > acct[A_PEAK]:
        acct[A_PEAK] = equity
    dd = acct[A_PEAK] - equity
    if dd > 0.0:
        if dd > acct[A_MAX_DD]:
            acct[A_MAX_DD] = dd
        f = dd / acct[A_PEAK]
        if f > acct[A_MAX_DD_FRAC]:
            acct[A_MAX_DD_FRAC] = f


@njit(cache=True, error_model="numpy")
def new_gates_nb(ep, acct):
    """Gates for the start of a kernel call: the first tick always takes the slow path."""
    g = np.empty(N_G)
    g[G_OPEN_T] = acct[A_LAST_TS]
    g[G_OUTSIDE] = 0.0
    g[G_NEXT_HOURS] = -BIG if ep[P_HOURS_ON] != 0.0 else BIG
    refresh_nb(ep, acct, g)
    g[G_NEXT_EVT] = -BIG
    return g


@njit(cache=True, error_model="numpy", _nrt=False)
def close_gates_nb(acct, g):
    """End of a kernel call: count time in the market up to the last tick seen."""
    if acct[A_POS] != 0.0:
        acct[A_IN_MARKET_MS] = float(
            np.int64(acct[A_IN_MARKET_MS]) + (np.int64(acct[A_LAST_TS]) - np.int64(g[G_OPEN_T]))
        )
    g[G_OPEN_T] = acct[A_LAST_TS]


@njit(cache=True, error_model="numpy", _nrt=False)
def _book_gates(ep, acct, g):
    """Limit trigger prices and the next request arrival."""
    due = BIG
    if acct[A_BUY_REQ] != 0.0:
        due = acct[A_BUY_REQ_DUE]
    if acct[A_SELL_REQ] != 0.0:
        due = min(due, acct[A_SELL_REQ_DUE])
    g[G_REQ_DUE] = due
    thr = ep[P_FILL_THROUGH]
    px = acct[A_BUY_PX]
    g[G_BUY_TRIG] = -math.inf if math.isnan(px) else px - thr
    px = acct[A_SELL_PX]
    g[G_SELL_TRIG] = math.inf if math.isnan(px) else px + thr


@njit(cache=True, error_model="numpy", _nrt=False)
def arrive_nb(ep, acct, g, t):
    """Step 4a alone: limit requests whose latency has passed replace the resting orders."""
    if acct[A_BUY_REQ] != 0.0 and t >= np.int64(acct[A_BUY_REQ_DUE]):
        acct[A_BUY_PX] = acct[A_BUY_REQ_PX]
        acct[A_BUY_REQ] = 0.0
    if acct[A_SELL_REQ] != 0.0 and t >= np.int64(acct[A_SELL_REQ_DUE]):
        acct[A_SELL_PX] = acct[A_SELL_REQ_PX]
        acct[A_SELL_REQ] = 0.0
    _book_gates(ep, acct, g)


@njit(cache=True, error_model="numpy", _nrt=False)
def post_quotes_nb(ep, acct, g, t, quotes):
    """Step 7 for TARGET_NONE inside hours: send a request for each side whose quote changed."""
    lat = ms_ceil_nb(ep[P_LATENCY])
    for side in range(2):
        kreq = A_BUY_REQ if side == 0 else A_SELL_REQ
        if acct[kreq] != 0.0:
            continue
        want = quotes[side]
        if not _same_px(want, acct[A_BUY_PX if side == 0 else A_SELL_PX]):
            acct[kreq] = 1.0
            acct[kreq + 1] = want
            acct[kreq + 2] = float(t + lat)
            g[G_REQ_DUE] = min(g[G_REQ_DUE], float(t + lat))


@njit(cache=True, inline="always", error_model="numpy")
def _mark_quiet(cash, pos, liq, peak, maxdd, maxddf):
    """True when marking at liquidation price `liq` changes none of peak, max drawdown, fraction."""
    eq = cash + pos * liq
    dd = peak - eq
    return eq <= peak and dd <= maxdd and dd / peak <= maxddf


@njit(cache=True, error_model="numpy", _nrt=False)
def mark_band_nb(cash, pos, peak, maxdd, maxddf):
    """[lo, hi]: liquidation prices at which the mark to market changes nothing (empty: lo > hi).

    Each step of the mark (cash + pos * liq, peak - equity, / peak) is a rounded monotone function,
    so the set is an interval; the ends found from the real-number solution are pulled inward until
    the exact test passes at both, which then holds for every price between them.
    """
    room = min(maxdd, maxddf * peak)
    x_top = (peak - cash) / pos  # equity reaches the peak
    x_low = (peak - room - cash) / pos  # drawdown reaches its maximum
    lo, hi = (x_low, x_top) if pos > 0.0 else (x_top, x_low)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return math.inf, -math.inf
    step = max(abs(lo), abs(hi)) * 1e-13
    for _ in range(64):
        if _mark_quiet(cash, pos, lo, peak, maxdd, maxddf):
            break
        lo += step
        step *= 2.0
    else:
        return math.inf, -math.inf
    step = max(abs(lo), abs(hi)) * 1e-13
    for _ in range(64):
        if hi < lo:
            return math.inf, -math.inf
        if _mark_quiet(cash, pos, hi, peak, maxdd, maxddf):
            return lo, hi
        hi -= step
        step *= 2.0
    return math.inf, -math.inf


@njit(cache=True, error_model="numpy", _nrt=False)
def exit_gates_nb(ep, acct):
    """Liquidation prices (lo, hi) at which a stop-loss or take-profit fires, and the max-hold time."""
    lo = -math.inf
    hi = math.inf
    hold = BIG
    pos = acct[A_POS]
    if pos != 0.0 and acct[A_PEND_QTY] == 0.0:
        sl = ep[P_STOP_LOSS]
        tp = ep[P_TAKE_PROFIT]
        avg = acct[A_AVG]
        if pos > 0.0:
            if sl > 0.0:
                lo = avg - sl
            if tp > 0.0:
                hi = avg + tp
        else:
            if sl > 0.0:
                hi = avg + sl
            if tp > 0.0:
                lo = avg - tp
        mh = ms_ceil_nb(ep[P_MAX_HOLD])
        if mh > 0:
            hold = float(np.int64(acct[A_ENTRY_TS]) + mh)
    return lo, hi, hold


@njit(cache=True, error_model="numpy", _nrt=False)
def refresh_nb(ep, acct, g):
    """Recompute every gate from the account after the slow path changed it."""
    pos = acct[A_POS]
    pend = acct[A_PEND_QTY]
    nxt = acct[A_NEXT_SAMPLE] if acct[A_STARTED] != 0.0 else -BIG
    if pend != 0.0:
        nxt = min(nxt, acct[A_PEND_DUE])
    g[G_NEXT_EVT] = min(nxt, g[G_NEXT_HOURS])
    _book_gates(ep, acct, g)
    lo, hi, hold = exit_gates_nb(ep, acct)
    if pos != 0.0:  # flat, the mark is the cash and changes nothing until the next fill
        blo, bhi = mark_band_nb(acct[A_CASH], pos, acct[A_PEAK], acct[A_MAX_DD], acct[A_MAX_DD_FRAC])
        lo = max(lo, np.nextafter(blo, -math.inf))
        hi = min(hi, np.nextafter(bhi, math.inf))
    g[G_LO] = lo
    g[G_HI] = hi
    g[G_HOLD_DUE] = hold
    # targets that would change nothing in `target_nb` (see the cases there)
    block = acct[A_BLOCK]
    outside = g[G_OUTSIDE] != 0.0
    quiet = QUIET_NEVER
    if not outside:
        if pend == 0.0:
            if block == 0.0:
                size = ep[P_SIZE]
                for k in range(-1, 2):
                    if k * size - pos == 0.0:
                        quiet = k
            elif pos == 0.0:
                quiet = np.int64(block)
        elif block != 0.0:
            quiet = np.int64(block)
    g[G_QUIET] = float(quiet)
    g[G_QUIET_ANY] = 1.0 if block == 0.0 and (pend != 0.0 or (outside and pos == 0.0)) else 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _next_hours_nb(t, start, end):
    day = t - t % DAY_MS
    best = day + 2 * DAY_MS
    for c in (day + start, day + end, day + DAY_MS + start, day + DAY_MS + end):
        if t < c < best:
            best = c
    return best


@njit(cache=True, error_model="numpy", _nrt=False)
def events_nb(ep, acct, g, t, b, a, tbuf, mbuf):
    """Steps 1-4 of tick `t` (plus the mark when flat); False, with nothing done, if a buffer is full."""
    nt = np.int64(acct[A_N_TRADES])
    nm = np.int64(acct[A_N_MARKS])
    if nt + T_ROOM > tbuf.shape[0] or nm + M_ROOM > mbuf.shape[0]:
        return False
    smp = np.int64(ep[P_SAMPLE_MS])
    if acct[A_STARTED] == 0.0:
        acct[A_STARTED] = 1.0
        acct[A_FIRST_TS] = float(t)
        acct[A_LAST_TS] = float(t)
        g[G_OPEN_T] = float(t)
        acct[A_NEXT_SAMPLE] = float((t // smp) * smp + smp)
        acct[A_NEXT_DAY] = float((t // DAY_MS) * DAY_MS + DAY_MS)
    if ep[P_HOURS_ON] != 0.0 and t >= np.int64(g[G_NEXT_HOURS]):
        h_start = np.int64(ep[P_HOURS_START])
        h_end = np.int64(ep[P_HOURS_END])
        g[G_OUTSIDE] = 0.0 if in_hours_nb(t, h_start, h_end) else 1.0
        g[G_NEXT_HOURS] = float(_next_hours_nb(t, h_start, h_end))
    pos = acct[A_POS]
    # 1. samples of the equity before this tick
    if t >= np.int64(acct[A_NEXT_SAMPLE]):
        next_day = np.int64(acct[A_NEXT_DAY])
        if t >= next_day:
            row = mbuf[nm]
            row[M_TS] = next_day
            row[M_EQUITY] = acct[A_EQUITY]
            row[M_POS] = pos
            row[M_DAY_CLOSE] = 1.0
            nm += 1
            acct[A_NEXT_DAY] = float((t // DAY_MS) * DAY_MS + DAY_MS)
        row = mbuf[nm]
        row[M_TS] = (t // smp) * smp
        row[M_EQUITY] = acct[A_EQUITY]
        row[M_POS] = pos
        row[M_DAY_CLOSE] = 0.0
        nm += 1
        acct[A_NEXT_SAMPLE] = float((t // smp) * smp + smp)
        acct[A_N_MARKS] = float(nm)
    # 2. exposure since the last gate (the position has not changed since)
    if pos != 0.0:
        acct[A_IN_MARKET_MS] = float(np.int64(acct[A_IN_MARKET_MS]) + (t - np.int64(g[G_OPEN_T])))
    g[G_OPEN_T] = float(t)
    cash = acct[A_CASH]
    avg = acct[A_AVG]
    entry_ts = acct[A_ENTRY_TS]
    entry_fees = acct[A_ENTRY_FEES]
    filled = False
    # 3. in-flight market order
    pend_q = acct[A_PEND_QTY]
    if pend_q != 0.0 and t >= np.int64(acct[A_PEND_DUE]):
        slip = ep[P_SLIPPAGE]
        px = a + slip if pend_q > 0.0 else b - slip
        fee = fee_nb(abs(pend_q), px, ep[P_TAKER_UNIT], ep[P_TAKER_FRAC])
        acct[A_FEES] += fee
        acct[A_N_FILLS] += 1.0
        pos, cash, avg, entry_ts, entry_fees, nt = fill_nb(
            pend_q, px, fee, float(t), acct[A_PEND_REASON], pos, cash, avg, entry_ts, entry_fees, tbuf, nt
        )
        acct[A_PEND_QTY] = 0.0
        filled = True
    # 4. limit book
    arrive_nb(ep, acct, g, t)
    thr = ep[P_FILL_THROUGH]
    inv = ep[P_MAX_INVENTORY]
    size = ep[P_SIZE]
    lpx = acct[A_BUY_PX]
    if not math.isnan(lpx) and a <= lpx - thr:
        acct[A_BUY_PX] = np.nan
        if inv <= 0.0 or pos + size <= inv:
            fee = fee_nb(size, lpx, ep[P_MAKER_UNIT], ep[P_MAKER_FRAC])
            acct[A_FEES] += fee
            acct[A_N_FILLS] += 1.0
            pos, cash, avg, entry_ts, entry_fees, nt = fill_nb(
                size, lpx, fee, float(t), R_LIMIT, pos, cash, avg, entry_ts, entry_fees, tbuf, nt
            )
            filled = True
    lpx = acct[A_SELL_PX]
    if not math.isnan(lpx) and b >= lpx + thr:
        acct[A_SELL_PX] = np.nan
        if inv <= 0.0 or -pos + size <= inv:
            fee = fee_nb(size, lpx, ep[P_MAKER_UNIT], ep[P_MAKER_FRAC])
            acct[A_FEES] += fee
            acct[A_N_FILLS] += 1.0
            pos, cash, avg, entry_ts, entry_fees, nt = fill_nb(
                -size, lpx, fee, float(t), R_LIMIT, pos, cash, avg, entry_ts, entry_fees, tbuf, nt
            )
            filled = True
    if filled:
        acct[A_POS] = pos
        acct[A_CASH] = cash
        acct[A_AVG] = avg
        acct[A_ENTRY_TS] = entry_ts
        acct[A_ENTRY_FEES] = entry_fees
        acct[A_N_TRADES] = float(nt)
        if pos == 0.0:  # 5. flat: the mark is the cash (the hot loop marks open positions)
            acct[A_EQUITY] = cash
            mark_nb(acct)
    refresh_nb(ep, acct, g)
    return True


@njit(cache=True, inline="always", error_model="numpy")
def _exit_reason(acct, gates, t, b, a):
    """Which risk exit tick `t` triggers (-1: none), given `exit_gates_nb`'s levels, on the exit side."""
    lo, hi, hold = gates
    pos = acct[A_POS]
    if (pos > 0.0 and b <= lo) or (pos < 0.0 and a >= hi):
        return R_STOP_LOSS
    if (pos > 0.0 and b >= hi) or (pos < 0.0 and a <= lo):
        return R_TAKE_PROFIT
    if t >= hold:
        return R_MAX_HOLD
    return -1


@njit(cache=True, error_model="numpy", _nrt=False)
def risk_nb(ep, acct, g, t, b, a):
    """Step 6 after a gate fired (the caller has just marked): a stop hit sends a closing order."""
    reason = _exit_reason(acct, exit_gates_nb(ep, acct), t, b, a)
    if reason >= 0:
        pos = acct[A_POS]
        acct[A_PEND_QTY] = -pos
        acct[A_PEND_DUE] = float(t + ms_ceil_nb(ep[P_LATENCY]))
        acct[A_PEND_REASON] = float(reason)
        acct[A_BLOCK] = 1.0 if pos > 0.0 else -1.0
    refresh_nb(ep, acct, g)


@njit(cache=True, error_model="numpy", _nrt=False)
def mark_risk_nb(ep, acct, g, t, b, a):
    """Steps 5-6 after the liquidation price left the band or the hold time came (equity is set).

    A losing run makes a new drawdown record on many ticks. Then the peak stays, no exit fires, and
    of all the gates only the band's drawdown end moves: to just past this tick's price, which the
    mark has just made quiet (with a positive peak the quiet prices stay an interval, now reaching
    here). That case skips `refresh_nb`; anything else goes through `risk_nb`.
    """
    peak = acct[A_PEAK]
    mark_nb(acct)
    pos = acct[A_POS]
    gates = exit_gates_nb(ep, acct)
    if acct[A_PEAK] != peak or peak <= 0.0 or pos == 0.0 or _exit_reason(acct, gates, t, b, a) >= 0:
        risk_nb(ep, acct, g, t, b, a)
    elif pos > 0.0 and b <= g[G_LO]:
        g[G_LO] = max(gates[0], np.nextafter(b, -math.inf))
    elif pos < 0.0 and a >= g[G_HI]:
        g[G_HI] = min(gates[1], np.nextafter(a, math.inf))
    else:
        risk_nb(ep, acct, g, t, b, a)


@njit(cache=True, error_model="numpy", _nrt=False)
def target_nb(ep, acct, g, t, raw, quotes):
    """Step 7 for a target the gates could not wave through: blocks, market orders, quotes."""
    outside = g[G_OUTSIDE] != 0.0
    tgt = 0 if outside else raw
    lat = ms_ceil_nb(ep[P_LATENCY])
    if tgt != TARGET_NONE:
        block = acct[A_BLOCK]
        if block != 0.0:
            if tgt == block:
                tgt = 0
            else:
                acct[A_BLOCK] = 0.0
        if acct[A_PEND_QTY] == 0.0:
            q = tgt * ep[P_SIZE] - acct[A_POS]
            if q != 0.0:
                acct[A_PEND_QTY] = q
                acct[A_PEND_DUE] = float(t + lat)
                acct[A_PEND_REASON] = float(R_HOURS) if outside else float(R_SIGNAL)
    if raw == TARGET_NONE:
        if outside:
            quotes[0] = np.nan
            quotes[1] = np.nan
        post_quotes_nb(ep, acct, g, t, quotes)
    refresh_nb(ep, acct, g)
