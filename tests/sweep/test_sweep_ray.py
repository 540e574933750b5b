"""Sweeps on a real local Ray: artifacts, walk-forward, pruning, failures, a killed actor, configs, ingest."""

from __future__ import annotations

import os
import threading
import time
from datetime import date, datetime
from pathlib import Path

import optuna
import polars as pl
import psutil
import pyarrow.parquet as pq
import pytest
import ray
import yaml
from optuna.trial import TrialState

from hft.store import open_store, read_ticks
from hft.store.kept import kept_ids, read_kept
from hft.sweep import WALKFORWARD_FILE, parse_spec, run_sweep
from hft.sweep.pool import ActorPool
from hft.sweep.study import counted

from .conftest import gated_spec, spec_dict
from .gated_strategy import held
from .plain_ema import plain_ema_cross

pytestmark = pytest.mark.slow


def _day(v) -> date:
    return v.date() if isinstance(v, datetime) else v


def _quiet(**kw):
    return {"progress": False, "echo": lambda _s: None, **kw}


def test_tpe_sweep_writes_runs_and_user_attrs_and_reads_days_once(ray_module, week_store):
    spec = parse_spec(
        spec_dict(week_store, "t_tpe", sampler={"type": "tpe", "seed": 1, "n_startup_trials": 4}, n_trials=10)
    )
    pool = ActorPool(spec.resources)
    try:
        res = run_sweep(spec, pool=pool, **_quiet())
        reads = [s["reads"] for s in pool.stats()]
    finally:
        pool.close()
    study = res.windows[0][1].study
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 10 == counted(study)["complete"]
    assert all(r <= 5 for r in reads) and sum(reads) >= 5  # each actor read each of the 5 days once at most
    # 10 trials are within the default top 20: every one is kept, packed in one object, no folders
    pack = Path(week_store) / "runs" / "t_tpe" / "kept.parquet"
    assert res.artifacts["top_k"] == 20 and res.artifacts["file"] == str(pack)
    assert not [p for p in pack.parent.iterdir() if p.is_dir() and p.name != "trials"]
    for t in done:
        assert t.user_attrs["run"]["folder"] is None
        summary = yaml.safe_load(read_kept(str(pack), t.user_attrs["run"]["run_id"]).summary)
        assert t.values[0] == pytest.approx(summary["metrics"]["net_pnl"])
        for m, v in summary["metrics"].items():  # each metric its own numeric attribute, no float noise
            if v is not None:
                assert t.user_attrs[m] == pytest.approx(v, rel=1e-9, abs=1e-12), m
                assert isinstance(t.user_attrs[m], int | float) and len(repr(t.user_attrs[m])) <= 17
        # a repeated parameter set shares one packed run (same run id); its tags name one of the twins
        twins = {u.number for u in done if u.params == t.params}
        assert summary["tags"]["trial"] in twins
        tags = summary["tags"]
        expected = {"phase": "train", "sweep": "t_tpe", "trial": tags["trial"], "node_id": tags["node_id"]}
        assert tags == expected
        assert tags["node_id"] in {n["NodeID"] for n in ray.nodes()}  # the Ray node that ran it
    values = [r["values"][0] for r in res.leaderboard]
    assert values == sorted(values, reverse=True) and values[0] == pytest.approx(
        study.best_value, rel=1e-9
    )  # study values are rounded (hft.sweep.labels)
    assert res.storage.startswith("journal:") and res.storage.endswith("runs/t_tpe/optuna.journal")
    assert study.metric_names == ["net_pnl"]
    attrs = study.user_attrs
    assert (attrs["sweep"], attrs["phase"], attrs["store"]) == ("t_tpe", "train", str(week_store))
    assert (attrs["data_start"], attrs["data_end"]) == (str(spec.data.start), str(spec.data.end))
    assert attrs["spec"]["sampler"]["type"] == "tpe"
    assert yaml.safe_load(Path(res.summary_path).read_text())["studies"][0]["counts"]["complete"] == 10
    assert res.stats.ticks == sum(t.user_attrs["run"]["ticks"] for t in done)


def test_walk_forward_scores_the_train_winner_on_the_next_days(ray_module, week_store):
    raw = spec_dict(week_store, "t_wf", n_trials=5, walk_forward={"train_days": 3, "test_days": 1})
    spec = parse_spec(raw)
    res = run_sweep(spec, **_quiet())
    rows = pq.read_table(f"{week_store}/runs/t_wf/{WALKFORWARD_FILE}").to_pylist()
    assert [r["fold"] for r in rows] == [0, 1]
    for r, (fold, w) in zip(rows, res.windows, strict=True):
        assert r["test_start"] > r["train_end"] and r["error"] is None
        best = w.study.best_trial
        assert (r["best_trial"], r["param_fast"], r["param_slow"]) == (
            best.number,
            best.params["fast"],
            best.params["slow"],
        )
        assert r["train_net_pnl"] == pytest.approx(best.value)
        # the out-of-sample run against the plain-Python EMA cross on the test days' ticks
        ticks = read_ticks(week_store, "XAUUSD", _day(r["test_start"]), _day(r["test_end"]))
        want = plain_ema_cross(ticks, best.params["fast"], best.params["slow"], 1, 20, 0.01, 0.02)
        assert r["trades"] == len(want) > 0
        assert r["net_pnl"] == pytest.approx(sum(w[3] for w in want), abs=1e-9)
        assert fold == r["fold"]
    assert res.aggregate["oos_net_pnl"] == pytest.approx(sum(r["net_pnl"] for r in rows))
    assert res.aggregate["folds_ok"] == 2
    # both folds' train trials (5 each, within the top 20) packed from the actors, none run again
    assert (res.artifacts["packed"], res.artifacts["retained"], res.artifacts["rebuilt"]) == (10, 10, 0)


def test_walk_forward_report_heads_with_out_of_sample_and_prints_selection_statistics(
    ray_module, week_store, tmp_path
):
    import polars as pl
    import typer
    from typer.testing import CliRunner

    from hft.reduce.cli import report
    from hft.sweep.cli import print_result

    wf = {"train_days": 3, "test_days": 1, "oos_candidates": 3}
    raw = spec_dict(week_store, "t_wfrep", n_trials=6, walk_forward=wf)
    res = run_sweep(parse_spec(raw), **_quiet())
    printed: list[str] = []
    print_result(res, echo=printed.append, width=250)
    text = "\n".join(printed)
    # the selected out-of-sample runs first, then the 3 next best train trials on the test windows, labelled
    assert (
        text.index("Out-of-sample: walk-forward test windows")
        < text.index("Out-of-sample checks, NOT selected")
        < text.index("In-sample: sweep trials")
    )
    sel, degr = text.split("Selection statistics")[1].split("Walk-forward degradation per fold")
    assert [r.split()[:2] for r in _rows(degr)] == [["0", "total_return"], ["1", "total_return"]]
    head = next(line for line in sel.splitlines() if line.strip().startswith("fold"))
    # as `hft report` orders it: DSR first; PBO is n/a on 3-day windows, so its column is hidden (why: below)
    assert head.split()[:2] == ["fold", "DSR"] and "tried" in head and "PBO" not in head
    assert [r.split()[0] for r in _rows(sel)] == ["0", "1"] and sel.count("pbo n/a or adjusted") == 2
    doc = yaml.safe_load(Path(res.summary_path).read_text())
    windows = doc["selection"]["windows"]
    assert [(w["fold"], w["n_tried"]) for w in windows] == [(0, 6), (1, 6)]
    assert all(w["pbo"] is None and "pbo" in w["reasons"] for w in windows)  # 3 days < S=16: n/a, why
    assert len(doc["selection"]["walkforward_degradation"]) == 2
    _check_oos_candidates(week_store, "t_wfrep", res, doc)

    app = typer.Typer()
    app.command()(report)
    runner = CliRunner(env={"COLUMNS": "250"})  # wide enough that no column is left out
    csv = tmp_path / "runs.csv"
    out = runner.invoke(app, [f"{week_store}/runs", "--group", "t_wfrep", "--top", "20", "--csv", str(csv)])
    assert out.exit_code == 0, out.output
    body = out.output
    assert (
        body.index("Out-of-sample: walk-forward test windows")
        < body.index("Out-of-sample checks, NOT selected")
        < body.index("In-sample: sweep trials")
    )
    assert "Selection statistics per sweep window" in body and "E[max Sharpe]" in body
    # PBO needs 16+ days: on 3-day windows its column is empty, so hidden, and the notes say why
    assert "DSR" in body and "pbo: " in body and "Walk-forward degradation per fold" in body
    table = pl.read_csv(csv)
    assert (
        table.height == 12 + 2 + 6 and csv.read_text().count("\n") == table.height + 1
    )  # no newline in a cell
    assert {"phase", "fold", "window", "n_days", "param_fast", "param_slow", "sharpe_se", "psr"} <= set(
        table.columns
    )
    assert table["phase"].null_count() == 0 and table["n_days"].null_count() == 0
    assert table.filter(pl.col("phase") == "test")["n_days"].to_list() == [1, 1]
    assert table["phase"].to_list()[:2] == ["test", "test"]  # out of sample first in the export too
    only = runner.invoke(app, [f"{week_store}/runs", "--group", "t_wfrep", "--phase", "train"])
    assert only.exit_code == 0 and "Out-of-sample" not in only.output and "In-sample" in only.output
    for by in ("dsr", "psr"):
        got = runner.invoke(app, [f"{week_store}/runs", "--group", "t_wfrep", "--by", by])
        assert got.exit_code == 0 and f"ranked by {by.upper()}" in got.output, got.output
    bad = runner.invoke(app, [f"{week_store}/runs", "--phase", "oos"])
    assert bad.exit_code == 2 and "--phase" in bad.output and "oos" in bad.output


def _rows(table: str) -> list[str]:
    """The body rows of a printed table: lines that start with a number."""
    return [line for line in table.splitlines() if line.split() and line.split()[0].isdigit()]


def _check_oos_candidates(store: str, name: str, res, doc: dict) -> None:
    """Per fold: the winner ran as phase test, the next 3 train trials by the objective as oos_check;
    the degradation is their train vs test total_return rank correlation (scipy), named as such
    (a 1-day test window has no Sharpe)."""
    import glob

    import polars as pl
    from scipy import stats

    parts = glob.glob(f"{store}/runs/{name}/trials/**/*.parquet", recursive=True)
    rows = pl.concat([pl.read_parquet(f) for f in parts], how="diagonal_relaxed")
    degr = {d["fold"]: d for d in doc["selection"]["walkforward_degradation"]}
    for fold, w in res.windows:
        done = [t for t in w.study.trials if t.state == TrialState.COMPLETE]
        by_value = sorted(done, key=lambda t: (-t.value, t.number))
        f = rows.filter(pl.col("fold") == fold)
        assert f.filter(pl.col("phase") == "test")["trial"].to_list() == [by_value[0].number]
        checks = f.filter(pl.col("phase") == "oos_check")["trial"].to_list()
        assert sorted(checks) == sorted(t.number for t in by_value[1:4])
        oos = f.filter(pl.col("phase").is_in(["test", "oos_check"])).sort("trial")
        tr = f.filter(pl.col("phase") == "train")
        train = dict(zip(tr["trial"].to_list(), tr["total_return"].to_list(), strict=True))
        want = stats.spearmanr([train[k] for k in oos["trial"]], oos["total_return"].to_list()).statistic
        d = degr[fold]
        assert (d["metric"], d["n_pairs"], d["selected_trial"]) == ("total_return", 4, by_value[0].number)
        assert "ranked by total_return" in d["reason"]
        assert d["spearman"] == pytest.approx(want)


def test_top_k_artifacts_are_packed_in_one_object_report_reads_them_rerun_rebuilds_any_other(
    ray_module, week_store
):
    """A sweep begun with a folder per trial (`all`, the old layout) and resumed with top 4: the kept
    runs that have no folder go into one pack; the report draws every kept run's curves, from its
    folder or from the pack, each run once; `hft rerun` rebuilds any other trial's folder."""
    from typer.testing import CliRunner

    from hft.cli import app
    from hft.reduce import build_report

    folder = Path(week_store) / "runs" / "t_topk"
    first = run_sweep(
        parse_spec(spec_dict(week_store, "t_topk", n_trials=4, artifacts_top_k="all")), **_quiet()
    )
    old = {p.name for p in folder.iterdir() if p.is_dir() and p.name != "trials"}
    assert first.artifacts == {} and len(old) == 4 and not (folder / "kept.parquet").exists()

    res = run_sweep(parse_spec(spec_dict(week_store, "t_topk", n_trials=10, artifacts_top_k=4)), **_quiet())
    done = res.windows[0][1].study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 10
    by_value = sorted(done, key=lambda t: (-t.value, t.number))
    top = list(dict.fromkeys(t.user_attrs["run"]["run_id"] for t in by_value))[:4]
    packed = [r for r in top if r not in old]
    assert packed and len(packed) < 4  # this seed: kept runs on both sides, folders and the pack
    assert kept_ids(open_store(week_store), "t_topk") == packed
    assert {p.name for p in folder.iterdir() if p.is_dir() and p.name != "trials"} == old  # no new folder
    objects = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("optuna.")]
    parts = list((folder / "trials").iterdir())
    assert len(objects) == 4 * 4 + len(parts) + 1 + 1  # old folders, parts, kept.parquet, sweep.yaml
    assert res.artifacts == {
        "top_k": 4,
        "kept": 4,
        "packed": len(packed),
        "retained": len(packed),  # the new runs from the actors that computed them
        "rebuilt": 0,
        "file": str(folder / "kept.parquet"),
    }

    report = build_report(f"{week_store}/runs", groups=["t_topk"], by="net_pnl", top=10, prices=False)
    assert report.ranked.height == 10  # every trial once, old folders and new parts alike
    details = {d.run_id: d for d in report.details}
    for run_id in top:  # each kept run's curves, from where it is kept
        d = details[run_id]
        assert d.url == str(folder / run_id if run_id in old else folder / "kept.parquet")
        assert d.trades is not None and d.equity is not None and d.summary["run_id"] == run_id
    for run_id in packed:  # what the pack holds is what `hft rerun` rebuilds as a folder
        out = CliRunner().invoke(app, ["rerun", run_id, "--store", week_store])
        assert out.exit_code == 0, out.output
        want = pl.read_parquet(folder / run_id / "trades.parquet")
        assert details[run_id].trades.equals(want) and details[run_id].trades.height > 0
    # a trial neither kept nor in an old folder: no artifacts until `hft rerun` builds its folder
    (lone,) = [t for t in by_value if t.user_attrs["run"]["run_id"] not in {*old, *top}][-1:]
    other = lone.user_attrs["run"]["run_id"]
    assert not (folder / other).exists()
    out = CliRunner().invoke(app, ["rerun", other, "--store", week_store])
    assert out.exit_code == 0, out.output
    summary = yaml.safe_load((folder / other / "summary.yaml").read_text())
    assert summary["metrics"]["net_pnl"] == pytest.approx(lone.value)
    assert summary["tags"]["trial"] == lone.number and summary["tags"]["phase"] == "train"
    bad = CliRunner().invoke(app, ["rerun", "feedfacefeedface", "--store", week_store])
    assert bad.exit_code == 2 and "no completed result row" in bad.output


# heavy fees: fast EMAs trade constantly and lose from the first day
HEAVY_FEES = {
    "execution": {"size": 1, "latency_ms": 20, "slippage": 0.05, "taker_per_unit": 0.5},
    "space": {
        "fast": {"type": "int", "low": 2, "high": 50},
        "slow": {"type": "int", "low": 60, "high": 4000},
    },
    "n_trials": 20,
}


def test_pruning_saves_work_where_most_of_the_space_is_bad(ray_module, week_store):
    over = HEAVY_FEES
    full = run_sweep(parse_spec(spec_dict(week_store, "t_noprune", **over)), **_quiet())
    pruner = {"type": "successive_halving", "min_resource": 1, "reduction_factor": 3}
    pruned = run_sweep(parse_spec(spec_dict(week_store, "t_prune", pruner=pruner, **over)), **_quiet())
    c = pruned.windows[0][1].counts
    assert c["pruned"] >= 6 and c["complete"] + c["pruned"] + c["failed"] == 20
    assert pruned.stats.fed_ticks < 0.7 * full.stats.fed_ticks
    trials = pruned.windows[0][1].study.get_trials(states=(TrialState.PRUNED,))
    assert all(1 <= len(t.intermediate_values) <= 4 for t in trials)  # reported daily, stopped early


@pytest.mark.parametrize(
    "pruner",
    [
        {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0},
        {"type": "hyperband", "min_resource": 1, "reduction_factor": 2},
    ],
    ids=["median", "hyperband"],
)
def test_median_and_hyperband_pruners_stop_losing_trials_early(ray_module, week_store, pruner):
    raw = spec_dict(week_store, f"t_{pruner['type']}", pruner=pruner, **{**HEAVY_FEES, "n_trials": 12})
    res = run_sweep(parse_spec(raw), **_quiet())
    study = res.windows[0][1].study
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(pruned) >= 2 and len(pruned) + len(complete) == 12
    full = max(len(t.intermediate_values) for t in complete)  # days reported by a trial run to the end
    # every pruned trial ran stepwise; pruners may also prune at the last reported day (Hyperband's rungs
    # depend on which trials finished first, i.e. on timing), but some must be stopped before the end
    assert all(1 <= len(t.intermediate_values) <= full for t in pruned)
    assert any(len(t.intermediate_values) < full for t in pruned)
    assert res.stats.fed_ticks < sum(t.user_attrs["run"]["ticks"] for t in complete) * 12 / len(complete)


def test_bad_combinations_fail_with_message_and_are_replaced(ray_module, week_store, tmp_path):
    raw = spec_dict(week_store, "t_fail", n_trials=12)
    raw["space"]["fast"] = {"type": "int", "low": 5, "high": 300}  # overlaps slow: some fast >= slow
    res = run_sweep(parse_spec(raw), storage=f"journal:{tmp_path}/journal.log", **_quiet())
    study = res.windows[0][1].study
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed and all("must be < slow" in t.user_attrs["error"] for t in failed)
    assert all(t.params["fast"] >= t.params["slow"] for t in failed)
    c = counted(study)
    assert c["complete"] == 12 and c["failed"] == len(failed)  # failures do not count toward n_trials
    assert isinstance(study._storage, optuna.storages.JournalStorage)


def test_an_actor_killed_while_it_holds_a_trial_does_not_end_the_sweep(ray_module, week_store, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "hold").write_text("0")  # every trial waits at the gate until the kill
    raw = gated_spec(week_store, "t_kill", gate, n_trials=6, resources={"batch": 1, "actors": 2})
    spec = parse_spec(raw)
    pool = ActorPool(spec.resources)
    before = pool.pids()
    victim: list[tuple[int, int, int]] = []

    def kill_the_holder():
        deadline = time.monotonic() + 120
        while not held(gate) and time.monotonic() < deadline:
            time.sleep(0.02)
        if held(gate):
            victim.append(held(gate)[0])
            proc = psutil.Process(victim[0][0])
            proc.kill()
            psutil.wait_procs([proc], timeout=10)
        (gate / "hold").unlink()

    watcher = threading.Thread(target=kill_the_holder, daemon=True)
    watcher.start()
    try:
        res = run_sweep(spec, pool=pool, **_quiet())
        after = pool.pids()
    finally:
        watcher.join(timeout=5)
        pool.close()
    assert victim, "no trial reached the gate"
    pid, fast, slow = victim[0]
    assert pid in before and pid not in after and len(after) == 2
    assert res.stats.actor_deaths == 1 and pool.replaced == 1
    study = res.windows[0][1].study
    c = counted(study)
    assert c["complete"] == 6 and c["failed"] == 0 and c["running"] == 0
    # the trial the dead actor held was re-sent and completed, once
    mine = [t for t in study.get_trials() if (t.params["fast"], t.params["slow"]) == (fast, slow)]
    assert [t.state for t in mine] == [TrialState.COMPLETE]


def test_workers_never_open_the_study_database(ray_module, week_store):
    spec = parse_spec(spec_dict(week_store, "t_nodb", n_trials=8, resources={"batch": 1, "actors": 2}))
    db = Path(week_store, "runs", "t_nodb", "optuna.db")
    pool = ActorPool(spec.resources)
    pids = pool.pids()
    seen: list[tuple[set[str], list[set[str]]]] = []

    def files(pid: int) -> set[str]:
        return {f.path for f in psutil.Process(pid).open_files()}

    def look(_stats, _pool):  # while trials run: what the driver and each actor hold open
        seen.append((files(os.getpid()), [files(p) for p in pids]))

    try:
        # SQLite keeps its file open in the driver, so an open handle is what the check can see
        res = run_sweep(spec, pool=pool, callback=look, storage="sqlite", **_quiet())
    finally:
        pool.close()
    assert res.windows[0][1].counts["complete"] == 8 and len(seen) >= 4
    names = {str(db), f"{db}-wal", f"{db}-shm"}
    assert all(str(db) in driver for driver, _ in seen)  # the check can see an open SQLite file
    assert not any(names & actor for _, actors in seen for actor in actors)


def test_plain_run_configs_run_across_the_pool_from_the_cli(ray_module, week_store, tmp_path):
    import typer
    from typer.testing import CliRunner

    from hft.sweep.cli import sweep

    folder = tmp_path / "cfgs"
    folder.mkdir()
    spec = parse_spec(spec_dict(week_store, "t_cfg"))
    for i, p in enumerate(({"fast": 10, "slow": 100}, {"fast": 30, "slow": 300})):
        data = {
            "symbol": "XAUUSD",
            "start": str(spec.data.start),
            "end": str(spec.data.end),
            "store": week_store,
        }
        cfg = {"group": "t_cfgs", "data": data, "strategy": {"name": "ema_cross", "params": p}}
        cfg["execution"] = {"size": 1, "latency_ms": 20, "slippage": 0.01, "taker_per_unit": 0.02}
        (folder / f"c{i}.yaml").write_text(yaml.safe_dump(cfg))
    app = typer.Typer()
    app.command()(sweep)
    out = CliRunner().invoke(app, [str(folder), "--quiet"])
    assert out.exit_code == 0, out.output
    assert "2 of 2 config(s) ran" in out.output
    runs = [p for p in os.listdir(f"{week_store}/runs/t_cfgs") if p != "trials"]
    assert len(runs) == 2
    bad = CliRunner().invoke(app, [str(folder / "c0.yaml"), "--n-trials", "3"])
    assert bad.exit_code == 2 and "--n-trials" in bad.output


def test_sweep_ingests_missing_days_from_the_feed_first(ray_module, tmp_path):
    from hft.data.feed import FeedServer
    from hft.data.synth import write_synth_feed
    from hft.store.ticks import list_days

    feed = tmp_path / "feed"
    write_synth_feed(feed, "XAUUSD", date(2024, 3, 4), date(2024, 3, 5), seed=2, activity=0.05)
    store = str(tmp_path / "store")
    raw = spec_dict(store, "t_feed", n_trials=2)
    raw["data"].update(start=date(2024, 3, 4), end=date(2024, 3, 5))
    with FeedServer(feed) as server:
        raw["data"]["feed_url"] = server.url
        lines = []
        res = run_sweep(parse_spec(raw), progress=False, echo=lines.append)
    assert list_days(store, "XAUUSD") == [date(2024, 3, 4), date(2024, 3, 5)]
    assert any(line.startswith("ingest: 2 missing day(s)") for line in lines)
    assert res.windows[0][1].counts["complete"] == 2


def test_grid_visits_each_point_once_and_caps_n_trials(ray_module, week_store):
    space = {
        "fast": {"type": "int", "low": 10, "high": 20, "step": 10},
        "slow": {"type": "categorical", "choices": [100, 300]},
    }
    res = run_sweep(
        parse_spec(spec_dict(week_store, "t_grid", space=space, sampler={"type": "grid"}, n_trials=50)),
        **_quiet(),
    )
    done = res.windows[0][1].study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted((t.params["fast"], t.params["slow"]) for t in done) == [
        (10, 100),
        (10, 300),
        (20, 100),
        (20, 300),
    ]


def test_two_objectives_put_the_pareto_front_first(ray_module, week_store):
    raw = spec_dict(
        week_store,
        "t_nsga2",
        sampler={"type": "nsga2", "seed": 1, "population_size": 4},
        objectives=[
            {"metric": "net_pnl", "direction": "maximize"},
            {"metric": "max_drawdown_frac", "direction": "minimize"},
        ],
        n_trials=8,
        artifacts_top_k=1,
    )
    res = run_sweep(parse_spec(raw), **_quiet())
    rows = res.leaderboard
    front = {t.number for t in res.windows[0][1].study.best_trials}
    k = len(front)
    assert k >= 1 and {r["trial"] for r in rows[:k]} == front and not any(r["pareto"] for r in rows[k:])
    # kept: the best by each objective and the whole Pareto front, nothing else
    done = res.windows[0][1].study.get_trials(states=(TrialState.COMPLETE,))
    run = {t.number: t.user_attrs["run"]["run_id"] for t in done}
    best = {max(done, key=lambda t: (t.values[0], -t.number)).number}
    best |= {min(done, key=lambda t: (t.values[1], t.number)).number}
    want = {run[n] for n in front | best}
    assert set(kept_ids(open_store(week_store), "t_nsga2")) == want and res.artifacts["kept"] == len(want)
    # the best by each objective come from the actors; the rest of the front is run again
    held = {run[n] for n in best}
    assert (res.artifacts["retained"], res.artifacts["rebuilt"]) == (len(held), len(want - held))
    for r in rows:
        assert r["values"] == [r["metrics"]["net_pnl"], r["metrics"]["max_drawdown_frac"]]
