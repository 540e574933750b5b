"""Both feed formats decode the real sample hours exactly; corrupt bodies fail loudly and by name."""

from __future__ import annotations

import json
import lzma
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hft.data.bi5 import BI5_RECORD, decode_bi5, encode_bi5
from hft.data.jsonapi import decode_json_hour, encode_json_hour
from hft.data.ticks import TICK_DTYPE
from hft.errors import DecodeError

BTC_HOUR = datetime(2023, 2, 20, 12, tzinfo=UTC)


def _expected_btc(dukascopy_dir):
    rows = json.loads((dukascopy_dir / "expected/btcusd-tick-2023-02-20T12-2023-02-20T13.json").read_text())
    return (
        np.array([r["timestamp"] for r in rows], dtype=np.int64),
        np.array([r["askPrice"] for r in rows]),
        np.array([r["bidPrice"] for r in rows]),
    )


def test_bi5_btcusd_hour_matches_reference_ticks(dukascopy_dir):
    body = (dukascopy_dir / "BTCUSD/2023/01/20/12h_ticks.bi5").read_bytes()
    ticks = decode_bi5(body, symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10)
    ts, ask, bid = _expected_btc(dukascopy_dir)
    assert ticks.size == 8523
    np.testing.assert_array_equal(ticks["ts"], ts)
    np.testing.assert_array_equal(ticks["ask"], ask)
    np.testing.assert_array_equal(ticks["bid"], bid)


def test_json_api_btcusd_hour_matches_the_same_ticks(dukascopy_dir):
    body = (dukascopy_dir / "json-api/ticks-BTC-USD-2023-2-20-12.json").read_bytes()
    ticks = decode_json_hour(body, symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10)
    ts, ask, bid = _expected_btc(dukascopy_dir)
    np.testing.assert_array_equal(ticks["ts"], ts)
    np.testing.assert_array_equal(ticks["ask"], ask)
    np.testing.assert_array_equal(ticks["bid"], bid)
    raw = json.loads(body)
    np.testing.assert_allclose(ticks["ask_volume"][:3], np.array(raw["askVolumes"][:3]) / 1e6, rtol=1e-6)


def test_json_api_eurusd_2026_hour(dukascopy_dir):
    body = (dukascopy_dir / "json-api/ticks-EUR-USD-2026-7-13-12.json").read_bytes()
    hour = datetime(2026, 7, 13, 12, tzinfo=UTC)
    ticks = decode_json_hour(body, symbol="EURUSD", hour=hour, decimal_factor=100000)
    raw = json.loads(body)
    assert ticks.size == len(raw["times"]) == 3551
    assert ticks["ask"][0] == raw["ask"] and ticks["bid"][0] == raw["bid"]
    # last tick: base units plus every delta
    assert ticks["ask"][-1] == (round(raw["ask"] * 1e5) + sum(raw["asks"])) / 1e5
    assert ticks["ts"][-1] == raw["timestamp"] + sum(raw["times"])
    assert (ticks["bid"] <= ticks["ask"]).all()


def test_eurusd_two_days_decode_to_266219_ticks(dukascopy_dir):
    total = 0
    for day in (4, 5):
        for h in range(24):
            body = (dukascopy_dir / f"EURUSD/2019/01/{day:02d}/{h:02d}h_ticks.bi5").read_bytes()
            hour = datetime(2019, 2, day, h, tzinfo=UTC)
            ticks = decode_bi5(body, symbol="EURUSD", hour=hour, decimal_factor=100000)
            assert ((ticks["ts"] >= ticks["ts"][0]) & (ticks["ts"] < ticks["ts"][0] + 3_600_000)).all()
            assert ticks["bid"].min() > 1.1 and ticks["ask"].max() < 1.2
            total += ticks.size
    assert total == 266_219


def test_empty_body_is_an_hour_without_ticks(dukascopy_dir):
    body = (dukascopy_dir / "empty.bi5").read_bytes()
    assert body == b""
    assert decode_bi5(body, symbol="XAUUSD", hour=BTC_HOUR, decimal_factor=1000).size == 0


def test_corrupt_lzma_names_symbol_and_hour(dukascopy_dir):
    with pytest.raises(DecodeError, match=r"XAUUSD 2023-02-20T12: corrupt or truncated"):
        decode_bi5(b"this is not lzma", symbol="XAUUSD", hour=BTC_HOUR, decimal_factor=1000)
    body = (dukascopy_dir / "BTCUSD/2023/01/20/12h_ticks.bi5").read_bytes()
    with pytest.raises(DecodeError, match=r"BTCUSD 2023-02-20T12"):
        decode_bi5(body[: len(body) // 2], symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10)


def test_length_not_multiple_of_record_size():
    body = lzma.compress(b"\x00" * 45, format=lzma.FORMAT_ALONE)
    with pytest.raises(DecodeError, match=r"45 bytes, not a multiple of 20"):
        decode_bi5(body, symbol="EURUSD", hour=BTC_HOUR, decimal_factor=100000)


def test_offset_outside_hour():
    rec = np.zeros(2, dtype=BI5_RECORD)
    rec["ms"] = [10, 3_600_000]
    body = lzma.compress(rec.tobytes(), format=lzma.FORMAT_ALONE)
    with pytest.raises(DecodeError, match=r"record 1 has ms offset 3600000, outside the hour"):
        decode_bi5(body, symbol="EURUSD", hour=BTC_HOUR, decimal_factor=100000)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected an object"),
        (json.dumps({"timestamp": 1}).encode(), "lacks field"),
        (
            json.dumps(
                {"timestamp": 1676894400000, "multiplier": 0.1, "ask": 1, "bid": 1, "times": [1, 2]}
                | {"asks": [0], "bids": [0, 0], "askVolumes": [1, 1], "bidVolumes": [1, 1]}
            ).encode(),
            "asks differ in length",
        ),
        (
            json.dumps(
                {"timestamp": 5, "multiplier": 0.1, "ask": 1, "bid": 1, "times": [1]}
                | {"asks": [0], "bids": [0], "askVolumes": [1], "bidVolumes": [1]}
            ).encode(),
            "is not the hour start",
        ),
        (
            json.dumps(
                {"timestamp": 1676894400000, "multiplier": 0.1, "ask": 1, "bid": 1, "times": [3_600_000]}
                | {"asks": [0], "bids": [0], "askVolumes": [1], "bidVolumes": [1]}
            ).encode(),
            "outside the hour",
        ),
    ],
)
def test_bad_json_bodies_name_the_problem(doc, message):
    with pytest.raises(DecodeError, match=message):
        decode_json_hour(doc, symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10)


@st.composite
def hours_of_ticks(draw):
    n = draw(st.integers(0, 300))
    offsets = np.sort(
        np.array(draw(st.lists(st.integers(0, 3_599_999), min_size=n, max_size=n)), dtype=np.int64)
    )
    bids = np.array(draw(st.lists(st.integers(1, 5_000_000), min_size=n, max_size=n)), dtype=np.int64)
    spreads = np.array(draw(st.lists(st.integers(0, 500), min_size=n, max_size=n)), dtype=np.int64)
    factor = draw(st.sampled_from([10, 1000, 100000]))
    hour = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 24 * 365)))
    t = np.empty(n, dtype=TICK_DTYPE)
    t["ts"] = int(hour.timestamp()) * 1000 + offsets
    t["bid"] = bids / factor
    t["ask"] = (bids + spreads) / factor
    t["bid_volume"] = np.float32(1.25)
    t["ask_volume"] = np.float32(0.5)
    return t, hour, factor


@settings(max_examples=60, deadline=None)
@given(hours_of_ticks())
def test_encode_decode_round_trip_both_formats(case):
    ticks, hour, factor = case
    kw = {"symbol": "TEST", "hour": hour, "decimal_factor": factor}
    back = decode_bi5(encode_bi5(ticks, hour=hour, decimal_factor=factor), **kw)
    np.testing.assert_array_equal(back, ticks)
    back = decode_json_hour(encode_json_hour(ticks, hour=hour, decimal_factor=factor), **kw)
    np.testing.assert_array_equal(back[["ts", "ask", "bid"]], ticks[["ts", "ask", "bid"]])
    np.testing.assert_allclose(back["bid_volume"], ticks["bid_volume"], rtol=1e-6)


def test_a_zero_byte_json_body_is_a_bad_body_not_an_empty_hour():
    """The JSON API sends a document for an hour without ticks; nothing at all is a broken answer."""
    hour = datetime(2024, 3, 9, 5, tzinfo=UTC)
    with pytest.raises(DecodeError, match=r"XAUUSD 2024-03-09T05.*empty"):
        decode_json_hour(b"", symbol="XAUUSD", hour=hour, decimal_factor=1000)
    empty_doc = encode_json_hour(np.empty(0, dtype=TICK_DTYPE), hour=hour, decimal_factor=1000)
    assert decode_json_hour(empty_doc, symbol="XAUUSD", hour=hour, decimal_factor=1000).size == 0
