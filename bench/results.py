"""`hft report` over a sweep's trial parts: 1,000 → 100,000 trials, local and in S3 (moto).

    .venv/bin/python bench/results.py [--sizes 1000,10000,100000] [--days 250] [--batch 64]
                                      [--no-s3 | --s3-only]

Writes one sweep's result rows as Parquet parts of `--batch` trials each (hft.store.results, the
layout sweeps write: params, metrics, 250 daily returns per trial), then, per size and backend, in a
fresh process (so the moto server's memory is not counted) times `scan_runs` (listing), the
leaderboard (`leaderboard(by=sharpe, top=20)`, test phase first) and the selection statistics over
every trial's daily returns (`hft.reduce.selection.selection`: n_effective, DSR, PBO with S=16),
with the peak PSS of that process, and how time grows from the smallest size (linear = size ratio).
Objects per 1,000 trials are the parts: 1000 / batch.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
D0 = date(2024, 1, 1)


def write_sweep(url: str, opts: dict, n: int, days: int, batch: int) -> int:
    """`n` trials of sweep `bench` as parts of `batch` rows; returns the number of parts."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pyarrow as pa

    from hft.store.fs import Store
    from hft.store.results import ROW_TYPES, part_path, table_bytes

    st = Store(url, opts)
    rng = np.random.default_rng(7)
    dates = [D0 + timedelta(days=k) for k in range(days)]
    blobs: dict[str, bytes] = {}
    parts = 0
    for first in range(0, n, batch):
        k = min(batch, n - first)
        r = rng.normal(0.0002, 0.01, (k, days))
        sharpe = r.mean(1) / r.std(1, ddof=1) * np.sqrt(252)
        trials = np.arange(first, first + k)
        offsets = pa.array(np.arange(0, (k + 1) * days, days, dtype=np.int32))
        cols = {
            "run_id": pa.array([f"{t:016x}" for t in trials]),
            "group": pa.array(["bench"] * k),
            "strategy": pa.array(["ema_cross"] * k),
            "symbol": pa.array(["XAUUSD"] * k),
            "start": pa.array([dates[0]] * k, pa.date32()),
            "end": pa.array([dates[-1]] * k, pa.date32()),
            "params": pa.array(
                [json.dumps({"fast": int(t % 97), "slow": int(t % 89) + 100}) for t in trials]
            ),
            "sharpe": pa.array(sharpe),
            "net_pnl": pa.array(r.sum(1) * 1e5),
            "n_days": pa.array(np.full(k, days, dtype=np.int64)),
            "days": pa.array(np.full(k, days, dtype=np.int64)),
            "sweep": pa.array(["bench"] * k),
            "trial": pa.array(trials.astype(np.int64)),
            "phase": pa.array(["train"] * k),
            "status": pa.array(["complete"] * k),
            "daily_dates": pa.ListArray.from_arrays(offsets, pa.array(dates * k, pa.date32())),
            "daily_returns": pa.ListArray.from_arrays(offsets, pa.array(r.ravel())),
            "param_fast": pa.array((trials % 97).astype(np.int64)),
            "param_slow": pa.array((trials % 89 + 100).astype(np.int64)),
        }
        table = pa.table({c: cols[c].cast(ROW_TYPES.get(c, cols[c].type)) for c in cols})
        blobs[st.path(*part_path("bench", first, first + k - 1))] = table_bytes(table)
        parts += 1
        if len(blobs) >= 200:
            _flush(st, blobs)
    _flush(st, blobs)
    return parts


def _flush(st, blobs: dict[str, bytes]) -> None:
    if st.is_local:
        for path, data in blobs.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(data)
    else:
        st.fs.pipe(blobs)
    blobs.clear()


def measure(url: str, opts: dict) -> dict:
    sys.path.insert(0, str(ROOT))
    from bench._mem import PeakPSS
    from hft.reduce import leaderboard, scan_runs
    from hft.reduce.selection import selection

    with PeakPSS(interval=0.05) as mem:
        t0 = time.perf_counter()
        scan = scan_runs(url, opts)
        t1 = time.perf_counter()
        lb = leaderboard(scan, by="sharpe", top=20)
        t2 = time.perf_counter()
        sel = selection(scan)
        t3 = time.perf_counter()
    w = sel.windows[0]
    return {
        "parts": len(scan.summaries),
        "list_s": t1 - t0,
        "leaderboard_s": t2 - t1,
        "selection_s": t3 - t2,
        "total_s": t3 - t0,
        "peak_mb": mem.peak / 2**20,
        "top": lb["run_id"][0],
        "pbo": w.get("pbo"),
        "dsr": w.get("dsr"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--s3-only", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        url, opts = json.loads(a.child)
        print(json.dumps(measure(url, opts)))
        return
    sizes = [int(s) for s in a.sizes.split(",")]
    backends = [("local", None)] if a.no_s3 else [("local", None), ("s3", None)]
    if a.s3_only:
        backends = [("s3", None)]
    server = None
    results: dict[str, dict[int, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend, _ in backends:
            if backend == "s3":
                import boto3
                from moto.server import ThreadedMotoServer

                logging.getLogger("werkzeug").setLevel(logging.ERROR)
                server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
                server.start()
                host, port = server.get_host_and_port()
                endpoint = f"http://{host}:{port}"
                opts = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
                boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    region_name="us-east-1",
                ).create_bucket(Bucket="bench")
            else:
                opts = {}
            for size in sizes:
                url = f"{tmp}/{size}" if backend == "local" else f"s3://bench/{size}"
                t = time.perf_counter()
                parts = write_sweep(url, opts, size, a.days, a.batch)
                wrote = time.perf_counter() - t
                child = subprocess.run(
                    [sys.executable, __file__, "--child", json.dumps([f"{url}/runs", opts])],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                got = json.loads(child.stdout.strip().splitlines()[-1])
                results.setdefault(backend, {})[size] = got
                print(
                    f"[{backend}] {size:>7,} trials x {a.days} days in {parts:,} parts "
                    f"({1000 * parts / size:.1f} objects per 1,000 trials; written in {wrote:.1f}s): "
                    f"list {got['list_s']:.2f}s, leaderboard {got['leaderboard_s']:.2f}s, selection "
                    f"(n_eff, DSR, PBO S=16) {got['selection_s']:.2f}s, total {got['total_s']:.2f}s, "
                    f"peak {got['peak_mb']:,.0f} MB; PBO {got['pbo']}, DSR {got['dsr']}",
                    flush=True,
                )
            small, big = min(results[backend]), max(results[backend])
            if big > small:
                ratio = results[backend][big]["total_s"] / results[backend][small]["total_s"]
                print(f"[{backend}] {small:,} -> {big:,} trials: time x{ratio:.1f} (size x{big / small:.0f})")
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()
