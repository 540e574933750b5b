"""One contract, two backends: every store test runs on a local folder and on S3 (moto, 127.0.0.1)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow.parquet as pq
import pytest

from hft.data.ticks import TICK_DTYPE
from hft.errors import StoreError
from hft.store import iter_tick_batches, list_days, open_store, read_manifest, read_ticks, write_day
from hft.store.fs import parse_storage_options
from hft.store.ticks import ROW_GROUP_ROWS, partition_parts, read_day

DAY = date(2024, 3, 5)
DAY_MS = 1709596800000  # 2024-03-05T00:00Z


def _ticks(n: int, start_ms: int = DAY_MS, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.empty(n, dtype=TICK_DTYPE)
    t["ts"] = start_ms + np.sort(rng.integers(0, 86_400_000, n))
    t["bid"] = 2000 + np.cumsum(rng.normal(0, 0.05, n)).round(3)
    t["ask"] = t["bid"] + 0.25
    t["bid_volume"] = rng.random(n, dtype=np.float32)
    t["ask_volume"] = rng.random(n, dtype=np.float32)
    return t


def test_write_then_read_round_trip(any_store):
    url, opts = any_store
    ticks = _ticks(1000)
    uri = write_day(url, "XAUUSD", DAY, ticks, {"hours": {"00": {"status": "ok"}}}, opts)
    assert uri.endswith("ticks/symbol=XAUUSD/date=2024-03-05/ticks.parquet")
    np.testing.assert_array_equal(read_ticks(url, "XAUUSD", DAY, DAY, opts), ticks)
    man = read_manifest(url, "XAUUSD", DAY, opts)
    assert man["rows"] == 1000 and man["hours"]["00"]["status"] == "ok"
    assert list_days(url, "XAUUSD", opts) == [DAY]


def test_parquet_schema_derived_columns_and_row_groups(any_store):
    url, opts = any_store
    st = open_store(url, opts)
    ticks = _ticks(ROW_GROUP_ROWS + 10)
    write_day(st, "XAUUSD", DAY, ticks, None)
    with st.fs.open(st.path(*partition_parts("XAUUSD", DAY), "ticks.parquet"), "rb") as fh:
        pf = pq.ParquetFile(fh)
        assert pf.num_row_groups == 2
        assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
        table = pf.read()
    assert str(table.schema.field("ts").type) == "timestamp[ms, tz=UTC]"
    np.testing.assert_allclose(table["mid"].to_numpy(), (ticks["bid"] + ticks["ask"]) / 2)
    np.testing.assert_allclose(table["spread"].to_numpy(), ticks["ask"] - ticks["bid"])


@pytest.mark.parametrize("prefetch", [False, True])
def test_iter_batches_streams_row_groups_of_requested_columns_in_order(any_store, prefetch):
    url, opts = any_store
    a, b = _ticks(ROW_GROUP_ROWS + 5, seed=1), _ticks(7, DAY_MS + 86_400_000, seed=2)
    write_day(url, "XAUUSD", DAY, a, None, opts)
    write_day(url, "XAUUSD", date(2024, 3, 6), b, None, opts)
    span = (date(2024, 3, 1), date(2024, 3, 31))
    batches = list(iter_tick_batches(url, "XAUUSD", *span, ("ts", "mid"), opts, prefetch=prefetch))
    assert [len(x["ts"]) for x in batches] == [ROW_GROUP_ROWS, 5, 7]
    assert set(batches[0]) == {"ts", "mid"} and batches[0]["ts"].dtype == np.int64
    ts = np.concatenate([x["ts"] for x in batches])
    np.testing.assert_array_equal(ts, np.concatenate([a["ts"], b["ts"]]))
    only_second = list(iter_tick_batches(url, "XAUUSD", date(2024, 3, 6), date(2024, 3, 6), ("ts",), opts))
    assert len(only_second) == 1 and len(only_second[0]["ts"]) == 7
    if prefetch:  # a consumer that stops early closes the reader thread without waiting for more
        it = iter_tick_batches(url, "XAUUSD", *span, ("ts",), opts, prefetch=True)
        np.testing.assert_array_equal(next(it)["ts"], a["ts"][:ROW_GROUP_ROWS])
        it.close()
        with pytest.raises(StoreError, match="no tick partitions"):
            list(
                iter_tick_batches(
                    url, "XAUUSD", date(2020, 1, 1), date(2020, 1, 2), storage_options=opts, prefetch=True
                )
            )


def test_missing_range_and_bad_columns_are_named(any_store):
    url, opts = any_store
    with pytest.raises(StoreError, match=r"no tick partitions for XAUUSD between 2020-01-01 and 2020-01-02"):
        list(iter_tick_batches(url, "XAUUSD", date(2020, 1, 1), date(2020, 1, 2), storage_options=opts))
    with pytest.raises(StoreError, match="empty date range"):
        list(iter_tick_batches(url, "XAUUSD", date(2020, 1, 2), date(2020, 1, 1), storage_options=opts))
    with pytest.raises(StoreError, match=r"unknown tick column\(s\) \['price'\]"):
        list(iter_tick_batches(url, "XAUUSD", DAY, DAY, ("ts", "price"), opts))


def test_rewrite_replaces_whole_day_and_leaves_no_temp_files(any_store):
    url, opts = any_store
    st = open_store(url, opts)
    write_day(st, "XAUUSD", DAY, _ticks(50, seed=3), None)
    second = _ticks(20, seed=4)
    write_day(st, "XAUUSD", DAY, second, None)
    np.testing.assert_array_equal(read_day(st, "XAUUSD", DAY), second)
    assert st.listdir(*partition_parts("XAUUSD", DAY)) == ["_manifest.json", "ticks.parquet"]


def test_names_never_escape_the_root(any_store):
    url, opts = any_store
    st = open_store(url, opts)
    for bad in ("../outside", "a/../../b", "s3://other-bucket/x"):
        with pytest.raises(StoreError, match="would escape the store root"):
            st.path("runs", bad)
    assert st.path("runs", "/etc/passwd").startswith(st.root + "/runs/")


def test_unsorted_ticks_are_refused(any_store):
    url, opts = any_store
    t = _ticks(10)[::-1].copy()
    with pytest.raises(ValueError, match="must be sorted"):
        write_day(url, "XAUUSD", DAY, t, None, opts)
    assert list_days(url, "XAUUSD", opts) == []


def test_storage_options_parse():
    assert parse_storage_options(
        ["endpoint_url=http://127.0.0.1:9000", "anon=true", "client_kwargs.x=3"]
    ) == {
        "endpoint_url": "http://127.0.0.1:9000",
        "anon": True,
        "client_kwargs": {"x": 3},
    }
    from hft.errors import ConfigError

    with pytest.raises(ConfigError, match="expected key=value"):
        parse_storage_options(["novalue"])
