"""Cached entry points: the generic loop bound to each built-in strategy, single and batched.

A kernel that takes a function as an argument is recompiled in every process; binding the
built-ins here, at module level, lets `cache=True` keep them on disk. User strategies go through
`step_nb` / `step_batch_nb` directly and pay their compile once per process.
"""

from __future__ import annotations

from numba import njit

from hft.engine import batch_nb
from hft.engine import signals_nb as g
from hft.engine.loop_nb import run_loop_nb, step_nb
from hft.engine.strategies_nb import (
    donchian_nb,
    ema_cross_nb,
    filtered_ema_nb,
    market_maker_nb,
    zscore_nb,
)

__all__ = ["step_batch_nb", "SINGLE", "BATCH"]


@njit(inline="always")  # never cached: user strategies arrive as arguments
def step_batch_nb(signal_fn, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    """Advance K runs (row k of every 2-D argument) over the same ticks; `starts` is updated in place.

    Returns the number of runs that stopped early on a full record buffer.
    """
    n = ts.shape[0]
    stopped = 0
    for k in range(ep.shape[0]):
        if starts[k] >= n:
            continue
        starts[k] = step_nb(
            signal_fn,
            ts,
            bid,
            ask,
            ep[k],
            sp[k],
            ss[k],
            acct[k],
            quotes[k],
            tbuf[k],
            mbuf[k],
            starts[k],
            False,
        )
        if starts[k] < n:
            stopped += 1
    return stopped


@njit(inline="always")
def _batch_loop(step_fn, load_fn, save_fn, sig, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    n = ts.shape[0]
    stopped = 0
    for k in range(ep.shape[0]):
        if starts[k] >= n:
            continue
        starts[k] = run_loop_nb(
            step_fn,
            load_fn,
            save_fn,
            sig,
            ts,
            bid,
            ask,
            ep[k],
            sp[k],
            ss[k],
            acct[k],
            quotes[k],
            tbuf[k],
            mbuf[k],
            starts[k],
            False,
            True,
        )
        if starts[k] < n:
            stopped += 1
    return stopped


@njit(cache=True, nogil=True)
def run_ema_cross_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check):
    if check:  # two copies with `check` a constant: the checked loop stays as tight as the other
        return run_loop_nb(
            g.ema_step,
            g.ema_load,
            g.ema_save,
            ema_cross_nb,
            ts,
            bid,
            ask,
            ep,
            sp,
            ss,
            acct,
            quotes,
            tbuf,
            mbuf,
            start,
            True,
            False,
        )
    return run_loop_nb(
        g.ema_step,
        g.ema_load,
        g.ema_save,
        ema_cross_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        start,
        False,
        False,
    )


@njit(cache=True, nogil=True)
def run_zscore_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check):
    if check:  # two copies with `check` a constant: the checked loop stays as tight as the other
        return run_loop_nb(
            g.zscore_step,
            g.zscore_load,
            g.zscore_save,
            zscore_nb,
            ts,
            bid,
            ask,
            ep,
            sp,
            ss,
            acct,
            quotes,
            tbuf,
            mbuf,
            start,
            True,
            False,
        )
    return run_loop_nb(
        g.zscore_step,
        g.zscore_load,
        g.zscore_save,
        zscore_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        start,
        False,
        False,
    )


@njit(cache=True, nogil=True)
def run_donchian_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check):
    if check:  # two copies with `check` a constant: the checked loop stays as tight as the other
        return run_loop_nb(
            g.donchian_step,
            g.donchian_load,
            g.donchian_save,
            donchian_nb,
            ts,
            bid,
            ask,
            ep,
            sp,
            ss,
            acct,
            quotes,
            tbuf,
            mbuf,
            start,
            True,
            False,
        )
    return run_loop_nb(
        g.donchian_step,
        g.donchian_load,
        g.donchian_save,
        donchian_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        start,
        False,
        False,
    )


@njit(cache=True, nogil=True)
def run_filtered_ema_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check):
    if check:  # two copies with `check` a constant: the checked loop stays as tight as the other
        return run_loop_nb(
            g.filtered_step,
            g.filtered_load,
            g.filtered_save,
            filtered_ema_nb,
            ts,
            bid,
            ask,
            ep,
            sp,
            ss,
            acct,
            quotes,
            tbuf,
            mbuf,
            start,
            True,
            False,
        )
    return run_loop_nb(
        g.filtered_step,
        g.filtered_load,
        g.filtered_save,
        filtered_ema_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        start,
        False,
        False,
    )


@njit(cache=True, nogil=True)
def run_market_maker_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check):
    if check:  # two copies with `check` a constant: the checked loop stays as tight as the other
        return run_loop_nb(
            g.mm_step,
            g.mm_load,
            g.mm_save,
            market_maker_nb,
            ts,
            bid,
            ask,
            ep,
            sp,
            ss,
            acct,
            quotes,
            tbuf,
            mbuf,
            start,
            True,
            True,
        )
    return run_loop_nb(
        g.mm_step,
        g.mm_load,
        g.mm_save,
        market_maker_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        start,
        False,
        True,
    )


@njit(cache=True, nogil=True)
def batch_ema_cross_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    return _batch_loop(
        g.ema_step,
        g.ema_load,
        g.ema_save,
        ema_cross_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        starts,
    )


@njit(cache=True, nogil=True)
def batch_zscore_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    return _batch_loop(
        g.zscore_step,
        g.zscore_load,
        g.zscore_save,
        zscore_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        starts,
    )


@njit(cache=True, nogil=True)
def batch_donchian_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    return _batch_loop(
        g.donchian_step,
        g.donchian_load,
        g.donchian_save,
        donchian_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        starts,
    )


@njit(cache=True, nogil=True)
def batch_filtered_ema_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    return _batch_loop(
        g.filtered_step,
        g.filtered_load,
        g.filtered_save,
        filtered_ema_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        starts,
    )


@njit(cache=True, nogil=True)
def batch_market_maker_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, starts):
    return _batch_loop(
        g.mm_step,
        g.mm_load,
        g.mm_save,
        market_maker_nb,
        ts,
        bid,
        ask,
        ep,
        sp,
        ss,
        acct,
        quotes,
        tbuf,
        mbuf,
        starts,
    )


#: signal function -> cached single-run kernel / batched kernel
SINGLE = {
    ema_cross_nb: run_ema_cross_nb,
    zscore_nb: run_zscore_nb,
    donchian_nb: run_donchian_nb,
    filtered_ema_nb: run_filtered_ema_nb,
    market_maker_nb: run_market_maker_nb,
}
BATCH = {
    ema_cross_nb: batch_nb.batch_ema_cross_nb,  # all configs per tick, vectorised
    zscore_nb: batch_zscore_nb,
    donchian_nb: batch_donchian_nb,
    filtered_ema_nb: batch_filtered_ema_nb,
    market_maker_nb: batch_market_maker_nb,
}
