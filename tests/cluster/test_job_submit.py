"""`cluster/submit.sh` really submits an hft command as a Ray job to a running cluster."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from hft.data.feed import FeedServer
from hft.data.synth import write_synth_feed
from hft.localcluster import LocalCluster
from hft.rayenv import safe_ray_env
from hft.store import list_days, read_manifest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DAY = date(2024, 4, 1)


def test_submit_script_runs_ingest_as_a_ray_job(tmp_path):
    write_synth_feed(tmp_path / "feed", "XAUUSD", DAY, DAY, seed=2, activity=0.02)
    store = tmp_path / "store"
    cluster = LocalCluster(nodes=1, cpus_per_node=2, dashboard=True)
    with cluster, FeedServer(tmp_path / "feed") as feed:
        # submit.sh finds the local token itself: no RAY_AUTH_* variables from this side
        env = {k: v for k, v in safe_ray_env().items() if not k.startswith("RAY_AUTH")}
        env |= {
            "RAY_ADDRESS": cluster.dashboard_url,
            "RAY_BIN": str(Path(sys.executable).with_name("ray")),
            "PYTHON": sys.executable,
            "HFT_PYTHON": sys.executable,
        }
        args = ["ingest", "XAUUSD", "--start", str(DAY), "--end", str(DAY), "--store", str(store)]
        cmd = ["bash", str(ROOT / "cluster" / "submit.sh"), *args, "--feed-url", feed.url, "--quiet"]
        guessed = subprocess.run(
            cmd, env=env | {"RAY_AUTH_TOKEN": "a" * 64}, capture_output=True, text=True, timeout=300
        )
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert guessed.returncode != 0  # the dashboard refused it, for its token:
    assert "Authentication failed: Forbidden: Invalid authentication token" in guessed.stderr
    assert "succeeded" not in guessed.stdout + guessed.stderr
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "succeeded" in res.stdout + res.stderr
    assert list_days(str(store), "XAUUSD") == [DAY]
    assert read_manifest(str(store), "XAUUSD", DAY)["rows"] > 0
