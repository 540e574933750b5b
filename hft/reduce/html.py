"""The report as one self-contained HTML file: inline CSS, inline SVG plots and a small inline
script (sortable tables, hover tips, legend toggles). Nothing is fetched when it is opened.

The script records any JavaScript error in `#js-errors` and marks `<body data-ready="1">` once it
has run, so a headless browser can check the page really works."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape

import polars as pl

from hft.reduce.curves import downsample
from hft.reduce.report import Report
from hft.reduce.svg import bar_chart, heatmap, line_chart

__all__ = ["render_html"]

_CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:20px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ccc}h3{font-size:14px}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;cursor:pointer;user-select:none}td.s,th.s{text-align:left}
.plot{display:block;margin:8px 0;background:#fff}.plot .bg{fill:#fafafa;stroke:#ccc}
.plot .grid{stroke:#e4e4e4}.plot .band{stroke:#888;stroke-dasharray:4 3}.plot .ax{font-size:10px;fill:#555}
.plot .ttl{font-size:12px;font-weight:600}.legend{cursor:pointer}.legend.off{opacity:.35}
.series.off{display:none}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:3px 6px;border-radius:3px;
font-size:11px;display:none;z-index:9}.note{color:#8a5a00}.grid2{display:flex;flex-wrap:wrap;gap:12px}
#js-errors{color:#b00;white-space:pre-wrap}
"""

_JS = """
(function(){
  var errs=[];var box=document.getElementById('js-errors');
  function rec(m){errs.push(m);if(box){box.textContent=errs.join('\\n');}}
  window.addEventListener('error',function(e){rec('error: '+e.message);});
  window.addEventListener('unhandledrejection',function(e){rec('rejection: '+e.reason);});
  try{
    var tip=document.getElementById('tip');
    document.addEventListener('mousemove',function(e){
      var t=e.target.closest?e.target.closest('[data-tip]'):null;
      if(!t){tip.style.display='none';return;}
      tip.textContent=t.getAttribute('data-tip');tip.style.display='block';
      tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';
    });
    document.querySelectorAll('svg.plot .legend').forEach(function(g){
      g.addEventListener('click',function(){
        var s=g.getAttribute('data-series');g.classList.toggle('off');
        g.closest('svg').querySelectorAll('.series.s'+s).forEach(function(p){p.classList.toggle('off');});
      });
    });
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
    document.body.setAttribute('data-plots',String(document.querySelectorAll('svg.plot').length));
  }catch(e){rec('report script: '+e.message);}
  document.body.setAttribute('data-ready','1');
})();
"""


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        a = abs(v)
        return f"{v:.4g}" if a < 1e5 else f"{v:,.0f}"
    return str(v)


def table_html(df: pl.DataFrame, *, sortable: bool = True, max_rows: int = 500) -> str:
    """An HTML table; cells keep the raw value in data-v so sorting is numeric."""
    if df is None or df.is_empty():
        return "<p>none</p>"
    cols = df.columns
    numeric = {c for c, t in df.schema.items() if t.is_numeric()}
    head = "".join(f'<th class="{"" if c in numeric else "s"}">{escape(c)}</th>' for c in cols)
    rows = []
    for row in df.head(max_rows).iter_rows():
        cells = []
        for c, v in zip(cols, row, strict=True):
            text = _fmt(v).replace("\n", "; ")
            cells.append(
                f'<td class="{"" if c in numeric else "s"}" data-v="{escape("" if v is None else str(v))}">'
                f"{escape(text)}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>… {df.height - max_rows} more rows in the export</p>" if df.height > max_rows else ""
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _ms(ts: pl.Series) -> list[float]:
    return ts.dt.epoch("ms").cast(pl.Float64).to_list()


def _curves(report: Report) -> str:
    eq, dd = [], []
    for i, d in enumerate(report.details):
        if d.equity is None or d.equity.is_empty():
            continue
        s = downsample(d.equity)
        name = f"#{i + 1} {d.run_id}"
        eq.append((name, _ms(s["ts"]), s["equity"].to_list()))
        dd.append((name, _ms(s["ts"]), (-s["drawdown_frac"] * 100).to_list()))
    if not eq:
        return "<p>no equity curves (missing equity.parquet)</p>"
    return line_chart(eq, title="Equity of the top runs", kind="equity", ylabel="equity") + line_chart(
        dd, title="Drawdown from running peak (%)", kind="drawdown", ylabel="drawdown %"
    )


def _run_section(i: int, d) -> str:
    parts = [f'<h3 id="run-{escape(d.run_id)}">#{i + 1} {escape(d.run_id)}</h3><p>{escape(d.url)}</p>']
    st = d.stats
    if st.get("trades"):
        summary = pl.DataFrame(
            [{"trades": st["trades"], **st["pnl"], **{f"hold_{k}": v for k, v in st["holding_s"].items()}}]
        )
        parts.append(table_html(summary, sortable=False))
        h = st["histogram"]
        charts = [
            bar_chart(
                [f"{lo:.3g}" for lo in h["lo"].to_list()],
                h["count"].cast(pl.Float64).to_list(),
                title="Net PnL per trade",
                kind="pnl_hist",
                width=370,
                tips=[f"[{lo:.4g}, {hi:.4g}): {c} trades" for lo, hi, c in h.iter_rows()],
            ),
            bar_chart(
                [str(x) for x in st["by_hour"]["hour"].to_list()],
                st["by_hour"]["net_pnl"].to_list(),
                title="Net PnL by entry hour (UTC)",
                kind="by_hour",
                width=370,
                tips=[
                    f"{h:02d}h: {n} trades, net {p:.4g}, win {w:.0%}"
                    for h, n, p, _, w in st["by_hour"].iter_rows()
                ],
            ),
        ]
        parts.append(f'<div class="grid2">{"".join(charts)}</div>')
    elif d.trades is None:
        parts.append('<p class="note">trades.parquet missing or unreadable</p>')
    else:
        parts.append("<p>no trades</p>")
    if d.clustering is not None:
        c = d.clustering
        band = c["band"][0]
        parts.append(
            '<div class="grid2">'
            + bar_chart(
                [str(x) for x in c["lag"].to_list()],
                c["acf_abs_returns"].to_list(),
                title="ACF of |returns| (volatility clustering)",
                kind="acf_abs",
                width=370,
                band=band,
            )
            + bar_chart(
                [str(x) for x in c["lag"].to_list()],
                c["acf_returns"].to_list(),
                title="ACF of returns",
                kind="acf",
                width=370,
                band=band,
            )
            + "</div>"
        )
    return "".join(parts)


def render_html(report: Report) -> str:
    by = report.by
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    skipped = report.skipped
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>hft report: {escape(report.url)}</title><style>{_CSS}</style></head><body>",
        '<div id="tip"></div><pre id="js-errors"></pre>',
        f"<h1>hft report</h1><p>{escape(report.url)} · {report.runs} runs · ranked by <b>{escape(by)}</b> "
        f"({'higher' if report.descending else 'lower'} is better) · {created}</p>",
    ]
    if skipped:
        items = "".join(f"<li>{escape(k)}: {v}</li>" for k, v in sorted(skipped.items()))
        out.append(f'<p class="note">skipped artifacts:</p><ul class="note">{items}</ul>')
    for note in report.notes:
        out.append(f'<p class="note">{escape(note)}</p>')
    out.append("<h2>Leaderboard</h2>")
    lead_cols = [
        c
        for c in (
            "rank",
            "phase",
            "fold",
            "window",
            "n_days",
            "few_days",
            "run_id",
            "group",
            "strategy",
            "symbol",
            by,
            "net_pnl",
            "sharpe",
            "max_drawdown_frac",
            "trades",
            "win_rate",
            "params",
        )
        if c in report.leaderboard.columns
    ]
    out.append(table_html(report.leaderboard.select(list(dict.fromkeys(lead_cols)))))
    out.append("<h2>Equity and drawdown of the top runs</h2>" + _curves(report))
    out.append("<h2>Strategies</h2>" + table_html(report.strategies))
    out.append("<h2>Parameters</h2>")
    if report.heatmap and report.heatmap.get("z"):
        g = report.heatmap
        out.append(
            heatmap(
                g["x_labels"],
                g["y_labels"],
                g["z"],
                g["n"],
                title=f"Mean {by} of {g['strategy']} over {g['x']} × {g['y']}",
                kind="heatmap",
                xlabel=g["x"],
                ylabel=g["y"],
            )
        )
    if report.importance is not None:
        imp = report.importance
        out.append(
            bar_chart(
                imp["param"].to_list(),
                imp["importance"].to_list(),
                title=f"Parameter importance (Optuna, study {report.importance_study})",
                kind="importance",
            )
        )
    if not report.eta2.is_empty():
        e = report.eta2
        labels = [f"{s}.{p}" for s, p in zip(e["strategy"].to_list(), e["param"].to_list(), strict=True)]
        out.append(
            bar_chart(
                labels,
                e["eta2"].to_list(),
                title=f"Share of {by} variance explained by each parameter (η²)",
                kind="eta2",
            )
        )
    out.append("<h3>Sensitivity</h3>" + table_html(report.sensitivity))
    if report.walkforward is not None:
        out.append("<h2>Walk-forward, out of sample</h2>")
        out.append(table_html(report.walkforward_summary) + table_html(report.walkforward))
    out.append("<h2>Top runs</h2>")
    out.extend(_run_section(i, d) for i, d in enumerate(report.details))
    out.append(f"<script>{_JS}</script></body></html>")
    return "".join(out)
