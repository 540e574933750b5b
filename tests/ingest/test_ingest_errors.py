"""Every failure path of ingest and the feed ends in bounded time with one line naming what failed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from hft.data.feed import FeedFaults, FeedServer
from hft.ingest import IngestConfig, ingest

from .conftest import SYNTH_END

HFT = [sys.executable, "-m", "hft.cli"]


def _hft(*args, env=None, timeout=120):
    return subprocess.run([*HFT, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_a_feed_that_never_answers_fails_the_day_within_its_deadline(ray_local, synth_feed, tmp_path):
    cfg = IngestConfig(
        symbol="XAUUSD",
        start=SYNTH_END,
        end=SYNTH_END,
        store=str(tmp_path / "s"),
        timeout_s=1.0,
        deadline_s=4.0,
    )
    with FeedServer(synth_feed, faults=FeedFaults(hang_rate=1.0)) as server:
        t0 = time.monotonic()
        report = ingest(cfg.model_copy(update={"feed_url": server.url}), progress=False)
        took = time.monotonic() - t0
        hung = server.stats()["faults"]["hang"]
    assert took < 20, took  # 24 hours x 6 tries x 3 fetches would take minutes without the deadline
    assert hung >= 4
    assert len(report.failed) == 24 and not report.ok
    day = report.days[0]
    assert all("no answer before the deadline" in day.hours[h]["error"] for h in day.by_status("failed"))


def test_feed_serve_on_a_busy_port_is_one_line(synth_feed):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = _hft("feed", "serve", str(synth_feed), "--port", str(port))
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"error: feed port {port} on 127.0.0.1 is already in use; "
        "pick another with --port (0 = any free port)"
    )


@pytest.mark.parametrize("where", ["option", "env"])
def test_a_feed_url_without_scheme_is_refused_before_ray_starts(tmp_path, where):
    env = {**os.environ, "HFT_FEED_URL": "127.0.0.1:8765"} if where == "env" else None
    extra = ["--feed-url", "127.0.0.1:8765"] if where == "option" else []
    t0 = time.monotonic()
    res = _hft(
        "ingest",
        "XAUUSD",
        "--start",
        "2024-03-04",
        "--end",
        "2024-03-04",
        "--store",
        str(tmp_path / "s"),
        *extra,
        env=env,
    )
    assert res.returncode == 2 and time.monotonic() - t0 < 15  # no Ray was started
    name = "feed_url" if where == "option" else "$HFT_FEED_URL"
    assert f"{name} '127.0.0.1:8765' is not an http:// or https:// URL" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "s").exists()


def test_an_unknown_symbol_points_to_hft_symbols_never_to_ingest(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "data": {
                    "symbol": "XAUUSX",
                    "store": str(tmp_path),
                    "start": "2024-03-04",
                    "end": "2024-03-04",
                },
                "strategy": {"name": "ema_cross", "params": {"fast": 20, "slow": 100}},
                "execution": {"size": 1, "capital": 100000},
            }
        )
    )
    res = _hft("run", str(config))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "hft symbols XAU" in res.stderr and "hft ingest" not in res.stderr
    res = _hft(
        "ingest", "XAUUSX", "--start", "2024-03-04", "--end", "2024-03-04", "--store", str(tmp_path / "s")
    )
    assert res.returncode == 2 and "did you mean XAUUSD" in res.stderr and "hft ingest" not in res.stderr
