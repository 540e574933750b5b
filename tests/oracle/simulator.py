"""An event simulator of `hft run` written from the README, for checking the compiled kernels.

It reads a RAW run config (the YAML-level mapping: `execution` keys as in `hft.backtest.config`,
strategy parameters as a user writes them) and plays the ticks one by one in plain Python. It
imports nothing from `hft`: prices, fees, stops, hours and drawdowns follow the rules below, so a
kernel that drifts from them disagrees with this file.

Documented rules (README "Backtests (hft run)" and "Metrics"):
- Market orders buy at the ask and sell at the bid, plus `slippage` against the order. An order
  decided on tick i fills at the first tick with ts >= ts[i] + latency_ms, never on tick i.
- Commission per unit and / or in bps of notional: `taker_*` on market fills, `maker_*` on limit
  fills (negative = rebate): fee = qty * per_unit + qty * price * bps / 10_000.
- Stop-loss, take-profit (price units from the entry price) and max holding time (`max_hold_s`)
  are checked on every tick against the side the position would exit on (bid for a long, ask for a
  short): a long stops when bid <= entry - stop_loss and takes profit when bid >= entry +
  take_profit; a short stops when ask >= entry + stop_loss, takes profit when ask <= entry -
  take_profit; max hold fires once ts - entry time >= max_hold_s. A hit sends a closing market
  order (same latency and prices as any market order).
- `trading_hours` {start, end} (UTC, start inclusive, end exclusive, may wrap midnight): outside
  them the target is flat (a closing order is tagged `hours`) and no quotes rest.
- Flat at the end of the data: an open position closes at the last tick's quotes as a market order
  (slippage, taker fee), tagged `end`; orders still in flight are dropped.
- Limit orders fill when the opposite quote touches their price (a buy when ask <= price -
  fill_through, a sell when bid >= price + fill_through), at the limit price. `max_inventory`
  (units) rejects a limit fill that would take |position| above it (the order is used up).
- One market order in flight.

Rules the README leaves implicit, as the kernels implement them (reported to the lead so the README
can state them):
- Order of work on a tick: the in-flight market order fills (if due); limit requests that have
  arrived replace the resting orders, then resting orders fill (buy side first); the position is
  marked to market at the exit side (bid for a long, ask for a short, cash when flat), updating the
  peak and drawdown; risk exits are checked (only when no market order is in flight); then the
  strategy sees the tick with the position after this tick's fills.
- While a market order is in flight a new target sends nothing; the strategy's target is compared
  again on later ticks (the built-ins return their target on every tick, so it is re-sent once the
  order has filled).
- A risk exit blocks re-entry on the side it closed: while the strategy keeps asking for that side
  the target counts as flat; any other target (flat, the other side, or flat outside trading hours)
  lifts the block.
- Quotes: for each side one request is in flight at a time; a quote that differs from the resting
  one (or from "none") is sent and replaces the resting order `latency_ms` later (at the first tick
  with ts >= decision + latency_ms, where it can also fill at once). A filled order leaves that
  side empty until a new quote arrives.
- Position bookkeeping is average-cost. A fill against the position closes first, writing one
  trade (qty closed, average entry price, exit price, gross PnL) whose fees are the closed share of
  the entry fees plus the closing share of this fill's fee; any remainder opens a new position at
  the fill price and time. Adding to a position keeps its entry time.
- Time in the market: the ms between consecutive ticks while a position was open over them.
- Drawdown: max over ticks (and the final flat equity) of peak - equity, and of (peak - equity) /
  peak, with the peak starting at `capital`.
- Daily closes: the equity marked at the last tick of each UTC day with ticks (the final flat
  equity for the last day); returns between consecutive closes, the first against `capital`.
- Equity samples (`sample_s`): the first tick of a new sampling period records the period's start
  with the equity and position as they stood before that tick (so a gap of several periods yields
  one sample); a day's close row, stamped 24:00 of that UTC day, comes just before it. The end adds
  a sample at the last tick with the final flat equity, then the last day's close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import time

from tests.oracle.strategies import QUOTES, make_strategy

__all__ = ["DAY_MS", "OracleResult", "Trade", "simulate", "oracle_metrics"]

DAY_MS = 86_400_000
REASONS = ("signal", "stop_loss", "take_profit", "max_hold", "hours", "end", "limit")


@dataclass
class Trade:
    entry_ts: int
    exit_ts: int
    side: int  # +1 long, -1 short
    qty: float
    entry_price: float
    exit_price: float
    pnl: float  # gross
    fees: float
    reason: str


@dataclass
class OracleResult:
    trades: list[Trade]
    final_equity: float
    fees: float
    max_dd: float
    max_dd_frac: float
    in_market_ms: int
    day_closes: list[tuple[int, float]]  # (24:00 of the UTC day in ms, closing equity)
    marks: list[tuple[int, float, float, int]]  # (ts, equity, position, 1 for a day close)
    first_ts: int
    last_ts: int
    capital: float


@dataclass
class _Book:
    cash: float
    pos: float = 0.0
    avg: float = 0.0
    entry_ts: int = 0
    entry_fees: float = 0.0
    fees: float = 0.0
    trades: list = field(default_factory=list)

    def fill(self, qty: float, price: float, fee: float, t: int, reason: str) -> None:
        self.fees += fee
        self.cash -= qty * price + fee
        if self.pos == 0.0 or (qty > 0) == (self.pos > 0):  # open or add
            held = abs(self.pos)
            if held == 0.0:
                self.avg, self.entry_ts, self.entry_fees = price, t, fee
            else:
                self.avg = (self.avg * held + price * abs(qty)) / (held + abs(qty))
                self.entry_fees += fee
            self.pos += qty
            return
        side = 1 if self.pos > 0 else -1
        held, q = abs(self.pos), abs(qty)
        closed = min(held, q)
        entry_share = self.entry_fees * closed / held
        exit_share = fee * closed / q
        pnl = (price - self.avg) * closed * side
        self.trades.append(
            Trade(self.entry_ts, t, side, closed, self.avg, price, pnl, entry_share + exit_share, reason)
        )
        self.pos += qty
        if q > held:  # reversal: the rest opens at this fill
            self.avg, self.entry_ts, self.entry_fees = price, t, fee - exit_share
        elif q == held:
            self.pos, self.avg, self.entry_ts, self.entry_fees = 0.0, 0.0, 0, 0.0
        else:
            self.entry_fees -= entry_share


def _ms_of_day(v) -> int:
    if isinstance(v, str):
        v = time.fromisoformat(v)
    return ((v.hour * 60 + v.minute) * 60 + v.second) * 1000 + v.microsecond // 1000


def _in_hours(t: int, start: int, end: int) -> bool:
    tod = t % DAY_MS
    return start <= tod < end if start < end else (tod >= start or tod < end)


def _fee(qty: float, price: float, per_unit: float, bps: float) -> float:
    return qty * per_unit + qty * price * bps / 10_000


def simulate(raw: dict, ts, bid, ask) -> OracleResult:
    """Play ticks (ms timestamps, bids, asks) under raw config `raw` (see the module docstring)."""
    ex = raw["execution"]
    size = float(ex["size"])
    capital = float(ex.get("capital", 100_000.0))
    latency = ex.get("latency_ms", 0)
    slip = ex.get("slippage", 0.0)
    taker = (ex.get("taker_per_unit", 0.0), ex.get("taker_bps", 0.0))
    maker = (ex.get("maker_per_unit", 0.0), ex.get("maker_bps", 0.0))
    stop, take = ex.get("stop_loss"), ex.get("take_profit")
    max_hold_ms = ex["max_hold_s"] * 1000 if ex.get("max_hold_s") else None
    through = ex.get("fill_through", 0.0)
    sample_ms = int(ex.get("sample_s", 60)) * 1000
    max_inv = ex.get("max_inventory")
    hours = ex.get("trading_hours")
    if hours is not None:
        h_start, h_end = _ms_of_day(hours["start"]), _ms_of_day(hours["end"]) or DAY_MS
    strat = make_strategy(raw["strategy"]["name"], raw["strategy"].get("params", {}), size)

    book = _Book(cash=capital)
    peak = capital
    max_dd = max_dd_frac = 0.0
    order = None  # the one market order in flight: (qty, due ts, reason)
    block = 0  # side a risk exit closed, until the strategy asks for something else
    resting = {"buy": None, "sell": None}  # live limit prices
    requests = {"buy": None, "sell": None}  # in flight: (price or None, due ts)
    in_market = 0
    day_closes: list[tuple[int, float]] = []
    marks: list[tuple[int, float, float, int]] = []
    equity = capital
    prev_t = None

    def mark(eq: float) -> None:
        nonlocal peak, max_dd, max_dd_frac
        peak = max(peak, eq)
        max_dd = max(max_dd, peak - eq)
        max_dd_frac = max(max_dd_frac, (peak - eq) / peak)

    for t, b, a in zip(ts, bid, ask, strict=True):
        t, b, a = int(t), float(b), float(a)
        if prev_t is not None:
            if t // DAY_MS != prev_t // DAY_MS:
                day_closes.append(((prev_t // DAY_MS + 1) * DAY_MS, equity))
                marks.append((*day_closes[-1], book.pos, 1))
            if t // sample_ms != prev_t // sample_ms:
                marks.append((t // sample_ms * sample_ms, equity, book.pos, 0))
            if book.pos != 0.0:
                in_market += t - prev_t
        # the in-flight market order
        if order is not None and t >= order[1]:
            qty, _, reason = order
            price = a + slip if qty > 0 else b - slip
            book.fill(qty, price, _fee(abs(qty), price, *taker), t, reason)
            order = None
        # limit orders: arrivals, then touches
        for side in ("buy", "sell"):
            req = requests[side]
            if req is not None and t >= req[1]:
                resting[side] = req[0]
                requests[side] = None
        for side, sign in (("buy", 1.0), ("sell", -1.0)):
            price = resting[side]
            if price is None:
                continue
            if (side == "buy" and a <= price - through) or (side == "sell" and b >= price + through):
                resting[side] = None
                if not max_inv or abs(book.pos + sign * size) <= max_inv:
                    book.fill(sign * size, price, _fee(size, price, *maker), t, "limit")
        # mark to market at the exit side
        pos = book.pos
        equity = book.cash + pos * (b if pos > 0 else a) if pos != 0.0 else book.cash
        mark(equity)
        # risk exits
        if pos != 0.0 and order is None:
            exit_px = b if pos > 0 else a
            entry, long_ = book.avg, pos > 0
            reason = None
            if stop and ((long_ and exit_px <= entry - stop) or (not long_ and exit_px >= entry + stop)):
                reason = "stop_loss"
            elif take and ((long_ and exit_px >= entry + take) or (not long_ and exit_px <= entry - take)):
                reason = "take_profit"
            elif max_hold_ms and t - book.entry_ts >= max_hold_ms:
                reason = "max_hold"
            if reason:
                order = (-pos, t + latency, reason)
                block = 1 if long_ else -1
        # the strategy
        out = hours is not None and not _in_hours(t, h_start, h_end)
        decision = strat(t, b, a, pos)
        quoting = isinstance(decision, tuple) and decision[0] == QUOTES
        if not quoting or out:
            target = 0 if out else decision
            if block:
                if target == block:
                    target = 0
                else:
                    block = 0
            if order is None and target * size != pos:
                order = (target * size - pos, t + latency, "hours" if out else "signal")
        if quoting:
            wants = {"buy": None, "sell": None} if out else {"buy": decision[1], "sell": decision[2]}
            for side in ("buy", "sell"):
                if requests[side] is None and wants[side] != resting[side]:
                    requests[side] = (wants[side], t + latency)
        prev_t = t
    if prev_t is None:
        raise ValueError("no ticks")
    if book.pos != 0.0:
        qty = -book.pos
        price = float(ask[-1]) + slip if qty > 0 else float(bid[-1]) - slip
        book.fill(qty, price, _fee(abs(qty), price, *taker), prev_t, "end")
    equity = book.cash
    mark(equity)
    day_closes.append(((prev_t // DAY_MS + 1) * DAY_MS, equity))
    marks += [(prev_t, equity, 0.0, 0), (*day_closes[-1], 0.0, 1)]
    return OracleResult(
        trades=book.trades,
        final_equity=equity,
        fees=book.fees,
        max_dd=max_dd,
        max_dd_frac=max_dd_frac,
        in_market_ms=in_market,
        day_closes=day_closes,
        marks=marks,
        first_ts=int(ts[0]),
        last_ts=prev_t,
        capital=capital,
    )


def oracle_metrics(res: OracleResult) -> dict:
    """README "Metrics" from the oracle's records, with the statistics module (not NumPy)."""
    import statistics

    closes = [eq for _, eq in res.day_closes]
    prev = [res.capital, *closes[:-1]]
    r = [c / p - 1.0 for c, p in zip(closes, prev, strict=True)]
    net = [tr.pnl - tr.fees for tr in res.trades]
    n = len(net)
    sharpe = sortino = None
    if len(r) >= 2:
        sd = statistics.stdev(r)
        if sd > 0:
            sharpe = statistics.fmean(r) / sd * math.sqrt(252)
        down = math.sqrt(statistics.fmean(min(x, 0.0) ** 2 for x in r))
        if down > 0:
            sortino = statistics.fmean(r) / down * math.sqrt(252)
    total = (res.final_equity - res.capital) / res.capital
    calmar = None
    if res.max_dd_frac > 0 and 1 + total > 0:
        calmar = ((1 + total) ** (252 / len(r)) - 1) / res.max_dd_frac
    wins = sum(x for x in net if x > 0)
    losses = -sum(x for x in net if x < 0)
    span = res.last_ts - res.first_ts
    return {
        "net_pnl": res.final_equity - res.capital,
        "total_return": total,
        "final_equity": res.final_equity,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": res.max_dd,
        "max_drawdown_frac": res.max_dd_frac,
        "calmar": calmar,
        "trades": n,
        "win_rate": sum(x > 0 for x in net) / n if n else None,
        "profit_factor": wins / losses if losses > 0 else None,
        "avg_trade": statistics.fmean(net) if n else None,
        "median_trade": statistics.median(net) if n else None,
        "avg_holding_s": statistics.fmean((tr.exit_ts - tr.entry_ts) / 1000 for tr in res.trades)
        if n
        else None,
        "exposure": res.in_market_ms / span if span > 0 else 0.0,
        "fees": res.fees,
        "days": len(r),
        "ticks": None,
    }
