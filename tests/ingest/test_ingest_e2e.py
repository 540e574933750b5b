"""Feed → Ray tasks → Parquet, end to end with real parts: the offline feed on 127.0.0.1, a real local
Ray, a local folder and a moto S3 server as stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import requests

from hft.data.bi5 import decode_bi5
from hft.data.feed import FeedFaults, FeedServer
from hft.ingest import IngestConfig, ingest
from hft.ingest.validate import clean_ticks
from hft.store import read_manifest, read_ticks

from .conftest import SYNTH_END, SYNTH_START

pytestmark = pytest.mark.slow


def _feed_ticks(root, symbol, start, end, factor):
    """Independent read of what the feed folder holds: decode every hour file directly."""
    out = []
    day = start
    while day <= end:
        for h in range(24):
            f = root / symbol / f"{day.year:04d}/{day.month - 1:02d}/{day.day:02d}/{h:02d}h_ticks.bi5"
            hour = datetime(day.year, day.month, day.day, h, tzinfo=UTC)
            out.append(decode_bi5(f.read_bytes(), symbol=symbol, hour=hour, decimal_factor=factor))
        day += timedelta(days=1)
    return clean_ticks(np.concatenate(out))[0]


def _stats(server):
    return requests.get(f"{server.url}/_stats", timeout=5).json()


@pytest.mark.parametrize("source", ["bi5", "json"])
def test_real_eurusd_hours_both_sources(ray_local, dukascopy_dir, tmp_path, source):
    with FeedServer(dukascopy_dir) as server:
        cfg = IngestConfig(
            symbol="EURUSD",
            start=date(2019, 2, 4),
            end=date(2019, 2, 5),
            store=str(tmp_path / "store"),
            source=source,
            feed_url=server.url,
        )
        report = ingest(cfg, progress=False)
    assert report.ok and not report.failed
    stored = read_ticks(cfg.store, "EURUSD", cfg.start, cfg.end)
    expected = _feed_ticks(dukascopy_dir, "EURUSD", cfg.start, cfg.end, 100000)
    assert report.fetched_ticks == 266_219
    assert stored.size == expected.size == report.rows
    np.testing.assert_array_equal(stored[["ts", "bid", "ask"]], expected[["ts", "bid", "ask"]])
    man = read_manifest(cfg.store, "EURUSD", date(2019, 2, 4))
    assert man["source"] == source and len(man["hours"]) == 24
    assert {v["status"] for v in man["hours"].values()} == {"ok"}


def test_synth_to_local_store_then_idempotent_rerun(ray_local, synth_feed, tmp_path):
    store = str(tmp_path / "store")
    with FeedServer(synth_feed) as server:
        cfg = IngestConfig(
            symbol="XAUUSD", start=SYNTH_START, end=SYNTH_END, store=store, feed_url=server.url
        )
        first = ingest(cfg, progress=False)
        requests_after_first = sum(_stats(server)["paths"].values())
        second = ingest(cfg, progress=False)
        assert sum(_stats(server)["paths"].values()) == requests_after_first  # nothing fetched again
    assert first.ok and all(d.skipped for d in second.days)
    expected = _feed_ticks(synth_feed, "XAUUSD", SYNTH_START, SYNTH_END, 1000)
    stored = read_ticks(store, "XAUUSD", SYNTH_START, SYNTH_END)
    assert stored.size == expected.size > 100_000
    np.testing.assert_array_equal(stored, expected)
    # the weekend is stored as empty hours, not as missing ones
    sat = read_manifest(store, "XAUUSD", date(2024, 3, 9))
    assert sat["rows"] == 0 and {v["status"] for v in sat["hours"].values()} == {"empty"}


def test_synth_into_s3_through_s3fs(ray_local, synth_feed, s3_store):
    url, opts = s3_store
    with FeedServer(synth_feed) as server:
        cfg = IngestConfig(
            symbol="XAUUSD",
            start=SYNTH_START,
            end=SYNTH_START,
            store=url,
            storage_options=opts,
            feed_url=server.url,
            source="json",
        )
        report = ingest(cfg, progress=False)
        feed_url = server.url
    assert report.ok
    stored = read_ticks(url, "XAUUSD", SYNTH_START, SYNTH_START, opts)
    expected = _feed_ticks(synth_feed, "XAUUSD", SYNTH_START, SYNTH_START, 1000)
    np.testing.assert_array_equal(stored[["ts", "bid", "ask"]], expected[["ts", "bid", "ask"]])
    assert read_manifest(url, "XAUUSD", SYNTH_START, opts)["feed"] == feed_url


def test_transient_faults_are_retried_until_every_hour_is_stored(ray_local, dukascopy_dir, tmp_path):
    faults = FeedFaults(fail_first=2, throttle_rate=0.1, seed=3)
    with FeedServer(dukascopy_dir, faults=faults) as server:
        cfg = IngestConfig(
            symbol="EURUSD",
            start=date(2019, 2, 4),
            end=date(2019, 2, 4),
            store=str(tmp_path / "s"),
            feed_url=server.url,
            backoff_s=0.01,
        )
        report = ingest(cfg, progress=False)
        stats = _stats(server)
    assert report.ok and report.rows > 100_000
    assert sum(d.retries for d in report.days) >= 48  # two 503s per hour, each retried
    assert stats["statuses"]["503"] >= 48


def test_persistent_failures_are_named_and_a_rerun_fetches_only_them(ray_local, dukascopy_dir, tmp_path):
    store = str(tmp_path / "s")
    common = {"symbol": "EURUSD", "start": date(2019, 2, 4), "end": date(2019, 2, 4), "store": store}
    with FeedServer(dukascopy_dir, faults=FeedFaults(truncate_rate=0.3, seed=5)) as bad:
        report = ingest(IngestConfig(**common, feed_url=bad.url, attempts=1, backoff_s=0), progress=False)
    assert not report.ok and report.failed
    day = report.days[0]
    for hour in day.by_status("failed"):
        assert "EURUSD 2019-02-04T" + hour in day.hours[hour]["error"]
    man = read_manifest(store, "EURUSD", date(2019, 2, 4))
    assert sorted(h for h, v in man["hours"].items() if v["status"] == "failed") == day.by_status("failed")

    with FeedServer(dukascopy_dir) as good:
        again = ingest(IngestConfig(**common, feed_url=good.url), progress=False)
        fetched = _stats(good)["paths"]
    assert again.ok
    assert len(fetched) == len(day.by_status("failed"))  # only the failed hours were fetched again
    expected = _feed_ticks(dukascopy_dir, "EURUSD", date(2019, 2, 4), date(2019, 2, 4), 100000)
    np.testing.assert_array_equal(read_ticks(store, "EURUSD", common["start"], common["end"]), expected)


def test_hour_that_stays_empty_while_the_market_trades_is_flagged(ray_local, dukascopy_dir, tmp_path):
    import shutil

    feed = tmp_path / "feed"
    shutil.copytree(dukascopy_dir / "EURUSD/2019/01/04", feed / "EURUSD/2019/01/04")
    hole = feed / "EURUSD/2019/01/04/10h_ticks.bi5"
    original = hole.read_bytes()
    hole.write_bytes(b"")  # the feed keeps serving a 0-byte body for a busy hour
    cfg = IngestConfig(
        symbol="EURUSD", start=date(2019, 2, 4), end=date(2019, 2, 4), store=str(tmp_path / "s")
    )
    with FeedServer(feed) as server:
        report = ingest(cfg.model_copy(update={"feed_url": server.url}), progress=False)
        assert _stats(server)["paths"]["/EURUSD/2019/01/04/10h_ticks.bi5"] == 3  # fetched, then twice more
        again = ingest(cfg.model_copy(update={"feed_url": server.url}), progress=False)
        assert _stats(server)["paths"]["/EURUSD/2019/01/04/10h_ticks.bi5"] == 6  # suspect: fetched again
        assert len(_stats(server)["paths"]) == 24  # and nothing else
    assert report.suspect == ["2019-02-04T10"] and not report.ok and again.suspect == ["2019-02-04T10"]
    assert read_manifest(cfg.store, "EURUSD", date(2019, 2, 4))["hours"]["10"]["status"] == "suspect_empty"

    hole.write_bytes(original)  # the feed recovers: the next run fetches that hour alone
    with FeedServer(feed) as server:
        fixed = ingest(cfg.model_copy(update={"feed_url": server.url}), progress=False)
        assert list(_stats(server)["paths"]) == ["/EURUSD/2019/01/04/10h_ticks.bi5"]
    assert fixed.ok and not fixed.suspect
    expected = _feed_ticks(dukascopy_dir, "EURUSD", date(2019, 2, 4), date(2019, 2, 4), 100000)
    np.testing.assert_array_equal(read_ticks(cfg.store, "EURUSD", cfg.start, cfg.end), expected)


def test_a_lost_data_file_is_fetched_again_not_trusted_to_its_manifest(ray_local, dukascopy_dir, tmp_path):
    from hft.store import open_store
    from hft.store.ticks import partition_parts

    cfg = IngestConfig(
        symbol="EURUSD", start=date(2019, 2, 4), end=date(2019, 2, 4), store=str(tmp_path / "s")
    )
    with FeedServer(dukascopy_dir) as server:
        cfg = cfg.model_copy(update={"feed_url": server.url})
        assert ingest(cfg, progress=False).ok
        st = open_store(cfg.store)
        st.fs.rm(st.path(*partition_parts("EURUSD", date(2019, 2, 4)), "ticks.parquet"))
        ingest(cfg, progress=False)  # the manifest says complete, but its data is gone
    expected = _feed_ticks(dukascopy_dir, "EURUSD", cfg.start, cfg.end, 100000)
    np.testing.assert_array_equal(read_ticks(cfg.store, "EURUSD", cfg.start, cfg.end), expected)
