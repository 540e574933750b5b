"""A run's data fingerprint follows the stored ticks, not when, where from or by which node they came."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import numpy as np
import pytest

from hft.backtest.api import data_fingerprint, run_backtest
from hft.data.synth import synth_day
from hft.errors import StoreError
from hft.store import open_store, read_manifest, write_day
from hft.store.ticks import partition_parts

DAY = date(2024, 3, 5)


def _manifest(feed: str, node: str, when: str) -> dict:
    return {
        "source": "bi5",
        "feed": feed,
        "node_id": node,
        "ingested_at": when,
        "hours": {"00": {"status": "ok", "ticks": 1, "url": f"{feed}/XAUUSD/2024/02/05/00h_ticks.bi5"}},
    }


def _one_bid_changed(ticks: np.ndarray, tmp_path) -> np.ndarray:
    """One tick's bid one price unit lower, chosen so the Parquet file keeps its exact size (what a
    size-based fingerprint cannot see); rows are the same and bid < ask still holds."""
    scratch = open_store(str(tmp_path / "scratch"))
    parquet = scratch.path(*partition_parts("XAUUSD", DAY), "ticks.parquet")
    write_day(scratch, "XAUUSD", DAY, ticks)
    size = scratch.fs.size(parquet)
    for k in range(1, 400):
        changed = ticks.copy()
        changed["bid"][k] = round(changed["bid"][k] - 0.001, 3)
        write_day(scratch, "XAUUSD", DAY, changed)
        if scratch.fs.size(parquet) == size:
            return changed
    raise AssertionError("no single-bid change keeps the file size")


def test_reingesting_the_same_ticks_keeps_the_fingerprint(tmp_path):
    st = open_store(str(tmp_path))
    ticks = synth_day("XAUUSD", DAY, seed=1, activity=0.01)
    write_day(st, "XAUUSD", DAY, ticks, _manifest("http://127.0.0.1:1111", "n1", "2026-01-01T00:00:00"))
    first, days = data_fingerprint(st, "XAUUSD", DAY, DAY)
    write_day(st, "XAUUSD", DAY, ticks, _manifest("http://127.0.0.1:2222", "n2", "2026-02-02T00:00:00"))
    assert data_fingerprint(st, "XAUUSD", DAY, DAY) == (first, days) and days == [DAY.isoformat()]


def test_one_changed_bid_with_the_same_size_and_rows_changes_the_fingerprint(tmp_path):
    st = open_store(str(tmp_path))
    ticks = synth_day("XAUUSD", DAY, seed=1, activity=0.01)
    parquet = st.path(*partition_parts("XAUUSD", DAY), "ticks.parquet")
    meta = _manifest("http://127.0.0.1:1111", "n1", "2026-01-01T00:00:00")
    write_day(st, "XAUUSD", DAY, ticks, meta)
    first, _ = data_fingerprint(st, "XAUUSD", DAY, DAY)
    size, rows = st.fs.size(parquet), read_manifest(st, "XAUUSD", DAY)["rows"]

    changed = _one_bid_changed(ticks, tmp_path)
    assert (changed["bid"] != ticks["bid"]).sum() == 1 and (changed["bid"] < changed["ask"]).all()
    write_day(st, "XAUUSD", DAY, changed, meta)
    assert st.fs.size(parquet) == size and read_manifest(st, "XAUUSD", DAY)["rows"] == rows
    assert data_fingerprint(st, "XAUUSD", DAY, DAY)[0] != first


def test_the_changed_bid_gives_a_new_run_id(tmp_path):
    st = open_store(str(tmp_path))
    ticks = synth_day("XAUUSD", DAY, seed=1, activity=0.01)
    meta = _manifest("http://127.0.0.1:1111", "n1", "2026-01-01T00:00:00")
    cfg = {
        "data": {
            "symbol": "XAUUSD",
            "store": str(tmp_path),
            "start": DAY.isoformat(),
            "end": DAY.isoformat(),
        },
        "strategy": {"name": "ema_cross", "params": {"fast": 20, "slow": 100}},
        "execution": {"size": 1, "capital": 100000},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))
    write_day(st, "XAUUSD", DAY, ticks, meta)
    first = run_backtest(path)
    write_day(st, "XAUUSD", DAY, _one_bid_changed(ticks, tmp_path), meta)
    second = run_backtest(path)
    assert second.computed and second.run_id != first.run_id


def test_an_old_manifest_without_a_content_hash_is_hashed_once_and_recorded(tmp_path):
    st = open_store(str(tmp_path))
    ticks = synth_day("XAUUSD", DAY, seed=1, activity=0.01)
    write_day(st, "XAUUSD", DAY, ticks, _manifest("http://x", "n1", "2026-01-01T00:00:00"))
    fresh = data_fingerprint(st, "XAUUSD", DAY, DAY)
    parts = partition_parts("XAUUSD", DAY)
    old = read_manifest(st, "XAUUSD", DAY)
    del old["ticks_sha256"]
    st.write_bytes(json.dumps(old).encode(), *parts, "_manifest.json")
    assert data_fingerprint(st, "XAUUSD", DAY, DAY) == fresh
    # recorded: the hash of the little-endian columns in stored order, computed here with hashlib alone
    h = hashlib.sha256()
    for name in ("ts", "ask", "bid", "ask_volume", "bid_volume"):
        h.update(np.ascontiguousarray(ticks[name]).tobytes())
    assert read_manifest(st, "XAUUSD", DAY)["ticks_sha256"] == h.hexdigest()


def test_a_data_file_without_its_manifest_is_refused_naming_it(tmp_path):
    st = open_store(str(tmp_path))
    write_day(st, "XAUUSD", DAY, synth_day("XAUUSD", DAY, seed=1, activity=0.01), {})
    st.fs.rm(st.path(*partition_parts("XAUUSD", DAY), "_manifest.json"))
    with pytest.raises(StoreError, match=r"_manifest.json: missing or damaged.*hft ingest XAUUSD"):
        data_fingerprint(st, "XAUUSD", DAY, DAY)
