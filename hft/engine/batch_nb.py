"""K EMA-crossover configs stepped together, one tick at a time, in a loop the compiler vectorises.

Configs share the ticks but nothing else, so the common tick splits in two:
  - the strategy: one branch-free pass over k (structure-of-arrays rows, K contiguous values each)
    updates both EMAs and ORs together "this config's target moved off the one that changes
    nothing" (`E`, NaN when every tick must be looked at);
  - the account: every config's gates (stop-loss and take-profit prices, a new equity peak, the
    next sample / fill / hours event, the max-hold time) are folded into a few scalars, so a tick
    costs the same handful of compares whatever K is. Drawdown records are not gated at all: the
    lowest bid and highest ask since the last slow tick are kept once for all configs and folded into
    each one's trough (`_fold_all`, `_fold_k`) before anything reads or changes its account.
Only when the pass or a scalar gate fires does a vectorised scan mark the configs concerned, and a
loop over just those calls the same `events_nb` / `mark_risk_nb` / `target_nb` as single runs on
that config's `acct` row; the gates it moved are copied back into the rows of `H`. Arithmetic per
config is the same as `signals_nb.ema_step` and `loop_nb.run_loop_nb`, so results equal K single
runs bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from hft.engine.account_nb import equity_nb
from hft.engine.enums import (
    A_CASH,
    A_EQUITY,
    A_IN_MARKET_MS,
    A_LAST_ASK,
    A_LAST_BID,
    A_LAST_TS,
    A_N_MARKS,
    A_N_TICKS,
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
    G_QUIET_ANY,
    G_REQ_DUE,
    G_SELL_TRIG,
    M_DAY_CLOSE,
    M_EQUITY,
    M_POS,
    M_ROOM,
    M_TS,
    N_G,
    P_SAMPLE_MS,
    T_ROOM,
)
from hft.engine.events_nb import (
    close_gates_nb,
    events_nb,
    exit_gates_nb,
    mark_nb,
    mark_risk_nb,
    new_gates_nb,
    target_nb,
)

__all__ = ["batch_ema_cross_nb"]

@intrinsic
def _prefer_512_bit_vectors(typingctx):
    """Let LLVM vectorise the calling function's loops with 512-bit registers where the CPU has them.

    On AVX-512 CPUs LLVM tunes for 256-bit vectors (`prefer-vector-width`); the live pass, one
    compare and six float operations per config, then runs 4 configs per instruction instead of 8.
    The attribute is set on this one function only (other kernels and their cache entries keep the
    default), and is a no-op on CPUs without AVX-512. llvmlite validates function attributes against
    a fixed list of keywords, so the string attribute is added to its set directly.
    """

    def codegen(context, builder, sig, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


# rows of H: the account side of every config, K contiguous values per row
# (the first 9 are folded into one scalar gate each: rows 0-5 by min, rows 6-8 by max)
_EVT, _REQ, _HOLD, _SELLT, _BHI, _AHI, _BUYT, _BLO, _ALO, _POS, _CASH, _QUIET, _TROUGH = range(13)
_NH = 13
_NMIN = 6
_NAGG = 9


@njit(cache=True, error_model="numpy", _nrt=False)
def _load_k(ep, acct, G, H, X, P, E, O, k):
    """Config k's rows after its slow path; its price gates apply to the bid (long) or ask (short).

    The gate on the losing side is the stop-loss level only: drawdown records are folded in from
    `_TROUGH` instead. The other is the single run's (take-profit, new equity peak). Flat configs
    never fire.
    """
    pos = acct[k, A_POS]
    H[_POS, k] = pos
    H[_CASH, k] = acct[k, A_CASH]
    lo, hi, _hold = exit_gates_nb(ep[k], acct[k])
    H[_BLO, k] = lo if pos > 0.0 else -np.inf
    H[_BHI, k] = G[k, G_HI] if pos > 0.0 else np.inf
    H[_ALO, k] = G[k, G_LO] if pos < 0.0 else -np.inf
    H[_AHI, k] = hi if pos < 0.0 else np.inf
    H[_QUIET, k] = G[k, G_QUIET]
    H[_TROUGH, k] = np.inf
    H[_EVT, k] = G[k, G_NEXT_EVT]
    H[_BUYT, k] = G[k, G_BUY_TRIG]
    H[_SELLT, k] = G[k, G_SELL_TRIG]
    H[_REQ, k] = G[k, G_REQ_DUE]
    H[_HOLD, k] = G[k, G_HOLD_DUE]
    _expect_k(X, P, H, E, O, k)


@njit(cache=True, inline="always", error_model="numpy")
def _expect_k(X, P, H, E, O, k):
    """The target (+1 or -1) at which config k's tick needs nothing more, else NaN: look every tick.

    The two EMAs are stored so that the one this target wants above is in row 0 (`O[k]` = the
    target they are oriented for; their alphas in `P` follow them): the live pass then tests one
    `X[0] > X[1]`. A tie, which would keep the target, fails that test too: a tick looked at for
    nothing, never one missed.
    """
    tg = X[2, k]
    if tg == H[_QUIET, k] and tg != 0.0:
        E[k] = tg
        if O[k] != tg:
            x = X[0, k]
            X[0, k] = X[1, k]
            X[1, k] = x
            p = P[0, k]
            P[0, k] = P[1, k]
            P[1, k] = p
            O[k] = tg
    else:
        E[k] = np.nan


@njit(cache=True, inline="always", error_model="numpy")
def _fast_slow(X, O, k):
    """Config k's (fast, slow) EMAs, whichever way round they are stored."""
    up = X[0, k]
    dn = X[1, k]
    return (up, dn) if O[k] > 0.0 else (dn, up)


@njit(cache=True, error_model="numpy", _nrt=False)
def _fold_all(H, lo_bid, hi_ask):
    """Close an epoch: each config's trough takes the lowest bid (long) or highest ask (short) seen.

    Positions and cash are constant within an epoch (any change is a slow tick, which ends one).
    """
    for k in range(H.shape[1]):
        v = lo_bid if H[_POS, k] > 0.0 else -hi_ask  # a short's trough is kept negated
        H[_TROUGH, k] = min(H[_TROUGH, k], v)


@njit(cache=True, error_model="numpy", _nrt=False)
def _fold_k(acct, H, k):
    """Mark config k at its trough since its last slow path (lowest bid if long, highest ask if short).

    Position and cash were constant since then and no new peak can have come (the upper gate would
    have fired), so the equity is a rounded monotone function of that price and this one mark moves
    the max drawdown and its fraction exactly as marking each of those ticks would have.
    """
    x = H[_TROUGH, k]
    pos = H[_POS, k]
    if x == np.inf or pos == 0.0:
        return
    acct[k, A_EQUITY] = equity_nb(H[_CASH, k], pos, x, -x)
    mark_nb(acct[k])
    H[_TROUGH, k] = np.inf


@njit(cache=True, inline="always", error_model="numpy")
def _before(H, Old, k):
    """Config k's gates before its slow path, for `_after`."""
    for r in range(_NAGG):
        Old[r] = H[r, k]


@njit(cache=True, inline="always", error_model="numpy")
def _after(H, Ag, Old, D, k):
    """Fold config k's new gates into the scalar ones in `Ag`; rows it may have loosened go in `D`.

    A gate that tightened (or stayed) is taken as is; one that loosened matters only where it was the
    binding value, and only then is that row scanned again (`_settle`).
    """
    for r in range(_NMIN):
        x = H[r, k]
        if x <= Ag[r]:
            Ag[r] = x
        elif Old[r] == Ag[r]:
            D[r] = True
    for r in range(_NMIN, _NAGG):
        x = H[r, k]
        if x >= Ag[r]:
            Ag[r] = x
        elif Old[r] == Ag[r]:
            D[r] = True


@njit(cache=True, error_model="numpy", _nrt=False)
def _settle(H, E, Ag, D):
    """The scalar gates: earliest event, request and max-hold; lowest sell trigger; the bid levels at
    which some long, and the ask levels at which some short, has a price gate; highest buy trigger;
    whether some config must be looked at every tick (`E` NaN). Rows in `D` are scanned again."""
    kk = H.shape[1]
    for r in range(_NAGG):
        if not D[r]:
            continue
        D[r] = False
        # four running values, so that the compares need not wait on each other (the order of
        # a min or max does not matter; NaN is skipped by each, as by one)
        if r < _NMIN:
            g0 = g1 = g2 = g3 = BIG if r <= _HOLD else np.inf
            k = 0
            while k + 4 <= kk:
                g0 = min(g0, H[r, k])
                g1 = min(g1, H[r, k + 1])
                g2 = min(g2, H[r, k + 2])
                g3 = min(g3, H[r, k + 3])
                k += 4
            for k in range(k, kk):
                g0 = min(g0, H[r, k])
            Ag[r] = min(min(g0, g1), min(g2, g3))
        else:
            g0 = g1 = g2 = g3 = -np.inf
            k = 0
            while k + 4 <= kk:
                g0 = max(g0, H[r, k])
                g1 = max(g1, H[r, k + 1])
                g2 = max(g2, H[r, k + 2])
                g3 = max(g3, H[r, k + 3])
                k += 4
            for k in range(k, kk):
                g0 = max(g0, H[r, k])
            Ag[r] = max(max(g0, g1), max(g2, g3))
    look = False
    for k in range(H.shape[1]):
        look |= E[k] != E[k]
    return Ag[_EVT], Ag[_REQ], Ag[_HOLD], Ag[_BUYT], Ag[_SELLT], Ag[_BLO], Ag[_BHI], Ag[_ALO], Ag[_AHI], look


@njit(cache=True, error_model="numpy", _nrt=False)
def _room(acct, tcap, mcap):
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
def _listed(M, J):
    """The configs marked in `M`, in order, into `J`; returns how many (the loops over them then skip
    no config, and touch no row of one that needs nothing)."""
    c = 0
    for k in range(M.shape[0]):
        J[c] = k
        c += M[k]
    return c


@njit(cache=True, error_model="numpy", _nrt=False)
def _due(H, M, J, tf, b, a):
    """J[:c]: the c configs with an event, limit trigger or request arrival on this tick."""
    for k in range(H.shape[1]):
        M[k] = (tf >= H[_EVT, k]) | (a <= H[_BUYT, k]) | (b >= H[_SELLT, k]) | (tf >= H[_REQ, k])
    return _listed(M, J)


@njit(cache=True, error_model="numpy", _nrt=False)
def _needs(X, P, O, H, M, J, cnt, live, tf, b, a):
    """J[:c]: the c configs whose price gate or max-hold fired, or whose target would change something.

    Once all are live the tick's pass did not store targets: they are brought up to date here first.
    """
    for k in range(H.shape[1]):
        tg = X[2, k]
        if live:  # row 0 above row 1: the target they are oriented for
            up = X[0, k]
            dn = X[1, k]
            o = O[k]
            tg = o if up > dn else (-o if up < dn else tg)
            X[2, k] = tg
        raw = tg if cnt >= P[2, k] else 0.0
        gate = (b <= H[_BLO, k]) | (b >= H[_BHI, k]) | (a <= H[_ALO, k]) | (a >= H[_AHI, k])
        M[k] = gate | (tf >= H[_HOLD, k]) | (raw != H[_QUIET, k])
    return _listed(M, J)


@njit(cache=True, inline="always", error_model="numpy")
def _only_sample_due(acct, G, k, tf):
    """Config k's event on this tick is an equity sample and nothing else (no start, fill, hours)."""
    if acct[k, A_STARTED] == 0.0 or tf < acct[k, A_NEXT_SAMPLE] or tf >= G[k, G_NEXT_HOURS]:
        return False
    return acct[k, A_PEND_QTY] == 0.0 or tf < acct[k, A_PEND_DUE]


@njit(cache=True, inline="always", error_model="numpy")
def _sample_k(acct, G, mbuf, k, t, slot, smp):
    """`events_nb` when only an equity sample is due: the marks and the exposure count, no refresh.

    `slot` is `(t // smp) * smp`, worked out once for all configs sampled on this tick. Nothing the
    other gates depend on changes, so only the next event time is recomputed.
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


@njit(cache=True, nogil=True, error_model="numpy")
def batch_ema_cross_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    """`runners_nb.batch_ema_cross_nb` with every config on the same tick; see the module docstring.

    All configs advance together, so `starts` holds one index K times; a full record buffer in any
    config stops them all before the tick (the caller drains and calls again). Returns K when it
    stopped early, else 0.
    """
    kk = ep.shape[0]
    G = np.empty((kk, N_G))
    for k in range(kk):
        G[k] = new_gates_nb(ep[k], acct[k])
    X = np.empty((3, kk))
    P = np.empty((3, kk))
    H = np.empty((_NH, kk))
    E = np.empty(kk)
    O = np.ones(kk)
    M = np.zeros(kk, dtype=np.bool_)
    J = np.zeros(kk, dtype=np.int64)
    W = np.empty((2, _NAGG))  # the scalar gates, and one config's before its slow path
    D = np.ones(_NAGG, dtype=np.bool_)  # rows of H to scan for their scalar gate
    return _batch_loop(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts, G, X, P, H, E, O, M, J, W, D)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _batch_loop(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts, G, X, P, H, E, O, M, J, W, D):
    """The kernel's loop, without reference counts: the per-config rows (`acct[k]`, ...) it hands to
    the slow-path functions would otherwise cost an atomic increment and decrement each."""
    _prefer_512_bit_vectors()
    Ag = W[0]
    Old = W[1]
    n = ts.shape[0]
    kk = ep.shape[0]
    i0 = max(starts[0], 0)
    cnt = ss[0, 2]
    warm_until = 0.0
    for k in range(kk):
        X[0, k] = ss[k, 0]
        X[1, k] = ss[k, 1]
        X[2, k] = ss[k, 3]
        P[0, k] = sp[k, 0]
        P[1, k] = sp[k, 1]
        P[2, k] = sp[k, 2]
        warm_until = max(warm_until, sp[k, 2])
        _load_k(ep, acct, G, H, X, P, E, O, k)
    live = False
    evt, req, hold, buy, sell, blo, bhi, alo, ahi, look = _settle(H, E, Ag, D)
    lo_bid = np.inf  # the epoch's extremes, for the troughs
    hi_ask = -np.inf
    tcap = tbuf.shape[1]
    mcap = mbuf.shape[1]
    room = 0
    stopped = False
    i = i0
    while i < n:
        t = ts[i]
        b = bid[i]
        a = ask[i]
        tf = float(t)
        if tf >= evt or a <= buy or b >= sell or tf >= req:
            if room == 0:
                room = _room(acct, tcap, mcap)
                if room == 0:
                    stopped = True
                    break
            room -= 1
            c = _due(H, M, J, tf, b, a)
            full = 0  # configs with more than a sample due, listed first in J
            smp = np.int64(0)
            slot = np.int64(0)
            for j in range(c):
                k = J[j]
                if a <= H[_BUYT, k] or b >= H[_SELLT, k] or tf >= H[_REQ, k]:
                    J[full] = k
                    full += 1
                elif _only_sample_due(acct, G, k, tf):  # no fold needed: nothing else moves
                    if i > i0:  # the equity marked at the previous tick
                        acct[k, A_EQUITY] = equity_nb(H[_CASH, k], H[_POS, k], bid[i - 1], ask[i - 1])
                    if ep[k, P_SAMPLE_MS] != smp:  # the same period for all, in a sweep
                        smp = np.int64(ep[k, P_SAMPLE_MS])
                        slot = (t // smp) * smp
                    _sample_k(acct, G, mbuf, k, t, slot, smp)
                    H[_EVT, k] = G[k, G_NEXT_EVT]
                    D[_EVT] = True  # it was due, so it may have been the earliest
                else:
                    J[full] = k
                    full += 1
            if full:
                _fold_all(H, lo_bid, hi_ask)
                lo_bid = np.inf
                hi_ask = -np.inf
                for j in range(full):
                    k = J[j]
                    equity = acct[k, A_EQUITY]
                    if i > i0:
                        equity = equity_nb(H[_CASH, k], H[_POS, k], bid[i - 1], ask[i - 1])
                    _fold_k(acct, H, k)
                    acct[k, A_EQUITY] = equity
                    _before(H, Old, k)
                    events_nb(ep[k], acct[k], G[k], t, b, a, tbuf[k], mbuf[k])
                    _load_k(ep, acct, G, H, X, P, E, O, k)
                    _after(H, Ag, Old, D, k)
            evt, req, hold, buy, sell, blo, bhi, alo, ahi, look = _settle(H, E, Ag, D)
        mid = (b + a) * 0.5
        if cnt == 0.0:  # first tick: both EMAs start at mid (the update below then adds exactly 0)
            for k in range(kk):
                X[0, k] = mid
                X[1, k] = mid
        cnt += 1.0
        # 5-7: the strategy for every config at once, then the account gates of all configs
        if not live and cnt >= warm_until:
            live = True
            for k in range(kk):
                _expect_k(X, P, H, E, O, k)
            evt, req, hold, buy, sell, blo, bhi, alo, ahi, look = _settle(H, E, Ag, D)
        # (written out here: a pass inlined from a function costs Numba reference counts per tick)
        if live:  # targets not stored: where one moved off `E` the slow tick recomputes it
            quiet = True
            for k in range(kk):
                up = X[0, k] + P[0, k] * (mid - X[0, k])
                dn = X[1, k] + P[1, k] * (mid - X[1, k])
                X[0, k] = up
                X[1, k] = dn
                quiet &= up > dn
            flag = look or not quiet
        else:  # some config still warming up
            flag = False
            for k in range(kk):
                u = X[0, k] + P[0, k] * (mid - X[0, k])
                v = X[1, k] + P[1, k] * (mid - X[1, k])
                f = u if O[k] > 0.0 else v
                s = v if O[k] > 0.0 else u
                on = cnt >= P[2, k]
                tg = X[2, k]
                tg = (1.0 if f > s else (-1.0 if f < s else tg)) if on else tg
                X[0, k] = u
                X[1, k] = v
                X[2, k] = tg
                flag |= (tg if on else 0.0) != H[_QUIET, k]
        lo_bid = min(lo_bid, b)
        hi_ask = max(hi_ask, a)
        if flag or b <= blo or b >= bhi or a <= alo or a >= ahi or tf >= hold:
            # rare: the configs concerned, each exactly as a single run would
            _fold_all(H, lo_bid, hi_ask)
            lo_bid = np.inf
            hi_ask = -np.inf
            c = _needs(X, P, O, H, M, J, cnt, live, tf, b, a)
            for j in range(c):
                k = J[j]
                _before(H, Old, k)
                pos = H[_POS, k]
                gate = b <= H[_BLO, k] or b >= H[_BHI, k] or a <= H[_ALO, k] or a >= H[_AHI, k]
                if gate or tf >= H[_HOLD, k]:
                    _fold_k(acct, H, k)
                    acct[k, A_EQUITY] = equity_nb(H[_CASH, k], pos, b, a)
                    mark_risk_nb(ep[k], acct[k], G[k], t, b, a)
                    _load_k(ep, acct, G, H, X, P, E, O, k)
                raw = X[2, k] if cnt >= P[2, k] else 0.0
                if raw != H[_QUIET, k] and G[k, G_QUIET_ANY] == 0.0:
                    _fold_k(acct, H, k)
                    target_nb(ep[k], acct[k], G[k], t, np.int64(raw), quotes[k])
                    _load_k(ep, acct, G, H, X, P, E, O, k)
                else:
                    _expect_k(X, P, H, E, O, k)
                _after(H, Ag, Old, D, k)
            evt, req, hold, buy, sell, blo, bhi, alo, ahi, look = _settle(H, E, Ag, D)
        i += 1

    _fold_all(H, lo_bid, hi_ask)
    for k in range(kk):
        ss[k, 0], ss[k, 1] = _fast_slow(X, O, k)
        ss[k, 2] = cnt
        ss[k, 3] = X[2, k]
        _fold_k(acct, H, k)
        if i > i0:
            acct[k, A_EQUITY] = equity_nb(H[_CASH, k], H[_POS, k], bid[i - 1], ask[i - 1])
            acct[k, A_LAST_TS] = float(ts[i - 1])
            acct[k, A_LAST_BID] = bid[i - 1]
            acct[k, A_LAST_ASK] = ask[i - 1]
            acct[k, A_N_TICKS] += float(i - i0)
        close_gates_nb(acct[k], G[k])
        starts[k] = i
    return kk if stopped else 0
