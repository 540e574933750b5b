"""A user strategy in the raw form: N-tick momentum with a dead band (docs/strategies.md).

The short way to write one is `examples/sma_cross.py` (declared parameters and state). This file
shows the engine-level form. Run it by name from a config (see `examples/momentum.yaml`):

    strategy:
      name: tick_momentum
      module: ./momentum_strategy.py    # imported first; importing registers the name
      params: {lookback: 500, band: 0.0002}

Two parts, nothing else: a compiled per-tick signal with the engine's shared signature
`(ts, bid, ask, pos, ss, sp, quotes) -> target lots`, and a typed parameter model that says how
the parameters become the float vector `sp` and how long the state vector `ss` must be.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from pydantic import Field

from hft.backtest import StrategyParams, register_strategy


@njit(cache=True)
def tick_momentum_nb(ts, bid, ask, pos, ss, sp, quotes):
    # sp = [lookback, band]; ss = [n, target, ring[lookback]]
    lookback = np.int64(sp[0])
    n = np.int64(ss[0])
    mid = (bid + ask) * 0.5
    slot = 2 + n % lookback
    if n >= lookback:
        move = mid - ss[slot]  # ring holds the mid of exactly `lookback` ticks ago
        if move > sp[1]:
            ss[1] = 1.0
        elif move < -sp[1]:
            ss[1] = -1.0
        else:
            ss[1] = 0.0
    ss[slot] = mid
    ss[0] = n + 1
    return np.int64(ss[1])


class TickMomentumParams(StrategyParams):
    lookback: int = Field(ge=1, le=1_000_000, description="ticks back to compare mid with")
    band: float = Field(ge=0, description="price move needed to take a side")

    def encode(self, size: float) -> np.ndarray:
        return np.array([float(self.lookback), self.band])

    def state_size(self) -> int:
        return 2 + self.lookback


register_strategy("tick_momentum", tick_momentum_nb, TickMomentumParams)
