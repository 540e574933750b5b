"""The report for a terminal: leaderboard, strategies, sensitivity, the leaders' trade stats and
the walk-forward table, as plain Polars tables."""

from __future__ import annotations

import polars as pl

from hft.reduce.leaderboard import leaderboard_sections
from hft.reduce.report import Report
from hft.reduce.selection import degradation_frame, selection_frame

__all__ = ["render_text"]


def _t(df: pl.DataFrame, rows: int = 50) -> str:
    with pl.Config(
        tbl_rows=rows,
        tbl_cols=-1,
        tbl_width_chars=220,
        fmt_str_lengths=48,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        float_precision=4,
    ):
        return str(df)


def render_text(report: Report) -> str:
    by = report.by
    out = [
        f"{report.url}: {report.runs} runs, ranked by {by} "
        f"({'higher' if report.descending else 'lower'} is better)"
    ]
    if report.skipped:
        out.append("skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(report.skipped.items())))
    out.extend(report.notes)
    for title, part in leaderboard_sections(report.leaderboard, by):
        out += ["", title, _t(part)]
    if report.selection is not None and report.selection.windows:
        out += ["", "Selection statistics per sweep window (n_tried counts pruned and failed trials)"]
        out += [_t(selection_frame(report.selection))]
    if report.selection is not None and report.selection.degradation:
        out += ["", "Walk-forward degradation per fold (train vs test Sharpe)"]
        out += [_t(degradation_frame(report.selection))]
    out += ["", "Strategies", _t(report.strategies)]
    if not report.eta2.is_empty():
        out += ["", f"Parameter sensitivity of {by} (η² = share of variance explained)", _t(report.eta2)]
        out += [_t(report.sensitivity, rows=60)]
    if report.importance is not None:
        out += ["", f"Optuna parameter importance (study {report.importance_study})", _t(report.importance)]
    for i, d in enumerate(report.details):
        st = d.stats
        line = f"#{i + 1} {d.run_id}"
        if st.get("trades"):
            p, h = st["pnl"], st["holding_s"]
            line += (
                f": {st['trades']} trades, net {p['total']:.2f}, mean {p['mean']:.4g}, p05/p50/p95 "
                f"{p['p05']:.4g}/{p['p50']:.4g}/{p['p95']:.4g}, win {p['win_rate']:.1%}, hold median "
                f"{h['median']:.1f}s p90 {h['p90']:.1f}s"
            )
        if d.equity is not None and d.equity.height:
            line += f", max drawdown {d.equity['drawdown_frac'].max():.2%}"
        if d.clustering is not None:
            a = d.clustering["acf_abs_returns"]
            line += f", ACF|r| lag1 {a[0]:.3f}" if a[0] is not None else ""
        out += (["", "Top runs"] if i == 0 else []) + [line]
    if report.walkforward is not None:
        out += ["", "Walk-forward (out of sample)", _t(report.walkforward_summary), _t(report.walkforward)]
    return "\n".join(out)
