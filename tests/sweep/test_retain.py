"""An actor's local top K per window (hft.sweep.retain), plain Python: the order of the driver's
kept rows (hft.sweep.keep.top_by), bounded, and the driver's top K always inside the actors' union."""

from __future__ import annotations

import math
import random

import numpy as np
import polars as pl
import pytest

from hft.engine import MARK_DTYPE, TRADE_DTYPE
from hft.engine.run import RunResult
from hft.sweep.keep import top_by
from hft.sweep.retain import RetainedRun, RetainedRuns, RetainPolicy, WindowTopK

MAX = (("net_pnl", "maximize"),)


def _res(n_marks: int = 3) -> RunResult:
    marks = np.zeros(n_marks, MARK_DTYPE)
    marks["ts"] = np.arange(n_marks)
    return RunResult(np.zeros(0, TRADE_DTYPE), marks, np.zeros(16))


def _run(trial: int, run_id: str | None = None, created: str = "c", res=None, **metrics) -> RetainedRun:
    run_id = run_id or f"r{trial}"
    summary = {"run_id": run_id, "group": "g", "created": created, "metrics": metrics}
    return RetainedRun(run_id, trial, summary, res if res is not None else _res())


def _policy(k: int, objectives=MAX, window=("s", "g", None)) -> RetainPolicy:
    return RetainPolicy(window, k, objectives)


def test_ties_go_to_the_lower_trial_and_undefined_metrics_are_never_held():
    w = WindowTopK(_policy(2))
    for trial in (7, 3, 5):  # one value: the two lowest trial numbers win, whatever the arrival order
        w.offer(_run(trial, net_pnl=1.0))
    assert sorted(w.runs) == [3, 5]
    for trial, v in ((10, None), (11, math.nan), (12, math.inf), (13, -math.inf)):
        assert not w.offer(_run(trial, net_pnl=v))
    assert not w.offer(_run(14))  # the metric missing altogether
    assert sorted(w.runs) == [3, 5]
    assert w.offer(_run(9, net_pnl=2.0)) and sorted(w.runs) == [3, 9]


def test_direction_decides_best_and_a_run_id_is_held_once_under_its_lowest_trial():
    lo = WindowTopK(_policy(2, (("max_drawdown", "minimize"),)))
    hi = WindowTopK(_policy(2, (("max_drawdown", "maximize"),)))
    for t, v in enumerate([5.0, 1.0, 3.0, 0.5, 9.0]):
        lo.offer(_run(t, max_drawdown=v))
        hi.offer(_run(t, max_drawdown=v))
    assert sorted(lo.runs) == [1, 3] and sorted(hi.runs) == [0, 4]
    twins = WindowTopK(_policy(2))
    for t in (8, 4, 6):  # three trials of one parameter set (one run id): one slot, the lowest trial
        twins.offer(_run(t, run_id="same", net_pnl=1.0))
    twins.offer(_run(9, net_pnl=0.5))
    assert sorted(twins.runs) == [4, 9]


def test_two_objectives_hold_at_most_k_each():
    w = WindowTopK(_policy(3, (("net_pnl", "maximize"), ("max_drawdown", "minimize"))))
    for t in range(40):
        w.offer(_run(t, net_pnl=float(t), max_drawdown=float(t % 7)))
        assert len(w.runs) <= 6
    # best pnl: 39, 38, 37; least drawdown 0.0: trials 0, 7, 14
    assert sorted(w.runs) == [0, 7, 14, 37, 38, 39]


@pytest.mark.parametrize("seed", range(6))
def test_the_drivers_top_k_is_always_within_the_union_of_the_actors_local_top_k(seed):
    """Random windows, ties, twins (one run id, several trials, possibly on several actors),
    undefined metrics and arrival order: each actor holds exactly its own rows' top K per objective
    (hft.sweep.keep.top_by, the driver's query), and the driver's top K over all rows is inside the
    union of what the actors hold."""
    rng = random.Random(seed)
    k, actors = rng.choice([1, 3, 5]), 3
    objectives = (("net_pnl", "maximize"), ("max_drawdown", "minimize"))
    values = [0.0, 1.0, 1.0, 2.0, -1.0, None, math.nan, math.inf, 3.5]
    runs = {f"r{i}": (rng.choice(values), rng.choice(values)) for i in range(25)}
    rows = []
    for trial in range(80):
        rid = rng.choice(list(runs))
        rows.append({"run_id": rid, "trial": trial, "fold": rng.choice([None, 1]), "actor": rng.randrange(3)})
    rows = [{**r, "net_pnl": runs[r["run_id"]][0], "max_drawdown": runs[r["run_id"]][1]} for r in rows]
    rng.shuffle(rows)  # arrival order differs from trial order
    held = [RetainedRuns() for _ in range(actors)]
    for r in rows:
        run = _run(r["trial"], r["run_id"], net_pnl=r["net_pnl"], max_drawdown=r["max_drawdown"])
        held[r["actor"]].offer(_policy(k, objectives, ("s", "g", r["fold"])), run)
    df = pl.DataFrame(rows, schema_overrides={"net_pnl": pl.Float64, "max_drawdown": pl.Float64})

    def tops(frame: pl.DataFrame) -> set[tuple]:
        picked = [top_by(frame, m, d, k) for m, d in objectives]
        return {(r["fold"], r["run_id"], r["trial"]) for p in picked for r in p.iter_rows(named=True)}

    union = set()
    for a, h in enumerate(held):
        mine = {(w[2], run.run_id, run.trial) for w in h.windows for run in h._windows[w].runs.values()}
        assert mine == tops(df.filter(pl.col("actor") == a))
        assert all(len(h._windows[w].runs) <= k * len(objectives) for w in h.windows)
        union |= mine
    assert tops(df) <= union


def test_windows_are_bounded_by_count_and_bytes_and_dropped_once_taken():
    held = RetainedRuns(max_windows=2)
    for fold in range(3):
        held.offer(_policy(2, window=("s", "g", fold)), _run(fold, net_pnl=1.0))
    assert held.windows == [("s", "g", 1), ("s", "g", 2)] and held.evicted == 1 and len(held) == 2
    small = RetainedRuns(max_bytes=_res(100).marks.nbytes + 1)  # room for one run of 100 marks
    small.offer(_policy(5, window=("s", "a", None)), _run(1, net_pnl=1.0, res=_res(100)))
    small.offer(_policy(5, window=("s", "b", None)), _run(2, net_pnl=1.0, res=_res(100)))
    assert small.windows == [("s", "b", None)]  # the older window went, never the newest
    # take: only what the driver names with the same trial and stamp; the windows go, taken or not
    held.offer(_policy(2, window=("s", "g", 2)), _run(5, created="t5", net_pnl=0.5))
    got = held.take(
        [("s", "g", 2), ("s", "g", 1)], {"r5": (5, "t5"), "r2": (2, "another run"), "r1": (9, "c")}
    )
    assert [(rid, trial) for rid, trial, _t in got] == [("r5", 5)]
    assert got[0][2].column("summary")[0].as_py().startswith("run_id: r5\n")
    assert held.windows == [] and len(held) == 0
    assert got[0][2].column_names == ["run_id", "group", "summary", "trades", "equity"]  # a pack row
    assert held.take([("s", "g", 2)], {"r5": (5, "t5")}) == []
