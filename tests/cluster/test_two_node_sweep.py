"""Ingest → sweep → report through a real two-node Ray cluster with a moto S3 store; then the same
sweep loses its worker node halfway and still finishes on the head node with no trial lost."""

from __future__ import annotations

from datetime import date

import optuna
import pytest
import yaml

from hft.data.feed import FeedServer
from hft.data.synth import write_synth_feed
from hft.reduce import build_report
from hft.store import open_store
from hft.sweep import parse_spec, run_sweep

pytestmark = pytest.mark.slow

START, END = date(2024, 4, 1), date(2024, 4, 2)


def _spec(name: str, store: str, feed_url: str | None = None, actors: int = 2):
    return parse_spec(
        {
            "name": name,
            "data": {"symbol": "XAUUSD", "start": START, "end": END, "store": store, "feed_url": feed_url},
            "strategy": {"name": "ema_cross"},
            "execution": {"size": 1, "latency_ms": 20, "slippage": 0.01, "taker_per_unit": 0.02},
            "space": {
                "fast": {"type": "int", "low": 20, "high": 60, "step": 20},
                "slow": {"type": "int", "low": 200, "high": 400, "step": 200},
            },
            "sampler": {"type": "grid"},
            "objectives": [{"metric": "net_pnl", "direction": "maximize"}],
            "n_trials": 6,
            "resources": {"actors": actors, "batch": 1, "object_store_mb": 128},
        },
        "test spec",
    )


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed")
    write_synth_feed(root, "XAUUSD", START, END, seed=9, activity=0.05)
    with FeedServer(root) as server:
        yield server


def _trials(result) -> dict[tuple, float]:
    study = optuna.load_study(study_name=result.spec.name, storage=result.storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    by_params = {(t.params["fast"], t.params["slow"]): t.values[0] for t in done}
    assert len(by_params) == len(done), "a grid point completed twice"  # keys would hide it
    return by_params


def test_ingest_sweep_report_across_two_nodes(two_nodes, feed, s3_store, tmp_path):
    url, opts = s3_store
    spec = _spec("two_nodes", url, feed.url)  # the sweep ingests the missing days first
    result = run_sweep(
        spec,
        storage_options=opts,
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        address=two_nodes.address,
        progress=False,
        echo=lambda _: None,
    )
    trials = _trials(result)
    assert len(trials) == 6

    report = build_report(f"{url}/runs", storage_options=opts, by="net_pnl", top=6)
    assert report.ranked.height == 6
    best = max(trials.values())
    assert report.leaderboard["net_pnl"][0] == pytest.approx(best)
    st = open_store(url, opts)
    summaries = [
        yaml.safe_load(st.fs.cat_file(p))
        for p in st.fs.glob(st.path("runs", "two_nodes", "*", "summary.yaml"))
    ]
    assert len(summaries) == 6
    assert len({s["tags"]["node_id"] for s in summaries}) == 2  # trials ran on both nodes, as recorded

    # the same spec on a single node (one actor, so every trial runs on one node) gives the same results
    single = run_sweep(
        _spec("one_node", str(tmp_path / "store"), feed.url, actors=1),
        storage=f"sqlite:///{tmp_path / 'optuna1.db'}",
        address=two_nodes.address,
        progress=False,
        echo=lambda _: None,
    )
    assert _trials(single) == pytest.approx(trials)
    local = [
        yaml.safe_load(p.read_text())
        for p in (tmp_path / "store" / "runs" / "one_node").glob("*/summary.yaml")
    ]
    assert len({s["tags"]["node_id"] for s in local}) == 1


def test_losing_the_worker_node_mid_sweep_loses_no_trial(two_nodes, feed, s3_store, tmp_path):
    url, opts = s3_store
    killed = []

    def kill_worker_once(stats, pool) -> None:
        if not killed and stats.trials >= 2:
            two_nodes.started[1].kill()  # the worker node's raylet and everything on it
            killed.append(stats.trials)

    result = run_sweep(
        _spec("lose_a_node", url, feed.url),
        storage_options=opts,
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        address=two_nodes.address,
        progress=False,
        echo=lambda _: None,
        callback=kill_worker_once,
    )
    assert killed, "the worker node was never killed"
    trials = _trials(result)
    assert len(trials) == 6  # every grid point completed despite the lost node
