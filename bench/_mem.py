"""Peak memory of this process and everything it started (Ray's raylet, GCS, workers), as PSS.

PSS splits shared pages (Ray's object store, shared libraries) among the processes mapping them, so
the sum over processes counts them once, unlike RSS.

The sampling runs in a separate, lowered-priority process: reading PSS costs ~3 ms of CPU per process
(~30 ms a sample for a Ray session), and done from a thread of the benchmarked process it held that
process's GIL and one of the machine's two cores, which cut a 2-actor sweep's measured trials/s by a
fifth. Even so a sample stalls the processes it reads (their page tables are walked), so a benchmark
times its runs inside `paused()` and lets the sampler watch other runs of the same work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import psutil

__all__ = ["PeakPSS", "tree_pss"]


def tree_pss(root: psutil.Process | None = None, skip: int | None = None) -> int:
    root = root or psutil.Process()
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        if proc.pid == skip:
            continue
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


class PeakPSS:
    """Context manager: a sampler process reads `tree_pss()` of this process every `interval`
    seconds; `.peak` (bytes) is the largest seen so far, readable while the block runs."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak = interval, 0

    def _read(self) -> None:
        for line in self._proc.stdout:
            self.peak = max(self.peak, int(line))

    def __enter__(self) -> PeakPSS:
        self.peak = tree_pss()
        cmd = [sys.executable, __file__, str(os.getpid()), str(self.interval)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.nice(10))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    @contextlib.contextmanager
    def paused(self):
        """No sampling inside (the sampler process is stopped), so what is timed there is not
        slowed by it."""
        self._proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._proc.send_signal(signal.SIGCONT)

    def __exit__(self, *exc) -> None:
        self.peak = max(self.peak, tree_pss(skip=self._proc.pid))
        self._proc.terminate()
        self._proc.wait()
        self._thread.join()


def _sample(parent: int, interval: float) -> None:
    root, me, peak = psutil.Process(parent), os.getpid(), 0
    while root.is_running():
        pss = tree_pss(root, skip=me)
        if pss > peak:
            peak = pss
            print(pss, flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    _sample(int(sys.argv[1]), float(sys.argv[2]))
