"""Built-in strategy specs: the compiled signal plus how to lay out its parameters and state.

A user strategy is the same two things (see `StrategySpec`): any `@njit` function with the shared
signature of `hft.engine.strategies_nb`, and a state size computed from its parameter vector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hft.engine import strategies_nb as snb

__all__ = [
    "StrategySpec",
    "BUILTINS",
    "ema_cross_params",
    "zscore_params",
    "donchian_params",
    "filtered_ema_params",
    "market_maker_params",
]


@dataclass(frozen=True)
class StrategySpec:
    """A strategy the engine can run: `signal(ts, bid, ask, pos, ss, sp, quotes) -> int`.

    A declared strategy (`hft.strategy`) carries its `layout` (`hft.engine.user.Layout`) instead:
    then `signal` is `fn(t, bid, ask, pos, s, w, p, quotes)` and `state_size` comes from the layout.
    `quoting` False promises the signal never returns TARGET_NONE (a faster loop; checked).
    """

    name: str
    signal: Any  # numba CPUDispatcher
    state_size: Callable[[np.ndarray], int]
    layout: Any = None
    quoting: bool = True


def _alpha(span: float) -> float:
    return 2.0 / (float(span) + 1.0)


def ema_cross_params(fast: int, slow: int) -> np.ndarray:
    return np.array([_alpha(fast), _alpha(slow), float(slow)])


def zscore_params(window: int, entry_z: float, exit_z: float, min_std: float = 1e-9) -> np.ndarray:
    return np.array([float(window), float(entry_z), float(exit_z), float(min_std)])


def donchian_params(window: int) -> np.ndarray:
    return np.array([float(window)])


def filtered_ema_params(
    fast: int, slow: int, max_spread: float, gap_span: int, max_gap_ms: float
) -> np.ndarray:
    return np.array(
        [_alpha(fast), _alpha(slow), float(slow), float(max_spread), _alpha(gap_span), float(max_gap_ms)]
    )


def market_maker_params(
    half_spread: float, skew_per_lot: float, max_lots: float, tick: float, size: float
) -> np.ndarray:
    return np.array([float(half_spread), float(skew_per_lot), float(max_lots), float(tick), float(size)])


BUILTINS: dict[str, StrategySpec] = {
    "ema_cross": StrategySpec("ema_cross", snb.ema_cross_nb, lambda sp: 4),
    "zscore": StrategySpec("zscore", snb.zscore_nb, lambda sp: snb.ZS_HEADER + int(sp[0])),
    "donchian": StrategySpec("donchian", snb.donchian_nb, lambda sp: snb.DC_HEADER + 4 * (int(sp[0]) + 1)),
    "filtered_ema": StrategySpec("filtered_ema", snb.filtered_ema_nb, lambda sp: 6),
    "market_maker": StrategySpec("market_maker", snb.market_maker_nb, lambda sp: 1),
}
