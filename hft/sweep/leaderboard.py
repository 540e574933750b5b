"""The leaderboard: best trials by objective with their parameters and key metrics, as text."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from hft.sweep.spec import SweepSpec

__all__ = ["leaderboard_rows", "format_leaderboard", "format_walkforward", "KEY_METRICS"]

KEY_METRICS = ("sharpe", "net_pnl", "total_return", "max_drawdown_frac", "trades", "win_rate")


def leaderboard_rows(spec: SweepSpec, studies: list[tuple[int | None, optuna.Study]], top: int) -> list[dict]:
    """Completed trials of every (fold, study), best first by the first objective.

    With several objectives the Pareto front of each study comes first (`pareto` True).
    """
    rows = []
    for fold, study in studies:
        front = {t.number for t in study.best_trials} if spec.multi else set()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            rows.append(
                {
                    "fold": fold,
                    "trial": t.number,
                    "values": list(t.values),
                    "params": dict(t.params),
                    "metrics": t.user_attrs.get("metrics") or {},
                    "run_id": (t.user_attrs.get("run") or {}).get("run_id"),
                    "pareto": t.number in front,
                }
            )
    sign = -1.0 if spec.objectives[0].direction == "maximize" else 1.0
    rows.sort(key=lambda r: (not r["pareto"], sign * r["values"][0]))
    return rows[:top]


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(headers: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def format_leaderboard(spec: SweepSpec, rows: list[dict]) -> str:
    objs = [f"{o.metric}{'↑' if o.direction == 'maximize' else '↓'}" for o in spec.objectives]
    extra = [m for m in KEY_METRICS if m not in {o.metric for o in spec.objectives}]
    headers = ["#", "fold", "trial", *(["pareto"] if spec.multi else []), *objs, *extra, "params", "run"]
    body = []
    for i, r in enumerate(rows, 1):
        params = " ".join(f"{k}={_fmt(v)}" for k, v in r["params"].items())
        body.append(
            [
                str(i),
                "-" if r["fold"] is None else str(r["fold"]),
                str(r["trial"]),
                *(["*" if r["pareto"] else ""] if spec.multi else []),
                *(_fmt(v) for v in r["values"]),
                *(_fmt(r["metrics"].get(m)) for m in extra),
                params,
                r["run_id"] or "",
            ]
        )
    title = f"leaderboard {spec.name} ({spec.strategy.name} {spec.data.symbol}), top {len(rows)}"
    return title + "\n" + _table(headers, body)


def format_walkforward(spec: SweepSpec, rows: list[dict], agg: dict) -> str:
    headers = [
        "fold",
        "train",
        "test",
        "best",
        "params",
        "train " + spec.objectives[0].metric,
        "OOS sharpe",
        "OOS net_pnl",
        "OOS ret",
        "OOS maxDD%",
        "trades",
    ]
    body = []
    for r in rows:
        params = " ".join(f"{k}={_fmt(r.get(f'param_{k}'))}" for k in spec.space)
        body.append(
            [
                str(r["fold"]),
                f"{r['train_start']}..{r['train_end']}",
                f"{r['test_start']}..{r['test_end']}",
                _fmt(r["best_trial"]),
                params,
                _fmt(r.get(f"train_{spec.objectives[0].metric}")),
                _fmt(r.get("sharpe")),
                _fmt(r.get("net_pnl")),
                _fmt(r.get("total_return")),
                _fmt(None if r.get("max_drawdown_frac") is None else 100 * r["max_drawdown_frac"]),
                _fmt(r.get("trades")),
            ]
            if r.get("error") is None
            else [
                str(r["fold"]),
                f"{r['train_start']}..{r['train_end']}",
                f"{r['test_start']}..{r['test_end']}",
                _fmt(r["best_trial"]),
                params,
                "",
                f"failed: {r['error'][:80]}",
                "",
                "",
                "",
                "",
            ]
        )
    agg_line = (
        f"out-of-sample over {agg.get('folds_ok', 0)}/{agg.get('folds', 0)} folds: "
        f"net_pnl {_fmt(agg.get('oos_net_pnl'))}, compounded return {_fmt(agg.get('oos_total_return'))}, "
        f"mean Sharpe {_fmt(agg.get('oos_sharpe_mean'))}, worst maxDD "
        f"{_fmt(None if agg.get('oos_max_drawdown_frac') is None else 100 * agg['oos_max_drawdown_frac'])}%, "
        f"trades {_fmt(agg.get('oos_trades'))}, positive folds {_fmt(agg.get('positive_folds'))}"
    )
    return f"walk-forward {spec.name}\n" + _table(headers, body) + "\n" + agg_line
