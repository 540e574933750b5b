"""Hand-written inline SVG charts (no plotting dependency, nothing fetched at view time).

Every chart is an `<svg class="plot" data-kind=…>`; marks carry `data-tip` text that the page's
small script shows on hover, and line-chart legends toggle their series on click.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape

__all__ = ["PALETTE", "line_chart", "bar_chart", "heatmap", "nice_ticks"]

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
_M = {"l": 64, "r": 16, "t": 28, "b": 34}


def _num(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 1e-3:
        return f"{v:.2e}"
    return f"{v:,.0f}" if a >= 100 else f"{v:.4g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _frame(kind: str, title: str, w: int, h: int, body: list[str]) -> str:
    return (
        f'<svg class="plot" data-kind="{escape(kind)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">'
        f"<title>{escape(title)}</title>"
        f'<text x="{w / 2}" y="16" class="ttl" text-anchor="middle">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _time_label(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%m-%d %H:%M")


def line_chart(
    series: list[tuple[str, list[float], list[float]]],
    *,
    title: str,
    kind: str,
    ylabel: str = "",
    width: int = 760,
    height: int = 260,
    time_axis: bool = True,
) -> str:
    """Lines over a shared x axis (epoch ms when `time_axis`); a clickable legend per series."""
    pts = [
        (x, y)
        for _, xs, ys in series
        for x, y in zip(xs, ys, strict=True)
        if y is not None and math.isfinite(y)
    ]
    body: list[str] = []
    if not pts:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>')
        return _frame(kind, title, width, height, body)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad
    L, R, T, B = _M["l"], width - _M["r"], _M["t"], height - _M["b"]

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * (R - L)

    def sy(y: float) -> float:
        return B - (y - y0) / (y1 - y0) * (B - T)

    body.append(f'<rect x="{L}" y="{T}" width="{R - L}" height="{B - T}" class="bg"/>')
    for t in nice_ticks(y0, y1):
        body.append(f'<line x1="{L}" x2="{R}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>')
        body.append(f'<text x="{L - 4}" y="{sy(t) + 4:.1f}" text-anchor="end" class="ax">{_num(t)}</text>')
    for i in range(5):
        x = x0 + (x1 - x0) * i / 4
        label = _time_label(x) if time_axis else _num(x)
        body.append(f'<text x="{sx(x):.1f}" y="{B + 14}" text-anchor="middle" class="ax">{label}</text>')
    if ylabel:
        body.append(
            f'<text transform="translate(12,{(T + B) / 2}) rotate(-90)" text-anchor="middle" class="ax">'
            f"{escape(ylabel)}</text>"
        )
    for i, (name, xs, ys) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(
            f"{sx(x):.1f},{sy(y):.1f}"
            for x, y in zip(xs, ys, strict=True)
            if y is not None and math.isfinite(y)
        )
        last = next((y for y in reversed(ys) if y is not None and math.isfinite(y)), float("nan"))
        body.append(
            f'<polyline class="series s{i}" data-series="{i}" fill="none" stroke="{color}" '
            'stroke-width="1.4" '
            f'points="{coords}" data-tip="{escape(name)}: last {_num(last)}"/>'
        )
        lx, ly = L + 8 + (i % 3) * 230, T + 12 + (i // 3) * 13
        body.append(
            f'<g class="legend" data-series="{i}"><rect x="{lx}" y="{ly - 8}" width="10" height="10" '
            f'fill="{color}"/><text x="{lx + 14}" y="{ly + 1}" class="ax">{escape(name[:32])}</text></g>'
        )
    return _frame(kind, title, width, height, body)


def bar_chart(
    labels: list[str],
    values: list[float | None],
    *,
    title: str,
    kind: str,
    width: int = 760,
    height: int = 220,
    band: float | None = None,
    tips: list[str] | None = None,
) -> str:
    """Vertical bars from zero (negative bars go down); optional ±`band` reference lines."""
    body: list[str] = []
    vals = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
    if not vals:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>')
        return _frame(kind, title, width, height, body)
    lo, hi = min(0.0, *vals), max(0.0, *vals)
    if band is not None and math.isfinite(band):
        lo, hi = min(lo, -band), max(hi, band)
    if hi == lo:
        hi = lo + 1
    L, R, T, B = _M["l"], width - _M["r"], _M["t"], height - _M["b"]

    def sy(y: float) -> float:
        return B - (y - lo) / (hi - lo) * (B - T)

    body.append(f'<rect x="{L}" y="{T}" width="{R - L}" height="{B - T}" class="bg"/>')
    for t in nice_ticks(lo, hi, 4):
        body.append(f'<line x1="{L}" x2="{R}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>')
        body.append(f'<text x="{L - 4}" y="{sy(t) + 4:.1f}" text-anchor="end" class="ax">{_num(t)}</text>')
    bw = (R - L) / len(vals)
    every = max(1, math.ceil(len(vals) / 16))
    for i, (label, v) in enumerate(zip(labels, vals, strict=True)):
        top, bottom = sy(max(v, 0.0)), sy(min(v, 0.0))
        color = PALETTE[0] if v >= 0 else PALETTE[1]
        tip = tips[i] if tips else f"{label}: {_num(v)}"
        body.append(
            f'<rect class="bar" x="{L + i * bw + 1:.1f}" y="{top:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{max(bottom - top, 0.5):.1f}" fill="{color}" data-tip="{escape(tip)}"/>'
        )
        if i % every == 0:
            body.append(
                f'<text x="{L + (i + 0.5) * bw:.1f}" y="{B + 14}" text-anchor="middle" class="ax">'
                f"{escape(str(label)[:16])}</text>"
            )
    if band is not None and math.isfinite(band):
        for b in (band, -band):
            body.append(f'<line x1="{L}" x2="{R}" y1="{sy(b):.1f}" y2="{sy(b):.1f}" class="band"/>')
    return _frame(kind, title, width, height, body)


def _color(t: float) -> str:
    """Diverging blue (0) → white (0.5) → red (1)."""
    t = min(max(t, 0.0), 1.0)
    if t < 0.5:
        k = t / 0.5
        r, g, b = 33 + k * 222, 102 + k * 153, 172 + k * 83
    else:
        k = (t - 0.5) / 0.5
        r, g, b = 255 - k * 77, 255 - k * 231, 255 - k * 212
    return f"rgb({r:.0f},{g:.0f},{b:.0f})"


def heatmap(
    x_labels: list[str],
    y_labels: list[str],
    z: list[list[float | None]],
    n: list[list[int]],
    *,
    title: str,
    kind: str,
    xlabel: str,
    ylabel: str,
    width: int = 760,
    height: int = 360,
) -> str:
    """Mean objective per cell; empty cells grey; each cell's tip gives the value and run count."""
    body: list[str] = []
    flat = [v for row in z for v in row if v is not None and math.isfinite(v)]
    if not flat:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>')
        return _frame(kind, title, width, height, body)
    lo, hi = min(flat), max(flat)
    span = hi - lo or 1.0
    L, R, T, B = _M["l"] + 30, width - _M["r"] - 60, _M["t"], height - _M["b"] - 12
    cw, ch = (R - L) / len(x_labels), (B - T) / len(y_labels)
    for j, yl in enumerate(y_labels):
        y = B - (j + 1) * ch
        body.append(
            f'<text x="{L - 4}" y="{y + ch / 2 + 4:.1f}" text-anchor="end" class="ax">'
            f"{escape(yl[:14])}</text>"
        )
        for i, xl in enumerate(x_labels):
            v = z[j][i]
            fill = "#ddd" if v is None else _color((v - lo) / span)
            tip = f"{xlabel}={xl}, {ylabel}={yl}: " + (
                "no runs" if v is None else f"{_num(v)} ({n[j][i]} runs)"
            )
            body.append(
                f'<rect class="cell" x="{L + i * cw:.1f}" y="{y:.1f}" width="{cw - 1:.1f}" '
                f'height="{ch - 1:.1f}" '
                f'fill="{fill}" data-tip="{escape(tip)}"/>'
            )
    for i, xl in enumerate(x_labels):
        body.append(
            f'<text x="{L + (i + 0.5) * cw:.1f}" y="{B + 14}" text-anchor="middle" class="ax">'
            f"{escape(xl[:14])}</text>"
        )
    body.append(
        f'<text x="{(L + R) / 2}" y="{B + 30}" text-anchor="middle" class="ax">{escape(xlabel)}</text>'
    )
    body.append(
        f'<text transform="translate(14,{(T + B) / 2}) rotate(-90)" text-anchor="middle" class="ax">'
        f"{escape(ylabel)}</text>"
    )
    for k in range(11):  # colour scale
        yk = B - (k + 1) * (B - T) / 11
        body.append(
            f'<rect x="{R + 14}" y="{yk:.1f}" width="14" height="{(B - T) / 11:.1f}" '
            f'fill="{_color(k / 10)}"/>'
        )
    body.append(f'<text x="{R + 32}" y="{T + 10}" class="ax">{_num(hi)}</text>')
    body.append(f'<text x="{R + 32}" y="{B}" class="ax">{_num(lo)}</text>')
    return _frame(kind, title, width, height, body)
