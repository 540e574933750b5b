"""Execution rules on hand-built ticks where every fill price and fee is computed by hand."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from hft.engine import BUILTINS, EXIT_REASONS, Run, exec_params
from hft.engine import strategies as S
from hft.engine.enums import A_FEES, A_IN_MARKET_MS, A_MAX_DD, R_END, R_MAX_HOLD, R_SIGNAL, R_STOP_LOSS
from hft.errors import DataError, EngineError
from tests.engine.engine_helpers import SCRIPTED

T0 = 1_549_324_800_000  # 2019-02-05 00:00 UTC


def run_scripted(targets, ts, bid, ask, **ex):
    run = Run(SCRIPTED, np.array(targets, dtype=float), exec_params(**ex))
    run.feed(np.array(ts, dtype=np.int64), np.array(bid, dtype=float), np.array(ask, dtype=float))
    return run.finish()


def test_no_look_ahead_fill_is_at_a_later_tick_after_latency():
    # Donchian(3) signals long on tick 3 (mid breaks the flat band); the price jumps on tick 4.
    ts = T0 + np.array([0, 10, 20, 30, 40, 90, 200])
    bid = np.array([1.0, 1.0, 1.0, 1.001, 1.2, 1.3, 1.3])
    ask = bid + 0.0002
    for latency, want_ask in [(0, 1.2002), (10, 1.2002), (11, 1.3002), (60, 1.3002), (61, 1.3002)]:
        run = Run(BUILTINS["donchian"], S.donchian_params(3), exec_params(latency_ms=latency))
        run.feed(ts, bid, ask)
        res = run.finish()
        tr = res.trades[0]
        assert tr["side"] == 1
        assert tr["entry_price"] == want_ask, latency  # never tick 3's ask 1.0012
        # exactly the first tick at or after decision + latency, and never the deciding tick
        first = int(np.searchsorted(ts, ts[3] + latency, side="left"))
        want_ts = ts[max(first, 4)]
        assert tr["entry_ts"] == want_ts, latency
        assert tr["entry_ts"] == {0: ts[4], 10: ts[4], 11: ts[5], 60: ts[5], 61: ts[6]}[latency]


def test_fractional_latency_fills_at_the_first_tick_at_or_after_the_real_due_time():
    # three ticks in one millisecond, then +1 ms, +50 ms; the scripted long is decided on tick 0
    ts = T0 + np.array([0, 0, 0, 1, 49, 50, 51])
    ask = 1.0 + np.arange(7) * 0.001  # each tick's ask tells which tick filled
    bid = ask - 0.0002
    for latency, fill in [(0, 1), (0.5, 3), (1, 3), (1.0000001, 4), (49, 4), (49.5, 5), (50, 5), (50.25, 6)]:
        res = run_scripted([1] * 7, ts, bid, ask, latency_ms=latency)
        tr = res.trades[0]
        assert tr["entry_ts"] == ts[fill] and tr["entry_price"] == ask[fill], latency
        assert tr["entry_ts"] >= ts[0] + latency


def test_max_hold_below_one_millisecond_still_exits():
    ts = T0 + np.array([0, 0, 0, 1, 2, 3])
    bid = np.full(6, 1.0)
    # long from tick 1 (ts 0): a 0.5 ms hold expires at ts 1 (tick 3); the exit order fills on tick 4
    res = run_scripted([1] * 6, ts, bid, bid + 0.0001, max_hold_ms=0.5)
    assert res.trades["reason"][0] == R_MAX_HOLD and res.trades["exit_ts"][0] == ts[4]
    res = run_scripted([1] * 6, ts, bid, bid + 0.0001, max_hold_ms=1.5)  # expires at ts 2: tick 4
    assert res.trades["reason"][0] == R_MAX_HOLD and res.trades["exit_ts"][0] == ts[5]


def test_fill_prices_fees_and_flat_at_end_by_hand():
    ts = T0 + np.arange(6) * 1000
    bid = [1.0000, 1.0010, 1.0020, 1.0030, 1.0040, 1.0050]
    ask = [1.0002, 1.0012, 1.0022, 1.0032, 1.0042, 1.0052]
    # long on tick 0 -> fills tick 1; short on tick 2 -> reverse at tick 3; still short at the end.
    res = run_scripted(
        [1, 1, -1, -1, -1, -1], ts, bid, ask, size=1000, slippage=0.0001, taker_per_unit=0.01, taker_bps=1.0
    )
    tr = res.trades
    assert len(tr) == 2
    buy1 = 1.0012 + 0.0001
    sell = 1.0030 - 0.0001
    buy_end = 1.0052 + 0.0001
    fee = lambda q, px: q * (0.01 + px * 1e-4)  # noqa: E731
    assert tr["entry_price"][0] == pytest.approx(buy1, abs=1e-15)
    assert tr["exit_price"][0] == pytest.approx(sell, abs=1e-15)
    assert tr["pnl"][0] == pytest.approx((sell - buy1) * 1000, rel=1e-12)
    assert tr["fees"][0] == pytest.approx(fee(1000, buy1) + fee(1000, sell), rel=1e-12)
    assert tr["side"][1] == -1 and tr["reason"][1] == R_END and tr["reason"][0] == R_SIGNAL
    assert tr["exit_price"][1] == pytest.approx(buy_end, abs=1e-15)
    assert tr["pnl"][1] == pytest.approx((sell - buy_end) * 1000, rel=1e-12)
    total_fees = fee(1000, buy1) + fee(2000, sell) + fee(1000, buy_end)
    assert res.acct[A_FEES] == pytest.approx(total_fees, rel=1e-12)
    net = (sell - buy1) * 1000 + (sell - buy_end) * 1000 - total_fees
    assert res.final_equity == pytest.approx(100_000 + net, rel=1e-12)
    assert res.acct[A_IN_MARKET_MS] == 4000  # long 1s->3s, short 3s->5s


def test_stop_loss_checks_the_exit_side_and_blocks_reentry():
    ts = T0 + np.arange(7) * 1000
    bid = [1.0, 1.0, 0.9995, 0.9990, 0.9990, 0.9990, 0.9990]
    ask = [b + 0.0004 for b in bid]
    # entry at ask 1.0004; stop 0.00085 -> long exits when bid <= 0.99955 (tick 2, bid side only)
    res = run_scripted([1] * 7, ts, bid, ask, size=1, stop_loss=0.00085)
    assert len(res.trades) == 1, "a stopped position must not re-enter while the signal is unchanged"
    tr = res.trades[0]
    assert tr["reason"] == R_STOP_LOSS
    assert tr["exit_ts"] == ts[3] and tr["exit_price"] == 0.9990
    assert res.acct[A_MAX_DD] == pytest.approx(1.0004 - 0.9990, abs=1e-9)  # cash carries 1e5


def test_max_hold_and_trading_hours():
    ts = T0 + np.array([0, 1000, 2000, 5000, 6000, 7000])
    bid = np.full(6, 1.0)
    res = run_scripted([1, 0, 0, 0, 0, 0], ts, bid, bid + 0.0001, max_hold_ms=3000)
    assert [EXIT_REASONS[r] for r in res.trades["reason"]] == ["signal"]  # target 0 on tick 1 closes
    res = run_scripted([1] * 6, ts, bid, bid + 0.0001, max_hold_ms=3000)
    assert res.trades["reason"][0] == R_MAX_HOLD and res.trades["exit_ts"][0] == ts[4]
    # window 00:00:00-00:00:03: entries before 3 s, forced flat from tick 5 s on
    res = run_scripted([1] * 6, ts, bid, bid + 0.0001, hours=(0, 3000))
    assert EXIT_REASONS[res.trades["reason"][0]] == "hours" and res.trades["exit_ts"][0] == ts[4]


def test_limit_orders_touch_versus_trade_through_and_maker_fees():
    ts = T0 + np.arange(6) * 100
    bid = np.array([1.0010, 1.0010, 1.00059, 1.0004, 1.0004, 1.0004])
    ask = np.array([1.0012, 1.0012, 1.00079, 1.0006, 1.0006, 1.0006])
    sp = S.market_maker_params(0.00025, 0.0, 1, 0.0001, 10)
    quote = math.floor((1.0011 - 0.00025) / 0.0001) * 0.0001  # decided on tick 0, live on tick 2
    assert abs(quote - 1.0008) < 1e-12
    for through, fill_ts in [(0.0, ts[2]), (0.00015, ts[3])]:
        ep = exec_params(
            size=10, latency_ms=150, maker_per_unit=-0.001, fill_through=through, max_inventory=10
        )
        run = Run(BUILTINS["market_maker"], sp, ep)
        run.feed(ts, bid, ask)
        res = run.finish()
        assert len(res.trades) == 1  # one lot of inventory allowed: no second buy
        tr = res.trades[0]
        assert tr["entry_ts"] == fill_ts and tr["entry_price"] == quote
        assert tr["reason"] == R_END and tr["exit_price"] == 1.0004
        assert tr["fees"] == pytest.approx(10 * -0.001, abs=1e-15)  # maker rebate; zero taker fee


@pytest.mark.parametrize(
    ("bid", "problem"),
    [(np.nan, "NaN"), (1.1, "crossed"), (-1.0, "not positive")],
)
def test_bad_ticks_are_rejected_with_the_tick_named(bid, problem):
    run = Run(BUILTINS["ema_cross"], S.ema_cross_params(2, 5), exec_params())
    with pytest.raises(DataError, match=f"tick 1 .*{problem}"):
        run.feed(np.array([T0, T0 + 1]), np.array([1.0, bid]), np.array([1.0001, 1.0001]), where="EURUSD day")
    with pytest.raises(DataError, match="backwards"):
        run.feed(np.array([T0, T0 - 1]), np.array([1.0, 1.0]), np.array([1.0001, 1.0001]))


def test_empty_run_is_an_engine_error():
    run = Run(BUILTINS["ema_cross"], S.ema_cross_params(2, 5), exec_params())
    run.feed(np.array([], dtype=np.int64), np.array([]), np.array([]))
    with pytest.raises(EngineError, match="no ticks"):
        run.finish()


def test_importing_engine_loads_no_heavy_modules():
    code = (
        "import sys, hft.engine\n"
        "heavy = ('ray', 'optuna', 'fsspec', 'polars', 'pyarrow', 'pydantic')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
