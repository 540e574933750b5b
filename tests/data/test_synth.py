"""The synthetic feed: deterministic per (symbol, day, seed), realistic enough to fail when it is not."""

from __future__ import annotations

import filecmp
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from hft.data.bi5 import decode_bi5
from hft.data.instruments import get_instrument
from hft.data.synth import bi5_relpath, synth_day, write_synth_feed
from hft.data.ticks import HOUR_MS, TICK_DTYPE
from hft.errors import ConfigError, UnknownSymbolError

FRI, SAT, SUN, MON, TUE = (date(2024, 3, 8) + timedelta(days=i) for i in range(5))
LIGHT = 0.05  # tick rate for file-level tests: the model's shape, a twentieth of the ticks


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def _hour_of_day(ticks: np.ndarray, day: date) -> np.ndarray:
    return (ticks["ts"] - _day_ms(day)) // HOUR_MS


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.bi5"))}


def _read_day(root: Path, symbol: str, day: date) -> np.ndarray:
    factor = get_instrument(symbol).decimal_factor
    parts = []
    for h in range(24):
        hour = datetime(day.year, day.month, day.day, h, tzinfo=UTC)
        body = (root / bi5_relpath(symbol, hour)).read_bytes()
        parts.append(decode_bi5(body, symbol=symbol, hour=hour, decimal_factor=factor))
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def tuesday() -> np.ndarray:
    return synth_day("XAUUSD", TUE, seed=0)


@pytest.fixture(scope="module")
def feed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    summary = write_synth_feed(root, "XAUUSD", FRI, TUE, seed=3, activity=LIGHT)
    assert summary.hours == 5 * 24 == len(list(root.rglob("*.bi5")))
    assert summary.files_changed == summary.hours
    assert summary.ticks == sum(summary.day_ticks.values()) > 0
    assert summary.bytes == sum(p.stat().st_size for p in root.rglob("*.bi5"))
    return root


def test_layout_is_the_feeds_with_zero_based_month(feed_dir: Path) -> None:
    # 2024-03-08 lives under month folder 02, hours 00..23 with two-digit names
    day_dir = feed_dir / "XAUUSD" / "2024" / "02" / "08"
    assert sorted(p.name for p in day_dir.iterdir()) == [f"{h:02d}h_ticks.bi5" for h in range(24)]
    assert not (feed_dir / "XAUUSD" / "2024" / "03").exists()


def test_files_decode_to_exactly_the_synthesised_day(feed_dir: Path) -> None:
    for day in (FRI, MON, TUE):
        expected = synth_day("XAUUSD", day, seed=3, activity=LIGHT)
        got = _read_day(feed_dir, "XAUUSD", day)
        assert got.dtype == TICK_DTYPE
        assert got.size == expected.size > 1000
        assert np.array_equal(got, expected)


def test_weekend_and_daily_break_hours_are_empty_files(feed_dir: Path) -> None:
    def size(day: date, h: int) -> int:
        return (feed_dir / bi5_relpath("XAUUSD", datetime(day.year, day.month, day.day, h))).stat().st_size

    assert [size(SAT, h) for h in range(24)] == [0] * 24
    assert [size(SUN, h) for h in range(22)] == [0] * 22  # closed until Sunday 22:00 UTC
    assert size(SUN, 22) > 0 and size(SUN, 23) > 0
    assert size(FRI, 20) > 0
    assert [size(FRI, h) for h in (21, 22, 23)] == [0, 0, 0]  # closed from Friday 21:00 UTC
    assert size(MON, 21) == 0 and size(MON, 20) > 0 and size(MON, 22) > 0  # XAU's daily break


def test_same_seed_writes_the_same_bytes(tmp_path: Path, feed_dir: Path) -> None:
    write_synth_feed(tmp_path, "XAUUSD", FRI, TUE, seed=3, activity=LIGHT)
    assert _files(tmp_path) == _files(feed_dir)


def test_overlapping_ranges_agree_on_common_days(tmp_path: Path, feed_dir: Path) -> None:
    # feed_dir holds FRI..TUE; this run covers SUN..WED, generated without the earlier days
    later = write_synth_feed(tmp_path, "XAUUSD", SUN, TUE + timedelta(days=1), seed=3, activity=LIGHT)
    for day in (SUN, MON, TUE):
        for h in range(24):
            rel = bi5_relpath("XAUUSD", datetime(day.year, day.month, day.day, h))
            assert filecmp.cmp(tmp_path / rel, feed_dir / rel, shallow=False), rel
    assert later.day_ticks[MON] == synth_day("XAUUSD", MON, seed=3, activity=LIGHT).size


def test_a_different_seed_gives_different_ticks() -> None:
    a = synth_day("XAUUSD", MON, seed=3, activity=LIGHT)
    b = synth_day("XAUUSD", MON, seed=4, activity=LIGHT)
    assert a.size != b.size or not np.array_equal(a, b)
    assert not np.array_equal(a["ask"][:100], b["ask"][:100])


def test_rerun_is_idempotent_and_repairs_a_damaged_hour(tmp_path: Path) -> None:
    first = write_synth_feed(tmp_path, "XAUUSD", MON, MON, seed=1, activity=LIGHT)
    before = _files(tmp_path)
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.bi5")}
    again = write_synth_feed(tmp_path, "XAUUSD", MON, MON, seed=1, activity=LIGHT)
    assert again.files_changed == 0
    assert (again.ticks, again.bytes, again.day_ticks) == (first.ticks, first.bytes, first.day_ticks)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.bi5")} == mtimes

    damaged = tmp_path / bi5_relpath("XAUUSD", datetime(MON.year, MON.month, MON.day, 14))
    damaged.write_bytes(before[str(damaged.relative_to(tmp_path))][:100])  # a truncated body
    repaired = write_synth_feed(tmp_path, "XAUUSD", MON, MON, seed=1, activity=LIGHT)
    assert repaired.files_changed == 1
    assert _files(tmp_path) == before
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]  # no temp files left over


def test_quotes_are_sane_for_every_profile() -> None:
    for symbol in ("XAUUSD", "EURUSD", "USDJPY", "BTCUSD", "GBPUSD", "AUDCAD"):
        factor = get_instrument(symbol).decimal_factor
        ticks = synth_day(symbol, TUE, seed=0, activity=0.1)
        assert ticks.size > 10_000, symbol
        assert np.all(ticks["bid"] < ticks["ask"]), symbol
        assert np.all(ticks["bid"] > 0), symbol
        assert np.all(np.diff(ticks["ts"]) >= 0), symbol
        assert _day_ms(TUE) <= ticks["ts"][0] and ticks["ts"][-1] < _day_ms(TUE) + 24 * HOUR_MS
        for side in ("ask", "bid"):  # whole price units, as the feed stores them
            assert np.array_equal(np.rint(ticks[side] * factor) / factor, ticks[side]), symbol
        for side in ("ask_volume", "bid_volume"):
            assert ticks[side].dtype == np.float32 and ticks[side].min() >= np.float32(0.01), symbol


def test_xau_stays_near_2000_and_days_join_without_gaps() -> None:
    days = [date(2023, 1, 2) + timedelta(days=7 * k) for k in range(52)]  # a Monday a week for a year
    mids = [(t["ask"] + t["bid"]) / 2 for t in (synth_day("XAUUSD", d, seed=0, activity=0.01) for d in days)]
    all_mids = np.concatenate(mids)
    assert 1500 < all_mids.min() < all_mids.max() < 2500
    assert 1800 < np.median(all_mids) < 2200
    # Monday's close meets Tuesday's open: no gap at midnight beyond ordinary tick noise
    mon, tue = synth_day("XAUUSD", MON, seed=0), synth_day("XAUUSD", TUE, seed=0)
    close, open_ = (mon["ask"][-1] + mon["bid"][-1]) / 2, (tue["ask"][0] + tue["bid"][0]) / 2
    assert abs(open_ - close) < 1.0  # dollars, on a price near 2,000


def test_month_scale_tick_rate(tuesday: np.ndarray) -> None:
    week = [synth_day("XAUUSD", MON + timedelta(days=i), seed=0).size for i in range(1, 4)]
    assert all(400_000 < n < 700_000 for n in [tuesday.size, *week])  # benchmarks rely on ≈ 11 M a month


def test_london_and_new_york_busier_than_asia(tuesday: np.ndarray) -> None:
    per_hour = np.bincount(_hour_of_day(tuesday, TUE), minlength=24)
    asia, london, overlap = per_hour[1:6].mean(), per_hour[8:12].mean(), per_hour[13:16].mean()
    assert london > 1.5 * asia
    assert overlap > 2.5 * asia
    assert overlap > london


def test_spread_widens_around_rollover(tuesday: np.ndarray) -> None:
    minute = (tuesday["ts"] - _day_ms(TUE)) // 60_000
    spread = tuesday["ask"] - tuesday["bid"]
    session = np.median(spread[(minute >= 8 * 60) & (minute < 16 * 60)])
    assert 0.1 < session < 0.4  # XAU/USD: tens of cents
    assert np.median(spread[(minute >= 20 * 60 + 50) & (minute < 21 * 60)]) > 1.5 * session
    assert np.median(spread[(minute >= 22 * 60) & (minute < 22 * 60 + 15)]) > 3 * session
    assert np.median(spread[minute >= 23 * 60 + 30]) < 1.5 * session  # and settles again


def test_volatility_clusters(tuesday: np.ndarray) -> None:
    # 1-minute mid changes scaled by √(ticks in the minute): |r| stays autocorrelated under clustering
    minute = (tuesday["ts"] - _day_ms(TUE)) // 60_000
    mid = (tuesday["ask"] + tuesday["bid"]) / 2
    last = np.flatnonzero(np.diff(minute, append=minute[-1] + 1))
    counts = np.diff(last, prepend=-1)
    keep = counts[1:] >= 50
    r = np.abs(np.diff(mid[last]))[keep] / np.sqrt(counts[1:][keep])
    assert r.size > 1000
    assert np.corrcoef(r[:-1], r[1:])[0, 1] > 0.1


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ConfigError, match="before start"):
        write_synth_feed("/nonexistent", "XAUUSD", TUE, MON)
    with pytest.raises(ConfigError, match="seed"):
        synth_day("XAUUSD", MON, seed=-1)
    with pytest.raises(ConfigError, match="activity"):
        synth_day("XAUUSD", MON, activity=0)
    with pytest.raises(UnknownSymbolError, match="XAUUSD"):
        synth_day("XAUUSDX", MON)
