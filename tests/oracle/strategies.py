"""The built-in strategies' signal rules, written from their documented meaning (configs/*.yaml, the
strategy docstrings), in plain Python over the parameters as a user writes them (EMA spans, not
alphas). No import from `hft.engine`.

Every strategy sees tick i (its time, bid, ask, mid = (bid + ask) / 2, the position in units) and
returns the wanted position in lots (-1, 0, +1) or, for the market maker, a pair of limit quotes.
A strategy keeps its last target when its rule says "no change" (e.g. equal EMAs).
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["QUOTES", "make_strategy"]

#: What a quoting strategy returns in place of a target: ("quotes", buy_price, sell_price).
QUOTES = "quotes"


def _alpha(span: float) -> float:
    """The usual EMA smoothing factor for a span of n observations: 2 / (n + 1)."""
    return 2.0 / (span + 1.0)


class EmaCross:
    """Long when the fast EMA of mid is above the slow one, short below; flat during the warm-up
    (the first `slow` ticks, the current one counted); equal EMAs keep the last target. Both EMAs
    start at the first mid."""

    def __init__(self, fast: int, slow: int):
        self.a_fast, self.a_slow, self.warmup = _alpha(fast), _alpha(slow), slow
        self.fast = self.slow = None
        self.seen = 0
        self.target = 0

    def _update(self, mid: float) -> None:
        if self.fast is None:
            self.fast = self.slow = mid
        else:
            self.fast = self.fast + self.a_fast * (mid - self.fast)
            self.slow = self.slow + self.a_slow * (mid - self.slow)
        self.seen += 1

    def _cross(self) -> int:
        if self.fast > self.slow:
            return 1
        if self.fast < self.slow:
            return -1
        return self.target

    def __call__(self, t, bid, ask, pos):
        self._update((bid + ask) / 2)
        if self.seen < self.warmup:
            return 0
        self.target = self._cross()
        return self.target


class FilteredEma(EmaCross):
    """EMA crossover that changes side only on a tight spread (ask - bid <= max_spread) and a busy
    tape (EMA, span gap_span, of the ms between ticks, started at the first gap, <= max_gap_ms); when
    the filter fails, a wanted change of side becomes flat (exits never wait)."""

    def __init__(self, fast, slow, max_spread, max_gap_ms, gap_span=50):
        super().__init__(fast, slow)
        self.max_spread, self.max_gap, self.a_gap = max_spread, max_gap_ms, _alpha(gap_span)
        self.gap = None
        self.last_t = None

    def __call__(self, t, bid, ask, pos):
        if self.last_t is not None:
            gap = float(t - self.last_t)
            self.gap = gap if self.gap is None else self.gap + self.a_gap * (gap - self.gap)
        self.last_t = t
        self._update((bid + ask) / 2)
        if self.seen < self.warmup:
            return 0
        wanted = self._cross()
        if wanted != self.target:
            calm = (ask - bid) <= self.max_spread and self.gap <= self.max_gap
            self.target = wanted if calm else 0
        return self.target


class Zscore:
    """Mean reversion on z = (mid - mean) / std of the last `window` mids (current one included,
    population std): short above +entry_z, long below -entry_z, back to flat once z is within exit_z
    of zero on the side held; z is 0 while the std is not above min_std or fewer than `window`
    ticks were seen."""

    def __init__(self, window, entry_z, exit_z, min_std=1e-9):
        self.window = deque(maxlen=window)
        self.entry, self.exit, self.min_std = entry_z, exit_z, min_std
        self.target = 0

    def __call__(self, t, bid, ask, pos):
        mid = (bid + ask) / 2
        self.window.append(mid)
        n = self.window.maxlen
        if len(self.window) < n:
            return 0
        mean = math.fsum(self.window) / n
        var = math.fsum((v - mean) ** 2 for v in self.window) / n
        sd = math.sqrt(var)
        z = (mid - mean) / sd if sd > self.min_std else 0.0
        if z > self.entry:
            self.target = -1
        elif z < -self.entry:
            self.target = 1
        elif (self.target == 1 and z >= -self.exit) or (self.target == -1 and z <= self.exit):
            self.target = 0
        return self.target


class Donchian:
    """Long when mid breaks above the highest mid of the previous `window` ticks, short when it
    breaks below the lowest; otherwise (and before `window` ticks were seen) keep the target."""

    def __init__(self, window):
        self.prev = deque(maxlen=window)
        self.target = 0

    def __call__(self, t, bid, ask, pos):
        mid = (bid + ask) / 2
        if len(self.prev) == self.prev.maxlen:
            if mid > max(self.prev):
                self.target = 1
            elif mid < min(self.prev):
                self.target = -1
        self.prev.append(mid)
        return self.target


class MarketMaker:
    """Quotes around a reservation price r = mid - skew_per_lot * lots held: a buy at r - half_spread
    rounded down to the tick, a sell at r + half_spread rounded up; no buy at +max_lots, no sell at
    -max_lots."""

    def __init__(self, half_spread, skew_per_lot, max_lots, tick, size):
        self.half, self.skew, self.max_lots, self.tick, self.size = (
            half_spread,
            skew_per_lot,
            max_lots,
            tick,
            size,
        )

    def __call__(self, t, bid, ask, pos):
        lots = pos / self.size
        r = (bid + ask) / 2 - self.skew * lots
        buy = math.floor((r - self.half) / self.tick) * self.tick if lots < self.max_lots else None
        sell = math.ceil((r + self.half) / self.tick) * self.tick if lots > -self.max_lots else None
        return (QUOTES, buy, sell)


class Scripted:
    """Test-only: the n-th tick gets targets[n] (the last one repeats), like tests' SCRIPTED kernel."""

    def __init__(self, targets):
        self.targets, self.n = list(targets), 0

    def __call__(self, t, bid, ask, pos):
        target = self.targets[min(self.n, len(self.targets) - 1)]
        self.n += 1
        return target


def make_strategy(name: str, params: dict, size: float):
    if name == "scripted":
        return Scripted(params["targets"])
    if name == "ema_cross":
        return EmaCross(params["fast"], params["slow"])
    if name == "filtered_ema":
        return FilteredEma(
            params["fast"],
            params["slow"],
            params["max_spread"],
            params["max_gap_ms"],
            params.get("gap_span", 50),
        )
    if name == "zscore":
        return Zscore(params["window"], params["entry_z"], params["exit_z"], params.get("min_std", 1e-9))
    if name == "donchian":
        return Donchian(params["window"])
    if name == "market_maker":
        p = params
        return MarketMaker(p["half_spread"], p["skew_per_lot"], p["max_lots"], p["tick"], size)
    raise ValueError(f"the oracle has no rule for strategy {name!r}")
