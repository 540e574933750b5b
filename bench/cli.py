"""Start-up time of the `hft` command: `hft --help` (goal < 0.5 s) and a lazily loaded command's help.

    .venv/bin/python bench/cli.py [--repeat 7]

Each call is a fresh process (what a user waits for); prints the median and the range in seconds.
"""

from __future__ import annotations

import argparse
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
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hft.cli", *argv], env=env, capture_output=True, check=True)
            times.append(time.perf_counter() - t)
        mid, lo, hi = statistics.median(times), min(times), max(times)
        print(f"{name:<40} median {mid:.3f} s  (min {lo:.3f}, max {hi:.3f})")


if __name__ == "__main__":
    main()
