"""Buy when mid crosses above its moving average, sell when it crosses below (declared form).

strategy: {name: sma_cross, module: ./sma_cross.py, params: {n: 500}}
"""

import numpy as np

from hft.strategy import Param, Window, cross, full, mean, njit, push, strategy


@strategy(
    "sma_cross",
    params={"n": Param(500, ge=2, le=1_000_000, help="ticks in the moving average")},
    state={"diff": np.nan, "target": 0.0, "mids": Window("n")},
)
@njit
def sma_cross(t, bid, ask, pos, s, w, p, quotes):
    mid = (bid + ask) * 0.5
    push(w.mids, mid)
    if full(w.mids):
        diff = mid - mean(w.mids)
        side = cross(s.diff, diff)  # +1 crossed above, -1 crossed below, 0 neither
        if side != 0:
            s.target = side
        s.diff = diff
    return np.int64(s.target)
