"""Every execution rule of the README on a few ticks, with the numbers worked out by hand.

Each case runs the compiled kernel (through the real config path) and the README oracle; `both`
asserts they agree, then the hand-computed figures are asserted on the kernel's records. The
scripted strategy returns `targets[n]` on its n-th tick (the last one repeats). Ticks are 1 s
apart from T0 = 2019-02-05 00:00 UTC unless a case says otherwise; size 10 units; capital 100,000.
"""

from __future__ import annotations

import pytest

from hft.engine import EXIT_REASONS
from hft.engine.enums import A_FEES
from tests.oracle.harness import T0, both


def scripted(targets, **ex) -> dict:
    return {"strategy": {"name": "scripted", "params": {"targets": targets}}, "execution": {"size": 10, **ex}}


def secs(*s):
    return [T0 + int(1000 * x) for x in s]


def rows(res):
    return [
        (int(r["entry_ts"]) - T0, int(r["exit_ts"]) - T0, int(r["side"]), EXIT_REASONS[int(r["reason"])])
        for r in res.trades
    ]


def test_take_profit_on_a_long_is_checked_at_the_bid():
    # long decided on tick 0, fills on tick 1 at ask 1.0002; take-profit 0.0005 -> bid >= 1.0007.
    # tick 2: ask 1.0008 is above the level but the bid 1.0006 is not: no exit (exit side = bid).
    # tick 3: bid 1.0007 == level (inclusive) -> closing order; it fills on tick 4 at bid 1.0009.
    ts = secs(0, 1, 2, 3, 4, 5)
    bid = [1.0000, 1.0000, 1.0006, 1.0007, 1.0009, 1.0020]
    ask = [1.0002, 1.0002, 1.0008, 1.0008, 1.0010, 1.0021]
    got, _ = both(scripted([1], take_profit=0.0005), ts, bid, ask)
    assert rows(got) == [(1000, 4000, 1, "take_profit")]  # no re-entry: the target is still long
    tr = got.trades[0]
    assert tr["entry_price"] == 1.0002 and tr["exit_price"] == 1.0009
    assert tr["pnl"] == pytest.approx((1.0009 - 1.0002) * 10, abs=1e-12)  # 0.007
    assert got.final_equity == pytest.approx(100_000 + 0.007, abs=1e-9)


def test_take_profit_on_a_short_is_checked_at_the_ask():
    # short fills on tick 1 at bid 1.0000; take-profit 0.0005 -> ask <= 0.9995.
    # tick 2: bid 0.9993 is below the level, ask 0.9996 is not: no exit.
    # tick 3: ask 0.9995 (inclusive) -> closing buy fills on tick 4 at ask 0.9994.
    ts = secs(0, 1, 2, 3, 4, 5)
    bid = [1.0000, 1.0000, 0.9993, 0.9993, 0.9992, 0.9980]
    ask = [1.0002, 1.0002, 0.9996, 0.9995, 0.9994, 0.9982]
    got, _ = both(scripted([-1], take_profit=0.0005), ts, bid, ask)
    assert rows(got) == [(1000, 4000, -1, "take_profit")]
    tr = got.trades[0]
    assert tr["entry_price"] == 1.0000 and tr["exit_price"] == 0.9994
    assert tr["pnl"] == pytest.approx((1.0000 - 0.9994) * 10, abs=1e-12)  # 0.006


def test_stop_loss_on_a_long_is_checked_at_the_bid_and_blocks_reentry():
    # long at ask 1.0002 (tick 1); stop 0.0004 -> bid <= 0.9998.
    # tick 2: bid 0.9998 == level (the ask 1.0001 is far above it): stop fires; the exit sells on
    # tick 3 at bid 0.9990. The target stays long but a stopped side is not re-entered.
    ts = secs(0, 1, 2, 3, 4, 5)
    bid = [1.0000, 1.0000, 0.9998, 0.9990, 0.9990, 0.9990]
    ask = [1.0002, 1.0002, 1.0001, 0.9992, 0.9992, 0.9992]
    got, _ = both(scripted([1], stop_loss=0.0004), ts, bid, ask)
    assert rows(got) == [(1000, 3000, 1, "stop_loss")]
    assert got.trades[0]["exit_price"] == 0.9990
    assert got.trades[0]["pnl"] == pytest.approx((0.9990 - 1.0002) * 10, abs=1e-12)  # -0.012


def test_stop_loss_on_a_short_is_checked_at_the_ask():
    # short at bid 1.0000 (tick 1); stop 0.0004 -> ask >= 1.0004.
    # tick 2: bid 1.0001, ask 1.0003: mid 1.0002, nothing. tick 3: ask 1.0004 == level: stop; the
    # closing buy fills on tick 4 at ask 1.0010. A long exit side (bid 1.0001) would never fire.
    ts = secs(0, 1, 2, 3, 4, 5)
    bid = [1.0000, 1.0000, 1.0001, 1.0001, 1.0008, 1.0008]
    ask = [1.0002, 1.0002, 1.0003, 1.0004, 1.0010, 1.0010]
    got, _ = both(scripted([-1], stop_loss=0.0004), ts, bid, ask)
    assert rows(got) == [(1000, 4000, -1, "stop_loss")]
    assert got.trades[0]["exit_price"] == 1.0010
    assert got.trades[0]["pnl"] == pytest.approx((1.0000 - 1.0010) * 10, abs=1e-12)  # -0.010


def test_a_new_target_lifts_the_block_after_a_stop():
    # as the long stop above, then the script asks for flat on tick 4 and long again on tick 5:
    # the block is lifted by the flat target, the long order fills on tick 6 at ask 0.9992.
    ts = secs(0, 1, 2, 3, 4, 5, 6)
    bid = [1.0000, 1.0000, 0.9998, 0.9990, 0.9990, 0.9990, 0.9990]
    ask = [1.0002, 1.0002, 1.0001, 0.9992, 0.9992, 0.9992, 0.9992]
    got, _ = both(scripted([1, 1, 1, 1, 0, 1], stop_loss=0.0004), ts, bid, ask)
    assert rows(got) == [(1000, 3000, 1, "stop_loss"), (6000, 6000, 1, "end")]
    assert got.trades[1]["entry_price"] == 0.9992 and got.trades[1]["exit_price"] == 0.9990


def test_taker_fees_per_unit_and_in_bps_with_slippage():
    # long decided on tick 0 fills on tick 1 at ask 1.0012 + slippage 0.0001 = 1.0013;
    # flat decided on tick 2 fills on tick 3 at bid 1.0030 - 0.0001 = 1.0029.
    # fee = qty * 0.01 + qty * price * 1.0 / 10_000: entry 0.1 + 0.0010013 = 0.1010013,
    # exit 0.1 + 0.0010029 = 0.1010029; trade fees 0.2020042; PnL (1.0029 - 1.0013) * 10 = 0.016.
    ts = secs(0, 1, 2, 3, 4)
    bid = [1.0000, 1.0010, 1.0020, 1.0030, 1.0040]
    ask = [1.0002, 1.0012, 1.0022, 1.0032, 1.0042]
    got, _ = both(scripted([1, 1, 0], slippage=0.0001, taker_per_unit=0.01, taker_bps=1.0), ts, bid, ask)
    assert rows(got) == [(1000, 3000, 1, "signal")]
    tr = got.trades[0]
    assert tr["entry_price"] == pytest.approx(1.0013, abs=1e-15)
    assert tr["exit_price"] == pytest.approx(1.0029, abs=1e-15)
    assert tr["fees"] == pytest.approx(0.2020042, abs=1e-12)
    assert got.acct[A_FEES] == pytest.approx(0.2020042, abs=1e-12)
    assert got.final_equity == pytest.approx(100_000 + 0.016 - 0.2020042, abs=1e-9)


def _mm(maker_per_unit=0.0, maker_bps=0.0, fill_through=0.0, taker_bps=0.0) -> dict:
    # quotes around mid: buy floor((mid - 0.00025) / 0.0001) * 0.0001, sell ceil((mid + 0.00025) /
    # 0.0001) * 0.0001; one lot at most each way; a request arrives 150 ms after it was decided.
    return {
        "strategy": {
            "name": "market_maker",
            "params": {"half_spread": 0.00025, "skew_per_lot": 0.0, "max_lots": 1, "tick": 0.0001},
        },
        "execution": {
            "size": 10,
            "latency_ms": 150,
            "maker_per_unit": maker_per_unit,
            "maker_bps": maker_bps,
            "taker_bps": taker_bps,
            "fill_through": fill_through,
        },
    }


# ticks 100 ms apart. Tick 0 mid 1.0011 -> quotes buy 1.0008 / sell 1.0014, live from tick 2 (200 ms
# >= 0 + 150). The price rises: the sell side is touched by the bid; the buy quote is never reached.
SELL_TS = [T0 + 100 * k for k in range(6)]
SELL_BID = [1.0010, 1.0010, 1.0014, 1.0016, 1.0016, 1.0016]
SELL_ASK = [1.0012, 1.0012, 1.0016, 1.0018, 1.0018, 1.0018]


def test_sell_limit_fills_on_touch_at_its_price_with_a_per_unit_rebate():
    # tick 2: bid 1.0014 touches the 1.0014 sell: short 10 at 1.0014, maker fee 10 * -0.001 = -0.01.
    # Flat at the end: buy at the last ask 1.0018 (no taker fee): PnL (1.0014 - 1.0018) * 10.
    got, _ = both(_mm(maker_per_unit=-0.001), SELL_TS, SELL_BID, SELL_ASK)
    assert rows(got) == [(200, 500, -1, "end")]
    tr = got.trades[0]
    assert tr["entry_price"] == pytest.approx(1.0014, abs=1e-12)
    assert tr["exit_price"] == 1.0018
    assert tr["fees"] == pytest.approx(-0.01, abs=1e-15)
    assert got.final_equity == pytest.approx(100_000 - 0.004 + 0.01, abs=1e-9)


def test_sell_limit_waits_for_fill_through_and_pays_maker_bps():
    # fill_through 0.00015: the sell needs bid >= 1.00155 -> not tick 2 (1.0014), tick 3 (1.0016),
    # still at the limit price 1.0014. Maker 2 bps: 10 * 1.0014 * 2 / 10_000 = 0.0020028; the end
    # buy at 1.0018 pays taker 1 bp: 10 * 1.0018 / 10_000 = 0.0010018.
    got, _ = both(_mm(maker_bps=2.0, fill_through=0.00015, taker_bps=1.0), SELL_TS, SELL_BID, SELL_ASK)
    assert rows(got) == [(300, 500, -1, "end")]
    tr = got.trades[0]
    assert tr["entry_price"] == pytest.approx(1.0014, abs=1e-12)
    assert tr["fees"] == pytest.approx(0.0020028 + 0.0010018, abs=1e-12)


# The mirror image: the price falls, the ask touches the 1.0008 buy.
BUY_TS = SELL_TS
BUY_BID = [1.0010, 1.0010, 1.0006, 1.0004, 1.0004, 1.0004]
BUY_ASK = [1.0012, 1.0012, 1.0008, 1.0006, 1.0006, 1.0006]


def test_buy_limit_fills_on_touch_with_a_bps_rebate():
    # tick 2: ask 1.0008 <= 1.0008: long 10 at 1.0008; maker -0.5 bp: 10 * 1.0008 * -0.5 / 10_000
    # = -0.0005004. Flat at the end: sell at the last bid 1.0004, PnL (1.0004 - 1.0008) * 10.
    got, _ = both(_mm(maker_bps=-0.5), BUY_TS, BUY_BID, BUY_ASK)
    assert rows(got) == [(200, 500, 1, "end")]
    tr = got.trades[0]
    assert tr["entry_price"] == pytest.approx(1.0008, abs=1e-12)
    assert tr["pnl"] == pytest.approx(-0.004, abs=1e-12)
    assert tr["fees"] == pytest.approx(-0.0005004, abs=1e-12)


def test_buy_limit_waits_for_fill_through():
    # fill_through 0.00015: the buy needs ask <= 1.00065 -> tick 3 (1.0006), at 1.0008.
    got, _ = both(_mm(fill_through=0.00015), BUY_TS, BUY_BID, BUY_ASK)
    assert rows(got) == [(300, 500, 1, "end")]
    assert got.trades[0]["entry_price"] == pytest.approx(1.0008, abs=1e-12)


def test_max_hold_fires_when_the_holding_time_is_reached():
    # long fills on tick 1 (t = 1 s); max hold 3 s -> fires at the first tick with t - 1 s >= 3 s:
    # not 3.999 s, but 4 s; the closing order fills on the next tick (5 s) at bid 1.0003.
    ts = secs(0, 1, 2, 3.999, 4, 5, 6)
    bid = [1.0, 1.0, 1.0001, 1.0002, 1.0002, 1.0003, 1.0003]
    ask = [b + 0.0001 for b in bid]
    got, _ = both(scripted([1], max_hold_s=3), ts, bid, ask)
    assert rows(got) == [(1000, 5000, 1, "max_hold")]
    assert got.trades[0]["exit_price"] == 1.0003


def test_trading_hours_close_at_the_window_end_and_keep_out_before_it_opens():
    # window 00:00:02-00:00:04 (end exclusive). Tick 0 (0 s) is outside: no order. Tick 2 (2 s) is
    # inside: long, fills on tick 3 at ask 1.0001. Tick 4 (4 s) is outside again: flat, tagged hours,
    # fills on tick 5 at bid 1.0.
    ts = secs(0, 1, 2, 3, 4, 5, 6)
    bid = [1.0] * 7
    ask = [1.0001] * 7
    raw = scripted([1], trading_hours={"start": "00:00:02", "end": "00:00:04"})
    got, _ = both(raw, ts, bid, ask)
    assert rows(got) == [(3000, 5000, 1, "hours")]


def test_one_market_order_in_flight():
    # latency 1.5 s. Tick 0: long sent (due 1.5 s). Tick 1: the script wants flat, but an order is in
    # flight: nothing is sent (not a replacement, not a queue). Tick 2: the long fills at ask 1.0003;
    # the script still wants flat -> sell sent, due 3.5 s, fills on tick 4 at bid 1.0004.
    ts = secs(0, 1, 2, 3, 4, 5)
    bid = [1.0000, 1.0001, 1.0002, 1.0003, 1.0004, 1.0005]
    ask = [b + 0.0001 for b in bid]
    got, _ = both(scripted([1, 0], latency_ms=1500), ts, bid, ask)
    assert rows(got) == [(2000, 4000, 1, "signal")]
    assert got.trades[0]["entry_price"] == 1.0003 and got.trades[0]["exit_price"] == 1.0004
    # the same with a reversal wanted on tick 1: still nothing sent while the long is in flight;
    # from tick 2 (long filled) the script wants short: sell 20 units, due 3.5 s, fills on tick 4 at
    # bid 1.0004; the short is flattened at the end (5 s) at ask 1.0006.
    got, _ = both(scripted([1, -1], latency_ms=1500), ts, bid, ask)
    assert rows(got) == [(2000, 4000, 1, "signal"), (4000, 5000, -1, "end")]
    assert got.trades[1]["entry_price"] == 1.0004 and got.trades[1]["exit_price"] == 1.0006


@pytest.mark.parametrize(
    ("fill_at", "want_ts"),
    [(50, 50), (49, 60)],  # a tick at exactly decision + latency fills; one ms earlier does not
)
def test_latency_boundary(fill_at, want_ts):
    # long decided on tick 0 (0 ms) with latency 50 ms: fills at the first tick with ts >= 50 ms.
    ts = [T0, T0 + 10, T0 + fill_at, T0 + 60, T0 + 70]
    bid = [1.0, 1.1, 1.2, 1.3, 1.4]
    ask = [b + 0.01 for b in bid]
    got, _ = both(scripted([1], latency_ms=50), ts, bid, ask)
    assert int(got.trades[0]["entry_ts"]) == T0 + want_ts
    assert got.trades[0]["entry_price"] == ask[ts.index(T0 + want_ts)]


def test_zero_latency_never_fills_on_the_deciding_tick():
    ts = secs(0, 0, 1)  # two ticks at the same ms: the order fills on the second (ts >= 0 + 0)
    bid = [1.0, 1.1, 1.2]
    ask = [1.0001, 1.1001, 1.2001]
    got, _ = both(scripted([1], latency_ms=0), ts, bid, ask)
    assert int(got.trades[0]["entry_ts"]) == T0 and got.trades[0]["entry_price"] == 1.1001
