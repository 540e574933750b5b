"""A user-style strategy for tests: returns the target scripted for the n-th tick it sees."""

from __future__ import annotations

import numpy as np
from numba import njit

from hft.engine import StrategySpec


@njit(cache=True)
def scripted_nb(ts, bid, ask, pos, ss, sp, quotes):
    n = np.int64(ss[0])
    ss[0] = n + 1
    if n < sp.shape[0]:
        return np.int64(sp[n])
    return np.int64(sp[sp.shape[0] - 1])


SCRIPTED = StrategySpec("scripted", scripted_nb, lambda sp: 1)
