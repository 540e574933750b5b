"""The report as one self-contained, interactive HTML file built on plotly.

plotly.js is embedded once (the first figure carries it, the others reference it), so the page
needs no network. Tables are formatted for people (hft.tables) and sortable by a click on a header.

A small script records any JavaScript error in `#js-errors`, and once the page has loaded marks
`<body data-ready="1" data-plots=N data-empty=M>` (figures drawn / figures without any data point),
so a headless browser can check that the page really works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

import polars as pl

from hft.reduce.curves import RunDetail
from hft.reduce.leaderboard import leaderboard_sections
from hft.reduce.report import Report
from hft.tables import fmt, kind_of, label, params_text, span

__all__ = ["render_html", "table_html"]

_CSS = """
body{font:13px/1.45 system-ui,sans-serif;margin:0 auto;padding:16px 24px;max-width:1280px;color:#222}
h1{font-size:21px;margin:4px 0}
h2{font-size:17px;margin-top:30px;border-bottom:1px solid #ccc;padding-bottom:3px}
h3{font-size:14px;margin:18px 0 4px}nav a{margin-right:12px}.meta{color:#555}
.tbl{max-width:100%;max-height:80vh;overflow:auto;margin:6px 0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:12px}
th,td{border-bottom:1px solid #e3e3e3;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f4f4f4;cursor:pointer;user-select:none;position:sticky;top:0;white-space:normal;
vertical-align:bottom}
td.s,th.s{text-align:left}td.w{white-space:normal;min-width:10em;max-width:28em}
td.w div{max-height:4.4em;overflow-y:auto;overflow-wrap:anywhere}
.note{color:#8a5a00}.grid2{display:grid;grid-template-columns:1fr 1fr;gap:8px}
@media(max-width:900px){.grid2{grid-template-columns:1fr}}
.kpi{display:flex;flex-wrap:wrap;gap:6px 18px;margin:4px 0}.kpi b{font-weight:600}
details summary{cursor:pointer;color:#1f4e9c}#js-errors{color:#b00;white-space:pre-wrap}
.fig{min-height:40px;min-width:0}.grid2>*{min-width:0}
"""

_JS = """
(function(){
  var errs=[];var box=document.getElementById('js-errors');
  function rec(m){errs.push(m);if(box){box.textContent=errs.join('\\n');}}
  window.addEventListener('error',function(e){rec('error: '+e.message);});
  window.addEventListener('unhandledrejection',function(e){rec('rejection: '+e.reason);});
  try{
    document.querySelectorAll('table.sortable').forEach(function(tb){
      tb.querySelectorAll('th').forEach(function(th,ci){
        th.addEventListener('click',function(){
          var body=tb.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
          var asc=th.getAttribute('data-asc')!=='1';th.setAttribute('data-asc',asc?'1':'0');
          rows.sort(function(a,b){
            var x=a.cells[ci].getAttribute('data-v'),y=b.cells[ci].getAttribute('data-v');
            var nx=parseFloat(x),ny=parseFloat(y);
            var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:String(x).localeCompare(String(y));
            return asc?c:-c;});
          rows.forEach(function(r){body.appendChild(r);});
        });
      });
    });
  }catch(e){rec('report script: '+e.message);}
  function size(v){
    if(!v){return 0;}if(v.length!==undefined){return v.length;}
    if(v.bdata){return 1;}return 0;}
  function points(gd){
    var n=0;(gd._fullData||gd.data||[]).forEach(function(t){
      n+=Math.max(t._length||0,size(t.x),size(t.y),size(t.z),size(t.values),size(t.dimensions));});
    return n;}
  window.addEventListener('load',function(){
    setTimeout(function(){
      var plots=document.querySelectorAll('.js-plotly-plot');var empty=0;
      plots.forEach(function(gd){if(points(gd)===0){empty++;rec('figure without data: '+gd.id);}});
      document.body.setAttribute('data-plots',String(plots.length));
      document.body.setAttribute('data-empty',String(empty));
      document.body.setAttribute('data-ready','1');
    },0);
  });
})();
"""

_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


class _Figures:
    """Turns plotly figures into divs; the first carries plotly.js, the rest reuse it."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig, kind: str) -> str:
        if fig is None:
            return ""
        first = self.count == 0
        self.count += 1
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=first,
            config=_CONFIG,
            div_id=f"fig{self.count}",
        )
        return f'<div class="fig" data-kind="{kind}">{div}</div>'


def table_html(
    df: pl.DataFrame | None, *, sortable: bool = True, max_rows: int = 500, currency: str | None = None
) -> str:
    """An HTML table with human headers and numbers; cells keep the raw value in data-v for sorting."""
    if df is None or df.is_empty():
        return "<p>none</p>"
    cols = df.columns
    numeric = {c for c, t in df.schema.items() if t.is_numeric()}
    kinds = {c: kind_of(c) for c in cols}
    head = "".join(
        f'<th class="{"" if c in numeric else "s"}" title="{escape(c)}">{escape(label(c, currency))}</th>'
        for c in cols
    )
    rows = []
    for row in df.head(max_rows).iter_rows():
        cells = []
        for c, v in zip(cols, row, strict=True):
            text = params_text(v) if c == "params" else fmt(v, kinds[c])
            raw = "" if v is None else str(v)
            if c == "params":  # at most 3 lines high (the rest scrolls in the cell), all of it on hover
                t = escape(text)
                cells.append(f'<td class="s w" data-v="{escape(raw)}" title="{t}"><div>{t}</div></td>')
                continue
            cls = "" if c in numeric else "s"
            cells.append(f'<td class="{cls}" data-v="{escape(raw)}">{escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f"<p>… {df.height - max_rows:,} more rows in the export (--csv)</p>" if df.height > max_rows else ""
    )
    cls = ' class="sortable"' if sortable else ""
    body = f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
    return f'<div class="tbl"><table{cls}>{body}</table></div>{more}'


_LEAD = (  # the Sharpe SE is in the honest-ranking table: a leaderboard fits a 1,400 px window
    "rank", "run_id", "group", "strategy", "symbol", "phase", "fold", "window", "n_days",
    "{by}", "net_pnl", "total_return", "sharpe", "psr", "dsr", "max_drawdown_frac",
    "trades", "win_rate", "params",
)  # fmt: skip
_WF_KEY = ("sweep", "folds", "sum_net_pnl", "sum_trades", "sum_fees", "mean_sharpe", "mean_max_drawdown_frac",
           "share_folds_profitable")  # fmt: skip
_HONEST = ("sharpe", "sharpe_se", "psr", "dsr", "pbo", "n_days")


def _lead_cols(df: pl.DataFrame, by: str) -> list[str]:
    return [c for c in dict.fromkeys(x.format(by=by) for x in _LEAD) if c in df.columns]


def _currency(report: Report) -> str | None:
    curs = {d.currency for d in report.details if d.currency}
    return curs.pop() if len(curs) == 1 else None


def _leaderboard(report: Report) -> str:
    """The rows and per-phase tables `hft report` prints (out of sample first), with more columns."""
    by, cur, lead = report.by, _currency(report), report.leaderboard
    if lead.is_empty():
        return "<p>none</p>"
    if {"start", "end"} <= set(lead.columns):  # `2024-03-04..03-06`: a narrower column
        lead = lead.with_columns(
            pl.Series("window", [span(a, b) for a, b in zip(lead["start"], lead["end"], strict=True)])
        )
    out = []
    for title, part in leaderboard_sections(lead, by, _lead_cols(lead, by)):
        # a column empty in every row of this phase (fold of single runs, Sharpe of 1-day windows)
        blank = part.select(pl.all().cast(pl.String).fill_null("").eq("").all()).row(0)
        part = part.drop([c for c, b in zip(part.columns, blank, strict=True) if b and c != "rank"])
        out.append(f"<h3>{escape(title)}</h3>{table_html(part, currency=cur)}")
    return "".join(out)


def _honest(report: Report) -> str:
    cols = [c for c in _HONEST if c in report.ranked.columns]
    if not ({"sharpe_se", "psr", "dsr", "pbo"} & set(cols)):
        return ""
    df = report.ranked.filter(pl.col("rank").is_not_null()).head(max(report.leaderboard.height, 1))
    return (
        "<h2 id='honest'>Honest ranking</h2><p>Sharpe standard error, probabilistic Sharpe ratio (PSR: "
        "chance the true Sharpe is above 0), deflated Sharpe ratio (DSR: PSR corrected for the number "
        "of trials) and probability of backtest overfitting (PBO), where the runs carry them.</p>"
        + table_html(df.select("rank", "run_id", "strategy", *cols))
    )


def _selection(report: Report, fig: _Figures) -> str:
    """Selection statistics per sweep window, PBO logit histograms, walk-forward degradation."""
    from hft.reduce.selection import degradation_frame, selection_frame
    from hft.reduce.sweep_figures import pbo_logit_figure

    sel = report.selection
    if sel is None or not (sel.windows or sel.degradation):
        return ""
    out = [
        "<h2 id='selection'>Selection statistics</h2><p>Per sweep window: trials tried (pruned and "
        "failed count), effective independent trials, the best Sharpe expected from luck alone, the "
        "selected trial's deflated Sharpe (DSR) and the probability of backtest overfitting (PBO).</p>"
    ]
    if sel.windows:
        out.append(table_html(selection_frame(sel)))
        for group in dict.fromkeys(w["group"] for w in sel.windows):
            f = pbo_logit_figure(sel.windows, group)
            if f is not None:
                out.append(fig(f, "pbo_logits"))
    if sel.degradation:
        out.append(
            "<h3>Walk-forward degradation per fold</h3><p>Rank correlation of train vs test figures of "
            "the trials run on both windows (the selected one and the next best train trials); the "
            "metric column says which figure (a 1-day test window has no Sharpe).</p>"
        )
        out.append(table_html(degradation_frame(sel)))
    return "".join(out)


def _sweeps(report: Report, fig: _Figures) -> str:
    out = ["<h2 id='params'>Parameters</h2>"]
    from hft.reduce.sweep_figures import param_heatmap, study_figures, walkforward_figure

    grids = [g for g in report.heatmaps if g.get("z")]
    if grids:
        out.append(
            '<div class="grid2">'
            + "".join(fig(param_heatmap(g, report.by), "heatmap") for g in grids)
            + "</div>"
        )
    if not report.eta2.is_empty():
        import plotly.graph_objects as go

        from hft.reduce.figures import TEMPLATE

        e = report.eta2
        f = go.Figure(
            go.Bar(
                x=[f"{s}.{p}" for s, p in zip(e["strategy"], e["param"], strict=True)],
                y=e["eta2"].to_numpy(),
                hovertemplate="%{x}: %{y:.1%} of the variance<extra></extra>",
            )
        )
        f.update_layout(
            template=TEMPLATE,
            height=320,
            hovermode="closest",
            yaxis=dict(tickformat=".0%"),
            title=f"Share of {label(report.by)} variance explained by each parameter (η²)",
        )
        out.append(fig(f, "eta2"))
    out.append(
        "<details><summary>Sensitivity table</summary>" + table_html(report.sensitivity) + "</details>"
    )
    if report.walkforward is not None:
        out.append("<h2 id='wf'>Walk-forward</h2>")
        wfs = report.walkforward_summary
        key = [c for c in _WF_KEY if c in wfs.columns]
        out.append(table_html(wfs.select(key)))
        out.append("<details><summary>Every out-of-sample mean</summary>" + table_html(wfs) + "</details>")
        for sweep in report.walkforward["sweep"].unique(maintain_order=True).to_list():
            out.append(fig(walkforward_figure(report.walkforward, sweep), "walkforward"))
        wf = report.walkforward.drop([c for c in report.walkforward.columns if c.startswith("train_")])
        out.append("<details><summary>Every fold (out of sample)</summary>" + table_html(wf) + "</details>")
    out.append(_selection(report, fig))
    notes: list[str] = []
    studies = study_figures(report.optuna_files, notes)
    if studies or notes:
        out.append("<h2 id='optuna'>Optuna studies</h2>")
        out.extend(f'<p class="note">{escape(n)}</p>' for n in notes)
    for s in studies:
        out.append(
            f"<h3>{escape(s.study)} · {s.trials:,} completed trials</h3>"
            f"<p class='meta'>{escape(s.storage)}</p>"
        )
        out.extend(f'<p class="note">{escape(n)}</p>' for n in s.notes)
        out.append('<div class="grid2">' + "".join(fig(f, f"optuna_{k}") for k, f in s.figures) + "</div>")
    return "".join(out)


def _kpis(d: RunDetail) -> str:
    m = d.summary.get("metrics", {})
    cur = f" {d.currency}" if d.currency else ""
    items = [
        ("net PnL", f"{fmt(m.get('net_pnl'), 'money')}{cur}"),
        ("return", fmt(m.get("total_return"), "frac")),
        ("Sharpe", fmt(m.get("sharpe"))),
        ("max DD", f"{fmt(m.get('max_drawdown_frac'), 'frac')} ({fmt(m.get('max_drawdown'), 'money')}{cur})"),
        ("trades", fmt(m.get("trades"))),
        ("win", fmt(m.get("win_rate"), "frac")),
        ("fees", f"{fmt(m.get('fees'), 'money')}{cur}"),
        ("capital", f"{fmt(d.capital, 'money')}{cur}"),
    ]
    return (
        '<div class="kpi">'
        + "".join(f"<span>{k} <b>{escape(v)}</b></span>" for k, v in items if v.strip())
        + "</div>"
    )


def _run_section(i: int, d: RunDetail, fig: _Figures) -> str:
    from hft.reduce.figures import calendar, pnl_waterfall, run_timeline, trade_figures

    strat = d.summary.get("config", {}).get("strategy", {})
    params = ", ".join(f"{k}={v}" for k, v in (strat.get("params") or {}).items())
    parts = [
        f'<h3 id="run-{escape(d.run_id)}">#{i + 1} {escape(strat.get("name", ""))} on {escape(d.symbol)} '
        f"· {escape(d.window)} · {escape(d.run_id)}</h3>",
        f"<p class='meta'>{escape(params)} · {escape(d.url)}</p>",
        _kpis(d),
    ]
    timeline = run_timeline(d)  # before the notes: it may add one about markers
    parts.extend(f'<p class="note">{escape(n)}</p>' for n in d.notes)
    parts.append(fig(timeline, "timeline"))
    monthly = ""
    if d.monthly is not None and not d.monthly.is_empty():
        monthly = "<h3>Monthly returns</h3>" + table_html(
            d.monthly.select(pl.col("year").cast(pl.String), "month", pl.col("ret").alias("return"), "days"),
            sortable=False,
        )
    parts.append(
        '<div class="grid2">' + fig(calendar(d), "calendar") + fig(pnl_waterfall(d), "pnl_split") + "</div>"
    )
    parts.append(monthly)
    if d.trades is None:
        parts.append('<p class="note">trades.parquet missing or unreadable</p>')
    elif not d.stats.get("trades"):
        parts.append("<p>no trades</p>")
    else:
        parts.append(fig(trade_figures(d), "trades"))
        st, cur = d.stats, d.currency or None
        parts.append(
            '<div class="grid2">'
            + table_html(st["by_side"], sortable=False, currency=cur)
            + table_html(st["by_exit"], sortable=False, currency=cur)
            + "</div>"
        )
    return "".join(parts)


def render_html(report: Report) -> str:
    by = report.by
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig = _Figures()
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>hft report: {escape(report.url)}</title><style>{_CSS}</style></head><body>",
        '<pre id="js-errors"></pre>',
        f"<h1>hft report</h1><p class='meta'>{escape(report.url)} · {report.runs:,} runs · ranked by "
        f"<b>{escape(label(by))}</b> ({'higher' if report.descending else 'lower'} is better) · {created}. "
        "Times are UTC; money is in each symbol's quote currency.</p>",
        "<nav><a href='#lead'>Leaderboard</a><a href='#strategies'>Strategies</a>"
        "<a href='#params'>Parameters</a>"
        "<a href='#wf'>Walk-forward</a><a href='#optuna'>Optuna</a><a href='#runs'>Top runs</a></nav>",
    ]
    if report.skipped:
        items = "".join(f"<li>{escape(k)}: {v:,}</li>" for k, v in sorted(report.skipped.items()))
        out.append(f'<p class="note">skipped artifacts:</p><ul class="note">{items}</ul>')
    out.extend(f'<p class="note">{escape(n)}</p>' for n in report.notes)
    out.append(f"<h2 id='lead'>Leaderboard</h2><div id='leaderboard'>{_leaderboard(report)}</div>")
    out.append(_honest(report))
    out.append(
        "<h2 id='strategies'>Strategies</h2>" + table_html(report.strategies, currency=_currency(report))
    )
    out.append(_sweeps(report, fig))  # in page order: the first figure on the page carries plotly.js
    out.append("<h2 id='runs'>Top runs</h2>")
    out.extend(_run_section(i, d, fig) for i, d in enumerate(report.details))
    out.append(f"<script>{_JS}</script></body></html>")
    return "".join(out)
