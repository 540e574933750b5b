"""Size and build time of the interactive HTML report (budget: <= 10 MB for 20 top runs).

    .venv/bin/python bench/report_html.py [--runs ./data/runs] [--top 20]

Run after `make demo` (two walk-forward sweeps over a week of XAU/USD, 2.6 M ticks): each top run
carries its price chart (min/max-downsampled ticks), curves and trade statistics, plus every Optuna
study's plots; plotly.js (~4.7 MB) is embedded once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(ROOT / "data" / "runs"))
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from hft.reduce import build_report
    from hft.reduce.html import render_html

    t0 = time.perf_counter()
    rep = build_report(args.runs, by="sharpe", top=args.top)
    t1 = time.perf_counter()
    html = render_html(rep).encode()
    t2 = time.perf_counter()
    lib = html.find(b"* plotly.js v")
    figs = html.count(b'class="fig"')
    print(f"{rep.runs:,} runs, {len(rep.details)} with curves, {figs} figures")
    print(
        f"HTML {len(html) / 1e6:.2f} MB (plotly.js embedded {html.count(b'* plotly.js v')}x, at byte {lib:,})"
    )
    print(f"build {t1 - t0:.2f} s, render {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
