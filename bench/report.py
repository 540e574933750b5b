"""Leaderboard build time and peak memory over 1,000 → 10,000 runs, local and in S3 (moto).

    .venv/bin/python bench/report.py [--sizes 1000,10000] [--repeat 3] [--no-s3]

Writes synthetic run folders (hft.reduce.synth: the real artifact layout), then, per size and
backend, times `scan_runs` + `leaderboard(by=sharpe, top=20)` in a fresh process (so the moto
server's memory is not counted) and reports the median seconds, runs/s, peak PSS of that process,
and how time and memory grow from the smallest to the largest size (linear = size ratio).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(url: str, opts: dict) -> dict:
    sys.path.insert(0, str(ROOT))
    from bench._mem import PeakPSS
    from hft.reduce import leaderboard, scan_runs

    with PeakPSS(interval=0.05) as mem:
        t0 = time.perf_counter()
        scan = scan_runs(url, opts)
        t1 = time.perf_counter()
        lb = leaderboard(scan, by="sharpe", top=20)
        t2 = time.perf_counter()
    return {
        "runs": len(scan.summaries),
        "list_s": t1 - t0,
        "scan_s": t2 - t1,
        "total_s": t2 - t0,
        "peak_mb": mem.peak / 2**20,
        "top": lb["run_id"][0],
    }


def run_measure(url: str, opts: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", url, "--opts", json.dumps(opts)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_moto():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--measure")
    ap.add_argument("--opts", default="{}")
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(a.measure, json.loads(a.opts))))
        return
    sys.path.insert(0, str(ROOT))
    from hft.reduce.synth import write_runs
    from hft.store.fs import Store

    sizes = sorted(int(s) for s in a.sizes.split(","))
    backends = ["local"] + ([] if a.no_s3 else ["s3"])
    server = None
    results: dict[str, dict[int, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            if backend == "s3":
                import boto3

                server, endpoint = start_moto()
                boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    aws_access_key_id="bench",
                    aws_secret_access_key="bench",
                    region_name="us-east-1",
                ).create_bucket(Bucket="hft-bench")
                opts = {"endpoint_url": endpoint, "key": "bench", "secret": "bench"}
            else:
                opts = {}
            results[backend] = {}
            written = 0
            for size in sizes:
                url = f"{tmp}/{backend}-{size}/runs" if backend == "local" else f"s3://hft-bench/b{size}/runs"
                t0 = time.perf_counter()
                write_runs(Store(url, opts), size, groups=20, seed=size, curves=False)
                written += size
                print(f"[{backend}] wrote {size:,} runs in {time.perf_counter() - t0:.1f}s", flush=True)
                reps = [run_measure(url, opts) for _ in range(a.repeat)]
                med = {
                    k: statistics.median(r[k] for r in reps)
                    for k in ("list_s", "scan_s", "total_s", "peak_mb")
                }
                assert all(r["runs"] == size for r in reps)
                results[backend][size] = med
                print(
                    f"[{backend}] {size:>6,} runs: leaderboard {med['total_s']:.2f}s median of {a.repeat} "
                    f"(list {med['list_s']:.2f}s + scan/top-k {med['scan_s']:.2f}s), "
                    f"{size / med['total_s']:,.0f} runs/s, peak PSS {med['peak_mb']:.0f} MB",
                    flush=True,
                )
            if server is not None:
                server.stop()
                server = None
    lo, hi = sizes[0], sizes[-1]
    for backend, res in results.items():
        if lo == hi:
            break
        t = res[hi]["total_s"] / res[lo]["total_s"]
        m = res[hi]["peak_mb"] / res[lo]["peak_mb"]
        print(
            f"{backend}: {lo:,} → {hi:,} runs (×{hi / lo:.0f}): time ×{t:.2f}, peak memory ×{m:.2f}; "
            f"peak {res[hi]['peak_mb']:.0f} MB ({'under' if res[hi]['peak_mb'] < 1024 else 'OVER'} 1 GB)"
        )


if __name__ == "__main__":
    main()
