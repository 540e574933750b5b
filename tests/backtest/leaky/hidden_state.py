"""Strategies that `hft strategy check` must fail (each keeps state outside its declaration), and
the fix (`state_coin`), which passes.

Through `hft.strategy` alone a strategy cannot see the future or depend on the chunking (see
docs/strategies.md, "What `hft strategy check` proves"); these two reach outside it.
"""

import ctypes
import math

import numpy as np

from hft.strategy import njit, strategy

SEEN: dict[int, float] = {}  # second -> mid, from every earlier pass over the data in this process


@ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64, ctypes.c_double)
def remember(second, mid):
    """Keep this second's mid; return the mid a minute later if a pass saw it (NaN if none did)."""
    SEEN[second] = mid
    return SEEN.get(second + 60, math.nan)


@strategy("seeded_coin", state={"seeded": 0.0, "n": 0.0, "target": 0.0})
@njit
def seeded_coin(t, bid, ask, pos, s, w, p, quotes):
    """Every 500 ticks a coin toss from np.random, seeded once per run "to be reproducible": every
    run alone repeats itself, but np.random has one generator for the whole process, which the
    configs of a batch share, so what each draws depends on where the chunks end."""
    if s.seeded == 0.0:
        np.random.seed(7)
        s.seeded = 1.0
    s.n += 1.0
    if s.n % 500.0 == 0.0:
        s.target = 1.0 if np.random.random() < 0.5 else -1.0
    return np.int64(s.target)


@strategy("peek", state={"target": 0.0})
@njit
def peek(t, bid, ask, pos, s, w, p, quotes):
    """Goes with the mid a minute ahead when an earlier pass saw it (as an actor that runs trial
    after trial over the same days would), kept in a Python dict reached through a C callback."""
    mid = (bid + ask) * 0.5
    ahead = remember(t // 1000, mid)
    if ahead == ahead:
        s.target = 1.0 if ahead > mid else -1.0
    return np.int64(s.target)


@strategy("state_coin", state={"rng": 12345.0, "n": 0.0, "target": 0.0})
@njit
def state_coin(t, bid, ask, pos, s, w, p, quotes):
    """The fix: the same coin tosses from a generator kept in declared state (Park-Miller, exact in
    float64), so every run, chunk and batch member draws its own sequence. Passes every check."""
    s.n += 1.0
    if s.n % 500.0 == 0.0:
        s.rng = (s.rng * 16807.0) % 2147483647.0
        s.target = 1.0 if s.rng < 1073741823.5 else -1.0
    return np.int64(s.target)
