"""A plain-Python EMA cross written from the README's rules only: the expectation for engine tests,
sharing no code with hft.engine."""

from __future__ import annotations


def plain_ema_cross(ticks, fast, slow, size, latency_ms, slippage, fee_per_unit):
    """EMA cross written from the README and docs/config.md alone: mid = (bid + ask) / 2, EMAs seeded
    with the first mid, alpha = 2 / (span + 1); flat for the first `slow` - 1 ticks (warm-up), then long
    `size` while fast > slow, short while fast < slow (unchanged on a tie). A market order decided on tick
    i fills at the first tick with ts >= ts[i] + latency (never on i): buys at ask + slippage, sells at
    bid - slippage, fee per unit; one order in flight; flat at the last tick. Returns round trips
    (entry ts, exit ts, side, net pnl with the fees of both fills)."""
    ts, bid, ask = ticks["ts"].tolist(), ticks["bid"].tolist(), ticks["ask"].tolist()
    a_fast, a_slow = 2.0 / (fast + 1), 2.0 / (slow + 1)
    e_fast = e_slow = None
    side, pos, order, trips, opened = 0, 0, None, [], None

    def fill(i, qty):
        nonlocal pos, opened
        px = ask[i] + slippage if qty > 0 else bid[i] - slippage
        if pos:  # close the open leg (a flip closes, then opens)
            e_ts, e_px, e_side = opened
            pnl = e_side * (px - e_px) * size - 2 * size * fee_per_unit
            trips.append((e_ts, ts[i], e_side, pnl))
            opened = None
        pos += qty
        if pos:
            opened = (ts[i], px, 1 if pos > 0 else -1)

    for i in range(len(ts)):
        if order is not None and ts[i] >= order[0]:
            fill(i, order[1])
            order = None
        mid = (bid[i] + ask[i]) / 2
        e_fast = mid if e_fast is None else e_fast + a_fast * (mid - e_fast)
        e_slow = mid if e_slow is None else e_slow + a_slow * (mid - e_slow)
        if i + 1 >= slow:
            side = 1 if e_fast > e_slow else -1 if e_fast < e_slow else side
        if order is None and side * size != pos:
            order = (ts[i] + latency_ms, side * size - pos)
    if pos:
        fill(len(ts) - 1, -pos)
    return trips
