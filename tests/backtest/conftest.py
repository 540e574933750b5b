from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from hft.data.bi5 import decode_bi5
from hft.store.ticks import write_day  # the ingest side's writer: same layout `hft ingest` produces

DAYS = (date(2019, 2, 4), date(2019, 2, 5))


def _day_ticks(dukascopy_dir: Path, day: date) -> np.ndarray:
    parts = []
    for hour in range(24):
        body = (dukascopy_dir / f"EURUSD/2019/01/{day.day:02d}/{hour:02d}h_ticks.bi5").read_bytes()
        when = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        parts.append(decode_bi5(body, symbol="EURUSD", hour=when, decimal_factor=100_000))
    return np.concatenate(parts)


@pytest.fixture(scope="session")
def eurusd_store(tmp_path_factory, dukascopy_dir) -> str:
    root = tmp_path_factory.mktemp("store")
    for day in DAYS:
        write_day(str(root), "EURUSD", day, _day_ticks(dukascopy_dir, day))
    return str(root)


@pytest.fixture()
def store_copy(tmp_path, eurusd_store) -> str:
    import shutil

    dst = tmp_path / "store"
    shutil.copytree(eurusd_store, dst)
    return str(dst)
