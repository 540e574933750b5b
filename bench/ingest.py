"""Ingest throughput: decode alone and feed → Parquet end to end, on synthetic XAU/USD.

    .venv/bin/python bench/ingest.py [--days 7] [--repeat 3] [--workers 2]

Prints ticks/s per core (medians over --repeat runs, after a warm-up) for: LZMA decompression alone
(the bound), the full `.bi5` decode, and the end-to-end ingest (offline feed on 127.0.0.1 → Ray tasks →
zstd Parquet on local disk), plus the peak PSS of all processes during the end-to-end runs.
"""

from __future__ import annotations

import argparse
import lzma
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _mem import PeakPSS  # bench/ is on sys.path when run as a script

from hft.data.bi5 import decode_bi5
from hft.data.feed import FeedServer
from hft.data.synth import write_synth_feed
from hft.ingest import IngestConfig, ingest
from hft.rayenv import init_ray, shutdown_ray

SYMBOL, FACTOR = "XAUUSD", 1000


def _bodies(root: Path, start: date, days: int) -> list[tuple[datetime, bytes]]:
    out = []
    for i in range(days):
        d = start + timedelta(days=i)
        for h in range(24):
            f = root / SYMBOL / f"{d.year:04d}/{d.month - 1:02d}/{d.day:02d}/{h:02d}h_ticks.bi5"
            out.append((datetime(d.year, d.month, d.day, h, tzinfo=UTC), f.read_bytes()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2024, 3, 4))
    args = ap.parse_args()
    end = args.start + timedelta(days=args.days - 1)

    with tempfile.TemporaryDirectory(prefix="hft-bench-") as tmp:
        feed = Path(tmp) / "feed"
        t0 = time.perf_counter()
        write_synth_feed(feed, SYMBOL, args.start, end, seed=1)
        synth_s = time.perf_counter() - t0
        bodies = _bodies(feed, args.start, args.days)
        ticks = sum(decode_bi5(b, symbol=SYMBOL, hour=h, decimal_factor=FACTOR).size for h, b in bodies)
        mb = sum(len(b) for _, b in bodies) / 1e6
        print(
            f"data: {SYMBOL} {args.start}..{end}, {ticks:,} ticks, {mb:.1f} MB of .bi5, synth {synth_s:.1f}s"
        )

        def lzma_only():
            for _, b in bodies:
                if b:
                    lzma.decompress(b)

        def decode_all():
            for h, b in bodies:
                decode_bi5(b, symbol=SYMBOL, hour=h, decimal_factor=FACTOR)

        for name, fn in (("lzma decompress only", lzma_only), ("bi5 decode (lzma+numpy)", decode_all)):
            fn()  # warm-up
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            print(f"{name:<28} {ticks / med / 1e6:6.2f} M ticks/s per core (median of {args.repeat})")

        init_ray(num_cpus=args.workers)
        try:
            with FeedServer(feed) as server:
                cfg = IngestConfig(
                    symbol=SYMBOL,
                    start=args.start,
                    end=end,
                    store=str(Path(tmp) / "store"),
                    feed_url=server.url,
                    workers=args.workers,
                    force=True,
                )
                ingest(cfg, progress=False)  # warm-up: worker processes and imports
                rates, cpu_rates = [], []
                with PeakPSS() as mem:
                    for _ in range(args.repeat):
                        rep = ingest(cfg, progress=False)
                        assert rep.ok and rep.fetched_ticks == ticks, rep.failed
                        rates.append(rep.ticks_per_second)
                        cpu_rates.append(rep.ticks_per_cpu_second)
        finally:
            shutdown_ray()
        med = statistics.median(rates)
        print(
            f"{'feed → Parquet end to end':<28} {med / 1e6:6.2f} M ticks/s total, "
            f"{med / args.workers / 1e6:.2f} M ticks/s per core ({args.workers} workers; "
            f"runs {', '.join(f'{r / 1e6:.2f}' for r in rates)} M)"
        )
        print(
            f"{'  per CPU-second of tasks':<28} {statistics.median(cpu_rates) / 1e6:6.2f} M ticks/s per core "
            "(CPU time of the ingest tasks only; the feed server shares the machine)"
        )
        print(f"peak PSS, driver + feed + all Ray processes: {mem.peak / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
