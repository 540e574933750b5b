"""The per-tick execution loop, generic over the strategy's compiled signal function.

Order of work on tick i (the reference engine follows the same order):
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
All state lives in `acct` and the strategy's `ss`, so any split of the ticks into chunks gives
bit-identical results. The loop stops early (returning the index) when a record buffer is full.
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
    A_FINISHED,
    A_FIRST_TS,
    A_IN_MARKET_MS,
    A_LAST_ASK,
    A_LAST_BID,
    A_LAST_TS,
    A_MAX_DD,
    A_MAX_DD_FRAC,
    A_N_FILLS,
    A_N_MARKS,
    A_N_TICKS,
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
    DAY_MS,
    M_DAY_CLOSE,
    M_EQUITY,
    M_POS,
    M_ROOM,
    M_TS,
    N_ACCT,
    P_CAPITAL,
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
    R_END,
    R_HOURS,
    R_LIMIT,
    R_MAX_HOLD,
    R_SIGNAL,
    R_STOP_LOSS,
    R_TAKE_PROFIT,
    T_ROOM,
    TARGET_NONE,
)

__all__ = ["init_acct_nb", "step_nb", "finish_nb", "in_hours_nb"]


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


@njit(cache=True)
def in_hours_nb(t, start, end):
    tod = t % DAY_MS
    if start <= end:
        return start <= tod < end
    return tod >= start or tod < end


@njit(cache=True)
def _same_px(x, y):
    return x == y or (math.isnan(x) and math.isnan(y))


@njit(inline="always")  # never cached: user strategies arrive as arguments
def step_nb(signal_fn, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start):
    """Advance one run over ticks[start:]; returns where it stopped (len(ts) unless a buffer filled)."""
    n = ts.shape[0]
    tcap = tbuf.shape[0]
    mcap = mbuf.shape[0]
    size = ep[P_SIZE]
    lat = np.int64(ep[P_LATENCY])
    slip = ep[P_SLIPPAGE]
    t_unit = ep[P_TAKER_UNIT]
    t_frac = ep[P_TAKER_FRAC]
    sl = ep[P_STOP_LOSS]
    tp = ep[P_TAKE_PROFIT]
    mh = np.int64(ep[P_MAX_HOLD])
    hours_on = ep[P_HOURS_ON] != 0.0
    h_start = np.int64(ep[P_HOURS_START])
    h_end = np.int64(ep[P_HOURS_END])
    smp = np.int64(ep[P_SAMPLE_MS])

    cash = acct[A_CASH]
    pos = acct[A_POS]
    avg = acct[A_AVG]
    entry_ts = acct[A_ENTRY_TS]
    entry_fees = acct[A_ENTRY_FEES]
    equity = acct[A_EQUITY]
    peak = acct[A_PEAK]
    maxdd = acct[A_MAX_DD]
    maxddf = acct[A_MAX_DD_FRAC]
    last_ts = np.int64(acct[A_LAST_TS])
    next_smp = np.int64(acct[A_NEXT_SAMPLE])
    next_day = np.int64(acct[A_NEXT_DAY])
    pend_q = acct[A_PEND_QTY]
    pend_due = np.int64(acct[A_PEND_DUE])
    pend_r = acct[A_PEND_REASON]
    block = acct[A_BLOCK]
    in_mkt = np.int64(acct[A_IN_MARKET_MS])
    fees = acct[A_FEES]
    n_fills = acct[A_N_FILLS]
    nt = np.int64(acct[A_N_TRADES])
    nm = np.int64(acct[A_N_MARKS])
    started = acct[A_STARTED] != 0.0
    quoting = not math.isnan(acct[A_BUY_PX]) or not math.isnan(acct[A_SELL_PX])
    quoting = quoting or acct[A_BUY_REQ] != 0.0 or acct[A_SELL_REQ] != 0.0

    i = start
    b = acct[A_LAST_BID]
    a = acct[A_LAST_ASK]
    while i < n:
        if nt + T_ROOM > tcap or nm + M_ROOM > mcap:
            break
        t = ts[i]
        b = bid[i]
        a = ask[i]
        if not started:
            started = True
            acct[A_FIRST_TS] = float(t)
            last_ts = t
            next_smp = (t // smp) * smp + smp
            next_day = (t // DAY_MS) * DAY_MS + DAY_MS
        # 1. samples of the equity before this tick
        if t >= next_smp:
            if t >= next_day:
                row = mbuf[nm]
                row[M_TS] = next_day - DAY_MS
                row[M_EQUITY] = equity
                row[M_POS] = pos
                row[M_DAY_CLOSE] = 1.0
                nm += 1
                next_day = (t // DAY_MS) * DAY_MS + DAY_MS
            row = mbuf[nm]
            row[M_TS] = (t // smp) * smp
            row[M_EQUITY] = equity
            row[M_POS] = pos
            row[M_DAY_CLOSE] = 0.0
            nm += 1
            next_smp = (t // smp) * smp + smp
        # 2. exposure
        if pos != 0.0:
            in_mkt += t - last_ts
        # 3. in-flight market order
        if pend_q != 0.0 and t >= pend_due:
            px = a + slip if pend_q > 0.0 else b - slip
            fee = fee_nb(abs(pend_q), px, t_unit, t_frac)
            fees += fee
            n_fills += 1.0
            pos, cash, avg, entry_ts, entry_fees, nt = fill_nb(
                pend_q, px, fee, float(t), pend_r, pos, cash, avg, entry_ts, entry_fees, tbuf, nt
            )
            pend_q = 0.0
        # 4. limit book
        if quoting:
            if acct[A_BUY_REQ] != 0.0 and t >= np.int64(acct[A_BUY_REQ_DUE]):
                acct[A_BUY_PX] = acct[A_BUY_REQ_PX]
                acct[A_BUY_REQ] = 0.0
            if acct[A_SELL_REQ] != 0.0 and t >= np.int64(acct[A_SELL_REQ_DUE]):
                acct[A_SELL_PX] = acct[A_SELL_REQ_PX]
                acct[A_SELL_REQ] = 0.0
            thr = ep[P_FILL_THROUGH]
            inv = ep[P_MAX_INVENTORY]
            lpx = acct[A_BUY_PX]
            if not math.isnan(lpx) and a <= lpx - thr:
                acct[A_BUY_PX] = np.nan
                if inv <= 0.0 or pos + size <= inv:
                    fee = fee_nb(size, lpx, ep[P_MAKER_UNIT], ep[P_MAKER_FRAC])
                    fees += fee
                    n_fills += 1.0
                    pos, cash, avg, entry_ts, entry_fees, nt = fill_nb(
                        size, lpx, fee, float(t), R_LIMIT, pos, cash, avg, entry_ts, entry_fees, tbuf, nt
                    )
            lpx = acct[A_SELL_PX]
            if not math.isnan(lpx) and b >= lpx + thr:
                acct[A_SELL_PX] = np.nan
                if inv <= 0.0 or -pos + size <= inv:
                    fee = fee_nb(size, lpx, ep[P_MAKER_UNIT], ep[P_MAKER_FRAC])
                    fees += fee
                    n_fills += 1.0
                    pos, cash, avg, entry_ts, entry_fees, nt = fill_nb(
                        -size, lpx, fee, float(t), R_LIMIT, pos, cash, avg, entry_ts, entry_fees, tbuf, nt
                    )
        # 5. mark to market
        if pos > 0.0:
            equity = cash + pos * b
        elif pos < 0.0:
            equity = cash + pos * a
        else:
            equity = cash
        if equity > peak:
            peak = equity
        dd = peak - equity
        if dd > 0.0:
            if dd > maxdd:
                maxdd = dd
            f = dd / peak
            if f > maxddf:
                maxddf = f
        # 6. risk exits
        forced = False
        if pos != 0.0 and pend_q == 0.0:
            reason = -1
            if sl > 0.0 and ((pos > 0.0 and b <= avg - sl) or (pos < 0.0 and a >= avg + sl)):
                reason = R_STOP_LOSS
            if reason < 0 and tp > 0.0 and ((pos > 0.0 and b >= avg + tp) or (pos < 0.0 and a <= avg - tp)):
                reason = R_TAKE_PROFIT
            if reason < 0 and mh > 0 and t - np.int64(entry_ts) >= mh:
                reason = R_MAX_HOLD
            if reason >= 0:
                pend_q = -pos
                pend_due = t + lat
                pend_r = float(reason)
                block = 1.0 if pos > 0.0 else -1.0
                forced = True
        # 7. strategy
        raw = signal_fn(t, b, a, pos, ss, sp, quotes)
        outside = hours_on and not in_hours_nb(t, h_start, h_end)
        tgt = 0 if outside else raw
        if tgt != TARGET_NONE:
            if block != 0.0:
                if tgt == block:
                    tgt = 0
                else:
                    block = 0.0
            if pend_q == 0.0 and not forced:
                q = tgt * size - pos
                if q != 0.0:
                    pend_q = q
                    pend_due = t + lat
                    pend_r = float(R_HOURS) if outside else float(R_SIGNAL)
        if raw == TARGET_NONE:
            quoting = True
            if outside:
                quotes[0] = np.nan
                quotes[1] = np.nan
            for side in range(2):
                kreq = A_BUY_REQ if side == 0 else A_SELL_REQ
                if acct[kreq] != 0.0:
                    continue
                want = quotes[side]
                if not _same_px(want, acct[A_BUY_PX if side == 0 else A_SELL_PX]):
                    acct[kreq] = 1.0
                    acct[kreq + 1] = want
                    acct[kreq + 2] = float(t + lat)
        last_ts = t
        i += 1

    acct[A_CASH] = cash
    acct[A_POS] = pos
    acct[A_AVG] = avg
    acct[A_ENTRY_TS] = entry_ts
    acct[A_ENTRY_FEES] = entry_fees
    acct[A_EQUITY] = equity
    acct[A_PEAK] = peak
    acct[A_MAX_DD] = maxdd
    acct[A_MAX_DD_FRAC] = maxddf
    acct[A_LAST_TS] = float(last_ts)
    acct[A_NEXT_SAMPLE] = float(next_smp)
    acct[A_NEXT_DAY] = float(next_day)
    acct[A_PEND_QTY] = pend_q
    acct[A_PEND_DUE] = float(pend_due)
    acct[A_PEND_REASON] = pend_r
    acct[A_BLOCK] = block
    acct[A_IN_MARKET_MS] = float(in_mkt)
    acct[A_FEES] = fees
    acct[A_N_FILLS] = n_fills
    acct[A_N_TRADES] = float(nt)
    acct[A_N_MARKS] = float(nm)
    acct[A_N_TICKS] += float(i - start)
    acct[A_STARTED] = 1.0 if started else 0.0
    acct[A_LAST_BID] = b
    acct[A_LAST_ASK] = a
    return i


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
    if equity > acct[A_PEAK]:
        acct[A_PEAK] = equity
    dd = acct[A_PEAK] - equity
    if dd > 0.0:
        if dd > acct[A_MAX_DD]:
            acct[A_MAX_DD] = dd
        f = dd / acct[A_PEAK]
        if f > acct[A_MAX_DD_FRAC]:
            acct[A_MAX_DD_FRAC] = f
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
    mbuf[nm + 1, M_TS] = (its // DAY_MS) * DAY_MS
    mbuf[nm + 1, M_EQUITY] = equity
    mbuf[nm + 1, M_POS] = 0.0
    mbuf[nm + 1, M_DAY_CLOSE] = 1.0
    acct[A_N_MARKS] = float(nm + 2)
    acct[A_N_TRADES] = float(nt)
    acct[A_FINISHED] = 1.0
