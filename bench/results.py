"""`hft report` over a sweep's trial parts: 1,000 → 100,000 trials, local and in S3 (moto), step by step.

    .venv/bin/python bench/results.py [--sizes 1000,10000,100000] [--days 250] [--batch 64]
                                      [--no-s3 | --s3-only]

Writes one sweep's result rows as Parquet parts of `--batch` trials each (hft.store.results, the
layout sweeps write: params, metrics, 250 daily returns per trial). Then, per size and backend, in a
fresh process (so the moto server's memory is not counted), runs what `hft report --html` runs:
`build_report` (listing, selection statistics over every trial's daily returns: n_effective, DSR,
PBO with S=16 and each row's DSR; the runs table, ranking, sensitivity, heatmaps, strategies), then
the terminal text and the HTML page. Each step is timed (wall, and CPU over every thread) by
wrapping the functions that do it (no change to them), nested steps under their caller; the peak
PSS of the process is sampled throughout. Prints per size the totals, then one table per backend:
every step's time at each size and how it grows from one size to the next (linear = the size
ratio), and the peak PSS reached by the end of each step. Objects per 1,000 trials are the parts:
1000 / batch.
"""

from __future__ import annotations

import argparse
import itertools
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


#: (label, module, attribute) of the functions timed; a call inside another timed call is
#: counted under it (its label is prefixed with the caller's)
STEPS = (
    ("report", "hft.reduce.report", "build_report"),
    ("list", "hft.reduce.report", "scan_runs"),
    ("selection", "hft.reduce.report", "selection"),
    ("read", "hft.reduce.scan:RunsScan", "collect"),  # under a step that holds the rows: from memory
    ("matrix", "hft.reduce.selection", "_matrix"),
    ("stats", "hft.reduce.honest", "selection_stats"),
    ("align", "hft.reduce.honest", "align_returns"),
    ("n_eff", "hft.reduce.honest", "_mean_correlation"),
    ("sharpes", "hft.reduce.honest", "_row_sharpes"),
    ("pbo", "hft.reduce.honest", "pbo_cscv"),
    ("row_dsr", "hft.reduce.selection", "_row_psr"),
    ("runs_table", "hft.reduce.report", "runs_table"),
    ("rank", "hft.reduce.report", "rank_runs"),
    ("eta2", "hft.reduce.report", "explained_variance"),
    ("sensitivity", "hft.reduce.report", "sensitivity"),
    ("heatmap", "hft.reduce.report", "heatmap_grid"),
    ("strategies", "hft.reduce.report", "compare_strategies"),
    ("text", "hft.reduce.text", "render_text"),
    ("html", "hft.reduce.html", "render_html"),
)


class Stopwatch:
    """Wall and CPU time (every thread of this process) per step, by wrapping the functions of
    STEPS in place (this process only), and the peak PSS reached by the end of each step."""

    def __init__(self, mem) -> None:
        self.seconds: dict[str, list[float]] = {}  # step -> [wall s, CPU s, peak MB so far]
        self._stack: list[str] = []
        self._mem = mem

    def wrap(self, label: str, owner, name: str) -> None:
        import functools

        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            key = "/".join([*self._stack, label])
            self._stack.append(label)
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                got = self.seconds.setdefault(key, [0.0, 0.0, 0.0])
                got[0] += time.perf_counter() - t
                got[1] += time.process_time() - c
                got[2] = self._mem.peak / 2**20
                self._stack.pop()

        setattr(owner, name, timed)

    def install(self) -> None:
        import importlib

        for label, where, name in STEPS:
            mod, _, cls = where.partition(":")
            owner = importlib.import_module(mod)
            self.wrap(label, getattr(owner, cls) if cls else owner, name)


def measure(url: str, opts: dict) -> dict:
    sys.path.insert(0, str(ROOT))
    import hft.reduce.html
    import hft.reduce.text
    from bench._mem import PeakPSS
    from hft.reduce import report as report_mod

    with PeakPSS(interval=0.05) as mem:
        clock = Stopwatch(mem)
        clock.install()
        t0, c0 = time.perf_counter(), time.process_time()
        rep = report_mod.build_report(url, storage_options=opts, by="sharpe", top=20, prices=False)
        hft.reduce.text.render_text(rep, width=160)
        page = hft.reduce.html.render_html(rep)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    w = rep.selection.windows[0]
    return {
        "parts": len(rep.scan.summaries),
        "steps": clock.seconds,
        "total_s": total,
        "total_cpu_s": cpu,
        "peak_mb": mem.peak / 2**20,
        "html_mb": len(page) / 2**20,
        "top": rep.leaderboard["run_id"][0],
        "pbo": w.get("pbo"),
        "dsr": w.get("dsr"),
        "pbo_partitions": w.get("pbo_partitions"),
    }


def _print_growth(backend: str, res: dict[int, dict]) -> None:
    sizes = sorted(res)
    steps = list(dict.fromkeys(k for n in sizes for k in res[n]["steps"]))
    rows = [(k, [res[n]["steps"].get(k, [0.0, 0.0, 0.0]) for n in sizes]) for k in steps]
    rows.append(
        (
            "total (report + text + html)",
            [[res[n]["total_s"], res[n]["total_cpu_s"], res[n]["peak_mb"]] for n in sizes],
        )
    )

    def cols(values: list[float], fmt: str) -> str:
        grow = "".join(f" {b / a:>5.1f}x" if a > 0.01 else "     - " for a, b in itertools.pairwise(values))
        return "".join(format(v, fmt) for v in values) + grow

    linear = " x".join(f"{b // a}" for a, b in itertools.pairwise(sizes))
    print(
        f"[{backend}] per step: wall s, CPU s (all threads), growth size to size (linear: x{linear}), peak MB"
    )
    sizes_head = "".join(f"{n:>8,}" for n in sizes) + "".join(f"{'':>7}" for _ in sizes[1:])
    print(f"  {'step':<36}{sizes_head}  {sizes_head}  peak MB at {sizes[-1]:,}")
    for name, got in rows:
        wall = cols([g[0] for g in got], ">8.2f")
        cpu = cols([g[1] for g in got], ">8.2f")
        print(f"  {name:<36}{wall}  {cpu}  {got[-1][2]:>8,.0f}")
    mem = [res[n]["peak_mb"] for n in sizes]
    print(f"  {'peak PSS (MB)':<36}{cols(mem, '>8,.0f')}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000", help="trials per sweep, comma-separated")
    ap.add_argument("--days", type=int, default=250, help="daily returns per trial")
    ap.add_argument("--batch", type=int, default=64, help="trials per Parquet part (resources.batch)")
    ap.add_argument("--no-s3", action="store_true", help="local folder only")
    ap.add_argument("--s3-only", action="store_true", help="moto S3 on 127.0.0.1 only")
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
                    f"hft report + text + HTML {got['total_s']:.2f}s, peak {got['peak_mb']:,.0f} MB, "
                    f"page {got['html_mb']:.1f} MB; PBO {got['pbo']} over {got['pbo_partitions']} splits, "
                    f"DSR {got['dsr']}",
                    flush=True,
                )
            _print_growth(backend, results[backend])
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()
