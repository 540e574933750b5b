"""The sweep's leaderboard, read back from its result rows (one lazy scan of its trial parts).

Rows come from hft.reduce.leaderboard, so they say what they rank: out-of-sample (walk-forward
test) rows first and ranked on their own, then in-sample trials; each with phase, fold, date window
and n_days; ratios from fewer than `min_days` daily returns are flagged and ranked last. With
several objectives the Pareto front of each study comes first within its phase (`pareto` True).
"""

from __future__ import annotations

import json
from typing import Any

import optuna
import yaml

from hft.sweep.spec import SweepSpec

__all__ = [
    "leaderboard_rows",
    "leaderboard_tables",
    "selection_tables",
    "walkforward_tables",
    "format_leaderboard",
    "format_walkforward",
    "format_selection",
    "KEY_METRICS",
]

KEY_METRICS = ("sharpe", "psr", "net_pnl", "total_return", "max_drawdown_frac", "trades")
#: The order a terminal shows them in: a narrow one drops columns from the right.
_SHOWN = ("net_pnl", "total_return", "sharpe", "max_drawdown_frac", "trades", "psr")


def leaderboard_rows(
    spec: SweepSpec,
    runs_url: str,
    studies: list[tuple[int | None, optuna.Study]],
    top: int,
    *,
    storage_options: dict[str, Any] | None = None,
    min_days: int = 20,
) -> list[dict]:
    """The best `top` rows of each phase of the sweep, by its first objective."""
    from hft.reduce.leaderboard import leaderboard
    from hft.reduce.scan import METRIC_COLUMNS, scan_runs

    obj = spec.objectives[0]
    scan = scan_runs(runs_url, storage_options, groups=[spec.name])
    df = leaderboard(scan, by=obj.metric, top=top, descending=obj.direction == "maximize", min_days=min_days)
    front = {(f, t.number) for f, st in studies for t in st.best_trials} if spec.multi else set()
    rows = []
    for r in df.iter_rows(named=True):
        fold = r.get("fold")
        rows.append(
            {
                **r,
                "values": [r.get(o.metric) for o in spec.objectives],
                "metrics": {k: v for k, v in r.items() if k in METRIC_COLUMNS},
                "params": {k: _params(r.get("params")).get(k) for k in spec.space},
                "pareto": r.get("phase") == "train" and (fold, r.get("trial")) in front,
            }
        )
    order = {"test": 0, "oos_check": 1, "run": 2, "train": 3}
    rows.sort(key=lambda r: (order.get(r.get("phase"), 3), not r["pareto"]))
    return rows


def _params(text: str | None) -> dict:
    """A row's parameters: single-line JSON (old runs: YAML)."""
    try:
        got = json.loads(text or "{}")
    except ValueError:
        got = yaml.safe_load(text)
    return got if isinstance(got, dict) else {}


def _frame(rows: list[dict]):
    import polars as pl

    return pl.DataFrame(rows, infer_schema_length=None)


def _params_text(params: dict) -> str:
    from hft.tables import fmt

    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items())


def leaderboard_tables(spec: SweepSpec, rows: list[dict], width: int | None = None) -> list:
    """The sweep's leaderboard as hft.tables tables, one per phase, out-of-sample first (the same
    titles as `hft report`); columns that do not fit `width` are left out and named."""
    from hft.reduce.leaderboard import PHASE_TITLES
    from hft.tables import label, render_table, span

    objs = [o.metric for o in spec.objectives]
    extra = [m for m in _SHOWN if m not in objs]
    better = ", ".join(
        f"{label(o.metric)} {'higher' if o.direction == 'maximize' else 'lower'}" for o in spec.objectives
    )
    out: list = [
        f"Leaderboard of sweep {spec.name} ({spec.strategy.name} {spec.data.symbol}): top {spec.top} per "
        f"phase ({better} is better)"
    ]
    for phase in ("test", "oos_check", "run", "train"):
        part = [r for r in rows if r.get("phase") == phase]
        if not part:
            continue
        windows = sorted({(r.get("start"), r.get("end")) for r in part}, key=str)
        table = []
        for r in part:
            row = {"rank": r.get("rank"), "fold": r.get("fold"), "trial": r.get("trial")}
            if spec.multi:
                row["pareto"] = bool(r["pareto"])
            row |= {m: v for m, v in zip(objs, r["values"], strict=True)}
            row["params"] = _params_text(r["params"])
            row |= {m: r.get(m) for m in extra}
            row["n_days"] = r.get("n_days")
            if len(windows) > 1:
                row["window"] = span(r.get("start"), r.get("end"))
            if any(x.get("few_days") for x in part):
                row["few_days"] = bool(r.get("few_days"))
            row["run_id"] = r.get("run_id")
            table.append(row)
        df = _frame(table)
        if all(r.get("fold") is None for r in part):
            df = df.drop("fold")
        title = f"{PHASE_TITLES[phase]} ranked by {label(objs[0])}"
        if len(windows) == 1:
            title += f", {span(*windows[0])}"
        few = sum(1 for r in part if r.get("few_days"))
        if few:
            title += f"; {few} row(s) with fewer daily returns than min_days ranked last: do not trust them"
        out.append(render_table(df, title, max_rows=None, width=width))
    return out


def format_leaderboard(
    spec: SweepSpec, rows: list[dict], min_days: int = 20, width: int | None = None
) -> str:
    """The leaderboard as text `width` columns wide (default: the terminal's)."""
    from hft.tables import terminal_width, to_text

    width = width or terminal_width()
    return to_text(*leaderboard_tables(spec, rows, width), width=width)


def selection_tables(selection: dict, width: int | None = None) -> list:
    """The sweep's selection statistics (sweep.yaml `selection`): one row per training window, one
    per walk-forward fold, with the reasons a figure is n/a under each table."""
    from hft.tables import drop_blank_columns, render_table

    out: list = []
    windows = selection.get("windows") or []
    if windows:
        # the order and hiding of `hft report`'s (hft.reduce.selection.selection_frame): most telling first
        cols = ("fold", "dsr", "pbo", "best_sharpe", "expected_max_sharpe", "n_tried", "n_effective",
                "best_trial", "n_days", "start", "end")  # fmt: skip
        df = drop_blank_columns(_frame([{c: w.get(c) for c in cols} for w in windows]))
        title = "Selection statistics: how much of the best is luck (tried counts pruned and failed trials)"
        out.append(render_table(df, title, max_rows=None, width=width))
        for w in windows:
            where = "" if w.get("fold") is None else f"fold {w['fold']}: "
            out += [f"  {where}{k} n/a or adjusted: {why}" for k, why in (w.get("reasons") or {}).items()]
    degr = selection.get("walkforward_degradation") or []
    if degr:
        cols = ("fold", "metric", "n_pairs", "spearman", "best_train", "best_test", "drop", "best_trial")
        title = (
            "Walk-forward degradation per fold: train vs test rank correlation of the metric over the "
            "trials run on both windows; the best train trial's drop"
        )
        out.append(render_table(_frame([{c: d.get(c) for c in cols} for d in degr]), title, width=width))
        out += [f"  fold {d['fold']}: {d['reason']}" for d in degr if d.get("reason")]
    return out


def format_selection(selection: dict, width: int | None = None) -> str:
    """The sweep's selection statistics as text."""
    from hft.tables import terminal_width, to_text

    width = width or terminal_width()
    return to_text(*selection_tables(selection, width), width=width)


def walkforward_tables(spec: SweepSpec, rows: list[dict], agg: dict, width: int | None = None) -> list:
    """Per fold: the out-of-sample figures of the train winner on its test window; then all folds."""
    from hft.tables import label, render_table, span

    obj = spec.objectives[0].metric
    failed = any(r.get("error") for r in rows)
    table = []
    for r in rows:
        row = {
            "fold": r["fold"],
            "test_window": span(r["test_start"], r["test_end"]),
            "trial": r.get("best_trial"),
            "params": _params_text({k: r.get(f"param_{k}") for k in spec.space}),
            **{m: r.get(m) for m in ("net_pnl", "total_return", "trades", "max_drawdown_frac", "sharpe")},
            f"train_{obj}": r.get(f"train_{obj}"),
            "train_window": span(r["train_start"], r["train_end"]),
        }
        if failed:
            row["error"] = r.get("error") or ""
        table.append(row)
    title = f"Walk-forward of sweep {spec.name}: each fold's train winner on its unseen test window"
    out: list = [render_table(_frame(table), title, max_rows=None, width=width)]
    if agg.get("folds_ok"):
        total = {
            "folds": f"{agg['folds_ok']}/{agg['folds']}",
            "net_pnl": agg.get("oos_net_pnl"),
            "total_return": agg.get("oos_total_return"),
            "mean_sharpe": agg.get("oos_sharpe_mean"),
            "max_drawdown_frac": agg.get("oos_max_drawdown_frac"),
            "trades": agg.get("oos_trades"),
            "positive_folds": agg.get("positive_folds"),
        }
        title = (
            f"Out of sample over all folds (the number to trust): {label('net_pnl')} and trades summed, "
            "return compounded, worst drawdown"
        )
        out.append(render_table(_frame([total]), title, width=width))
    else:
        out.append(f"out of sample: no fold's test run succeeded ({agg.get('folds', 0)} fold(s))")
    return out


def format_walkforward(spec: SweepSpec, rows: list[dict], agg: dict, width: int | None = None) -> str:
    """The walk-forward tables as text."""
    from hft.tables import terminal_width, to_text

    width = width or terminal_width()
    return to_text(*walkforward_tables(spec, rows, agg, width), width=width)
