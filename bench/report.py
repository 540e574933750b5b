"""Leaderboard build time and peak memory over 1,000 → 10,000 runs, local and in S3 (moto).

    .venv/bin/python bench/report.py [--sizes 1000,10000] [--repeat 3] [--no-s3]
    .venv/bin/python bench/report.py --honest [--trials 10000] [--days 250] [--repeat 3]

Writes synthetic run folders (hft.reduce.synth: the real artifact layout), then, per size and
backend, times `scan_runs` + `leaderboard(by=sharpe, top=20)` in a fresh process (so the moto
server's memory is not counted) and reports the median seconds, runs/s, peak PSS of that process,
and how time and memory grow from the smallest to the largest size (linear = size ratio).

`--honest` instead times the statistics of hft.reduce.honest on a trials × days matrix of
synthetic daily returns (goal: under 5 s and 1 GB for 10,000 × 250), each repeat in a fresh process:
`selection_stats` (alignment, effective trials, expected max Sharpe, DSR, PBO by CSCV with S=16),
`sharpe_stats` of every trial, and `wf_degradation` over the trials. CPU seconds are printed too:
on a shared machine wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
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


def measure_honest(trials: int, days: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from bench._mem import PeakPSS
    from hft.reduce.honest import selection_stats, sharpe_stats, wf_degradation

    rng = np.random.default_rng(trials + days)
    m = rng.normal(0.0, 0.01, (trials, days))  # zero-edge trials, what a sweep mostly is
    m[::97, :3] = np.nan  # some trials lack the first days (dropped by alignment, as in real sweeps)
    with PeakPSS(interval=0.05) as mem:
        c0, t0 = time.process_time(), time.perf_counter()
        sel = selection_stats(m, n_tried=trials + trials // 10)
        t1 = time.perf_counter()
        per_run = [sharpe_stats(row) for row in m]
        t2, c2 = time.perf_counter(), time.process_time()
        half = days // 2
        train = [s.sharpe for s in (sharpe_stats(r[:half]) for r in m)]
        test = [s.sharpe for s in (sharpe_stats(r[half:]) for r in m)]
        t3 = time.perf_counter()
        c3 = time.process_time()
        wf = wf_degradation(train, test)
        t4 = time.perf_counter()
        c4 = time.process_time()
    return {
        "selection_s": t1 - t0,
        "sharpe_stats_s": t2 - t1,
        "wf_s": t4 - t3,
        "total_s": (t2 - t0) + (t4 - t3),
        "cpu_s": (c2 - c0) + (c4 - c3),
        "peak_mb": mem.peak / 2**20,
        "pbo": sel["pbo"],
        "pbo_partitions": sel["pbo_partitions"],
        "dsr": sel["dsr"],
        "n_aligned": sel["n_aligned"],
        "runs": len(per_run),
        "spearman": wf["spearman"],
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


def bench_honest(trials: int, days: int, repeat: int) -> None:
    cmd = [sys.executable, __file__, "--measure-honest", "--trials", str(trials), "--days", str(days)]
    reps = []
    for _ in range(repeat):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        reps.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ("selection_s", "sharpe_stats_s", "wf_s", "total_s", "cpu_s", "peak_mb")
    med = {k: statistics.median(r[k] for r in reps) for k in keys}
    r = reps[0]

    def verdict(seconds: float) -> str:
        return "met" if seconds < 5 and med["peak_mb"] < 1024 else "NOT met"

    print(
        f"honest statistics, {trials:,} trials × {days} days, median of {repeat} fresh processes: "
        f"{med['total_s']:.2f}s = selection_stats {med['selection_s']:.2f}s "
        f"(DSR, n_effective, PBO over {r['pbo_partitions']:,} CSCV splits) + sharpe_stats per trial "
        f"{med['sharpe_stats_s']:.2f}s + wf_degradation {med['wf_s']:.2f}s ({med['cpu_s']:.2f} CPU-s); "
        f"peak PSS {med['peak_mb']:.0f} MB"
    )
    print(
        f"  zero-edge check: PBO {r['pbo']:.2f}, DSR of the best {r['dsr']:.2f}, "
        f"{r['n_aligned']:,} of {trials:,} trials aligned, train/test Spearman {r['spearman']:.3f}; "
        f"goal < 5 s and < 1 GB: {verdict(med['total_s'])} in wall time, {verdict(med['cpu_s'])} in CPU time "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--measure")
    ap.add_argument("--opts", default="{}")
    ap.add_argument("--honest", action="store_true", help="time hft.reduce.honest instead")
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--measure-honest", action="store_true")
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(a.measure, json.loads(a.opts))))
        return
    if a.measure_honest:
        print(json.dumps(measure_honest(a.trials, a.days)))
        return
    if a.honest:
        bench_honest(a.trials, a.days, a.repeat)
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
