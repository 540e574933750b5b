"""Fills and trade bookkeeping: one place that moves cash, position and entry cost.

A fill against an open position first closes (emitting one trade record with its share of entry
and exit fees), then opens any remainder at the fill price. Kept separate so the per-tick loop
and the end-of-data flattening book fills identically.
"""

from __future__ import annotations

from numba import njit

from hft.engine.enums import (
    T_ENTRY_PX,
    T_ENTRY_TS,
    T_EXIT_PX,
    T_EXIT_TS,
    T_FEES,
    T_PNL,
    T_QTY,
    T_REASON,
    T_SIDE,
)

__all__ = ["fill_nb", "fee_nb", "equity_nb"]


@njit(cache=True, inline="always", error_model="numpy")
def equity_nb(cash, pos, b, a):
    """The mark to market: a long at the bid, a short at the ask, flat the cash."""
    if pos > 0.0:
        return cash + pos * b
    if pos < 0.0:
        return cash + pos * a
    return cash


@njit(cache=True, error_model="numpy", _nrt=False)
def fee_nb(qty_abs, price, per_unit, frac):
    """Commission per unit plus a fraction of notional (maker and taker use their own rates)."""
    return qty_abs * (per_unit + price * frac)


@njit(cache=True, error_model="numpy", _nrt=False)
def fill_nb(q, px, fee, t, reason, pos, cash, avg, entry_ts, entry_fees, tbuf, nt):
    """Book a signed fill `q` at `px`; returns (pos, cash, avg, entry_ts, entry_fees, nt)."""
    cash = cash - q * px - fee
    if pos == 0.0:
        return q, cash, px, t, fee, nt
    if (q > 0.0) == (pos > 0.0):
        ap = abs(pos)
        aq = abs(q)
        avg = (avg * ap + px * aq) / (ap + aq)
        return pos + q, cash, avg, entry_ts, entry_fees + fee, nt
    side = 1.0 if pos > 0.0 else -1.0
    ap = abs(pos)
    aq = abs(q)
    c = min(ap, aq)
    fee_close = fee * (c / aq)
    entry_share = entry_fees * (c / ap)
    row = tbuf[nt]
    row[T_ENTRY_TS] = entry_ts
    row[T_EXIT_TS] = t
    row[T_SIDE] = side
    row[T_QTY] = c
    row[T_ENTRY_PX] = avg
    row[T_EXIT_PX] = px
    row[T_PNL] = (px - avg) * c * side
    row[T_FEES] = entry_share + fee_close
    row[T_REASON] = reason
    nt += 1
    if aq > ap:
        return pos + q, cash, px, t, fee - fee_close, nt
    if aq == ap:
        return 0.0, cash, 0.0, 0.0, 0.0, nt
    return pos + q, cash, avg, entry_ts, entry_fees - entry_share, nt
