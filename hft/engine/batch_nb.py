"""K EMA-crossover configs stepped together, one tick at a time, in a loop the compiler vectorises.

Configs share the ticks but nothing else, so the common tick splits in two:
  - the strategy: one branch-free pass over k (structure-of-arrays rows, K contiguous values each)
    updates both EMAs and ANDs together "this config's target is still the one that changes
    nothing". Each config's EMAs are stored the way round that target wants them (row 0 above
    row 1), so that test is a single compare; a config that must be looked at every tick
    (`E` NaN) raises a flag of its own (`look`);
  - the account (`batch_gates_nb`): every config's gates (stop-loss and take-profit prices, a new
    equity peak, the next sample / fill / hours event, the max-hold time) are folded into a few
    scalars, so a tick costs the same handful of compares whatever K is.
Only when the pass or a scalar gate fires does a vectorised scan list the configs concerned, and a
loop over just those calls the same `events_nb` / `mark_risk_nb` / `target_nb` as single runs on
that config's `acct` row; the gates it moved are copied back into `H` and the scalars. A tick on
which only equity samples are due (once a minute, for all configs at once) writes them in place.
Arithmetic per config is the same as `signals_nb.ema_step` and `loop_nb.run_loop_nb`, so results
equal K single runs bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from hft.engine.account_nb import equity_nb
from hft.engine.batch_gates_nb import (
    H_AHI,
    H_ALO,
    H_BHI,
    H_BLO,
    H_BUYT,
    H_CASH,
    H_EVT,
    H_HOLD,
    H_POS,
    H_QUIET,
    H_REQ,
    H_SELLT,
    N_H,
    N_HAGG,
    due_nb,
    fold_all_nb,
    fold_k_nb,
    gates_after,
    gates_before,
    listed,
    load_gates_nb,
    only_sample_due,
    room_nb,
    sample_k,
    settle_nb,
)
from hft.engine.enums import (
    A_EQUITY,
    A_LAST_ASK,
    A_LAST_BID,
    A_LAST_TS,
    A_N_TICKS,
    G_NEXT_EVT,
    G_QUIET_ANY,
    N_G,
    P_SAMPLE_MS,
)
from hft.engine.events_nb import close_gates_nb, events_nb, mark_risk_nb, new_gates_nb, target_nb

__all__ = ["batch_ema_cross_nb"]

# rows of X: the EMA the expected target wants above, the other, the target, which way round
# rows _UP and _DN are (+1: fast above slow, -1: slow above fast); rows of P: their alphas, and
# the ticks until the config's target counts
_UP, _DN, _TG, _WAY = range(4)
_WARM = 2


@intrinsic
def _prefer_512_bit_vectors(typingctx):
    """Let LLVM vectorise the calling function's loops with 512-bit registers where the CPU has them.

    On AVX-512 CPUs LLVM tunes for 256-bit vectors (`prefer-vector-width`); the live pass, one
    compare and six float operations per config, then runs 4 configs per instruction instead of 8.
    The attribute is set on this one function only (other kernels and their cache entries keep the
    default), and changes nothing on CPUs without AVX-512. llvmlite checks function attributes
    against a list of keywords, so this string attribute is added to its set directly.
    """

    def codegen(context, builder, sig, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@njit(cache=True, inline="always", error_model="numpy")
def _expect_k(X, P, H, E, k):
    """The target (+1 or -1) at which config k's tick needs nothing more, else NaN: look every tick.

    The EMAs (and their alphas in `P`) are swapped if need be so that the one this target wants
    above is in row `_UP`: the live pass then tests `X[_UP] > X[_DN]`. A tie, which would keep the
    target, fails that test too: a tick looked at for nothing, never one missed.
    """
    tg = X[_TG, k]
    if tg == H[H_QUIET, k] and tg != 0.0:
        E[k] = tg
        if X[_WAY, k] != tg:
            x = X[_UP, k]
            X[_UP, k] = X[_DN, k]
            X[_DN, k] = x
            p = P[_UP, k]
            P[_UP, k] = P[_DN, k]
            P[_DN, k] = p
            X[_WAY, k] = tg
    else:
        E[k] = np.nan


@njit(cache=True, inline="always", error_model="numpy")
def _reload_k(ep, acct, G, H, X, P, E, k):
    """Config k's gates and expected target after its slow path."""
    load_gates_nb(ep, acct, G, H, k)
    _expect_k(X, P, H, E, k)


@njit(cache=True, inline="always", error_model="numpy")
def _fast_slow(X, k):
    """Config k's (fast, slow) EMAs, whichever way round they are stored."""
    up = X[_UP, k]
    dn = X[_DN, k]
    return (up, dn) if X[_WAY, k] > 0.0 else (dn, up)


@njit(cache=True, error_model="numpy", _nrt=False)
def _needs(X, P, H, M, J, cnt, live, tf, b, a):
    """J[:c]: the c configs whose price gate or max-hold fired, or whose target would change something.

    Once all are live the tick's pass did not store targets: they are brought up to date here first.
    """
    for k in range(H.shape[1]):
        tg = X[_TG, k]
        if live:  # row _UP above row _DN: the target they are stored for
            up = X[_UP, k]
            dn = X[_DN, k]
            way = X[_WAY, k]
            tg = way if up > dn else (-way if up < dn else tg)
            X[_TG, k] = tg
        raw = tg if cnt >= P[_WARM, k] else 0.0
        gate = (b <= H[H_BLO, k]) | (b >= H[H_BHI, k]) | (a <= H[H_ALO, k]) | (a >= H[H_AHI, k])
        M[k] = gate | (tf >= H[H_HOLD, k]) | (raw != H[H_QUIET, k])
    return listed(M, J)


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
    X = np.empty((4, kk))
    P = np.empty((3, kk))
    H = np.empty((N_H, kk))
    E = np.empty(kk)
    M = np.zeros(kk, dtype=np.bool_)
    J = np.zeros(kk, dtype=np.int64)
    W = np.empty((2, N_HAGG))  # the scalar gates; one config's gates before its slow path
    D = np.ones(N_HAGG, dtype=np.bool_)  # rows of H whose scalar gate must be found by a scan
    return _loop(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts, G, X, P, H, E, M, J, W, D)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _loop(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts, G, X, P, H, E, M, J, W, D):
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
        X[_UP, k] = ss[k, 0]
        X[_DN, k] = ss[k, 1]
        X[_TG, k] = ss[k, 3]
        X[_WAY, k] = 1.0
        P[_UP, k] = sp[k, 0]
        P[_DN, k] = sp[k, 1]
        P[_WARM, k] = sp[k, 2]
        warm_until = max(warm_until, sp[k, 2])
        _reload_k(ep, acct, G, H, X, P, E, k)
    live = False
    evt, req, hold, buy, sell, blo, bhi, alo, ahi, look = settle_nb(H, E, Ag, D)
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
                room = room_nb(acct, tcap, mcap)
                if room == 0:
                    stopped = True
                    break
            room -= 1
            c = due_nb(H, M, J, tf, b, a)
            full = 0  # configs with more than a sample due, listed first in J
            smp = np.int64(0)
            slot = np.int64(0)
            for j in range(c):
                k = J[j]
                if a <= H[H_BUYT, k] or b >= H[H_SELLT, k] or tf >= H[H_REQ, k]:
                    J[full] = k
                    full += 1
                elif only_sample_due(acct, G, k, tf):  # nothing else moves: no fold needed
                    if i > i0:  # the equity marked at the previous tick
                        acct[k, A_EQUITY] = equity_nb(H[H_CASH, k], H[H_POS, k], bid[i - 1], ask[i - 1])
                    if ep[k, P_SAMPLE_MS] != smp:  # (in a sweep, the same period for all)
                        smp = np.int64(ep[k, P_SAMPLE_MS])
                        slot = (t // smp) * smp
                    sample_k(acct, G, mbuf, k, t, slot, smp)
                    H[H_EVT, k] = G[k, G_NEXT_EVT]
                    D[H_EVT] = True  # it was due, so it may have been the earliest
                else:
                    J[full] = k
                    full += 1
            if full:
                fold_all_nb(H, lo_bid, hi_ask)
                lo_bid = np.inf
                hi_ask = -np.inf
                for j in range(full):
                    k = J[j]
                    equity = acct[k, A_EQUITY]
                    if i > i0:
                        equity = equity_nb(H[H_CASH, k], H[H_POS, k], bid[i - 1], ask[i - 1])
                    fold_k_nb(acct, H, k)
                    acct[k, A_EQUITY] = equity
                    gates_before(H, Old, k)
                    events_nb(ep[k], acct[k], G[k], t, b, a, tbuf[k], mbuf[k])
                    _reload_k(ep, acct, G, H, X, P, E, k)
                    gates_after(H, Ag, Old, D, k)
            evt, req, hold, buy, sell, blo, bhi, alo, ahi, look = settle_nb(H, E, Ag, D)
        mid = (b + a) * 0.5
        if cnt == 0.0:  # first tick: both EMAs start at mid (the update below then adds exactly 0)
            for k in range(kk):
                X[_UP, k] = mid
                X[_DN, k] = mid
        cnt += 1.0
        # 5-7: the strategy for every config at once, then the account gates of all configs
        if not live and cnt >= warm_until:
            live = True
            for k in range(kk):
                _expect_k(X, P, H, E, k)
            evt, req, hold, buy, sell, blo, bhi, alo, ahi, look = settle_nb(H, E, Ag, D)
        if live:  # targets not stored: where one moved, the slow tick recomputes it
            quiet = True
            for k in range(kk):
                up = X[_UP, k] + P[_UP, k] * (mid - X[_UP, k])
                dn = X[_DN, k] + P[_DN, k] * (mid - X[_DN, k])
                X[_UP, k] = up
                X[_DN, k] = dn
                quiet &= up > dn
            flag = look or not quiet
        else:  # some config still warming up
            flag = False
            for k in range(kk):
                u = X[_UP, k] + P[_UP, k] * (mid - X[_UP, k])
                v = X[_DN, k] + P[_DN, k] * (mid - X[_DN, k])
                f = u if X[_WAY, k] > 0.0 else v
                s = v if X[_WAY, k] > 0.0 else u
                on = cnt >= P[_WARM, k]
                tg = X[_TG, k]
                tg = (1.0 if f > s else (-1.0 if f < s else tg)) if on else tg
                X[_UP, k] = u
                X[_DN, k] = v
                X[_TG, k] = tg
                flag |= (tg if on else 0.0) != H[H_QUIET, k]
        lo_bid = min(lo_bid, b)
        hi_ask = max(hi_ask, a)
        if flag or b <= blo or b >= bhi or a <= alo or a >= ahi or tf >= hold:
            # rare: the configs concerned, each exactly as a single run would
            fold_all_nb(H, lo_bid, hi_ask)
            lo_bid = np.inf
            hi_ask = -np.inf
            c = _needs(X, P, H, M, J, cnt, live, tf, b, a)
            for j in range(c):
                k = J[j]
                gates_before(H, Old, k)
                pos = H[H_POS, k]
                gate = b <= H[H_BLO, k] or b >= H[H_BHI, k] or a <= H[H_ALO, k] or a >= H[H_AHI, k]
                if gate or tf >= H[H_HOLD, k]:
                    fold_k_nb(acct, H, k)
                    acct[k, A_EQUITY] = equity_nb(H[H_CASH, k], pos, b, a)
                    mark_risk_nb(ep[k], acct[k], G[k], t, b, a)
                    _reload_k(ep, acct, G, H, X, P, E, k)
                raw = X[_TG, k] if cnt >= P[_WARM, k] else 0.0
                if raw != H[H_QUIET, k] and G[k, G_QUIET_ANY] == 0.0:
                    fold_k_nb(acct, H, k)
                    target_nb(ep[k], acct[k], G[k], t, np.int64(raw), quotes[k])
                    _reload_k(ep, acct, G, H, X, P, E, k)
                else:
                    _expect_k(X, P, H, E, k)
                gates_after(H, Ag, Old, D, k)
            evt, req, hold, buy, sell, blo, bhi, alo, ahi, look = settle_nb(H, E, Ag, D)
        i += 1

    fold_all_nb(H, lo_bid, hi_ask)
    for k in range(kk):
        ss[k, 0], ss[k, 1] = _fast_slow(X, k)
        ss[k, 2] = cnt
        ss[k, 3] = X[_TG, k]
        fold_k_nb(acct, H, k)
        if i > i0:
            acct[k, A_EQUITY] = equity_nb(H[H_CASH, k], H[H_POS, k], bid[i - 1], ask[i - 1])
            acct[k, A_LAST_TS] = float(ts[i - 1])
            acct[k, A_LAST_BID] = bid[i - 1]
            acct[k, A_LAST_ASK] = ask[i - 1]
            acct[k, A_N_TICKS] += float(i - i0)
        close_gates_nb(acct[k], G[k])
        starts[k] = i
    return kk if stopped else 0
