"""Thin streaming facade over the kernels: feed chunks of ticks, drain records, finish.

Memory is the strategy state plus the records produced (trades, equity samples), never the ticks:
each `feed` call only sees its chunk, and full record buffers are drained between kernel calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from hft.engine import enums as E
from hft.engine.loop_nb import finish_nb, init_acct_nb
from hft.engine.records_nb import marks_into_nb, trades_into_nb
from hft.engine.runners_nb import BATCH, SINGLE
from hft.engine.strategies import StrategySpec
from hft.engine.user import (
    GUARD,
    GUARD_VALUE,
    HIDDEN_ERR,
    checked_copy,
    compile_message,
    oob_message,
    probe,
    user_kernel,
    where,
)
from hft.engine.validate_nb import TICK_PROBLEMS, check_ticks_nb
from hft.errors import DataError, EngineError

__all__ = [
    "exec_params",
    "Run",
    "BatchRun",
    "CheckedTicks",
    "RunResult",
    "check_ticks",
    "trades_from_rows",
    "marks_from_rows",
]


def exec_params(
    *,
    size: float = 1.0,
    latency_ms: float = 0.0,
    slippage: float = 0.0,
    taker_per_unit: float = 0.0,
    taker_bps: float = 0.0,
    maker_per_unit: float = 0.0,
    maker_bps: float = 0.0,
    stop_loss: float = 0.0,
    take_profit: float = 0.0,
    max_hold_ms: float = 0.0,
    hours: tuple[int, int] | None = None,
    capital: float = 100_000.0,
    fill_through: float = 0.0,
    max_inventory: float = 0.0,
    sample_ms: int = 60_000,
) -> np.ndarray:
    """The execution vector (`enums.P_*`); hours are (start_ms, end_ms) after UTC midnight."""
    if size <= 0 or not np.isfinite(size):
        raise EngineError(f"size must be a positive number of units, got {size}")
    if latency_ms < 0 or max_hold_ms < 0 or stop_loss < 0 or take_profit < 0 or slippage < 0:
        raise EngineError("latency_ms, max_hold_ms, stop_loss, take_profit and slippage must be >= 0")
    if sample_ms <= 0 or E.DAY_MS % int(sample_ms):
        raise EngineError(f"sample_ms must divide a day (86400000 ms), got {sample_ms}")
    if capital <= 0:
        raise EngineError(f"capital must be positive, got {capital}")
    ep = np.zeros(E.N_EXEC)
    ep[E.P_SIZE] = size
    ep[E.P_LATENCY] = latency_ms
    ep[E.P_SLIPPAGE] = slippage
    ep[E.P_TAKER_UNIT] = taker_per_unit
    ep[E.P_TAKER_FRAC] = taker_bps / 1e4
    ep[E.P_MAKER_UNIT] = maker_per_unit
    ep[E.P_MAKER_FRAC] = maker_bps / 1e4
    ep[E.P_STOP_LOSS] = stop_loss
    ep[E.P_TAKE_PROFIT] = take_profit
    ep[E.P_MAX_HOLD] = max_hold_ms
    if hours is not None:
        start, end = int(hours[0]), int(hours[1])
        if not (0 <= start < E.DAY_MS and 0 <= end <= E.DAY_MS) or start == end:
            raise EngineError(f"hours must be two different ms-of-day values in [0, 86400000], got {hours}")
        ep[E.P_HOURS_ON] = 1.0
        ep[E.P_HOURS_START] = start
        ep[E.P_HOURS_END] = end
    ep[E.P_CAPITAL] = capital
    ep[E.P_FILL_THROUGH] = fill_through
    ep[E.P_MAX_INVENTORY] = max_inventory
    ep[E.P_SAMPLE_MS] = sample_ms
    return ep


def trades_from_rows(rows: np.ndarray) -> np.ndarray:
    out = np.empty(rows.shape[0], dtype=E.TRADE_DTYPE)
    for j, name in enumerate(E.TRADE_DTYPE.names):
        out[name] = rows[:, j]
    return out


def marks_from_rows(rows: np.ndarray) -> np.ndarray:
    out = np.empty(rows.shape[0], dtype=E.MARK_DTYPE)
    for j, name in enumerate(E.MARK_DTYPE.names):
        out[name] = rows[:, j]
    return out


@dataclass(frozen=True)
class RunResult:
    trades: np.ndarray  # TRADE_DTYPE
    marks: np.ndarray  # MARK_DTYPE (samples and day closes)
    acct: np.ndarray  # final account vector, see enums.A_*

    @property
    def final_equity(self) -> float:
        return float(self.acct[E.A_EQUITY])

    @property
    def n_ticks(self) -> int:
        return int(self.acct[E.A_N_TICKS])


def _check_shape(ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, where: str) -> None:
    if not (ts.shape == bid.shape == ask.shape) or ts.ndim != 1:
        raise EngineError(f"{where}: ts, bid and ask must be 1-D arrays of one length")


def _check(ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, prev_ts: int, where: str) -> None:
    _check_shape(ts, bid, ask, where)
    i, code = check_ticks_nb(ts, bid, ask, prev_ts)
    if code:
        when = datetime.fromtimestamp(int(ts[i]) / 1000, tz=UTC).isoformat(timespec="milliseconds")
        raise DataError(
            f"{where}: tick {i} of the chunk at {when} (ts={int(ts[i])}, bid={bid[i]!r}, "
            f"ask={ask[i]!r}): {TICK_PROBLEMS[code]}"
        )


@dataclass(frozen=True, eq=False)
class CheckedTicks:
    """A chunk that passed the tick check on its own, as read-only arrays (see `check_ticks`).

    `BatchRun.feed_checked` trusts it and checks only that it continues the previous chunk (O(1)):
    a sweep actor checks each day once when it enters its cache, not once per batch fed with it."""

    ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray


def check_ticks(ts, bid, ask) -> CheckedTicks | None:
    """The chunk as `CheckedTicks` when every tick is good, else None: feed it unchecked (`feed`),
    whose check then names the bad tick. Raises `EngineError` on mismatched shapes."""
    ts, bid, ask = _as_arrays(ts, bid, ask)
    _check_shape(ts, bid, ask, "ticks")
    _, code = check_ticks_nb(ts, bid, ask, np.iinfo(np.int64).min)
    return None if code else CheckedTicks(ts, bid, ask)


def _read_only(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _as_arrays(ts, bid, ask):
    """Contiguous int64 / float64 ticks, always read-only (a view, never a copy): Numba compiles a
    read-only array apart from a writable one, and ticks read from the store are read-only, so ticks
    from anywhere share one compiled kernel per strategy (and one Numba cache file), not two."""
    return (
        _read_only(np.ascontiguousarray(ts, dtype=np.int64)),
        _read_only(np.ascontiguousarray(bid, dtype=np.float64)),
        _read_only(np.ascontiguousarray(ask, dtype=np.float64)),
    )


def _state(spec: StrategySpec, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, backing): zeroed state rows of the widest size; a user strategy's rows are views
    followed by `GUARD` cells holding `GUARD_VALUE`, which only a stray write can change."""
    s = max(1, *sizes)
    if spec.signal in SINGLE:
        rows = np.zeros((len(sizes), s))
        return rows, rows
    backing = np.full((len(sizes), s + GUARD), GUARD_VALUE)
    backing[:, :s] = 0.0
    return backing[:, :s], backing


class _User:
    """How a user strategy is called: its bounds-checked compile, bound views, and the checks
    after each chunk (guard cells, time-window capacity, TARGET_NONE from a non-quoting one)."""

    def __init__(
        self, spec: StrategySpec, sp: np.ndarray, ss: np.ndarray, backing: np.ndarray, ep: np.ndarray
    ) -> None:
        self.spec = spec
        self.backing = backing
        self.width = ss.shape[1]
        self.declared = spec.layout is not None
        quotes = np.full(2, np.nan)
        scratch = np.zeros(ss.shape[1])
        if self.declared:
            lay = spec.layout
            self.sigs = [lay.bind(ss[j], sp[j], fresh=True) for j in range(sp.shape[0])]
            args = (0, 1.0, 1.0001, 0.0, *lay.bind(scratch, sp[0], True), quotes)
        else:
            self.sigs = [0] * sp.shape[0]
            args = (0, 1.0, 1.0001, 0.0, scratch, sp[0], quotes)
        probe(checked_copy(spec.signal), args, spec.name)
        quoting = spec.quoting or not self.declared
        self.fn = user_kernel(spec.signal, self.declared, quoting)
        if not self.fn.checked and not self._compiles(self.fn, self.sigs[0], sp[0], ep[0], ss.shape[1]):
            # it uses a window or quotes as an array (len, np.* on it): the checked array form
            self.fn = user_kernel(spec.signal, self.declared, quoting, True)

    @staticmethod
    def _compiles(fn, sig, sp: np.ndarray, ep: np.ndarray, width: int) -> bool:
        """Compile `fn` for the real argument types by running it over no ticks on scratch rows."""
        from numba.core.errors import TypingError

        ep = ep.copy()
        try:
            fn(
                sig, *_as_arrays(np.zeros(0), np.zeros(0), np.zeros(0)), ep, sp.copy(), np.zeros(width),
                init_acct_nb(ep), np.full(2, np.nan), np.zeros((E.T_ROOM, E.N_TCOLS)),
                np.zeros((E.M_ROOM, E.N_MCOLS)), 0, False,
            )  # fmt: skip
        except TypingError:
            return False
        return True

    def call(self, fn, *args):
        try:
            return fn(*args)
        except IndexError as exc:
            raise EngineError(oob_message(self.spec.signal, self.spec.name, self.declared)) from exc
        except Exception as exc:
            from numba.core.errors import NumbaError

            if isinstance(exc, NumbaError):
                raise EngineError(
                    f"{where(self.spec.signal)}: strategy {self.spec.name!r} does not compile: "
                    f"{compile_message(exc)}"
                ) from exc
            raise

    def check(self, ss: np.ndarray, sp: np.ndarray) -> None:
        name, src = self.spec.name, where(self.spec.signal)
        if (self.backing[:, self.width :] != GUARD_VALUE).any():
            raise EngineError(
                f"{src}: strategy {name!r} wrote past the end of its state ({self.width} floats): "
                "make state_size() cover every slot it writes, or declare named state with hft.strategy"
            )
        if not self.declared:
            return
        lay = self.spec.layout
        for j in range(ss.shape[0]):
            if self.sigs[j][0][HIDDEN_ERR] != 0.0:
                raise EngineError(
                    f"{src}: strategy {name!r} returned TARGET_NONE but does not declare limit orders: "
                    "pass quotes=True to @strategy"
                )
            full = lay.overflowed(ss[j], sp[j])
            if full is not None:
                raise EngineError(
                    f"{src}: strategy {name!r}: time window {full!r} held more ticks than its capacity "
                    "within its span: raise its cap"
                )


class Run:
    """One strategy and execution config, streamed over any number of tick chunks."""

    def __init__(
        self,
        spec: StrategySpec,
        sp: np.ndarray,
        ep: np.ndarray,
        *,
        trade_cap: int = 4096,
        mark_cap: int = 4096,
        validate: bool = True,
    ) -> None:
        self.spec = spec
        self.sp = np.ascontiguousarray(sp, dtype=np.float64)
        self.ep = np.ascontiguousarray(ep, dtype=np.float64)
        rows, backing = _state(spec, [int(spec.state_size(self.sp))])
        self.ss = rows[0]
        self.acct = init_acct_nb(self.ep)
        self.quotes = np.full(2, np.nan)
        self.tbuf = np.zeros((max(trade_cap, E.T_ROOM), E.N_TCOLS))
        self.mbuf = np.zeros((max(mark_cap, E.M_ROOM), E.N_MCOLS))
        self.validate = validate
        self._trades: list[np.ndarray] = []
        self._marks: list[np.ndarray] = []
        self._kernel = SINGLE.get(spec.signal)  # None: the generic loop over the user's signal
        self._user = None if self._kernel else _User(spec, self.sp[None, :], rows, backing, self.ep[None, :])
        self._last_ts = np.iinfo(np.int64).min
        self.result: RunResult | None = None

    def _call(self, ts, bid, ask, start):
        a = (ts, bid, ask, self.ep, self.sp, self.ss, self.acct, self.quotes, self.tbuf, self.mbuf)
        if self._kernel is not None:
            return self._kernel(*a, start, self.validate)
        u = self._user
        return u.call(u.fn, u.sigs[0], *a, start, self.validate)

    def _drain(self) -> None:
        nt = int(self.acct[E.A_N_TRADES])
        nm = int(self.acct[E.A_N_MARKS])
        if nt:
            self._trades.append(self.tbuf[:nt].copy())
            self.acct[E.A_N_TRADES] = 0.0
        if nm:
            self._marks.append(self.mbuf[:nm].copy())
            self.acct[E.A_N_MARKS] = 0.0

    def feed(self, ts, bid, ask, *, where: str = "ticks") -> None:
        """Advance over one chunk; bad ticks raise `DataError` and leave the run as it was.

        The kernel checks each tick as it reads it (one pass over memory); when it reports a bad
        one, the state saved here is restored and the chunk is re-checked for the message.
        """
        if self.result is not None:
            raise EngineError("run already finished; start a new Run")
        ts, bid, ask = _as_arrays(ts, bid, ask)
        _check_shape(ts, bid, ask, where)
        n = ts.shape[0]
        if n == 0:
            return
        saved = (self.acct.copy(), self.ss.copy(), self.quotes.copy(), len(self._trades), len(self._marks))
        i = 0
        while i < n:
            i = self._call(ts, bid, ask, i)
            self._drain()
            if i < 0:
                self.acct[:], self.ss[:], self.quotes[:] = saved[:3]
                del self._trades[saved[3] :], self._marks[saved[4] :]
                _check(ts, bid, ask, self._last_ts, where)
                raise EngineError(
                    f"{where}: the engine rejected tick {-i - 1} but the check found no problem"
                )
        if self._user is not None:
            self._user.check(self.ss[None, :], self.sp[None, :])
        self._last_ts = int(ts[-1])

    def finish(self) -> RunResult:
        """Flatten at the last tick and return every record; raises if no tick was ever fed."""
        if self.result is not None:
            return self.result
        if self.acct[E.A_STARTED] == 0.0:
            raise EngineError("no ticks were processed: the date range holds no data")
        self._drain()
        finish_nb(self.ep, self.acct, self.tbuf, self.mbuf)
        self._drain()
        tr = np.concatenate(self._trades) if self._trades else np.zeros((0, E.N_TCOLS))
        mk = np.concatenate(self._marks) if self._marks else np.zeros((0, E.N_MCOLS))
        self.result = RunResult(trades_from_rows(tr), marks_from_rows(mk), self.acct.copy())
        return self.result


def _grown(records: np.ndarray, used: int, need: int) -> np.ndarray:
    """`records` with room for `need` rows (at least doubled), its first `used` rows kept."""
    out = np.empty(max(2 * records.size, need), records.dtype)
    out[:used] = records[:used]
    return out


class BatchRun:
    """K parameter sets of one strategy advanced together over each chunk (state K x S).

    Strategy state rows are sized for the largest config; a smaller one ignores its tail. Records stay
    in the kernel buffers until one is full or the batch finishes, then go straight into each config's
    own record arrays (`records_nb`), which `finish` hands out as they are: no copy, and no result
    holds another config's memory. `expect_marks` (marks a config will make, e.g. days x samples a
    day) sizes those arrays from the start; they double when it was short.
    """

    def __init__(
        self,
        spec: StrategySpec,
        sps: np.ndarray,
        eps: np.ndarray,
        *,
        trade_cap: int = 1024,
        mark_cap: int = 2048,
        validate: bool = True,
        expect_marks: int = 0,
    ) -> None:
        self.spec = spec
        self.sp = np.ascontiguousarray(np.atleast_2d(sps), dtype=np.float64)
        k = self.sp.shape[0]
        eps = np.atleast_2d(eps)
        self.ep = np.ascontiguousarray(np.repeat(eps, k, axis=0) if eps.shape[0] == 1 else eps, dtype=float)
        if self.ep.shape[0] != k:
            raise EngineError(f"{k} parameter sets but {self.ep.shape[0]} execution configs")
        self.ss, backing = _state(spec, [int(spec.state_size(row)) for row in self.sp])
        self.acct = np.stack([init_acct_nb(row) for row in self.ep])
        self.quotes = np.full((k, 2), np.nan)
        self.tbuf = np.zeros((k, max(trade_cap, E.T_ROOM), E.N_TCOLS))
        self.mbuf = np.zeros((k, max(mark_cap, E.M_ROOM), E.N_MCOLS))
        self.validate = validate
        self._trades = [np.empty(self.tbuf.shape[1], E.TRADE_DTYPE) for _ in range(k)]
        self._marks = [np.empty(max(expect_marks, self.mbuf.shape[1]), E.MARK_DTYPE) for _ in range(k)]
        self._n_trades = [0] * k  # rows in each config's record arrays
        self._n_marks = [0] * k
        self._kernel = BATCH.get(spec.signal)
        self._user = None if self._kernel else _User(spec, self.sp, self.ss, backing, self.ep)
        self._last_ts = np.iinfo(np.int64).min
        self.results: list[RunResult] | None = None

    @property
    def k(self) -> int:
        return self.sp.shape[0]

    def _drain(self) -> None:
        """Move every buffered record into its config's record array."""
        for col, arrays, n, buf, into in (
            (E.A_N_TRADES, self._trades, self._n_trades, self.tbuf, trades_into_nb),
            (E.A_N_MARKS, self._marks, self._n_marks, self.mbuf, marks_into_nb),
        ):
            for j, add in enumerate(self.acct[:, col].astype(np.int64).tolist()):
                if add:
                    at = n[j]
                    if at + add > arrays[j].size:
                        arrays[j] = _grown(arrays[j], at, at + add)
                    into(buf[j, :add], arrays[j], at)
                    n[j] = at + add
            self.acct[:, col] = 0.0

    def feed(self, ts, bid, ask, *, where: str = "ticks") -> None:
        if self.results is not None:
            raise EngineError("batch already finished")
        ts, bid, ask = _as_arrays(ts, bid, ask)
        if self.validate:
            _check(ts, bid, ask, self._last_ts, where)
        self._advance(ts, bid, ask)

    def feed_checked(self, ticks: CheckedTicks, *, where: str = "ticks") -> None:
        """`feed` of a chunk already checked on its own: only its link to the previous chunk is checked."""
        if self.results is not None:
            raise EngineError("batch already finished")
        ts, bid, ask = ticks.ts, ticks.bid, ticks.ask
        if self.validate and ts.shape[0] and ts[0] < self._last_ts:
            _check(ts, bid, ask, self._last_ts, where)  # names tick 0: timestamp goes backwards
        self._advance(ts, bid, ask)

    def _advance(self, ts, bid, ask) -> None:
        if ts.shape[0] == 0:
            return
        starts = np.zeros(self.k, dtype=np.int64)
        args = (ts, bid, ask, self.ep, self.sp, self.ss, self.acct, self.quotes, self.tbuf, self.mbuf, starts)
        u = self._user
        while self._kernel(*args) if self._kernel is not None else self._user_pass(args, starts):
            self._drain()  # a record buffer filled up; otherwise records wait there for the next chunk
        if u is not None:
            u.check(self.ss, self.sp)
        self._last_ts = int(ts[-1])

    def _user_pass(self, args, starts) -> int:
        """Each config in turn over the chunk (views differ per config); returns how many stopped."""
        u = self._user
        ts, bid, ask = args[:3]
        n = ts.shape[0]
        stopped = 0
        for j in range(self.k):
            if starts[j] >= n:
                continue
            rows = (
                self.ep[j],
                self.sp[j],
                self.ss[j],
                self.acct[j],
                self.quotes[j],
                self.tbuf[j],
                self.mbuf[j],
            )
            starts[j] = u.call(u.fn, u.sigs[j], ts, bid, ask, *rows, starts[j], False)
            stopped += int(starts[j] < n)
        return stopped

    def finish(self) -> list[RunResult]:
        if self.results is not None:
            return self.results
        if self.acct[0, E.A_STARTED] == 0.0:
            raise EngineError("no ticks were processed: the date range holds no data")
        self._drain()
        for j in range(self.k):
            finish_nb(self.ep[j], self.acct[j], self.tbuf[j], self.mbuf[j])
        self._drain()
        out = [
            RunResult(
                self._trades[j][: self._n_trades[j]], self._marks[j][: self._n_marks[j]], self.acct[j].copy()
            )
            for j in range(self.k)
        ]
        self.results = out
        return out
