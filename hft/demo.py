"""`hft demo`: the whole chain offline on embedded defaults, each stage saying what it wrote where."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import typer

from hft.data.feed import FeedServer
from hft.data.synth import write_synth_feed
from hft.ingest.pipeline import IngestConfig, ingest
from hft.rayenv import shutdown_ray
from hft.store.fs import open_store
from hft.store.summary import summarise

__all__ = ["DEMO_START", "DEMO_SYMBOL", "run_demo"]

DEMO_SYMBOL = "XAUUSD"
DEMO_START = date(2024, 3, 4)  # a Monday: five trading days and a weekend


def run_demo(workdir: Path, *, days: int = 7, seed: int = 7) -> None:
    workdir = Path(workdir)
    feed_dir, store = workdir / "demo-feed", str(workdir / "data")
    end = DEMO_START + timedelta(days=days - 1)

    t0 = time.perf_counter()
    summary = write_synth_feed(feed_dir, DEMO_SYMBOL, DEMO_START, end, seed=seed)
    typer.echo(f"[1/3] synth: {summary} → {feed_dir} ({time.perf_counter() - t0:.1f}s)")

    with FeedServer(feed_dir) as server:
        typer.echo(f"[2/3] feed: serving {feed_dir} at {server.url} (bound to 127.0.0.1)")
        cfg = IngestConfig(symbol=DEMO_SYMBOL, start=DEMO_START, end=end, store=store, feed_url=server.url)
        try:
            report = ingest(cfg)
        finally:
            shutdown_ray()
    rate = report.ticks_per_second
    typer.echo(
        f"[3/3] ingest: {report.rows:,} ticks in {len(report.days)} day(s) → {store}/ticks "
        f"in {report.seconds:.1f}s ({rate:,.0f} ticks/s after Ray start-up), "
        f"failed hours: {len(report.failed)}"
    )
    for row in summarise(open_store(store), DEMO_SYMBOL):
        typer.echo(
            f"stored {row['symbol']} {row['first']}..{row['last']}: {row['days']} days, "
            f"{row['rows']:,} ticks, hours ok={row['ok']} empty={row['empty']} failed={row['failed']}"
        )
