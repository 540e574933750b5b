"""Peak memory of this process and everything it started (Ray's raylet, GCS, workers), as PSS.

PSS splits shared pages (Ray's object store, shared libraries) among the processes mapping them, so
the sum over processes counts them once, unlike RSS.
"""

from __future__ import annotations

import threading
import time

import psutil

__all__ = ["PeakPSS", "tree_pss"]


def tree_pss(root: psutil.Process | None = None) -> int:
    root = root or psutil.Process()
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


class PeakPSS:
    """Context manager sampling `tree_pss()` every `interval` seconds; `.peak` in bytes."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakPSS:
        self.peak = tree_pss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_pss())
