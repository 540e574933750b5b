"""Damaged stores are seen and repaired: `hft store` warns, `hft store --verify` names every bad file
and fails, `hft run` names the bad file in one line, and `hft ingest` reruns (no `--force`) repair."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import numpy as np
import pyarrow.parquet as pq
import pytest

from hft.data.feed import FeedServer
from hft.ingest import IngestConfig, ingest
from hft.store import open_store, read_ticks
from hft.store.ticks import partition_parts

from .conftest import SYNTH_END, SYNTH_START
from .test_ingest_e2e import _feed_ticks

pytestmark = pytest.mark.slow

HFT = [sys.executable, "-m", "hft.cli"]
FRI, SAT, SUN, MON = (date(2024, 3, d) for d in (8, 9, 10, 11))


def _hft(*args):
    return subprocess.run([*HFT, *args], capture_output=True, text=True, timeout=300)


def _file(store, day, name):
    st = open_store(store)
    return st.path(*partition_parts("XAUUSD", day), name)


def _damage_a_page(path: str) -> None:
    """Overwrite a few bytes inside the first data page of `bid`: same size, footer intact."""
    meta = pq.ParquetFile(path).metadata.row_group(0).column(1)
    at = meta.data_page_offset + 40
    with open(path, "r+b") as fh:
        fh.seek(at)
        old = fh.read(8)
        fh.seek(at)
        fh.write(bytes(b ^ 0x5A for b in old))


def _paths(server) -> set[str]:
    return set(server.stats()["paths"])


def test_damage_is_reported_then_repaired_without_force(ray_local, synth_feed, tmp_path):
    store = str(tmp_path / "s")
    cfg = IngestConfig(symbol="XAUUSD", start=SYNTH_START, end=SYNTH_END, store=store)
    with FeedServer(synth_feed) as server:
        assert ingest(cfg.model_copy(update={"feed_url": server.url}), progress=False).ok
    res = _hft("store", "--store", store, "--verify")
    assert res.returncode == 0 and "4 day(s) checked, 0 with problems" in res.stdout

    fri = _file(store, FRI, "ticks.parquet")
    with open(fri, "r+b") as fh:  # truncated
        fh.truncate(len(fh.read()) // 2)
    (tmp_path / "s" / _file(store, SAT, "_manifest.json")).unlink()  # deleted
    with open(_file(store, SUN, "_manifest.json"), "w") as fh:  # garbage
        fh.write('{"rows": 12, "hours": ')
    _damage_a_page(_file(store, MON, "ticks.parquet"))

    summary = _hft("store", "--store", store)
    assert summary.returncode == 0
    warnings = [line for line in summary.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "2024-03-09: manifest missing" in warnings[0]
    assert "2024-03-10: manifest damaged" in warnings[1]

    verify = _hft("store", "--store", store, "--verify")
    assert verify.returncode == 1 and "4 day(s) checked, 4 with problems" in verify.stdout
    bad = [line for line in verify.stderr.splitlines() if line.startswith("bad: ")]
    assert len(bad) == 4
    assert bad[0].startswith(f"bad: {fri}: ") and "truncated" in bad[0]
    assert bad[1].startswith(f"bad: {_file(store, SAT, '_manifest.json')}: manifest missing")
    assert bad[2].startswith(f"bad: {_file(store, SUN, '_manifest.json')}: manifest damaged")
    assert bad[3].startswith(f"bad: {_file(store, MON, 'ticks.parquet')}: ")
    assert "Traceback" not in verify.stderr

    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "data": {"symbol": "XAUUSD", "store": store, "start": str(MON), "end": str(MON)},
                "strategy": {"name": "ema_cross", "params": {"fast": 20, "slow": 100}},
                "execution": {"size": 1, "capital": 100000},
            }
        )
    )
    run = _hft("run", str(config))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert _file(store, MON, "ticks.parquet") in run.stderr and "hft store --verify" in run.stderr

    with FeedServer(synth_feed) as server:  # the cheap checks: size and manifests
        plain = ingest(cfg.model_copy(update={"feed_url": server.url}), progress=False)
        fetched = _paths(server)
    assert plain.ok and [d.day for d in plain.days if not d.skipped] == [FRI, SAT, SUN]
    assert {p.split("/")[4] for p in fetched} == {"08", "09", "10"}  # .../YYYY/MM/DD/HHh_ticks.bi5

    with FeedServer(synth_feed) as server:  # --verify reads every day: the damaged page is found
        deep = ingest(cfg.model_copy(update={"feed_url": server.url, "verify": True}), progress=False)
        fetched = _paths(server)
    assert deep.ok and [d.day for d in deep.days if not d.skipped] == [MON]
    assert len(deep.repaired) == 1 and "2024-03-11" in deep.repaired[0]
    assert {p.split("/")[4] for p in fetched} == {"11"} and len(fetched) == 24

    assert _hft("store", "--store", store, "--verify").returncode == 0
    expected = _feed_ticks(synth_feed, "XAUUSD", SYNTH_START, SYNTH_END, 1000)
    np.testing.assert_array_equal(read_ticks(store, "XAUUSD", SYNTH_START, SYNTH_END), expected)


def test_store_that_does_not_exist_fails(tmp_path):
    res = _hft("store", "--store", str(tmp_path / "nowhere"))
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: store {str(tmp_path / 'nowhere')!r} does not exist " + (
        "(check --store; `hft ingest` creates it)"
    )
