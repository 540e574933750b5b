"""Walk-forward validation: optimise on a train window, score the winner on the next, unseen window.

Folds are cut from the days that hold ticks in [data.start, data.end] (weekends and holidays do not
eat a window): fold i trains on days [i*step, i*step + train_days) and tests on the `test_days`
after them. Each fold has its own study, `{sweep}.fold{i}`, in the sweep's storage, so a killed
sweep resumes fold by fold. The best train trial (single objective: the best value; several: the
Pareto trial best on the first objective) is run once on the test window (tags phase=test, fold=i);
in the same batched pass its next `oos_candidates` best train trials run there too (phase=oos_check,
result rows only), never the fold's result: they give the in- vs out-of-sample rank correlation.

`{store}/runs/{sweep}/walkforward.parquet`, one row per finished fold, rewritten atomically after
each fold:

| column | type | meaning |
| --- | --- | --- |
| sweep, strategy, symbol | string | the spec's name, strategy name and symbol |
| fold | int64 | 0, 1, ... in time order |
| train_start, train_end, test_start, test_end | date32 | inclusive UTC days |
| trials | int64 | trials that counted in the fold's study |
| best_trial | int64 | number of the chosen trial in `{sweep}.fold{i}` |
| params | string | the chosen strategy parameters (searched and fixed) as YAML |
| param_<name> | typed | one column per searched parameter |
| train_<metric> | float64 | in-sample value of each objective metric |
| run_id | string | the test run: `{store}/runs/{sweep}/{run_id}/` |
| error | string | why the test run failed (null when it ran) |
| <metric> | float64/int64 | every out-of-sample metric of the test run (hft.backtest.metrics: net_pnl, |
|  |  | total_return, sharpe, sortino, max_drawdown, max_drawdown_frac, calmar, trades, ...) |

The aggregate over folds (`aggregate()`) goes to `sweep.yaml` beside it and to the console.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa

from hft.backtest.artifacts import dump_yaml, parquet_bytes
from hft.errors import ConfigError
from hft.store.fs import Store
from hft.store.ticks import list_days, read_manifest
from hft.sweep.labels import trial_metrics
from hft.sweep.spec import METRICS, SweepSpec, WalkForward

__all__ = [
    "Fold",
    "WALKFORWARD_FILE",
    "trading_days",
    "make_folds",
    "fold_row",
    "write_walkforward",
    "read_walkforward",
    "reusable_row",
    "aggregate",
]

WALKFORWARD_FILE = "walkforward.parquet"


@dataclass(frozen=True)
class Fold:
    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date


def trading_days(st: Store, symbol: str, start: date, end: date) -> list[date]:
    """Stored days in range that hold ticks (by manifest; a day without one counts if its file exists)."""
    out = []
    for day in list_days(st, symbol):
        if start <= day <= end:
            man = read_manifest(st, symbol, day)
            if man is None or int(man.get("rows", 1)) > 0:
                out.append(day)
    return out


def make_folds(days: list[date], wf: WalkForward, where: str = "spec") -> list[Fold]:
    folds = []
    i = 0
    while i + wf.train_days + wf.test_days <= len(days):
        tr, te = days[i : i + wf.train_days], days[i + wf.train_days : i + wf.train_days + wf.test_days]
        folds.append(Fold(len(folds), tr[0], tr[-1], te[0], te[-1]))
        i += wf.step
    if not folds:
        raise ConfigError(
            f"{where}: walk_forward: {len(days)} day(s) with ticks, but one fold needs "
            f"train_days + test_days = {wf.train_days + wf.test_days}; "
            "widen data.start..data.end or shorten the windows"
        )
    return folds


def fold_row(
    spec: SweepSpec, fold: Fold, trials: int, best, outcome, params: dict[str, Any]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sweep": spec.name,
        "strategy": spec.strategy.name,
        "symbol": spec.data.symbol,
        "fold": fold.index,
        "train_start": fold.train_start,
        "train_end": fold.train_end,
        "test_start": fold.test_start,
        "test_end": fold.test_end,
        "trials": trials,
        "best_trial": best.number if best is not None else None,
        "params": dump_yaml(params).strip(),
        **{f"param_{k}": (best.params.get(k) if best is not None else None) for k in spec.space},
    }
    train = trial_metrics(best) if best is not None else {}
    for o in spec.objectives:
        row[f"train_{o.metric}"] = _f(train.get(o.metric))
    row["run_id"] = outcome.run_id if outcome is not None else None
    row["error"] = outcome.error if outcome is not None else "no completed trial in the train window"
    metrics = (outcome.metrics or {}) if outcome is not None else {}
    for m in (*METRICS, "days", "ticks"):
        v = metrics.get(m)
        row[m] = int(v) if m in ("trades", "days", "ticks") and v is not None else _f(v)
    return row


def _f(v) -> float | None:
    return None if v is None else float(v)


def write_walkforward(st: Store, spec: SweepSpec, rows: list[dict[str, Any]]) -> str:
    table = pa.Table.from_pylist(rows)
    for name in ("train_start", "train_end", "test_start", "test_end"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, table.column(name).cast(pa.date32()))
    st.write_bytes(parquet_bytes(table), "runs", spec.name, WALKFORWARD_FILE)
    return st.uri("runs", spec.name, WALKFORWARD_FILE)


def read_walkforward(st: Store, spec: SweepSpec) -> dict[int, dict[str, Any]]:
    """The fold rows an earlier run of this sweep wrote, by fold ({} when there are none or the file
    cannot be read: those folds are then tested again)."""
    import io

    import pyarrow.parquet as pq

    if not st.exists("runs", spec.name, WALKFORWARD_FILE):
        return {}
    try:
        rows = pq.read_table(io.BytesIO(st.read_bytes("runs", spec.name, WALKFORWARD_FILE))).to_pylist()
    except (OSError, pa.ArrowException):
        return {}
    return {r["fold"]: r for r in rows if isinstance(r.get("fold"), int)}


def reusable_row(old: dict[str, Any] | None, fold: Fold, best) -> bool:
    """Whether an earlier run's row is this fold's result as it stands: same windows, same selected
    trial, and its test run succeeded (a failed one is tried again)."""
    return (
        old is not None
        and best is not None
        and old.get("best_trial") == best.number
        and old.get("error") is None
        and old.get("run_id") is not None
        and (old.get("train_start"), old.get("train_end"), old.get("test_start"), old.get("test_end"))
        == (fold.train_start, fold.train_end, fold.test_start, fold.test_end)
    )


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Out-of-sample figures over folds: returns compounded, PnL and trades summed, worst drawdown."""
    ok = [r for r in rows if r.get("error") is None]
    if not ok:
        return {"folds": len(rows), "folds_ok": 0}

    def vals(key):
        return [r[key] for r in ok if r.get(key) is not None and math.isfinite(r[key])]

    rets, sharpes = vals("total_return"), vals("sharpe")
    return {
        "folds": len(rows),
        "folds_ok": len(ok),
        "oos_net_pnl": float(sum(vals("net_pnl"))),
        "oos_total_return": float(np.prod([1.0 + r for r in rets]) - 1.0) if rets else None,
        "oos_sharpe_mean": float(np.mean(sharpes)) if sharpes else None,
        "oos_sharpe_median": float(np.median(sharpes)) if sharpes else None,
        "oos_max_drawdown_frac": float(max(vals("max_drawdown_frac"), default=0.0)),
        "oos_trades": int(sum(r.get("trades") or 0 for r in ok)),
        "positive_folds": sum(1 for r in ok if (r.get("net_pnl") or 0.0) > 0),
    }
