"""Ingest → sweep → report through a real two-node Ray cluster with a moto S3 store; then the same
sweep loses its worker node halfway and still finishes on the head node with no trial lost; a sweep
on a cluster with no room for its actors stops with an error instead of waiting for ever."""

from __future__ import annotations

import contextlib
import shutil
import time
from datetime import date
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from hft.backtest import run_backtest
from hft.data.feed import FeedServer
from hft.data.synth import synth_day, write_synth_feed
from hft.reduce import build_report
from hft.store import open_store
from hft.store.kept import kept_ids
from hft.store.ticks import write_day
from hft.sweep import parse_spec, run_sweep
from tests.sweep.gated_strategy import held

pytestmark = pytest.mark.slow

START, END = date(2024, 4, 1), date(2024, 4, 2)
ROOT = Path(__file__).resolve().parents[2]


def _spec(name: str, store: str, feed_url: str | None = None, actors: int = 2, **resources):
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
            "resources": {"actors": actors, "batch": 1, "object_store_mb": 128, **resources},
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


def _sweep_on(cluster, spec, tmp_path, db: str = "optuna.db", **kw):
    """`run_sweep` of `spec` on `cluster`, quietly, its study in a SQLite file under `tmp_path`."""
    return run_sweep(
        spec,
        storage=f"sqlite:///{tmp_path / db}",
        address=cluster.address,
        progress=False,
        echo=lambda _: None,
        **kw,
    )


def _rows_by_trial(fs, pattern: str) -> dict[int, dict]:
    """The sweep's trial dataset (runs/{sweep}/trials/*.parquet) keyed by trial number; a trial in two
    rows (computed twice, or two parts claiming it) fails here instead of collapsing into one key."""
    rows = [r for path in sorted(fs.glob(pattern)) for r in pq.read_table(path, filesystem=fs).to_pylist()]
    numbers = [r["trial"] for r in rows]
    assert len(numbers) == len(set(numbers)), f"trials recorded more than once: {sorted(numbers)}"
    return {r["trial"]: r for r in rows}


def test_ingest_sweep_report_across_two_nodes(two_nodes, feed, s3_store, tmp_path):
    url, opts = s3_store
    spec = _spec("two_nodes", url, feed.url)  # the sweep ingests the missing days first
    result = _sweep_on(two_nodes, spec, tmp_path, storage_options=opts)
    trials = _trials(result)
    assert len(trials) == 6

    report = build_report(f"{url}/runs", storage_options=opts, by="net_pnl", top=6)
    assert report.ranked.height == 6
    best = max(trials.values())
    assert report.leaderboard["net_pnl"][0] == pytest.approx(best)
    st = open_store(url, opts)
    # every trial ran exactly once: trials 0..5 each in one row of one part, none lost, none twice
    rows = _rows_by_trial(st.fs, st.path("runs", "two_nodes", "trials", "*.parquet"))
    assert sorted(rows) == list(range(6))
    assert {r["status"] for r in rows.values()} == {"complete"}
    assert len({r["node_id"] for r in rows.values()}) == 2  # trials ran on both nodes, as recorded
    # 6 trials are within the default top 20: all kept, in one object in S3, no run folder;
    # the report drew their curves from it, and the summaries name the node each ran on
    assert sorted(kept_ids(st, "two_nodes")) == sorted({r["run_id"] for r in rows.values()})
    assert not st.fs.glob(st.path("runs", "two_nodes", "*", "summary.yaml"))
    assert {d.run_id for d in report.details} == {r["run_id"] for r in rows.values()}
    for d in report.details:
        assert d.trades is not None and d.equity is not None and d.url.endswith("/two_nodes/kept.parquet")
        assert d.summary["tags"]["node_id"] in {
            r["node_id"] for r in rows.values() if r["run_id"] == d.run_id
        }
    points = {(r["param_fast"], r["param_slow"]) for r in rows.values()}
    assert points == {(f, s) for f in (20, 40, 60) for s in (200, 400)}  # each grid point once

    # topology consistency (same engine both sides): one node (one actor) gives the same result per
    # grid point; trials keyed by number on each side, matched by their parameters
    single = _sweep_on(
        two_nodes, _spec("one_node", str(tmp_path / "store"), feed.url, actors=1), tmp_path, "optuna1.db"
    )
    assert _trials(single) == pytest.approx(trials)
    one = _rows_by_trial(
        LocalFileSystem(), str(tmp_path / "store" / "runs" / "one_node" / "trials" / "*.parquet")
    )
    assert sorted(one) == list(range(6))
    by_point = {(r["param_fast"], r["param_slow"]): r["net_pnl"] for r in rows.values()}
    assert {(r["param_fast"], r["param_slow"]): r["net_pnl"] for r in one.values()} == pytest.approx(by_point)
    assert len({r["node_id"] for r in one.values()}) == 1


USER_SMA = ROOT / "examples" / "sma_cross.py"


def test_a_user_strategy_file_reaches_actors_on_both_nodes_without_its_file(two_nodes, s3_store, tmp_path):
    """The user's file lives in a folder no node has on its path, and is deleted once the driver has
    imported it (no node, sharing this disk or not, can read it): the actors on both nodes run the
    copy the driver shipped, and each trial equals a run of its config in this process, without Ray."""
    url, opts = s3_store
    day = date(2024, 3, 4)
    ticks = synth_day("XAUUSD", day, seed=3, activity=0.05)
    write_day(open_store(url, opts), "XAUUSD", day, ticks)
    local = str(tmp_path / "local-store")  # the single-process runs read (and write) their own copy
    write_day(local, "XAUUSD", day, ticks)
    folder = tmp_path / "strategies"
    folder.mkdir()
    src = USER_SMA.read_text().replace('"sma_cross"', '"node_sma"').replace("def sma_cross", "def node_sma")
    (folder / "node_sma.py").write_text(src)
    spec = parse_spec(
        {
            "name": "user_code",
            "data": {"symbol": "XAUUSD", "start": day, "end": day, "store": url},
            "strategy": {"name": "node_sma", "module": str(folder / "node_sma.py")},
            "execution": {"size": 1, "latency_ms": 20.5, "slippage": 0.01, "taker_per_unit": 0.02},
            "space": {"n": {"type": "int", "low": 100, "high": 400, "step": 100}},
            "sampler": {"type": "grid"},
            "objectives": [{"metric": "net_pnl", "direction": "maximize"}],
            "n_trials": 4,
            "resources": {"actors": 2, "batch": 1, "object_store_mb": 128},
        },
        "test spec",
    )  # the driver imports the file here
    shutil.rmtree(folder)  # (each node works in its own temp folder, hft.localcluster)
    _sweep_on(two_nodes, spec, tmp_path, storage_options=opts)
    assert not folder.exists()
    st = open_store(url, opts)
    rows = _rows_by_trial(st.fs, st.path("runs", "user_code", "trials", "*.parquet"))
    assert sorted(rows) == list(range(4)) and {r["status"] for r in rows.values()} == {"complete"}
    assert len({r["node_id"] for r in rows.values()}) == 2  # actors on both nodes imported it
    assert {r["param_n"] for r in rows.values()} == {100, 200, 300, 400}
    for r in rows.values():
        alone = run_backtest(spec.run_config({"n": r["param_n"]}, day, day, local), store=local)
        assert alone.computed
        metrics = alone.summary["metrics"]
        assert (r["trades"], r["net_pnl"]) == (metrics["trades"], metrics["net_pnl"]), r["param_n"]
    assert max(r["trades"] for r in rows.values()) > 5


@pytest.mark.timeout(300, method="thread")  # a batch handed to an actor that cannot start hangs
def test_losing_the_worker_node_mid_sweep_loses_no_trial(two_nodes, feed, s3_store, tmp_path):
    """Both actors hold a trial at a gate (tests/sweep/gated_strategy.py, shipped as a user file) when
    the worker node is killed: its trials come back and run on the head, beside the actor started in
    place of the dead one, which never starts (the head's one CPU is the survivor's), so is never
    handed a batch."""
    import threading

    import psutil

    url, opts = s3_store
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "hold").write_text("0")
    folder = tmp_path / "strategies"
    folder.mkdir()
    src = (ROOT / "tests" / "sweep" / "gated_strategy.py").read_text()
    (folder / "node_gated.py").write_text(src.replace('"gated_ema"', '"node_gated"'))
    raw = _spec("lose_a_node", url, feed.url).model_dump(mode="json", exclude_unset=True)
    module = str(folder / "node_gated.py")
    raw["strategy"] = {"name": "node_gated", "module": module, "params": {"gate": str(gate)}}
    spec = parse_spec(raw, "test spec")
    seen: list[tuple[int, int, int]] = []
    out: dict = {}

    def sweep() -> None:
        try:
            out["result"] = _sweep_on(
                two_nodes,
                spec,
                tmp_path,
                storage_options=opts,
                callback=lambda stats, pool: seen.append(
                    (stats.actor_deaths, pool.replaced, len(pool.actors) - len(pool.ready))
                ),
            )
        except BaseException as exc:  # re-raised below, in the test's thread
            out["error"] = exc

    driver = threading.Thread(target=sweep, daemon=True)
    driver.start()
    worker_root = two_nodes.started[1].proc.pid
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len({pid for pid, *_ in held(gate)}) < 2:
        time.sleep(0.1)
    pids = {pid for pid, *_ in held(gate)}
    assert len(pids) == 2, f"both actors should hold a trial at the gate: {held(gate)}"
    on_worker = [p for p in pids if worker_root in {a.pid for a in psutil.Process(p).parents()}]
    assert len(on_worker) == 1, "one actor runs on each node"
    # the node is lost with everything on it, mid-trial: its `ray start` group, and its workers (Ray
    # puts those in groups of their own; an orphaned actor would still answer its caller directly)
    on_node = psutil.Process(worker_root).children(recursive=True)
    two_nodes.started[1].kill()
    for proc in on_node:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    (gate / "hold").unlink()
    driver.join(120)
    assert not driver.is_alive(), "the sweep hung after losing a node"
    if "error" in out:
        raise out["error"]
    deaths, replaced, unstarted = seen[-1]
    assert deaths >= 1 and replaced >= 1 and unstarted == 1, seen
    trials = _trials(out["result"])
    assert len(trials) == 6  # every grid point completed despite the lost node, each once


@pytest.mark.timeout(300, method="thread")
def test_a_sweep_with_no_room_for_any_actor_stops_with_an_error_naming_what_it_needs(two_nodes, tmp_path):
    """Every CPU of the cluster is held by someone else: the sweep's actors cannot start, and instead
    of waiting for ever on batches sent to them the sweep stops after `start_timeout_s`."""
    import ray

    from hft.errors import SweepError

    store = str(tmp_path / "store")
    for day in (START, END):
        write_day(store, "XAUUSD", day, synth_day("XAUUSD", day, seed=3, activity=0.05))

    @ray.remote(num_cpus=1)
    class Blocker:
        def ping(self) -> int:
            return 1

    blockers = [Blocker.options(resources={f"node{i}": 1}).remote() for i in range(2)]
    try:
        ray.wait([b.ping.remote() for b in blockers], num_returns=2, timeout=30)  # (a lost node's never)
        assert ray.available_resources().get("CPU", 0) == 0
        spec = _spec("no_room", store, start_timeout_s=3)
        with pytest.raises(SweepError, match=r"none of the 2 waited for has started in 3 s.*\(1 CPU each\)"):
            _sweep_on(two_nodes, spec, tmp_path)
    finally:
        for b in blockers:
            ray.kill(b)
