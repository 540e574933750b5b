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

__all__ = ["leaderboard_rows", "format_leaderboard", "format_walkforward", "format_selection", "KEY_METRICS"]

KEY_METRICS = ("sharpe", "psr", "net_pnl", "total_return", "max_drawdown_frac", "trades")


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


_TITLES = {
    "test": "out-of-sample (walk-forward test windows)",
    "oos_check": "out-of-sample checks, NOT selected (next best train trials on the test windows)",
    "run": "single runs",
    "train": "in-sample (trials on their training window)",
}


def format_leaderboard(spec: SweepSpec, rows: list[dict], min_days: int = 20) -> str:
    """One table per phase, out-of-sample first; `!` marks a ratio from fewer than min_days days."""
    objs = [f"{o.metric}{'↑' if o.direction == 'maximize' else '↓'}" for o in spec.objectives]
    extra = [m for m in KEY_METRICS if m not in {o.metric for o in spec.objectives}]
    headers = [
        "#",
        "phase",
        "fold",
        "trial",
        "window",
        "n_days",
        *(["pareto"] if spec.multi else []),
        *objs,
        *extra,
        "params",
        "run",
    ]
    out = [f"leaderboard {spec.name} ({spec.strategy.name} {spec.data.symbol}), top {spec.top} per phase"]
    for phase in ("test", "oos_check", "run", "train"):
        part = [r for r in rows if r.get("phase") == phase]
        if not part:
            continue
        body = []
        for r in part:
            params = " ".join(f"{k}={_fmt(v)}" for k, v in r["params"].items())
            few = "!" if r.get("few_days") else ""
            body.append(
                [
                    _fmt(r.get("rank")) if r.get("rank") is not None else "-",
                    phase,
                    "-" if r.get("fold") is None else str(r["fold"]),
                    _fmt(r.get("trial")),
                    f"{r.get('start')}..{r.get('end')}",
                    _fmt(r.get("n_days")) + few,
                    *(["*" if r["pareto"] else ""] if spec.multi else []),
                    *(_fmt(v) for v in r["values"]),
                    *(_fmt(r.get(m)) for m in extra),
                    params,
                    r.get("run_id") or "",
                ]
            )
        out += ["", _TITLES[phase], _table(headers, body)]
    if any(r.get("few_days") for r in rows):
        out.append(
            f"! ratio from fewer than {min_days} daily returns: ranked after the rest, do not trust it"
        )
    return "\n".join(out)


def format_selection(selection: dict) -> str:
    """The sweep's selection statistics (sweep.yaml `selection`) as text."""
    lines = ["selection statistics (how much of the best is luck)"]
    for w in selection.get("windows", []):
        where = w["phase"] + ("" if w.get("fold") is None else f" fold {w['fold']}")
        lines.append(
            f"  {where} {w.get('start')}..{w.get('end')}: tried {_fmt(w.get('n_tried'))}, "
            f"effective {_fmt(w.get('n_effective'))}, E[max Sharpe | no skill] "
            f"{_fmt(w.get('expected_max_sharpe'))}, best trial {_fmt(w.get('best_trial'))} Sharpe "
            f"{_fmt(w.get('best_sharpe'))} DSR {_fmt(w.get('dsr'))}, PBO {_fmt(w.get('pbo'))}"
        )
        for k, why in (w.get("reasons") or {}).items():
            lines.append(f"      {k}: n/a or adjusted: {why}")
    for d in selection.get("walkforward_degradation", []):
        metric = d.get("metric") or "sharpe"
        lines.append(
            f"  fold {d['fold']} train→test {metric}: rank correlation {_fmt(d.get('spearman'))} over "
            f"{_fmt(d.get('n_pairs'))} trials run on both windows; "
            f"best train trial {_fmt(d.get('best_trial'))} "
            f"{_fmt(d.get('best_train'))} → {_fmt(d.get('best_test'))} (drop {_fmt(d.get('drop'))})"
            + (f" ({d['reason']})" if d.get("reason") else "")
        )
    return "\n".join(lines)


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
