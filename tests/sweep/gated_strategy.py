"""A test strategy: `ema_cross` whose trials can be held inside a sweep actor on a gate folder.

`encode()` runs only where the engine is fed (the actors), never in the driver. While `{gate}/hold`
exists (its text: how many trials to let through first, default 0), a trial entering `encode()` leaves
`{gate}/running-{pid}-{fast}-{slow}` and waits until `hold` is removed, so a test knows which actor
process holds which trial before it kills something.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from hft.backtest.params import EmaCrossParams, get_strategy, register_strategy


class GatedEmaParams(EmaCrossParams):
    gate: str = ""

    def encode(self, size):
        hold = Path(self.gate, "hold") if self.gate else None
        if hold is not None and hold.exists():
            let_through = int(hold.read_text() or 0)
            if len(list(hold.parent.glob("passed-*"))) < let_through:
                (hold.parent / f"passed-{uuid.uuid4().hex}").touch()
            else:
                (hold.parent / f"running-{os.getpid()}-{self.fast}-{self.slow}").touch()
                while hold.exists():
                    time.sleep(0.02)
        return super().encode(size)


def held(gate: Path) -> list[tuple[int, int, int]]:
    """(pid, fast, slow) of every trial that waited at the gate."""
    return [tuple(int(x) for x in p.name.split("-")[1:]) for p in sorted(gate.glob("running-*"))]


register_strategy("gated_ema", get_strategy("ema_cross").signal, GatedEmaParams)
