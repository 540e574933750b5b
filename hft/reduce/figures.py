"""Plotly figures of one run: price with entries and exits, equity against buy-and-hold, underwater
drawdown and rolling Sharpe on one shared, zoom-linked time axis; daily-returns calendar; PnL split;
trade statistics. Weekend and holiday gaps are cut out of every time axis (rangebreaks found from
the data, so any market's hours work). Money is in the run's quote currency, stated on every axis."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from hft.reduce.curves import RunDetail, downsample

__all__ = ["TEMPLATE", "gap_breaks", "run_timeline", "calendar", "pnl_waterfall", "trade_figures"]

#: A small template: plotly's built-in ones repeat ~8 KB of JSON in every figure.
TEMPLATE = go.layout.Template(
    layout=dict(
        font=dict(family="system-ui, sans-serif", size=12, color="#222"),
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f"],
        xaxis=dict(gridcolor="#eee", zerolinecolor="#ccc", linecolor="#bbb", showline=True),
        yaxis=dict(gridcolor="#eee", zerolinecolor="#ccc", linecolor="#bbb", showline=True),
        hovermode="x unified",
        margin=dict(l=70, r=20, t=50, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
    )
)
MAX_MARKERS = 1000  # entry and exit markers drawn per run (the rest are counted in a note)
GAP_MS = 3 * 3_600_000  # a pause in the data longer than this is cut from time axes


def _ms(ts: pl.Series) -> np.ndarray:
    return ts.dt.epoch("ms").to_numpy().astype(np.float64)


def gap_breaks(ts_ms: np.ndarray, min_gap_ms: int = GAP_MS) -> list[dict]:
    """Plotly rangebreaks for every pause in `ts_ms` longer than `min_gap_ms` (weekends, holidays)."""
    t = np.sort(np.asarray(ts_ms, dtype=np.float64))
    if t.size < 2:
        return []
    d = np.diff(t)
    out = []
    for i in np.flatnonzero(d > min_gap_ms):
        lo, gap = t[i] + 60_000, d[i] - 120_000  # keep a minute of air on both sides
        out.append(dict(values=[_iso(lo)], dvalue=float(gap)))
    return out


def _iso(ms: float) -> str:
    return np.datetime64(int(ms), "ms").astype(str).replace("T", " ")


def _time_points(d: RunDetail) -> np.ndarray:
    """Instants with data: ticks when the price is there, else the equity samples (not the closes)."""
    if d.price is not None and d.price.height:
        return _ms(d.price["ts"])
    if d.equity is not None:
        return _ms(d.equity["ts"])
    return np.array([])


def _money(cur: str) -> str:
    return f" {cur}" if cur else ""


def run_timeline(d: RunDetail) -> go.Figure | None:
    """Price + trades, equity vs buy-and-hold, underwater, rolling Sharpe: one figure, shared x."""
    if d.equity is None or d.equity.is_empty():
        return None
    cur = _money(d.currency)
    rows = [d.price is not None, True, True, d.rolling is not None and d.rolling.height > 0]
    titles = [
        t
        for t, keep in zip(
            (
                f"{d.symbol} mid price ({d.currency or 'quote'})",
                f"Equity vs buy-and-hold one lot ({d.currency or 'quote currency'})",
                "Underwater: drawdown from running peak (%)",
                "Rolling Sharpe (24 h of hourly returns, annualised)",
            ),
            rows,
            strict=True,
        )
        if keep
    ]
    n = len(titles)
    heights = [h for h, keep in zip((0.34, 0.3, 0.18, 0.18), rows, strict=True) if keep]
    fig = make_subplots(
        rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.05, subplot_titles=titles, row_heights=heights
    )
    r = 1
    if d.price is not None:
        fig.add_trace(
            go.Scatter(
                x=_ms(d.price["ts"]),
                y=d.price["mid"].to_numpy(),
                name="mid",
                mode="lines",
                line=dict(width=1, color="#555"),
                hovertemplate=f"%{{y:,.5g}}{cur}<extra>mid</extra>",
            ),
            row=r,
            col=1,
        )
        _markers(fig, d, r)
        r += 1
    eq = downsample(d.equity, 1500)
    x = _ms(eq["ts"])
    fig.add_trace(
        go.Scatter(
            x=x,
            y=eq["equity"].to_numpy(),
            name="strategy",
            mode="lines",
            line=dict(width=1.5),
            hovertemplate=f"%{{y:,.2f}}{cur}<extra>strategy</extra>",
        ),
        row=r,
        col=1,
    )
    if "buy_hold" in eq.columns:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=eq["buy_hold"].to_numpy(),
                name="buy & hold",
                mode="lines",
                line=dict(width=1, dash="dot", color="#ff7f0e"),
                hovertemplate=f"%{{y:,.2f}}{cur}<extra>buy & hold</extra>",
            ),
            row=r,
            col=1,
        )
    r += 1
    fig.add_trace(
        go.Scatter(
            x=x,
            y=-100 * eq["drawdown_frac"].to_numpy(),
            name="drawdown",
            mode="lines",
            fill="tozeroy",
            line=dict(width=1, color="#d62728"),
            hovertemplate="%{y:.3f}%<extra>drawdown</extra>",
            showlegend=False,
        ),
        row=r,
        col=1,
    )
    fig.update_yaxes(ticksuffix="%", row=r, col=1)
    r += 1
    if rows[3]:
        fig.add_trace(
            go.Scatter(
                x=_ms(d.rolling["ts"]),
                y=d.rolling["sharpe"].to_numpy(),
                name="rolling Sharpe",
                mode="lines",
                line=dict(width=1, color="#9467bd"),
                showlegend=False,
                hovertemplate="%{y:.2f}<extra>rolling Sharpe</extra>",
            ),
            row=r,
            col=1,
        )
    breaks = gap_breaks(_time_points(d))
    fig.update_xaxes(type="date", rangebreaks=breaks)
    fig.update_xaxes(rangeslider=dict(visible=False), showspikes=True, spikemode="across", spikethickness=1)
    fig.update_layout(
        template=TEMPLATE,
        height=230 * n + 100,
        hovermode="x unified",
        margin=dict(t=90),
        legend=dict(orientation="h", x=0, y=1.04, yanchor="bottom"),
    )  # above the first title
    return fig


def _markers(fig: go.Figure, d: RunDetail, row: int) -> None:
    tr = d.trades
    if tr is None or tr.is_empty():
        return
    if tr.height > MAX_MARKERS:
        keep = np.unique(np.linspace(0, tr.height - 1, MAX_MARKERS).astype(np.int64))
        d.notes.append(
            f"price chart: entry/exit markers of {len(keep):,} of {tr.height:,} trades (evenly spread)"
        )
        tr = tr[keep]
    cur = _money(d.currency)
    long = (tr["side"] == "long").to_numpy() if "side" in tr.columns else np.ones(tr.height, bool)
    for mask, name, sym, color in (
        (long, "long entry", "triangle-up", "#2ca02c"),
        (~long, "short entry", "triangle-down", "#d62728"),
    ):
        if mask.any():
            sub = tr.filter(pl.Series(mask))
            fig.add_trace(
                go.Scatter(
                    x=_ms(sub["entry_time"]),
                    y=sub["entry_price"].to_numpy(),
                    mode="markers",
                    name=name,
                    marker=dict(symbol=sym, size=8, color=color, line=dict(width=0)),
                    hovertemplate=f"%{{y:,.5g}}{cur}<extra>{name}</extra>",
                ),
                row=row,
                col=1,
            )
    fig.add_trace(
        go.Scatter(
            x=_ms(tr["exit_time"]),
            y=tr["exit_price"].to_numpy(),
            mode="markers",
            name="exit",
            marker=dict(symbol="x-thin", size=7, color="#111", line=dict(width=1.5, color="#111")),
            customdata=tr["net_pnl"].to_numpy(),
            hovertemplate=f"%{{y:,.5g}}{cur}, trade net %{{customdata:,.2f}}{cur}<extra>exit</extra>",
        ),
        row=row,
        col=1,
    )


def calendar(d: RunDetail) -> go.Figure | None:
    """Daily returns as a calendar: weeks down, weekdays across, colour diverging at zero."""
    if d.daily is None or d.daily.is_empty():
        return None
    df = d.daily.with_columns(
        pl.col("date").dt.weekday().alias("wd"),
        (pl.col("date") - pl.duration(days=pl.col("date").dt.weekday() - 1)).alias("week"),
    )
    weeks = sorted(df["week"].unique().to_list())
    z = np.full((len(weeks), 7), np.nan)
    text = [[""] * 7 for _ in weeks]
    for date_, wd, week, ret in df.select("date", "wd", "week", "ret").iter_rows():
        i = weeks.index(week)
        z[i, wd - 1] = 100 * ret if ret is not None else np.nan
        text[i][wd - 1] = f"{date_}: {100 * ret:+.3f}%" if ret is not None else str(date_)
    fig = go.Figure(
        go.Heatmap(
            z=[[None if np.isnan(v) else float(v) for v in row] for row in z],
            x=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            y=[str(w) for w in weeks],
            text=text,
            hovertemplate="%{text}<extra></extra>",
            colorscale="RdYlGn",
            zmid=0,
            colorbar=dict(title="%", ticksuffix="%"),
            xgap=2,
            ygap=2,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", title=None, automargin=True)
    fig.update_layout(
        template=TEMPLATE,
        title="Daily returns (UTC days; rows: weeks from Monday)",
        height=120 + 28 * len(weeks),
        hovermode="closest",
    )
    return fig


def pnl_waterfall(d: RunDetail) -> go.Figure | None:
    """Gross PnL, minus slippage, minus fees = net (quote currency)."""
    s = d.split
    if not s:
        return None
    cur = d.currency or "quote currency"
    fig = go.Figure(
        go.Waterfall(
            x=["gross (before slippage)", "slippage", "fees", "net"],
            y=[s["gross"], -s["slippage"], -s["fees"], s["net"]],
            measure=["absolute", "relative", "relative", "total"],
            text=[f"{v:,.2f}" for v in (s["gross"], -s["slippage"], -s["fees"], s["net"])],
            textposition="outside",
            hovertemplate=f"%{{x}}: %{{y:,.2f}} {cur}<extra></extra>",
            decreasing=dict(marker=dict(color="#d62728")),
            increasing=dict(marker=dict(color="#2ca02c")),
            totals=dict(marker=dict(color="#1f77b4")),
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=f"PnL split ({cur})",
        height=320,
        hovermode="closest",
        yaxis=dict(tickformat=",.0f", title=cur),
        showlegend=False,
    )
    return fig


def trade_figures(d: RunDetail) -> go.Figure | None:
    """Net PnL per trade, holding time, and net PnL by entry hour (all 24 UTC hours)."""
    st = d.stats
    if not st.get("trades"):
        return None
    cur = d.currency or "quote currency"
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.08,
        subplot_titles=(
            f"Net PnL per trade ({cur})",
            "Holding time (minutes)",
            f"Net PnL by entry hour, UTC ({cur})",
        ),
    )
    h = st["histogram"]
    mids = ((h["lo"] + h["hi"]) / 2).to_numpy()
    fig.add_trace(
        go.Bar(
            x=mids,
            y=h["count"].to_numpy(),
            width=(h["hi"] - h["lo"]).to_numpy(),
            customdata=np.stack([h["lo"].to_numpy(), h["hi"].to_numpy()], axis=1),
            hovertemplate=f"%{{customdata[0]:,.2f}} to %{{customdata[1]:,.2f}} {cur}: %{{y:,}} trades"
            "<extra></extra>",
            marker_color="#1f77b4",
        ),
        row=1,
        col=1,
    )
    hh = st["hold_hist"]
    hm = ((hh["lo"] + hh["hi"]) / 120).to_numpy()
    fig.add_trace(
        go.Bar(
            x=hm,
            y=hh["count"].to_numpy(),
            width=((hh["hi"] - hh["lo"]) / 60).to_numpy(),
            hovertemplate="≈%{x:,.1f} min: %{y:,} trades<extra></extra>",
            marker_color="#9467bd",
        ),
        row=1,
        col=2,
    )
    bh = st["by_hour"]
    net = bh["net_pnl"].to_numpy()
    fig.add_trace(
        go.Bar(
            x=bh["hour"].to_numpy(),
            y=net,
            marker_color=np.where(net >= 0, "#2ca02c", "#d62728"),
            customdata=bh["trades"].to_numpy(),
            hovertemplate=f"%{{x:02d}}:00 UTC: %{{y:,.2f}} {cur}, %{{customdata:,}} trades<extra></extra>",
        ),
        row=1,
        col=3,
    )
    fig.update_xaxes(tickmode="linear", dtick=3, range=[-0.5, 23.5], title="hour (UTC)", row=1, col=3)
    fig.update_xaxes(tickformat=",.0f", nticks=6, row=1, col=1)
    fig.update_xaxes(nticks=6, row=1, col=2)
    fig.update_yaxes(title="trades", row=1, col=1)
    fig.update_layout(template=TEMPLATE, height=320, showlegend=False, hovermode="closest", bargap=0.05)
    return fig
