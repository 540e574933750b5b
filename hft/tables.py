"""One look for every table `hft` prints or writes: human names and numbers, rich in the terminal.

Column kinds are read from the name (money, fractions shown as %, counts, seconds, dates), so the
terminal report, `hft store`, sweep leaderboards and the HTML report format the same column the same
way. Terminal tables wrap to the console width (80 columns stay readable): long text columns fold,
numbers never do.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

__all__ = [
    "LABELS",
    "drop_blank_columns",
    "kind_of",
    "label",
    "fmt",
    "span",
    "params_text",
    "print_table",
    "render_table",
    "render_record",
    "console",
    "terminal_width",
    "to_text",
]

#: Short human headers for the columns people see most.
LABELS = {
    "rank": "#",
    "run_id": "run",
    "net_pnl": "net PnL",
    "total_return": "return",
    "final_equity": "final equity",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "max DD",
    "max_drawdown_frac": "max DD %",
    "calmar": "Calmar",
    "win_rate": "win %",
    "profit_factor": "profit factor",
    "avg_trade": "avg trade",
    "median_trade": "median trade",
    "avg_holding_s": "avg hold",
    "exposure": "exposure",
    "wall_time_s": "wall time",
    "n_days": "days",
    "sharpe_se": "Sharpe SE",
    "psr": "PSR",
    "dsr": "DSR",
    "pbo": "PBO",
    "eta2": "η²",
    "hours_ok": "ok",
    "hours_empty": "empty",
    "hours_failed": "failed",
    "suspect_empty": "suspect",
    "share_profitable": "profitable %",
    "share_folds_profitable": "folds profitable %",
    "n_tried": "tried",
    "n_effective": "effective",
    "expected_max_sharpe": "E[max Sharpe]",
    "best_sharpe": "best Sharpe",
    "best_trial": "best trial",
    "positive_folds": "folds > 0",
}
#: Free-text columns that fold onto more lines in a narrow terminal (every other column stays whole).
FOLD = frozenset({"params", "notes", "reason", "error"})
_MONEY = re.compile(r"(^|_)(net_pnl|pnl|fees|equity|max_drawdown|avg_trade|median_trade|capital)$")
_FRAC = re.compile(
    r"(^|_)(total_return|max_drawdown_frac|win_rate|exposure|share_profitable|share_folds_profitable|psr|dsr|pbo|return)$"
)
_COUNT = re.compile(r"(^|_)(trades|runs|folds|ticks|days|n_days|trials|fold|rank|hour|ok|empty|failed)$")
_SECONDS = re.compile(r"(^|_)(holding_s|avg_holding_s|wall_time_s|hold_s)$")


def kind_of(name: str) -> str:
    """'money', 'frac', 'count', 'seconds' or 'number' from a column name."""
    if _FRAC.search(name):
        return "frac"
    if _MONEY.search(name):
        return "money"
    if _SECONDS.search(name):
        return "seconds"
    if _COUNT.search(name):
        return "count"
    return "number"


def label(name: str, currency: str | None = None) -> str:
    """A header: the short label, with the currency for money columns (`net PnL (USD)`)."""
    base = LABELS.get(name, name.removeprefix("param_").replace("_", " "))
    for prefix in ("mean_", "median_", "best_", "sum_", "p25_", "p75_", "train_"):
        if name.startswith(prefix) and name not in LABELS:
            base = f"{prefix[:-1]} {label(name[len(prefix) :])}"
            break
    if currency and kind_of(name) == "money" and "(" not in base:
        base += f" ({currency})"
    return base


def _seconds(v: float) -> str:
    if v < 120:
        return f"{v:.1f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    if v < 172_800:
        return f"{v / 3600:.1f} h"
    return f"{v / 86400:.1f} d"


def fmt(v: Any, kind: str = "number") -> str:
    """A value for people: thousands separators, % for fractions, 2 decimals for money."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "∞" if v > 0 else ("-∞" if v < 0 else "—")
        if kind == "frac":
            return f"{v * 100:,.2f}%" if abs(v) >= 1e-4 or v == 0 else f"{v * 100:.2g}%"
        if kind == "money":
            return f"{v:,.2f}"
        if kind == "seconds":
            return _seconds(v)
        if kind == "count" and v.is_integer():
            return f"{int(v):,}"
        a = abs(v)
        if a >= 1e5:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:,.1f}"
        if a == 0 or a >= 1e-3:
            return f"{v:.3f}".rstrip("0").rstrip(".") if a < 1 else f"{v:.2f}"
        return f"{v:.3g}"
    return str(v).replace("\n", ", ")


def span(start: Any, end: Any) -> str:
    """A date window, short: `2024-03-04`, `2024-03-04..03-06`, `2023-12-29..2024-01-02`."""
    a, b = fmt(start), fmt(end)
    if a == b:
        return a
    if a[:5] == b[:5] and len(a) == len(b) == 10:
        return f"{a}..{b[5:]}"
    return f"{a}..{b}"


def params_text(text: str | None) -> str:
    """The `params` column (one line of JSON, or old runs' YAML `fast: 200\\nslow: 1000`) as
    `fast=200, slow=1000`."""
    if not text:
        return ""
    s = str(text).strip()
    if s.startswith("{"):
        import json

        try:
            return ", ".join(f"{k}={v}" for k, v in json.loads(s).items())
        except (ValueError, AttributeError):
            return s
    return ", ".join(p.replace(": ", "=", 1) for p in s.splitlines() if p.strip())


def terminal_width() -> int:
    """The terminal's width ($COLUMNS first; 100 when the output is not a terminal)."""
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


def console(width: int | None = None, *, file=None):
    from rich.console import Console

    return Console(width=width, file=file, highlight=False, soft_wrap=False)


def to_text(*parts, width: int | None = None) -> str:
    """Tables (and lines) as plain text `width` columns wide (default: the terminal's), for `echo`."""
    import io

    from rich.console import Console

    buf = io.StringIO()
    con = Console(
        file=buf, width=width or terminal_width(), highlight=False, soft_wrap=False, color_system=None
    )
    for part in parts:
        con.print(part, markup=False)
    return buf.getvalue().rstrip("\n")


def _fit(headers: list[str], cells: list[list[str]], width: int | None, keep_whole: set[int]) -> list[int]:
    """Indexes of the columns that fit `width`, in order; a `params`-like column may fold to 16."""
    if width is None:
        return list(range(len(headers)))
    used, out = 0, []
    for j, h in enumerate(headers):
        natural = max([len(h), *(len(r[j]) for r in cells)]) if cells else len(h)
        need = (natural if j in keep_whole else min(natural, 16)) + 3  # padding and the gap
        if used + need > width and out:
            continue
        used += need
        out.append(j)
    return out


def drop_blank_columns(df):
    """`df` without the columns empty in every row: a column of n/a says nothing (its reason is noted)."""
    import polars as pl

    if df.is_empty():
        return df
    blank = df.select(pl.all().cast(pl.String).fill_null("").eq("").all()).row(0)
    return df.drop([c for c, b in zip(df.columns, blank, strict=True) if b])


def render_table(
    df,
    title: str | None = None,
    *,
    currency: str | None = None,
    max_rows: int | None = 50,
    width: int | None = None,
):
    """A rich Table of a Polars frame (with its title above and notes below): labelled headers,
    formatted cells, numbers right-aligned.

    With `width`, columns that do not fit are left out (named in the notes) rather than squeezed
    into unreadable ellipses; only free text (`FOLD`: params, notes) folds onto more lines.
    `max_rows` None shows every row."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    cols = df.columns
    kinds = {c: kind_of(c) for c in cols}
    numeric = {c for c, t in df.schema.items() if t.is_numeric()}
    headers = [label(c, currency) for c in cols]
    rows = df.iter_rows() if max_rows is None else df.head(max_rows).iter_rows()
    cells = [
        [params_text(v) if c == "params" else fmt(v, kinds[c]) for c, v in zip(cols, row, strict=True)]
        for row in rows
    ]
    shown = _fit(headers, cells, width, {j for j, c in enumerate(cols) if c not in FOLD})
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    for j in shown:
        c = cols[j]
        head = Text(headers[j])  # cells and headers are text, never rich markup (`E[max Sharpe]`)
        if c in numeric:
            table.add_column(head, justify="right", no_wrap=True)
        elif c in FOLD:
            table.add_column(head, overflow="fold", min_width=16)
        else:
            table.add_column(head, no_wrap=True)
    for row in cells:
        table.add_row(*(Text(row[j]) for j in shown))
    notes = []
    if max_rows is not None and df.height > max_rows:
        notes.append(f"… {df.height - max_rows:,} more rows")
    if len(shown) < len(cols):
        gone = ", ".join(headers[j] for j in range(len(cols)) if j not in shown)
        notes.append(f"left out at this width: {gone} (widen the terminal to see them)")
    return _titled(title, table, "; ".join(notes) or None)


def _titled(title: str | None, table, caption: str | None = None):
    """Title above and caption below, wrapped to the console rather than to a narrow table."""
    from rich.console import Group
    from rich.text import Text

    parts = [Text(""), Text(title, style="italic")] if title else []  # a blank line between tables
    parts.append(table)
    if caption:
        parts.append(Text(caption, style="dim italic"))
    return Group(*parts)


def render_record(values: dict[str, Any], title: str | None = None, *, currency: str | None = None):
    """One record (a run's metrics, an ingest's counts) as a two-column table, each value formatted
    by its name as in every other table."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_header=False)
    from rich.text import Text

    table.add_column("", no_wrap=True)
    table.add_column("", justify="right", overflow="fold")
    for name, v in values.items():
        table.add_row(Text(label(name, currency)), Text("n/a" if v is None else fmt(v, kind_of(name))))
    return _titled(title, table)


def print_table(
    df, title: str | None = None, *, con=None, currency: str | None = None, max_rows: int | None = 50
):
    con = con or console()
    con.print(render_table(df, title, currency=currency, max_rows=max_rows, width=con.width))
