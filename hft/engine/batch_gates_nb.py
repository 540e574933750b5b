"""The account side of the batched EMA kernel (`batch_nb`): every config's gates, and the scalars over all.

Each config's gates are a column of `H` (rows `H_*`, K contiguous values per row). The first
`N_HAGG` rows are folded into one scalar gate each (rows below `N_HMIN` by min, the rest by max),
so a tick costs the same handful of compares whatever K is. After a slow path the scalars are
updated from the configs that moved (`gates_before`, `gates_after`): a row is scanned again
(`settle_nb`) only where a gate loosened that was the binding one.

Drawdown records are not gated at all: the lowest bid and highest ask since the last slow tick are
kept once for all configs and folded into each one's trough (`fold_all_nb`, `fold_k_nb`) before
anything reads or changes its account.

Everything here runs without Numba's reference counts (`_nrt=False`): the per-config rows handed
on (`acct[k]`, ...) would otherwise cost an atomic increment and decrement each.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hft.engine.account_nb import equity_nb
from hft.engine.enums import (
    A_CASH,
    A_EQUITY,
    A_IN_MARKET_MS,
    A_N_MARKS,
    A_N_TRADES,
    A_NEXT_DAY,
    A_NEXT_SAMPLE,
    A_PEND_DUE,
    A_PEND_QTY,
    A_POS,
    A_STARTED,
    BIG,
    DAY_MS,
    G_BUY_TRIG,
    G_HI,
    G_HOLD_DUE,
    G_LO,
    G_NEXT_EVT,
    G_NEXT_HOURS,
    G_OPEN_T,
    G_QUIET,
    G_REQ_DUE,
    G_SELL_TRIG,
    M_DAY_CLOSE,
    M_EQUITY,
    M_POS,
    M_ROOM,
    M_TS,
    T_ROOM,
)
from hft.engine.events_nb import exit_gates_nb, mark_nb

# rows of H: first the ones folded into scalar gates (min, then max), then the rest
H_EVT, H_REQ, H_HOLD, H_SELLT, H_BHI, H_AHI, H_BUYT, H_BLO, H_ALO, H_POS, H_CASH, H_QUIET, H_TROUGH = range(
    13
)
N_H = 13
N_HMIN = 6
N_HAGG = 9


@njit(cache=True, error_model="numpy", _nrt=False)
def load_gates_nb(ep, acct, G, H, k):
    """Config k's column after its slow path; its price gates apply to the bid (long) or ask (short).

    The gate on the losing side is the stop-loss level only: drawdown records are folded in from
    `H_TROUGH` instead. The other is the single run's (take-profit, new equity peak). Flat configs
    never fire.
    """
    pos = acct[k, A_POS]
    H[H_POS, k] = pos
    H[H_CASH, k] = acct[k, A_CASH]
    lo, hi, _hold = exit_gates_nb(ep[k], acct[k])
    H[H_BLO, k] = lo if pos > 0.0 else -np.inf
    H[H_BHI, k] = G[k, G_HI] if pos > 0.0 else np.inf
    H[H_ALO, k] = G[k, G_LO] if pos < 0.0 else -np.inf
    H[H_AHI, k] = hi if pos < 0.0 else np.inf
    H[H_QUIET, k] = G[k, G_QUIET]
    H[H_TROUGH, k] = np.inf
    H[H_EVT, k] = G[k, G_NEXT_EVT]
    H[H_BUYT, k] = G[k, G_BUY_TRIG]
    H[H_SELLT, k] = G[k, G_SELL_TRIG]
    H[H_REQ, k] = G[k, G_REQ_DUE]
    H[H_HOLD, k] = G[k, G_HOLD_DUE]


@njit(cache=True, error_model="numpy", _nrt=False)
def fold_all_nb(H, lo_bid, hi_ask):
    """Close an epoch: each config's trough takes the lowest bid (long) or highest ask (short) seen.

    Positions and cash are constant within an epoch (any change is a slow tick, which ends one).
    """
    for k in range(H.shape[1]):
        v = lo_bid if H[H_POS, k] > 0.0 else -hi_ask  # a short's trough is kept negated
        H[H_TROUGH, k] = min(H[H_TROUGH, k], v)


@njit(cache=True, error_model="numpy", _nrt=False)
def fold_k_nb(acct, H, k):
    """Mark config k at its trough since its last slow path (lowest bid if long, highest ask if short).

    Position and cash were constant since then and no new peak can have come (the upper gate would
    have fired), so the equity is a rounded monotone function of that price and this one mark moves
    the max drawdown and its fraction exactly as marking each of those ticks would have.
    """
    x = H[H_TROUGH, k]
    pos = H[H_POS, k]
    if x == np.inf or pos == 0.0:
        return
    acct[k, A_EQUITY] = equity_nb(H[H_CASH, k], pos, x, -x)
    mark_nb(acct[k])
    H[H_TROUGH, k] = np.inf


@njit(cache=True, inline="always", error_model="numpy")
def gates_before(H, Old, k):
    """Config k's gates before its slow path, for `gates_after`."""
    for r in range(N_HAGG):
        Old[r] = H[r, k]


@njit(cache=True, inline="always", error_model="numpy")
def gates_after(H, Ag, Old, D, k):
    """Fold config k's new gates into the scalar ones in `Ag`; rows it may have loosened go in `D`.

    A gate that tightened (or stayed) is taken as is; one that loosened matters only where it was the
    binding value, and only then is that row scanned again (`settle_nb`).
    """
    for r in range(N_HMIN):
        x = H[r, k]
        if x <= Ag[r]:
            Ag[r] = x
        elif Old[r] == Ag[r]:
            D[r] = True
    for r in range(N_HMIN, N_HAGG):
        x = H[r, k]
        if x >= Ag[r]:
            Ag[r] = x
        elif Old[r] == Ag[r]:
            D[r] = True


@njit(cache=True, error_model="numpy", _nrt=False)
def settle_nb(H, E, Ag, D):
    """The scalar gates: earliest event, request and max-hold; highest buy and lowest sell trigger;
    the bid levels at which some long, and the ask levels at which some short, has a price gate;
    whether some config must be looked at every tick (`E` NaN). Rows marked in `D` are scanned."""
    kk = H.shape[1]
    for r in range(N_HAGG):
        if not D[r]:
            continue
        D[r] = False
        # four running values, so that the compares need not wait on each other (the order of a
        # min or max does not matter; NaN is skipped by each, as by one; the gates are only ever
        # compared, so which zero a tie keeps does not matter either)
        if r < N_HMIN:
            g0 = g1 = g2 = g3 = BIG if r <= H_HOLD else np.inf
            j = 0
            while j + 4 <= kk:
                g0 = min(g0, H[r, j])
                g1 = min(g1, H[r, j + 1])
                g2 = min(g2, H[r, j + 2])
                g3 = min(g3, H[r, j + 3])
                j += 4
            for k in range(j, kk):
                g0 = min(g0, H[r, k])
            Ag[r] = min(min(g0, g1), min(g2, g3))
        else:
            g0 = g1 = g2 = g3 = -np.inf
            j = 0
            while j + 4 <= kk:
                g0 = max(g0, H[r, j])
                g1 = max(g1, H[r, j + 1])
                g2 = max(g2, H[r, j + 2])
                g3 = max(g3, H[r, j + 3])
                j += 4
            for k in range(j, kk):
                g0 = max(g0, H[r, k])
            Ag[r] = max(max(g0, g1), max(g2, g3))
    look = False
    for k in range(kk):
        look |= E[k] != E[k]
    return (
        Ag[H_EVT],
        Ag[H_REQ],
        Ag[H_HOLD],
        Ag[H_BUYT],
        Ag[H_SELLT],
        Ag[H_BLO],
        Ag[H_BHI],
        Ag[H_ALO],
        Ag[H_AHI],
        look,
    )


@njit(cache=True, error_model="numpy", _nrt=False)
def room_nb(acct, tcap, mcap):
    """How many more event ticks every config's record buffers can take (0: stop before this one)."""
    r = np.iinfo(np.int64).max
    for k in range(acct.shape[0]):
        r = min(
            r,
            (tcap - np.int64(acct[k, A_N_TRADES])) // T_ROOM,
            (mcap - np.int64(acct[k, A_N_MARKS])) // M_ROOM,
        )
    return max(r, 0)


@njit(cache=True, inline="always", error_model="numpy")
def listed(M, J):
    """The configs marked in `M`, in order, into `J`; returns how many (the loops over them then skip
    no config, and touch no row of one that needs nothing)."""
    c = 0
    for k in range(M.shape[0]):
        J[c] = k
        c += M[k]
    return c


@njit(cache=True, error_model="numpy", _nrt=False)
def due_nb(H, M, J, tf, b, a):
    """J[:c]: the c configs with an event, limit trigger or request arrival on this tick."""
    for k in range(H.shape[1]):
        M[k] = (tf >= H[H_EVT, k]) | (a <= H[H_BUYT, k]) | (b >= H[H_SELLT, k]) | (tf >= H[H_REQ, k])
    return listed(M, J)


@njit(cache=True, inline="always", error_model="numpy")
def only_sample_due(acct, G, k, tf):
    """Config k's event on this tick is an equity sample and nothing else (no start, fill, hours)."""
    if acct[k, A_STARTED] == 0.0 or tf < acct[k, A_NEXT_SAMPLE] or tf >= G[k, G_NEXT_HOURS]:
        return False
    return acct[k, A_PEND_QTY] == 0.0 or tf < acct[k, A_PEND_DUE]


@njit(cache=True, inline="always", error_model="numpy")
def sample_k(acct, G, mbuf, k, t, slot, smp):
    """`events_nb` when only an equity sample is due: the marks and the exposure count, no refresh.

    `slot` is `(t // smp) * smp`, worked out once for all the configs sampled on this tick. Nothing
    the other gates depend on changes, so only the next event time is recomputed.
    """
    nm = np.int64(acct[k, A_N_MARKS])
    pos = acct[k, A_POS]
    equity = acct[k, A_EQUITY]
    next_day = np.int64(acct[k, A_NEXT_DAY])
    if t >= next_day:
        mbuf[k, nm, M_TS] = next_day
        mbuf[k, nm, M_EQUITY] = equity
        mbuf[k, nm, M_POS] = pos
        mbuf[k, nm, M_DAY_CLOSE] = 1.0
        nm += 1
        acct[k, A_NEXT_DAY] = float((t // DAY_MS) * DAY_MS + DAY_MS)
    mbuf[k, nm, M_TS] = slot
    mbuf[k, nm, M_EQUITY] = equity
    mbuf[k, nm, M_POS] = pos
    mbuf[k, nm, M_DAY_CLOSE] = 0.0
    acct[k, A_N_MARKS] = float(nm + 1)
    nxt = float(slot + smp)
    acct[k, A_NEXT_SAMPLE] = nxt
    if pos != 0.0:
        acct[k, A_IN_MARKET_MS] = float(np.int64(acct[k, A_IN_MARKET_MS]) + (t - np.int64(G[k, G_OPEN_T])))
    G[k, G_OPEN_T] = float(t)
    if acct[k, A_PEND_QTY] != 0.0:
        nxt = min(nxt, acct[k, A_PEND_DUE])
    G[k, G_NEXT_EVT] = min(nxt, G[k, G_NEXT_HOURS])
