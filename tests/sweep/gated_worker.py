"""Test actors: a `SweepWorker` that can hold a computed batch right before or right after its part is
written, on a gate folder (the `gate` parameter of the `gated_ema` test strategy).

While `{gate}/write-hold` exists (its text: how many batches to let through first), a later batch,
once computed, holds in its write step. The first batch to hold claims `{gate}/slot-after`: it writes
its part, leaves `{gate}/written-{pid}` and waits (its results never reach the driver). Every other
batch leaves `{gate}/computed-{pid}` and waits without writing. So a test that kills the driver knows
it killed one batch between its write and the study's tell, and one between compute and write.
`SizeRecordingWorker` only remembers the size of each batch it ran.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from hft.sweep.worker import SweepWorker


class WriteGatedWorker(SweepWorker):
    def _write_rows(self, req, outs, pruned=frozenset()):
        params = (req.tasks[0].config.get("strategy") or {}).get("params") or {} if req.tasks else {}
        gate = Path(params["gate"]) if params.get("gate") else None
        hold = gate / "write-hold" if gate is not None else None
        if hold is None or not hold.exists():
            return super()._write_rows(req, outs, pruned)
        if len(list(gate.glob("passed-*"))) < int(hold.read_text() or 0):
            (gate / f"passed-{uuid.uuid4().hex}").touch()
            return super()._write_rows(req, outs, pruned)
        trials = "_".join(str(t.tags.get("trial", t.key)) for t in req.tasks)
        try:
            os.close(os.open(gate / "slot-after", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:  # hold before the write
            (gate / f"computed-{os.getpid()}-{trials}").touch()
            _wait(hold)
            return super()._write_rows(req, outs, pruned)
        super()._write_rows(req, outs, pruned)
        (gate / f"written-{os.getpid()}-{trials}").touch()
        _wait(hold)
        return None


def _wait(hold: Path) -> None:
    while hold.exists():
        time.sleep(0.02)


def markers(gate: Path, kind: str) -> dict[int, list[int]]:
    """pid → trial numbers of the batches held at the gate (`kind`: written or computed)."""
    out = {}
    for p in gate.glob(f"{kind}-*"):
        _, pid, trials = p.name.split("-", 2)
        out[int(pid)] = [int(x) for x in trials.split("_")]
    return out


class SizeRecordingWorker(SweepWorker):
    """`SweepWorker` that remembers how many trials each of its `run` calls got (`sizes`)."""

    def __init__(self, cache_mb: int = 512) -> None:
        super().__init__(cache_mb)
        self._sizes: list[int] = []

    def run(self, req):
        self._sizes.append(len(req.tasks))
        return super().run(req)

    def sizes(self) -> list[int]:
        return list(self._sizes)
