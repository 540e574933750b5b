"""Start-up time of the `hft` command: `hft --help` (goal < 0.5 s) and a lazily loaded command's help.

    .venv/bin/python bench/cli.py [--repeat 7]

Each call is a fresh process (what a user waits for); prints the median wall time and its range, and
the median CPU time of the process (less sensitive to a busy machine), with the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "hft --help": ["--help"],
    "hft --version": ["--version"],
    "hft report --help (loads hft.reduce)": ["report", "--help"],
    "hft run --help (loads the engine)": ["run", "--help"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "80"}
    for name, argv in CASES.items():
        times, cpus = [], []
        for _ in range(args.repeat):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hft.cli", *argv], env=env, capture_output=True, check=True)
            times.append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        mid, lo, hi = statistics.median(times), min(times), max(times)
        cpu = statistics.median(cpus)
        print(f"{name:<40} median {mid:.3f} s wall (min {lo:.3f}, max {hi:.3f}), {cpu:.3f} CPU-s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
