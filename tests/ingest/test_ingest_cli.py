"""The `hft` command as a user runs it: subprocesses, real Ray, a kill in the middle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date

import numpy as np
import pytest

from hft.data.feed import FeedFaults, FeedServer
from hft.store import list_days, read_manifest, read_ticks
from tests.terminal import run_in_terminal, screen

from .conftest import SYNTH_END, SYNTH_START
from .test_ingest_e2e import _feed_ticks

HFT = [sys.executable, "-m", "hft.cli"]


def _run(*args, **kw):
    return subprocess.run([*HFT, *args], capture_output=True, text=True, timeout=300, **kw)


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["symbols"],
        ["synth"],
        ["feed", "serve"],
        ["ingest"],
        ["store"],
        ["demo"],
        ["run"],
        ["rerun"],
        ["sweep"],
        ["report"],
        ["dashboard"],
    ],
)
def test_every_command_has_help(cmd):
    res = _run(*cmd, "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "XAUSD", "--start", "2024-01-01", "--end", "2024-01-02"], "did you mean"),
        (["ingest", "XAUUSD", "--start", "2024-01-05", "--end", "2024-01-02"], "before start"),
        (["ingest", "XAUUSD", "--start", "2024-13-01", "--end", "2024-01-02"], "--start '2024-13-01'"),
        (["ingest", "XAUUSD", "--start", "2024-01-01", "--end", "2024-01-01", "--source", "x"], "source"),
        (
            ["ingest", "XAUUSD", "--start", "2024-01-01", "--end", "2024-01-01", "--storage-option", "k"],
            "key=",
        ),
    ],
)
def test_bad_ingest_options_fail_before_any_work(args, message, tmp_path):
    res = _run(*args, "--store", str(tmp_path / "s"))
    assert res.returncode == 2
    assert message in res.stderr
    assert not (tmp_path / "s").exists()


def test_symbols_lists_decimal_factors():
    res = _run("symbols", "XAU", env={**os.environ, "COLUMNS": "80"})
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert any(line.split() == ["XAUUSD", "XAU/USD", "1,000", "2003-05-05", "00:01"] for line in lines)
    assert max(len(line) for line in lines) <= 80 and "28 instrument(s) matching 'XAU'" in res.stdout
    every = _run("symbols", env={**os.environ, "COLUMNS": "80"})
    assert "1,607 instrument(s) known" in every.stdout and "more rows" not in every.stdout
    none = _run("symbols", "NOPE")
    assert none.returncode == 1 and "no instrument matches 'NOPE'" in none.stderr


@pytest.mark.slow
def test_killed_ingest_resumes_with_nothing_lost_or_duplicated(synth_feed, tmp_path):
    store = tmp_path / "store"
    args = ["ingest", "XAUUSD", "--start", str(SYNTH_START), "--end", str(SYNTH_END), "--store", str(store)]
    # slow feed: one day in flight at a time, so the kill lands between and inside days
    with FeedServer(synth_feed, faults=FeedFaults(latency_ms=150)) as server:
        proc = subprocess.Popen(
            [*HFT, *args, "--feed-url", server.url, "--workers", "1", "--concurrency", "2", "--quiet"],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.time() + 240
            while not _committed(store) and time.time() < deadline:
                time.sleep(0.1)
            assert _committed(store), "no day was written before the deadline"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and every Ray process it started
            proc.wait(30)
    committed = _committed(store)
    assert 1 <= len(committed) < 4, committed  # killed mid-way: some days stored, some not

    with FeedServer(synth_feed) as server:
        # at an 80-column terminal, as a person runs it
        code, raw = run_in_terminal([*HFT, *args, "--feed-url", server.url])
        fetched = server.stats()["paths"]
    seen = screen(raw)
    assert code == 0, seen
    assert f"ingest: starting Ray (local) for {4 - len(committed)} day(s) to fetch" in seen  # status line
    table = seen[seen.index(f"ingest XAUUSD {SYNTH_START}") :]
    assert max(len(line) for line in table.splitlines()) <= 80, table
    rows = {" ".join(line.split()[:-1]): line.split()[-1] for line in table.splitlines() if line.strip()}
    want = (str(4 - len(committed)), str(len(committed)))
    assert (rows["days written"], rows["days already stored"]) == want
    # resumed, not fetched again: exactly the 24 hours of each day not committed, once each
    todo = [d for d in (date(2024, 3, 8 + i) for i in range(4)) if d not in committed]
    assert sorted(fetched) == sorted(
        f"/XAUUSD/2024/02/{d.day:02d}/{h:02d}h_ticks.bi5" for d in todo for h in range(24)
    )
    for path, n in fetched.items():  # hours with ticks once; empty hours the market may trade, 3 times
        assert n == (1 if (synth_feed / path.lstrip("/")).stat().st_size else n) and n in (1, 3), (path, n)
    stored = read_ticks(str(store), "XAUUSD", SYNTH_START, SYNTH_END)
    expected = _feed_ticks(synth_feed, "XAUUSD", SYNTH_START, SYNTH_END, 1000)
    np.testing.assert_array_equal(stored, expected)
    assert all(read_manifest(str(store), "XAUUSD", d) for d in list_days(str(store), "XAUUSD"))
    assert not list(store.rglob("*.tmp"))  # no temporary file left behind


def _committed(store) -> list[date]:
    """Days whose manifest (the commit record, written after the data) is there."""
    return [d for d in list_days(str(store), "XAUUSD") if read_manifest(str(store), "XAUUSD", d)]
