"""What the README's Ingest section promises, each checked through the path it names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from hft.data.feed import FeedFaults, FeedServer
from hft.data.synth import write_synth_feed
from hft.ingest import IngestConfig, ingest
from hft.store import list_days, open_store, read_manifest, read_ticks
from hft.store.ticks import partition_parts

from .conftest import SYNTH_END, SYNTH_START
from .test_ingest_e2e import _feed_ticks

pytestmark = pytest.mark.slow

HFT = [sys.executable, "-m", "hft.cli"]
MON = SYNTH_END


def _cfg(store, url, **kw) -> IngestConfig:
    return IngestConfig(symbol="XAUUSD", start=MON, end=MON, store=str(store), feed_url=url, **kw)


def test_retry_after_is_honoured(ray_local, synth_feed, tmp_path):
    """429s carry Retry-After: 1; with no backoff of its own the client still waits that second."""
    faults = FeedFaults(throttle_rate=0.7, retry_after=1, fault_hours=frozenset({5}), seed=2)
    with FeedServer(synth_feed, faults=faults) as server:
        report = ingest(_cfg(tmp_path / "s", server.url, backoff_s=0.0), progress=False)
        throttled = server.stats()["faults"]["429"]
    assert report.ok and throttled >= 1
    # every 429 of hour 05 came before the next try of that same hour: at least 1 s each
    assert report.days[0].seconds >= throttled * 1.0
    assert report.days[0].retries == throttled


def test_corrupt_and_truncated_bodies_are_fetched_again(ray_local, synth_feed, tmp_path):
    faults = FeedFaults(truncate_rate=0.4, seed=8)
    with FeedServer(synth_feed, faults=faults) as server:
        report = ingest(_cfg(tmp_path / "s", server.url, backoff_s=0.0), progress=False)
        stats = server.stats()
    cut = {p: c.get("truncate", 0) for p, c in stats["faults_by_path"].items()}
    failed = {int(h[-2:]) for h in report.failed}
    assert sum(cut.values()) >= 5 and failed  # at 0.4, some hour is cut three times in a row
    for path, n in stats["paths"].items():
        hour = int(path.rsplit("/", 1)[1][:2])
        if hour in failed:  # fetched, fetched again twice, then named as failed
            assert n == cut[path] == 3, path
            assert "corrupt or truncated" in report.days[0].hours[f"{hour:02d}"]["error"]
        elif (synth_feed / path.lstrip("/")).stat().st_size:  # one request per cut answer, then the good one
            assert n == cut.get(path, 0) + 1, path
    expected = _feed_ticks(synth_feed, "XAUUSD", MON, MON, 1000)
    keep = ~np.isin((expected["ts"] // 3_600_000) % 24, list(failed))
    np.testing.assert_array_equal(read_ticks(str(tmp_path / "s"), "XAUUSD", MON, MON), expected[keep])


def test_force_fetches_everything_again(ray_local, synth_feed, tmp_path):
    with FeedServer(synth_feed) as server:
        assert ingest(_cfg(tmp_path / "s", server.url), progress=False).ok
        first = server.stats()["requests"]
        again = ingest(_cfg(tmp_path / "s", server.url), progress=False)
        assert server.stats()["requests"] == first and again.days[0].skipped
        forced = ingest(_cfg(tmp_path / "s", server.url, force=True), progress=False)
        assert server.stats()["requests"] == 2 * first and not forced.days[0].skipped
    assert first >= 24


def test_hours_not_yet_over_are_pending_and_fetched_later(ray_local, tmp_path):
    now = datetime.now(UTC)
    today = now.date()
    if now.hour == 0:
        pytest.skip("within the first hour of the UTC day no hour of today is over yet")
    feed = tmp_path / "feed"
    write_synth_feed(feed, "BTCUSD", today, today, seed=1, activity=0.01)  # crypto: every hour trades
    with FeedServer(feed) as server:
        cfg = IngestConfig(
            symbol="BTCUSD", start=today, end=today, store=str(tmp_path / "s"), feed_url=server.url
        )
        report = ingest(cfg, progress=False)
        fetched = sorted(server.stats()["paths"])
    over = [
        h
        for h in range(24)
        if datetime(today.year, today.month, today.day, h, tzinfo=UTC) + timedelta(hours=1) <= now
    ]
    hours = read_manifest(cfg.store, "BTCUSD", today)["hours"]
    assert report.ok
    pending = [int(h) for h, v in sorted(hours.items()) if v["status"] == "pending"]
    # the hours not over yet (one fewer if the clock passed an hour boundary since `now`)
    assert pending in (list(range(len(over), 24)), list(range(len(over) + 1, 24)))
    asked = sorted({int(p.rsplit("/", 1)[1][:2]) for p in fetched})
    assert asked == [h for h in range(24) if h not in pending]  # pending hours were not asked for


def test_failed_hour_exits_1_naming_it_with_feed_from_env_and_capped_concurrency(synth_feed, tmp_path):
    """`$HFT_FEED_URL` is the feed; a corrupt hour fails the command naming it; at most
    workers x concurrency requests are in flight at once."""
    feed = tmp_path / "feed"
    shutil.copytree(synth_feed, feed)
    bad = feed / "XAUUSD/2024/02/11/07h_ticks.bi5"
    bad.write_bytes(b"\x00not lzma at all")
    store = tmp_path / "s"
    with FeedServer(feed, faults=FeedFaults(latency_ms=40)) as server:
        env = {**os.environ, "HFT_FEED_URL": server.url}
        res = subprocess.run(
            [
                *HFT,
                "ingest",
                "XAUUSD",
                "--start",
                str(SYNTH_START),
                "--end",
                str(SYNTH_END),
                "--store",
                str(store),
                "--workers",
                "2",
                "--concurrency",
                "2",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        stats = server.stats()
    assert res.returncode == 1, res.stderr
    lines = res.stderr.splitlines()
    assert lines[0] == "1 hour(s) failed:"
    assert lines[1].startswith("  2024-03-11T07: XAUUSD 2024-03-11T07")
    assert stats["paths"]["/XAUUSD/2024/02/11/07h_ticks.bi5"] == 3  # fetched again twice, then failed
    assert 2 < stats["max_in_flight"] <= 4
    assert read_manifest(str(store), "XAUUSD", MON)["hours"]["07"]["status"] == "failed"
    assert len(list_days(str(store), "XAUUSD")) == 4


def test_a_crash_between_the_parquet_and_the_manifest_leaves_a_consistent_store(
    ray_local, synth_feed, tmp_path
):
    """The states a kill can leave (atomic writes allow no others) are refused by runs and repaired
    by the next ingest: new data beside the old manifest, data without manifest, half temp files."""
    store = tmp_path / "s"
    st = open_store(str(store))
    parts = partition_parts("XAUUSD", MON)
    feed = tmp_path / "feed"
    shutil.copytree(synth_feed, feed)
    good = (feed / "XAUUSD/2024/02/11/07h_ticks.bi5").read_bytes()
    (feed / "XAUUSD/2024/02/11/07h_ticks.bi5").write_bytes(b"garbage")
    with FeedServer(feed) as server:
        first = ingest(_cfg(store, server.url), progress=False)
    assert first.failed == ["2024-03-11T07"]
    old_manifest = st.read_bytes(*parts, "_manifest.json")
    # the rerun's Parquet (every hour) was published, then the process died before the manifest
    from hft.store import write_day

    write_day(st, "XAUUSD", MON, _feed_ticks(synth_feed, "XAUUSD", MON, MON, 1000), {})
    st.write_bytes(old_manifest, *parts, "_manifest.json")
    (store / st.path(*parts, ".ticks.parquet.dead.tmp")).write_bytes(good[:100])  # a write killed mid-way
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "data": {"symbol": "XAUUSD", "store": str(store), "start": str(MON), "end": str(MON)},
                "strategy": {"name": "ema_cross", "params": {"fast": 20, "slow": 100}},
                "execution": {"size": 1, "capital": 100000},
            }
        )
    )
    run = subprocess.run([*HFT, "run", str(config)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "size differs from its manifest" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1

    (feed / "XAUUSD/2024/02/11/07h_ticks.bi5").write_bytes(good)
    with FeedServer(feed) as server:
        again = ingest(_cfg(store, server.url), progress=False)
        fetched = server.stats()["paths"]
    assert again.ok and len(fetched) == 24  # the data no longer matched its manifest: all fetched again
    np.testing.assert_array_equal(
        read_ticks(str(store), "XAUUSD", MON, MON), _feed_ticks(synth_feed, "XAUUSD", MON, MON, 1000)
    )
    assert not list(store.rglob("*.tmp"))
    assert (
        subprocess.run([*HFT, "store", "--store", str(store), "--verify"], capture_output=True).returncode
        == 0
    )
