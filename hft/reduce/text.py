"""The report for a terminal: leaderboard, strategies, sensitivity, the leaders' trade stats and the
walk-forward table, as rich tables that fit the terminal width (readable at 80 columns)."""

from __future__ import annotations

import io
import shutil

from hft.reduce.leaderboard import leaderboard_sections
from hft.reduce.report import Report
from hft.reduce.selection import degradation_frame, selection_frame
from hft.tables import fmt, label, render_table

__all__ = ["render_text", "pbo_logit_line"]

_BARS = " ▁▂▃▄▅▆▇█"


def pbo_logit_line(w: dict) -> str | None:
    """One window's CSCV logits in one line: quantiles and a 20-bin text histogram (None without)."""
    h = w.get("pbo_logits") or {}
    counts, edges = h.get("hist_counts"), h.get("hist_edges")
    if not counts or not edges:
        return None
    top = max(counts) or 1
    bars = "".join(_BARS[0 if c == 0 else max(1, round(8 * c / top))] for c in counts)
    where = f"{w.get('group')} {w.get('phase')}" + ("" if w.get("fold") is None else f" fold {w['fold']}")
    q = " ".join(f"{k} {fmt(h.get(k))}" for k in ("min", "q25", "median", "q75", "max"))
    return (
        f"PBO logits {where} (PBO {fmt(w.get('pbo'))} = share <= 0, {w.get('pbo_partitions')} splits): "
        f"{q}; histogram {fmt(edges[0])} |{bars}| {fmt(edges[-1])}"
    )


_LEAD = ("rank", "run_id", "strategy", "phase", "fold", "n_days", "{by}", "net_pnl", "total_return", "sharpe",
         "psr", "dsr", "max_drawdown_frac", "trades", "params")  # fmt: skip


def render_text(report: Report, width: int | None = None) -> str:
    """The whole terminal report as text, `width` columns wide (default: the terminal's)."""
    from rich.console import Console

    width = width or shutil.get_terminal_size((100, 24)).columns
    buf = io.StringIO()
    con = Console(file=buf, width=width, highlight=False, soft_wrap=False, color_system=None)
    by = report.by

    def render_table_w(df, title, **kw):
        return render_table(df, title, width=width, **kw)

    con.print(
        f"{report.url}: {report.runs:,} runs, ranked by {label(by)} "
        f"({'higher' if report.descending else 'lower'} is better)"
    )
    if report.skipped:
        con.print("skipped: " + ", ".join(f"{k}={v:,}" for k, v in sorted(report.skipped.items())))
    for note in report.notes:
        con.print(note)
    currency = _currency(report)
    # one table per phase, out of sample first: the numbers to trust (hft.reduce.leaderboard)
    for title, part in leaderboard_sections(report.leaderboard, by):
        lead = [x.format(by=by) for x in _LEAD]
        lead.insert(lead.index("n_days") + 1 if "n_days" in lead else len(lead), "window")
        cols = [c for c in dict.fromkeys(lead) if c in part.columns]
        con.print(render_table_w(part.select(cols), title, currency=currency))
    sel = report.selection
    if sel is not None and sel.windows:
        title = "Selection statistics per sweep window (n_tried counts pruned and failed trials)"
        con.print(render_table_w(selection_frame(sel), title))
    for w in sel.windows if sel is not None else []:
        line = pbo_logit_line(w)
        if line:
            con.print(line)
    if sel is not None and sel.degradation:
        con.print(
            render_table_w(
                degradation_frame(sel),
                "Walk-forward degradation per fold (train vs test rank correlation; metric column)",
            )
        )
    con.print(render_table_w(report.strategies, "Strategies", currency=currency))
    if not report.eta2.is_empty():
        con.print(
            render_table_w(report.eta2, f"Parameter sensitivity of {label(by)} (η² = share of variance)")
        )
        con.print(render_table_w(report.sensitivity, "Mean by parameter level", max_rows=60))
    if report.importance is not None:
        con.print(
            render_table_w(
                report.importance, f"Optuna parameter importance (study {report.importance_study})"
            )
        )
    lines = []
    for i, d in enumerate(report.details):
        st = d.stats
        cur = f" {d.currency}" if d.currency else ""
        line = f"#{i + 1} {d.run_id}"
        if st.get("trades"):
            p, h = st["pnl"], st["holding_s"]
            line += (
                f": {st['trades']:,} trades, net {fmt(p['total'], 'money')}{cur}, "
                f"mean {fmt(p['mean'], 'money')}, "
                f"p05/p50/p95 {fmt(p['p05'], 'money')}/{fmt(p['p50'], 'money')}/{fmt(p['p95'], 'money')}, "
                f"win {fmt(p['win_rate'], 'frac')}, hold median {fmt(h['median'], 'seconds')}, "
                f"p90 {fmt(h['p90'], 'seconds')}"
            )
        if d.split:
            s = d.split
            line += (
                f"; gross {fmt(s['gross'], 'money')}, slippage {fmt(-s['slippage'], 'money')}, "
                f"fees {fmt(-s['fees'], 'money')}{cur}"
            )
        if d.equity is not None and d.equity.height:
            line += f", max drawdown {fmt(d.equity['drawdown_frac'].max(), 'frac')}"
        lines.append(line)
    if lines:
        con.print("\nTop runs")
        for line in lines:
            con.print(line)
    if report.walkforward is not None:
        wf = report.walkforward.drop([c for c in report.walkforward.columns if c.startswith("train_")])
        con.print(render_table_w(report.walkforward_summary, "Walk-forward, out of sample (per sweep)"))
        con.print(render_table_w(wf, "Walk-forward folds, out of sample", currency=currency))
    return buf.getvalue().rstrip("\n")


def _currency(report: Report) -> str | None:
    curs = {d.currency for d in report.details if d.currency}
    return curs.pop() if len(curs) == 1 else None
