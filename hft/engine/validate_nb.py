"""One compiled pass that finds the first tick the engine must not trade on, and why."""

from __future__ import annotations

import math

from numba import njit

__all__ = ["check_ticks_nb", "TICK_PROBLEMS"]

TICK_PROBLEMS = (
    "ok",
    "bid or ask is NaN or infinite",
    "bid or ask is not positive",
    "crossed quote (bid > ask)",
    "timestamp goes backwards",
)


@njit(cache=True, nogil=True)
def check_ticks_nb(ts, bid, ask, prev_ts):
    """Return (index, problem code) of the first bad tick, or (-1, 0); `prev_ts` links chunks."""
    last = prev_ts
    for i in range(ts.shape[0]):
        b = bid[i]
        a = ask[i]
        if not (math.isfinite(b) and math.isfinite(a)):
            return i, 1
        if b <= 0.0 or a <= 0.0:
            return i, 2
        if b > a:
            return i, 3
        if ts[i] < last:
            return i, 4
        last = ts[i]
    return -1, 0
