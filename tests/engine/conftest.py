from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from hft.data.bi5 import decode_bi5


def load_eurusd(dukascopy_dir: Path) -> np.ndarray:
    """The two fixture days, 2019-02-04 and 05 (the feed's month dir is zero-based, its day dir is not)."""
    parts = []
    for day in (4, 5):
        for hour in range(24):
            body = (dukascopy_dir / f"EURUSD/2019/01/{day:02d}/{hour:02d}h_ticks.bi5").read_bytes()
            when = datetime(2019, 2, day, hour, tzinfo=UTC)
            parts.append(decode_bi5(body, symbol="EURUSD", hour=when, decimal_factor=100_000))
    return np.concatenate(parts)


@pytest.fixture(scope="session")
def eurusd(dukascopy_dir: Path) -> np.ndarray:
    return load_eurusd(dukascopy_dir)
