"""The offline feed over real HTTP on 127.0.0.1: the real sample files, synthetic hours, and every fault."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import requests
from pydantic import ValidationError

from hft.data.bi5 import decode_bi5
from hft.data.feed import FeedFaults, FeedServer
from hft.data.jsonapi import decode_json_hour
from hft.data.synth import bi5_relpath, synth_day, write_synth_feed
from hft.data.ticks import hour_ms
from hft.errors import ConfigError, DecodeError

BTC_HOUR = datetime(2023, 2, 20, 12, tzinfo=UTC)
BTC_BI5 = "/BTCUSD/2023/01/20/12h_ticks.bi5"
SYNTH_DAY = date(2024, 3, 5)  # a Tuesday
SYNTH_HOUR = datetime(2024, 3, 5, 14, tzinfo=UTC)


@pytest.fixture(scope="module")
def feed(dukascopy_dir: Path):
    with FeedServer(dukascopy_dir) as server:
        yield server


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feed-synth")
    write_synth_feed(root, "XAUUSD", SYNTH_DAY, SYNTH_DAY, seed=7, activity=0.05)
    return root


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


def _raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET with the path sent verbatim (requests would normalise `..` away)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_serves_every_real_fixture_file_byte_for_byte(feed: FeedServer, dukascopy_dir: Path, session) -> None:
    files = sorted(dukascopy_dir.glob("*/*/*/*/*h_ticks.bi5"))
    assert len(files) == 50  # 48 EURUSD hours + 2 BTCUSD hours
    for file in files:
        r = session.get(f"{feed.url}/{file.relative_to(dukascopy_dir).as_posix()}", timeout=10)
        assert r.status_code == 200, file
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.content == file.read_bytes(), file


def test_json_route_gives_the_same_ticks_as_the_bi5_for_the_real_btc_hour(
    feed: FeedServer, dukascopy_dir: Path, session
) -> None:
    r = session.get(f"{feed.url}/ticks/BTC-USD/2023/2/20/12", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    served = decode_json_hour(r.content, symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10)
    from_bi5 = decode_bi5(
        (dukascopy_dir / BTC_BI5.lstrip("/")).read_bytes(), symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10
    )
    assert served.size == 8523
    assert np.array_equal(served, from_bi5)
    # and it agrees with what Dukascopy's own JSON API returned for that hour
    real = (dukascopy_dir / "json-api" / "ticks-BTC-USD-2023-2-20-12.json").read_bytes()
    official = decode_json_hour(real, symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10)
    for col in ("ts", "ask", "bid"):
        assert np.array_equal(served[col], official[col]), col


def test_json_route_matches_a_synthetic_hour(synth_dir: Path, session) -> None:
    with FeedServer(synth_dir) as feed:
        bi5 = session.get(f"{feed.url}/{bi5_relpath('XAUUSD', SYNTH_HOUR)}", timeout=10)
        js = session.get(f"{feed.url}/ticks/XAU-USD/2024/3/5/14", timeout=10)
    assert bi5.status_code == js.status_code == 200
    a = decode_bi5(bi5.content, symbol="XAUUSD", hour=SYNTH_HOUR, decimal_factor=1000)
    b = decode_json_hour(js.content, symbol="XAUUSD", hour=SYNTH_HOUR, decimal_factor=1000)
    day = synth_day("XAUUSD", SYNTH_DAY, seed=7, activity=0.05)
    start = hour_ms(SYNTH_HOUR)
    expected = day[(day["ts"] >= start) & (day["ts"] < start + 3_600_000)]
    assert expected.size > 500
    assert np.array_equal(a, expected)
    assert np.array_equal(b, expected)  # volumes included: they survive the JSON encoding exactly


@pytest.mark.parametrize(
    "path",
    [
        "/BTCUSD/2023/01/20/14h_ticks.bi5",  # hour not in the folder
        "/NOSUCH/2023/01/20/12h_ticks.bi5",
        "/BTCUSD/2023/1/20/12h_ticks.bi5",  # not the feed's zero-padded layout
        "/ticks/BTC-USD/2023/2/20/14",  # hour not in the folder
        "/ticks/BTC-USD/2023/02/20/12",  # the JSON API does not zero-pad
        "/ticks/BTC-USD/2023/2/30/12",  # no such date
        "/ticks/NOPE-USD/2023/2/20/12",
        "/README.md",  # only the two routes are served
    ],
)
def test_unknown_hours_and_routes_are_404(feed: FeedServer, session, path: str) -> None:
    assert session.get(feed.url + path, timeout=10).status_code == 404


def test_paths_escaping_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "feed"
    (root / "XAUUSD" / "2024" / "00" / "02").mkdir(parents=True)
    secret = tmp_path / "secret.bi5"
    secret.write_bytes(b"do not serve")
    (root / "XAUUSD" / "2024" / "00" / "02" / "05h_ticks.bi5").symlink_to(secret)
    with FeedServer(root) as feed:
        for path in (
            "/../secret.bi5",
            "/%2e%2e/secret.bi5",
            "/XAUUSD/../../secret.bi5",
            "/XAUUSD/2024/00/02/05h_ticks.bi5",  # a symlink pointing outside
        ):
            status, body = _raw_get(feed.url, path)
            assert status == 403, path
            assert b"do not serve" not in body
        assert feed.stats()["statuses"] == {"403": 4}


def test_error_and_throttle_faults(dukascopy_dir: Path, session) -> None:
    with FeedServer(dukascopy_dir, faults=FeedFaults(error_rate=1.0)) as feed:
        assert session.get(feed.url + BTC_BI5, timeout=10).status_code == 503
    with FeedServer(dukascopy_dir, faults=FeedFaults(throttle_rate=1.0)) as feed:
        assert session.get(feed.url + BTC_BI5, timeout=10).status_code == 429


def test_truncated_and_empty_bodies(dukascopy_dir: Path, session) -> None:
    whole = (dukascopy_dir / BTC_BI5.lstrip("/")).read_bytes()
    with FeedServer(dukascopy_dir, faults=FeedFaults(truncate_rate=1.0)) as feed:
        r = session.get(feed.url + BTC_BI5, timeout=10)
        js = session.get(feed.url + "/ticks/BTC-USD/2023/2/20/12", timeout=10)
    assert r.status_code == 200 and r.content == whole[: len(whole) // 2]
    with pytest.raises(DecodeError, match="BTCUSD 2023-02-20T12"):
        decode_bi5(r.content, symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10)
    with pytest.raises(DecodeError, match="not valid JSON"):
        decode_json_hour(js.content, symbol="BTCUSD", hour=BTC_HOUR, decimal_factor=10)

    with FeedServer(dukascopy_dir, faults=FeedFaults(empty_rate=1.0)) as feed:
        r = session.get(feed.url + BTC_BI5, timeout=10)
        assert r.status_code == 200 and r.content == b""
        assert feed.stats()["faults"] == {"empty": 1}


def test_latency_is_added(dukascopy_dir: Path, session) -> None:
    with FeedServer(dukascopy_dir, faults=FeedFaults(latency_ms=200)) as feed:
        t0 = time.perf_counter()
        assert session.get(feed.url + BTC_BI5, timeout=10).status_code == 200
        assert time.perf_counter() - t0 >= 0.2


def test_mixed_fault_rates_are_seeded_and_about_right(dukascopy_dir: Path, session) -> None:
    faults = FeedFaults(error_rate=0.2, throttle_rate=0.2, truncate_rate=0.2, empty_rate=0.2, seed=11)
    whole = (dukascopy_dir / BTC_BI5.lstrip("/")).read_bytes()

    def outcomes(f: FeedFaults) -> list[str]:
        out = []
        with FeedServer(dukascopy_dir, faults=f) as feed:
            for _ in range(200):
                r = session.get(feed.url + BTC_BI5, timeout=10)
                if r.status_code != 200:
                    out.append(str(r.status_code))
                else:
                    out.append({whole: "ok", b"": "empty", whole[: len(whole) // 2]: "truncate"}[r.content])
            assert feed.stats()["faults"] == {k: v for k, v in Counter(out).items() if k != "ok"}
        return out

    first = outcomes(faults)
    counts = Counter(first)
    assert set(counts) == {"503", "429", "truncate", "empty", "ok"}
    assert all(15 <= counts[k] <= 65 for k in counts), counts  # 40 expected each (binomial, sd ≈ 6)
    assert outcomes(faults) == first  # same seed, same faults in the same places
    assert outcomes(faults.model_copy(update={"seed": 12})) != first


def test_fail_first_then_success(dukascopy_dir: Path, session) -> None:
    whole = (dukascopy_dir / BTC_BI5.lstrip("/")).read_bytes()
    other = "/BTCUSD/2023/01/20/13h_ticks.bi5"
    with FeedServer(dukascopy_dir, faults=FeedFaults(fail_first=2)) as feed:
        seen = [session.get(feed.url + BTC_BI5, timeout=10) for _ in range(4)]
        assert [r.status_code for r in seen] == [503, 503, 200, 200]
        assert seen[2].content == whole
        assert [session.get(feed.url + other, timeout=10).status_code for _ in range(3)] == [503, 503, 200]


def test_stats_count_requests_per_path_and_status(dukascopy_dir: Path, session) -> None:
    with FeedServer(dukascopy_dir, faults=FeedFaults(fail_first=1)) as feed:
        for _ in range(3):
            session.get(feed.url + BTC_BI5, timeout=10)
        session.get(feed.url + "/ticks/BTC-USD/2023/2/20/12", timeout=10)
        session.get(feed.url + "/ticks/BTC-USD/2023/2/20/12", timeout=10)
        session.get(feed.url + "/BTCUSD/2023/01/20/15h_ticks.bi5", timeout=10)
        stats = session.get(feed.url + "/_stats", timeout=10).json()
        assert stats["requests"] == 6
        assert stats["paths"] == {
            BTC_BI5: 3,
            "/ticks/BTC-USD/2023/2/20/12": 2,
            "/BTCUSD/2023/01/20/15h_ticks.bi5": 1,
        }
        assert stats["statuses"] == {"200": 3, "503": 3}  # fail_first answers a missing hour 503 too
        assert stats["by_path"][BTC_BI5] == {"200": 2, "503": 1}
        assert session.get(feed.url + "/_stats?reset=1", timeout=10).json()["requests"] == 6
        assert session.get(feed.url + "/_stats", timeout=10).json()["requests"] == 0


def test_concurrent_clients(feed: FeedServer, dukascopy_dir: Path) -> None:
    paths = [
        p.relative_to(dukascopy_dir).as_posix() for p in sorted(dukascopy_dir.glob("EURUSD/*/*/*/*.bi5"))
    ]
    before = feed.stats()["requests"]

    def fetch(rel: str) -> bool:
        with requests.Session() as s:
            return s.get(f"{feed.url}/{rel}", timeout=10).content == (dukascopy_dir / rel).read_bytes()

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(fetch, paths * 2))
    assert feed.stats()["requests"] - before == 2 * len(paths) == 96


def test_stopped_server_refuses_connections(dukascopy_dir: Path, session) -> None:
    feed = FeedServer(dukascopy_dir).start()
    url = feed.url
    assert session.get(url + BTC_BI5, timeout=10).status_code == 200  # leaves a kept-alive connection
    feed.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url + BTC_BI5, timeout=5)


def test_fault_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="error_rate"):
        FeedFaults(error_rate=1.5)
    with pytest.raises(ConfigError, match="fail_first"):
        FeedFaults.checked(fail_first=-1)
    with pytest.raises(ConfigError, match="latency_ms"):
        FeedFaults.checked(latency_ms=-5)
    with pytest.raises(ConfigError, match="exceeds 1"):
        FeedFaults.checked(error_rate=0.6, throttle_rate=0.6)
    with pytest.raises(ConfigError, match="typo_rate"):
        FeedFaults.checked(typo_rate=0.1)
    with pytest.raises(ConfigError, match="not a directory"):
        FeedServer(tmp_path / "missing")


def test_serve_forever_in_another_process(dukascopy_dir: Path, session) -> None:
    code = "import sys; from hft.data.feed import serve_forever; serve_forever(sys.argv[1])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(dukascopy_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("hft feed: serving ") and " at http://127.0.0.1:" in line, line
        url = line.rsplit(" at ", 1)[1].strip()
        r = session.get(url + BTC_BI5, timeout=10)
        assert r.content == (dukascopy_dir / BTC_BI5.lstrip("/")).read_bytes()
        assert json.loads(session.get(url + "/_stats", timeout=10).content)["paths"] == {BTC_BI5: 1}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.stderr.read() == ""  # quiet: no per-request log lines


def test_a_corrupt_hour_is_served_as_is_on_bi5_and_as_a_named_500_on_json(tmp_path: Path, session) -> None:
    hour_dir = tmp_path / "XAUUSD" / "2024" / "00" / "02"
    hour_dir.mkdir(parents=True)
    (hour_dir / "05h_ticks.bi5").write_bytes(b"not lzma at all")
    with FeedServer(tmp_path) as feed:
        raw = session.get(feed.url + "/XAUUSD/2024/00/02/05h_ticks.bi5", timeout=10)
        js = session.get(feed.url + "/ticks/XAU-USD/2024/1/2/5", timeout=10)
    assert raw.status_code == 200 and raw.content == b"not lzma at all"  # the client must catch it
    assert js.status_code == 500 and "XAUUSD 2024-01-02T05" in js.text
