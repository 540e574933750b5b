"""A slow, plain-Python twin of the engine with the same semantics, for tests to compare against.

Written for reading, not speed: objects instead of state slots, the tick loop spelled out in the
order documented in `loop_nb`, indicators from their definitions (Donchian bands from `max` /
`min` over the window). Float arithmetic follows the kernels' order so results match bit for bit.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from hft.engine import enums as E

__all__ = ["reference_run", "REF_STRATEGIES"]


class RefEma:
    def __init__(self, sp):
        self.af, self.aslow, self.warmup = float(sp[0]), float(sp[1]), float(sp[2])
        self.fast = self.slow = 0.0
        self.n = 0
        self.target = 0

    def __call__(self, ts, bid, ask, pos, quotes):
        mid = (bid + ask) * 0.5
        if self.n == 0:
            self.fast = self.slow = mid
        else:
            self.fast += self.af * (mid - self.fast)
            self.slow += self.aslow * (mid - self.slow)
        self.n += 1
        if self.n < self.warmup:
            return 0
        if self.fast > self.slow:
            self.target = 1
        elif self.fast < self.slow:
            self.target = -1
        return self.target


class RefFilteredEma(RefEma):
    def __init__(self, sp):
        super().__init__(sp)
        self.max_spread, self.ag, self.max_gap = float(sp[3]), float(sp[4]), float(sp[5])
        self.gap = 0.0
        self.last_ts = 0.0

    def __call__(self, ts, bid, ask, pos, quotes):
        mid = (bid + ask) * 0.5
        if self.n == 0:
            self.fast = self.slow = mid
        else:
            self.fast += self.af * (mid - self.fast)
            self.slow += self.aslow * (mid - self.slow)
            gap = float(ts) - self.last_ts
            self.gap = gap if self.n == 1 else self.gap + self.ag * (gap - self.gap)
        self.last_ts = float(ts)
        self.n += 1
        if self.n < self.warmup:
            return 0
        raw = self.target
        if self.fast > self.slow:
            raw = 1
        elif self.fast < self.slow:
            raw = -1
        if raw != self.target:
            ok = (ask - bid) <= self.max_spread and self.gap <= self.max_gap
            self.target = raw if ok else 0
        return self.target


class RefZscore:
    def __init__(self, sp):
        self.w, self.entry, self.exit, self.min_std = int(sp[0]), float(sp[1]), float(sp[2]), float(sp[3])
        self.window: deque[float] = deque()
        self.ref = 0.0
        self.s = self.q = 0.0
        self.n = 0
        self.target = 0

    def __call__(self, ts, bid, ask, pos, quotes):
        mid = (bid + ask) * 0.5
        if self.n == 0:
            self.ref = mid
        x = mid - self.ref
        if len(self.window) == self.w:
            old = self.window.popleft()
            self.s = self.s + x - old
            self.q = self.q + x * x - old * old
        else:
            self.s = self.s + x
            self.q = self.q + x * x
        self.window.append(x)
        self.n += 1
        if self.n < self.w:
            return 0
        if self.n % self.w == 0:  # exact resum once per window, oldest first
            s = q = 0.0
            for v in self.window:
                s += v
                q += v * v
            self.s, self.q = s, q
        mean = self.s / self.w
        var = self.q / self.w - mean * mean
        z = 0.0
        if var > 0.0 and math.sqrt(var) > self.min_std:
            z = (x - mean) / math.sqrt(var)
        if z > self.entry:
            self.target = -1
        elif z < -self.entry:
            self.target = 1
        elif (self.target == 1 and z >= -self.exit) or (self.target == -1 and z <= self.exit):
            self.target = 0
        return self.target


class RefDonchian:
    def __init__(self, sp):
        self.w = int(sp[0])
        self.window: deque[float] = deque(maxlen=self.w)
        self.target = 0

    def __call__(self, ts, bid, ask, pos, quotes):
        mid = (bid + ask) * 0.5
        if len(self.window) == self.w:
            if mid > max(self.window):
                self.target = 1
            elif mid < min(self.window):
                self.target = -1
        self.window.append(mid)
        return self.target


class RefMarketMaker:
    def __init__(self, sp):
        self.half, self.skew, self.max_lots, self.tick, self.size = (float(v) for v in sp[:5])

    def __call__(self, ts, bid, ask, pos, quotes):
        mid = (bid + ask) * 0.5
        lots = pos / self.size
        r = mid - self.skew * lots
        quotes[0] = math.floor((r - self.half) / self.tick) * self.tick if lots < self.max_lots else math.nan
        quotes[1] = math.ceil((r + self.half) / self.tick) * self.tick if lots > -self.max_lots else math.nan
        return E.TARGET_NONE


REF_STRATEGIES = {
    "ema_cross": RefEma,
    "filtered_ema": RefFilteredEma,
    "zscore": RefZscore,
    "donchian": RefDonchian,
    "market_maker": RefMarketMaker,
}


@dataclass
class _Book:
    cash: float
    pos: float = 0.0
    avg: float = 0.0
    entry_ts: float = 0.0
    entry_fees: float = 0.0
    fees: float = 0.0
    trades: list = field(default_factory=list)

    def fill(self, q, px, fee, t, reason):
        self.fees += fee
        self.cash = self.cash - q * px - fee
        if self.pos == 0.0:
            self.pos, self.avg, self.entry_ts, self.entry_fees = q, px, t, fee
            return
        if (q > 0) == (self.pos > 0):
            ap, aq = abs(self.pos), abs(q)
            self.avg = (self.avg * ap + px * aq) / (ap + aq)
            self.pos += q
            self.entry_fees += fee
            return
        side = 1.0 if self.pos > 0 else -1.0
        ap, aq = abs(self.pos), abs(q)
        c = min(ap, aq)
        fee_close = fee * (c / aq)
        entry_share = self.entry_fees * (c / ap)
        pnl = (px - self.avg) * c * side
        self.trades.append((self.entry_ts, t, side, c, self.avg, px, pnl, entry_share + fee_close, reason))
        if aq > ap:
            self.pos, self.avg, self.entry_ts, self.entry_fees = self.pos + q, px, t, fee - fee_close
        elif aq == ap:
            self.pos, self.avg, self.entry_ts, self.entry_fees = 0.0, 0.0, 0.0, 0.0
        else:
            self.pos += q
            self.entry_fees -= entry_share


def _fee(qty, px, unit, frac):
    return qty * (unit + px * frac)


def reference_run(name: str, sp, ep, ts, bid, ask) -> dict:
    """Run built-in `name` tick by tick; returns trades, marks, equity, drawdowns, exposure."""
    strat = REF_STRATEGIES[name](sp)
    size = float(ep[E.P_SIZE])
    lat = float(ep[E.P_LATENCY])  # real ms: due = t + lat, compared as real numbers
    slip = float(ep[E.P_SLIPPAGE])
    sl, tp, mh = float(ep[E.P_STOP_LOSS]), float(ep[E.P_TAKE_PROFIT]), float(ep[E.P_MAX_HOLD])
    smp = int(ep[E.P_SAMPLE_MS])
    book = _Book(cash=float(ep[E.P_CAPITAL]))
    equity = peak = book.cash
    maxdd = maxddf = 0.0
    marks: list[tuple] = []
    pending = None  # (qty, due, reason)
    block = 0
    resting = [math.nan, math.nan]  # live limit buy / sell prices
    requests: list = [None, None]  # in-flight (price, due) per side
    quotes = [math.nan, math.nan]
    in_market = 0
    last_ts = None
    next_smp = next_day = 0
    for i in range(len(ts)):
        t, b, a = int(ts[i]), float(bid[i]), float(ask[i])
        if last_ts is None:
            last_ts = t
            next_smp = (t // smp) * smp + smp
            next_day = (t // E.DAY_MS) * E.DAY_MS + E.DAY_MS
        if t >= next_smp:
            if t >= next_day:
                marks.append((next_day, equity, book.pos, 1))
                next_day = (t // E.DAY_MS) * E.DAY_MS + E.DAY_MS
            marks.append(((t // smp) * smp, equity, book.pos, 0))
            next_smp = (t // smp) * smp + smp
        if book.pos != 0.0:
            in_market += t - last_ts
        if pending is not None and t >= pending[1]:
            q = pending[0]
            px = a + slip if q > 0 else b - slip
            book.fill(q, px, _fee(abs(q), px, ep[E.P_TAKER_UNIT], ep[E.P_TAKER_FRAC]), float(t), pending[2])
            pending = None
        for side in (0, 1):
            if requests[side] is not None and t >= requests[side][1]:
                resting[side] = requests[side][0]
                requests[side] = None
        thr, inv = float(ep[E.P_FILL_THROUGH]), float(ep[E.P_MAX_INVENTORY])
        for side, sign in ((0, 1.0), (1, -1.0)):
            p = resting[side]
            if math.isnan(p):
                continue
            touched = a <= p - thr if side == 0 else b >= p + thr
            if touched:
                resting[side] = math.nan
                if inv <= 0.0 or sign * book.pos + size <= inv:
                    fee = _fee(size, p, ep[E.P_MAKER_UNIT], ep[E.P_MAKER_FRAC])
                    book.fill(sign * size, p, fee, float(t), E.R_LIMIT)
        pos = book.pos
        equity = book.cash + pos * b if pos > 0 else (book.cash + pos * a if pos < 0 else book.cash)
        peak = max(peak, equity)
        if peak - equity > 0.0:
            maxdd = max(maxdd, peak - equity)
            maxddf = max(maxddf, (peak - equity) / peak)
        forced = False
        if pos != 0.0 and pending is None:
            long_ = pos > 0
            reason = None
            if sl > 0 and ((long_ and b <= book.avg - sl) or (not long_ and a >= book.avg + sl)):
                reason = E.R_STOP_LOSS
            elif tp > 0 and ((long_ and b >= book.avg + tp) or (not long_ and a <= book.avg - tp)):
                reason = E.R_TAKE_PROFIT
            elif mh > 0 and t - book.entry_ts >= mh:
                reason = E.R_MAX_HOLD
            if reason is not None:
                pending = (-pos, t + lat, reason)
                block = 1 if long_ else -1
                forced = True
        raw = strat(t, b, a, pos, quotes)
        outside = bool(ep[E.P_HOURS_ON]) and not _in_hours(
            t, int(ep[E.P_HOURS_START]), int(ep[E.P_HOURS_END])
        )
        tgt = 0 if outside else raw
        if tgt != E.TARGET_NONE:
            if block != 0:
                if tgt == block:
                    tgt = 0
                else:
                    block = 0
            if pending is None and not forced and tgt * size - pos != 0.0:
                pending = (tgt * size - pos, t + lat, E.R_HOURS if outside else E.R_SIGNAL)
        if raw == E.TARGET_NONE:
            if outside:
                quotes[0] = quotes[1] = math.nan
            for side in (0, 1):
                if requests[side] is not None:
                    continue
                want, live = quotes[side], resting[side]
                if not (want == live or (math.isnan(want) and math.isnan(live))):
                    requests[side] = (want, t + lat)
        last_ts = t
    if last_ts is None:
        raise ValueError("no ticks")
    if book.pos != 0.0:
        q = -book.pos
        px = float(ask[-1]) + slip if q > 0 else float(bid[-1]) - slip
        book.fill(q, px, _fee(abs(q), px, ep[E.P_TAKER_UNIT], ep[E.P_TAKER_FRAC]), float(last_ts), E.R_END)
    equity = book.cash
    peak = max(peak, equity)
    if peak - equity > 0.0:
        maxdd = max(maxdd, peak - equity)
        maxddf = max(maxddf, (peak - equity) / peak)
    marks.append((last_ts, equity, 0.0, 0))
    marks.append(((last_ts // E.DAY_MS) * E.DAY_MS + E.DAY_MS, equity, 0.0, 1))
    trades = np.array([tuple(tr) for tr in book.trades], dtype=E.TRADE_DTYPE)
    return {
        "trades": trades,
        "marks": np.array(marks, dtype=E.MARK_DTYPE),
        "equity": equity,
        "max_dd": maxdd,
        "max_dd_frac": maxddf,
        "in_market_ms": in_market,
        "fees": book.fees,
    }


def _in_hours(t: int, start: int, end: int) -> bool:
    tod = t % E.DAY_MS
    return start <= tod < end if start <= end else (tod >= start or tod < end)
