"""`hft strategy new` / `check`: a working template, and the checks a user strategy must pass.

`check_strategy` imports a strategy file, runs it (bounds-checked, as every user strategy runs) on
synthetic ticks, and verifies what the engine relies on: it compiles and returns integers; two
passes over the same ticks decide the same; any split of the ticks into chunks, alone or batched
with another config as a sweep runs it, gives bit-identical results; its decisions before a time T
do not change when the ticks after T do (it cannot see the future); and how fast it runs.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from hft.backtest.params import _REGISTRY, StrategyParams, import_strategy_module
from hft.engine import BUILTINS, BatchRun, Run, exec_params
from hft.engine import strategies as S
from hft.engine.run import RunResult
from hft.engine.user import checked_copy, where
from hft.errors import ConfigError

__all__ = ["TEMPLATE", "CONFIG_TEMPLATE", "write_template", "check_strategy", "CheckReport"]

TEMPLATE = '''"""{name}: buy when mid crosses above its moving average, sell when it crosses below.

Run it:   hft run {name}.yaml        Check it:   hft strategy check {name}.py
The signal contract (what the function sees and returns) is in docs/strategies.md.
"""

import numpy as np

from hft.strategy import Param, Window, cross, full, mean, njit, push, strategy


@strategy(
    "{name}",
    params={{"n": Param(500, ge=2, le=100_000, help="ticks in the moving average")}},
    state={{"diff": np.nan, "target": 0.0, "mids": Window("n")}},
)
@njit
def {name}(t, bid, ask, pos, s, w, p, quotes):
    mid = (bid + ask) * 0.5
    push(w.mids, mid)
    if full(w.mids):
        diff = mid - mean(w.mids)
        side = cross(s.diff, diff)  # +1: crossed above, -1: crossed below
        if side != 0:
            s.target = side
        s.diff = diff
    return np.int64(s.target)  # wanted position in lots: -1, 0, +1
'''

CONFIG_TEMPLATE = """# hft run {name}.yaml --store ./data      (edit symbol, days and store)
data: {{symbol: EURUSD, start: 2019-02-04, end: 2019-02-05, store: ./data}}
strategy: {{name: {name}, module: ./{name}.py, params: {{n: 500}}}}
execution: {{size: 100000, latency_ms: 50, slippage: 0.00001, taker_per_unit: 0.00002}}
"""


def write_template(name: str, out: Path, force: bool = False) -> list[Path]:
    """Write `{name}.py` and `{name}.yaml` into `out`; refuses to overwrite unless `force`."""
    if not name.isidentifier() or name.startswith("_"):
        raise ConfigError(f"strategy name {name!r}: use a Python identifier (letters, digits, _)")
    files = [
        (out / f"{name}.py", TEMPLATE.format(name=name)),
        (out / f"{name}.yaml", CONFIG_TEMPLATE.format(name=name)),
    ]
    for path, _ in files:
        if path.exists() and not force:
            raise ConfigError(f"{path} already exists (pass --force to overwrite)")
    out.mkdir(parents=True, exist_ok=True)
    for path, text in files:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return [p for p, _ in files]


def synthetic_ticks(
    n: int, seed: int = 0, start: date = date(2024, 3, 4)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first `n` ticks of `hft synth` XAU/USD from `start` (several in one millisecond)."""
    from hft.data.synth import synth_day

    parts, have, day = [], 0, start
    while have < n:
        arr = synth_day("XAUUSD", day, seed)
        parts.append(arr)
        have += arr.size
        day += timedelta(days=1)
    t = np.concatenate(parts)[:n]
    return (
        np.ascontiguousarray(t["ts"], dtype=np.int64),
        np.ascontiguousarray(t["bid"], dtype=np.float64),
        np.ascontiguousarray(t["ask"], dtype=np.float64),
    )


@dataclass
class CheckReport:
    name: str
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: M ticks/s of this strategy and of the built-in ema_cross on the same ticks (None: not timed)
    speed: tuple[float, float] | None = None

    def ok(self, text: str) -> None:
        self.lines.append(f"ok    {text}")

    def fail(self, check: str, text: str) -> None:
        """One line: the check, then `file: function: what happened: what to do`."""
        self.lines.append(f"FAIL  {check}: {text}")
        self.failed.append(check)


def _run(spec, sp, ep, ts, bid, ask, cuts=()) -> RunResult:
    run = Run(spec, sp, ep, trade_cap=64, mark_cap=64)  # small buffers: drains mid-chunk too
    edges = [0, *cuts, ts.size]
    for a, b in itertools.pairwise(edges):
        run.feed(ts[a:b], bid[a:b], ask[a:b])
    return run.finish()


def _chunk_problem(spec, sp, ep, ts, bid, ask, cuts, whole: RunResult) -> str | None:
    """How a chunked run, alone or batched with a second config, differs from `whole` (None: it
    does not). A sweep advances a batch of configs chunk by chunk, one config after the other."""
    if not _same(whole, _run(spec, sp, ep, ts, bid, ask, cuts)):
        return f"{len(cuts) + 1} chunks give other trades, equity or account than one"
    batch = BatchRun(spec, np.stack([sp, sp]), ep, trade_cap=64, mark_cap=64)
    for a, b in itertools.pairwise([0, *cuts, ts.size]):
        batch.feed(ts[a:b], bid[a:b], ask[a:b])
    for j, res in enumerate(batch.finish()):
        if not _same(whole, res):
            return (
                f"batched with a copy of itself over {len(cuts) + 1} chunks, config {j + 1} of 2 gives "
                "other trades, equity or account than alone"
            )
    return None


def _same(a: RunResult, b: RunResult) -> bool:
    return (
        a.trades.shape == b.trades.shape
        and a.trades.tobytes() == b.trades.tobytes()
        and a.marks.tobytes() == b.marks.tobytes()
        and a.acct.tobytes() == b.acct.tobytes()
    )


def _targets(spec, sp, ts, bid, ask, n: int) -> np.ndarray:
    """The strategy's target on each of the first `n` ticks, called directly (flat, no orders)."""
    fn = checked_copy(spec.signal)
    quotes = np.full(2, np.nan)
    ss = np.zeros(max(1, int(spec.state_size(sp))))
    out = np.empty(n, dtype=np.int64)
    if spec.layout is not None:
        s, w, p = spec.layout.bind(ss, sp, fresh=True)
        for i in range(n):
            out[i] = fn(ts[i], bid[i], ask[i], 0.0, s, w, p, quotes)
    else:
        for i in range(n):
            out[i] = fn(ts[i], bid[i], ask[i], 0.0, ss, sp, quotes)
    return out


def _source(fn) -> str | None:
    code = getattr(getattr(fn, "py_func", fn), "__code__", None)
    return str(Path(code.co_filename).resolve()) if code else None


def _timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _check_params(reg, params: dict | None) -> StrategyParams:
    """The strategy's parameters from `--param`, or one line naming the function and the field."""
    try:
        return reg.params.model_validate(params or {})
    except ValidationError as exc:
        bad = "; ".join(
            f"params.{'.'.join(str(x) for x in e['loc'])}: "
            + ("unknown key" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        )
        raise ConfigError(f"{where(reg.signal)}: strategy {reg.name!r}: {bad}") from None


def _first_diff(a: np.ndarray, b: np.ndarray) -> int | None:
    diff = np.flatnonzero(a != b)
    return int(diff[0]) if diff.size else None


def check_strategy(
    file: Path, name: str | None = None, params: dict | None = None, ticks: int = 200_000
) -> list[CheckReport]:
    """Import `file` and check every strategy it registers (or only `name`).

    What the checks can and cannot catch is argued in docs/strategies.md ("What `hft strategy
    check` proves"): a strategy whose decisions depend only on its arguments and declared state
    passes the last three by construction; they fail for state kept anywhere else.
    """
    t0 = time.perf_counter()
    src = str(file.resolve())
    import_strategy_module(src, where=str(file))
    mine = [r for r in _REGISTRY.values() if _source(r.signal) == src]
    if name is not None:
        mine = [r for r in mine if r.name == name]
    if not mine:
        raise ConfigError(
            f"{file}: registers no strategy{f' named {name!r}' if name else ''} (see docs/strategies.md)"
        )
    ts, bid, ask = synthetic_ticks(ticks)
    ep = exec_params(size=1.0, latency_ms=20.5, slippage=0.01, taker_per_unit=0.02)
    reports = []
    for reg in mine:
        rep = CheckReport(reg.name)
        fn = where(reg.signal)
        keep = (
            "keep every value that must outlive a tick in its declared state "
            "(not in np.random's generator or in Python objects reached through a callback)"
        )
        prm = _check_params(reg, params)
        sp = prm.encode(1.0)
        spec = reg.spec(prm)
        t = time.perf_counter()
        whole = _run(spec, sp, ep, ts, bid, ask)
        rep.ok(
            f"compiles and runs bounds-checked on {ts.size:,} synthetic XAU/USD ticks "
            f"({time.perf_counter() - t + (t - t0):.1f} s incl. compile): {len(whole.trades)} trades"
        )

        # the future: the same first half, a different second half (changed ones first)
        n = min(ts.size, 20_000)
        cut = n // 2
        bid2, ask2 = bid.copy(), ask.copy()
        shock = 1.0 + 0.05 * np.sin(np.arange(n - cut))
        bid2[cut:n] *= shock
        ask2[cut:n] *= shock
        changed = _targets(spec, sp, ts, bid2, ask2, n)
        first = _targets(spec, sp, ts, bid, ask, n)
        again = _targets(spec, sp, ts, bid, ask, n)
        at = _first_diff(first, again)
        if at is None:
            rep.ok("repeatable: two passes over the same ticks give the same targets")
        else:
            rep.fail(
                "repeatable",
                f"{fn}: two passes over the same ticks give different targets (first at tick {at}): {keep}",
            )

        rng = np.random.default_rng(1)
        cuts = sorted(set(rng.integers(1, ts.size, 40).tolist()))
        bad = _chunk_problem(spec, sp, ep, ts, bid, ask, cuts, whole)
        if bad is None:
            rep.ok(
                f"chunked = unchunked: {len(cuts) + 1} chunks, alone and batched with a second config, "
                "give bit-identical trades, equity and account"
            )
        else:
            rep.fail("chunked = unchunked", f"{fn}: {bad}: {keep}")

        at = _first_diff(first[:cut], changed[:cut])
        if at is None:
            rep.ok(f"no look-ahead: changing ticks {cut:,}..{n:,} changes no target before them")
        else:
            rep.fail(
                "no look-ahead",
                f"{fn}: its target on tick {at} changed when only ticks {cut:,}..{n:,} "
                "changed: it reads ticks it has not been given yet (kept from an earlier pass) or "
                "state outside its declaration; decide from this tick and the declared state only",
            )

        mine_s = _timed(lambda spec=spec, sp=sp: _run(spec, sp, ep, ts, bid, ask))
        ema = BUILTINS["ema_cross"]
        ema_sp = S.ema_cross_params(100, 1000)
        _run(ema, ema_sp, ep, ts[:1000], bid[:1000], ask[:1000])
        ref_s = _timed(lambda ema=ema, ema_sp=ema_sp: _run(ema, ema_sp, ep, ts, bid, ask))
        rep.speed = (ts.size / mine_s / 1e6, ts.size / ref_s / 1e6)
        space = getattr(reg.params, "space", None)
        if callable(space) and space():
            rep.ok(f"default sweep space from the declared ranges: {space()}")
        reports.append(rep)
    return reports
