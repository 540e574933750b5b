"""A run's data fingerprint follows what was stored, not when, where from or by which node."""

from __future__ import annotations

from datetime import date

import numpy as np

from hft.backtest.api import data_fingerprint
from hft.data.synth import synth_day
from hft.store import open_store, write_day

DAY = date(2024, 3, 5)


def _manifest(feed: str, node: str, when: str) -> dict:
    return {
        "source": "bi5",
        "feed": feed,
        "node_id": node,
        "ingested_at": when,
        "hours": {"00": {"status": "ok", "ticks": 1, "url": f"{feed}/XAUUSD/2024/02/05/00h_ticks.bi5"}},
    }


def test_reingesting_the_same_ticks_keeps_the_fingerprint(tmp_path):
    st = open_store(str(tmp_path))
    ticks = synth_day("XAUUSD", DAY, seed=1, activity=0.01)
    write_day(st, "XAUUSD", DAY, ticks, _manifest("http://127.0.0.1:1111", "n1", "2026-01-01T00:00:00"))
    first, days = data_fingerprint(st, "XAUUSD", DAY, DAY)
    write_day(st, "XAUUSD", DAY, ticks, _manifest("http://127.0.0.1:2222", "n2", "2026-02-02T00:00:00"))
    assert data_fingerprint(st, "XAUUSD", DAY, DAY) == (first, days) and days == [DAY.isoformat()]

    changed = ticks.copy()
    changed["bid"][0] = np.nextafter(changed["bid"][0], 0)
    changed = changed[1:]  # one tick fewer: a different day on disk
    write_day(st, "XAUUSD", DAY, changed, _manifest("http://127.0.0.1:2222", "n2", "2026-02-02T00:00:00"))
    assert data_fingerprint(st, "XAUUSD", DAY, DAY)[0] != first
