"""Kernel record rows (float64, `enums.T_*` / `enums.M_*`) appended to a config's record array.

`BatchRun` converts each config's buffered rows straight into that config's growing `TRADE_DTYPE` /
`MARK_DTYPE` array: one pass over the rows, where a copy per drain, a concatenation and a column by
column conversion at the end were three (a month of one-minute marks is ~40 K rows per config, x64
configs a batch, so the passes, not the arithmetic, were the cost).
Casts are those of `run.trades_from_rows` / `run.marks_from_rows` (float to int truncates).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hft.engine.enums import (
    M_DAY_CLOSE,
    M_EQUITY,
    M_POS,
    M_TS,
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

__all__ = ["marks_into_nb", "trades_into_nb"]


@njit(cache=True, nogil=True)
def trades_into_nb(rows, out, at):
    """Write `rows` (n x N_TCOLS) as records `out[at:at + n]` (room checked by the caller)."""
    for r in range(rows.shape[0]):
        rec = out[at + r]
        rec.entry_ts = np.int64(rows[r, T_ENTRY_TS])
        rec.exit_ts = np.int64(rows[r, T_EXIT_TS])
        rec.side = np.int8(rows[r, T_SIDE])
        rec.qty = rows[r, T_QTY]
        rec.entry_price = rows[r, T_ENTRY_PX]
        rec.exit_price = rows[r, T_EXIT_PX]
        rec.pnl = rows[r, T_PNL]
        rec.fees = rows[r, T_FEES]
        rec.reason = np.int8(rows[r, T_REASON])


@njit(cache=True, nogil=True)
def marks_into_nb(rows, out, at):
    """Write `rows` (n x N_MCOLS) as records `out[at:at + n]` (room checked by the caller)."""
    for r in range(rows.shape[0]):
        rec = out[at + r]
        rec.ts = np.int64(rows[r, M_TS])
        rec.equity = rows[r, M_EQUITY]
        rec.pos = rows[r, M_POS]
        rec.day_close = np.int8(rows[r, M_DAY_CLOSE])
