"""Named integer slots and record dtypes, so kernels see plain ints and every stage agrees on shapes.

All run state is a flat float64 vector `acct` (slots `A_*`) plus a strategy-owned float64 vector;
timestamps are epoch ms, exact in float64 up to 2**53.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TRADE_DTYPE",
    "MARK_DTYPE",
    "EXIT_REASONS",
    "TARGET_NONE",
    "DAY_MS",
]

DAY_MS = 86_400_000

#: Returned by a strategy that only quotes limit orders and never asks for a market position.
TARGET_NONE = 2

# --- exit reasons (trade records) -------------------------------------------------------------
R_SIGNAL = 0
R_STOP_LOSS = 1
R_TAKE_PROFIT = 2
R_MAX_HOLD = 3
R_HOURS = 4
R_END = 5
R_LIMIT = 6
EXIT_REASONS = ("signal", "stop_loss", "take_profit", "max_hold", "hours", "end", "limit")

# --- execution parameters: float64 vector `ep` -------------------------------------------------
P_SIZE = 0  # units per position step
P_LATENCY = 1  # ms from decision to arrival at the venue
P_SLIPPAGE = 2  # price units added to buys / taken from sells (market orders)
P_TAKER_UNIT = 3  # commission per unit, market orders
P_TAKER_FRAC = 4  # commission as a fraction of notional (bps / 1e4), market orders
P_MAKER_UNIT = 5  # same for limit fills
P_MAKER_FRAC = 6
P_STOP_LOSS = 7  # price units against the entry price; 0 = off
P_TAKE_PROFIT = 8  # price units in favour of the entry price; 0 = off
P_MAX_HOLD = 9  # ms; 0 = off
P_HOURS_ON = 10  # 1.0 when the trading-hours window applies
P_HOURS_START = 11  # ms after UTC midnight, inclusive
P_HOURS_END = 12  # ms after UTC midnight, exclusive (may wrap midnight)
P_CAPITAL = 13
P_FILL_THROUGH = 14  # price units the opposite quote must trade through a limit; 0 = on touch
P_MAX_INVENTORY = 15  # units; 0 = unlimited
P_SAMPLE_MS = 16  # equity-curve sampling interval (divides a day)
N_EXEC = 17

# --- account / order state: float64 vector `acct` ----------------------------------------------
A_CASH = 0
A_POS = 1
A_AVG = 2  # average entry price of the open position
A_ENTRY_TS = 3
A_ENTRY_FEES = 4  # entry fees not yet attributed to a closed trade
A_EQUITY = 5
A_PEAK = 6
A_MAX_DD = 7  # money
A_MAX_DD_FRAC = 8
A_LAST_TS = 9
A_NEXT_SAMPLE = 10
A_NEXT_DAY = 11
A_PEND_QTY = 12  # in-flight market order (0 = none)
A_PEND_DUE = 13
A_PEND_REASON = 14
A_BLOCK = 15  # target a forced exit blocks until the strategy changes its mind (NaN = none)
A_BUY_PX = 16  # resting limit buy price (NaN = none)
A_SELL_PX = 17
A_BUY_REQ = 18  # in-flight limit-buy request flag (1.0) with its price and due time
A_BUY_REQ_PX = 19
A_BUY_REQ_DUE = 20
A_SELL_REQ = 21
A_SELL_REQ_PX = 22
A_SELL_REQ_DUE = 23
A_N_TICKS = 24
A_IN_MARKET_MS = 25
A_FEES = 26
A_STARTED = 27  # 1.0 once the first tick was seen
A_N_TRADES = 28  # trade records written in this chunk call (reset by the caller when drained)
A_N_MARKS = 29
A_FINISHED = 30
A_N_FILLS = 31
A_LAST_BID = 32
A_LAST_ASK = 33
A_FIRST_TS = 34
N_ACCT = 35

# --- records -----------------------------------------------------------------------------------
TRADE_DTYPE = np.dtype(
    [
        ("entry_ts", "<i8"),
        ("exit_ts", "<i8"),
        ("side", "<i1"),
        ("qty", "<f8"),
        ("entry_price", "<f8"),
        ("exit_price", "<f8"),
        ("pnl", "<f8"),  # gross, before fees
        ("fees", "<f8"),  # entry share + exit share
        ("reason", "<i1"),
    ]
)

#: Equity samples, sorted by `ts`; a `day_close` row carries its UTC day's closing equity (marked at the
#: day's last tick) stamped at 24:00 of that day, i.e. the next day's 00:00, after every sample of the day.
MARK_DTYPE = np.dtype([("ts", "<i8"), ("equity", "<f8"), ("pos", "<f8"), ("day_close", "<i1")])

# --- record buffers: float64 rows, converted to the dtypes above at the edge ------------------
T_ENTRY_TS, T_EXIT_TS, T_SIDE, T_QTY, T_ENTRY_PX, T_EXIT_PX, T_PNL, T_FEES, T_REASON = range(9)
N_TCOLS = 9
M_TS, M_EQUITY, M_POS, M_DAY_CLOSE = range(4)
N_MCOLS = 4
#: Free rows a kernel needs before touching a tick (3 fills, 2 samples at most per tick).
T_ROOM = 3
M_ROOM = 2

# --- gates: float64 scratch `g`, derived from `acct` + `ep` by `events_nb.refresh_nb` ------------
# While no gate fires a tick needs only the strategy update and the mark to market; they live for
# one kernel call and are never persisted, so `acct` stays the whole state between chunks.
G_NEXT_EVT = 0  # first ts needing bookkeeping: sample, pending fill, hours change
G_BUY_TRIG = 1  # ask <= this fills the resting buy (-inf = none)
G_SELL_TRIG = 2  # bid >= this fills the resting sell (+inf = none)
G_LO = 3  # liquidation price <= this: stop-loss / take-profit, or the mark may move (events_nb)
G_HI = 4  # liquidation price >= this: the same on the other side
G_HOLD_DUE = 5  # ts at which max-hold fires
G_QUIET = 6  # a target the strategy can return without any order or block change
G_QUIET_ANY = 7  # 1.0 when every target but TARGET_NONE is quiet
G_OPEN_T = 8  # ts up to which time in the market is counted
G_OUTSIDE = 9  # 1.0 outside the trading-hours window
G_NEXT_HOURS = 10  # ts at which the hours window opens or closes next
G_REQ_DUE = 11  # first ts at which an in-flight limit request arrives
N_G = 12
#: Larger than any ms timestamp, exact in float64 and in int64.
BIG = 2.0**62
#: A target no strategy returns: "every target needs the slow path".
QUIET_NEVER = -(2**40)
#: `dd > maxddf * peak * DDF_GATE_SHRINK` is implied by `dd / peak > maxddf` (the shrink is far
#: larger than the rounding of either side), so the division runs only for candidates.
DDF_GATE_SHRINK = 1.0 - 1e-9
