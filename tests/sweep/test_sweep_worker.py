"""The actor's logic without Ray: batched runs equal independent single runs, days are read once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hft.backtest import run_backtest
from hft.errors import StoreError
from hft.sweep import parse_spec
from hft.sweep.worker import BatchRequest, SweepWorker, TrialTask

from .conftest import START, spec_dict
from .plain_ema import plain_ema_cross

EXEC = {"size": 2, "latency_ms": 20, "slippage": 0.01, "taker_per_unit": 0.02}

PARAMS = [{"fast": 10, "slow": 100}, {"fast": 20, "slow": 300}, {"fast": 40, "slow": 200}]


def _tasks(spec, store, params, end=None):
    end = end or spec.data.end
    return [
        TrialTask(
            i, spec.run_config(p, START, end, store).model_dump(mode="json"), {"sweep": spec.name, "trial": i}
        )
        for i, p in enumerate(params)
    ]


def test_consistency_batched_trials_equal_single_runs_and_carry_tags(week_store):
    """A consistency check (same engine both sides): the batched actor path equals `run_backtest`'s
    streaming single run. Correctness against the README rules is the plain-Python test below."""
    spec = parse_spec(spec_dict(week_store, "w_batch"))
    worker = SweepWorker(cache_mb=64)
    rep = worker.run(BatchRequest(_tasks(spec, week_store, PARAMS)))
    assert [o.status for o in rep.outcomes] == ["complete"] * 3
    assert rep.fed_ticks == 3 * rep.outcomes[0].ticks > 0
    for o, p in zip(rep.outcomes, PARAMS, strict=True):
        # the other engine path: run_backtest streams row groups from the store through a single Run
        cfg = spec.run_config(p, START, spec.data.end, week_store).model_copy(update={"group": "w_batch_ref"})
        ref = run_backtest(cfg, force=True)
        got, want = o.metrics, ref.summary["metrics"]
        assert got["trades"] == want["trades"] > 0
        assert got["net_pnl"] == pytest.approx(want["net_pnl"], rel=1e-12, abs=1e-9)
        assert got["max_drawdown"] == pytest.approx(want["max_drawdown"], rel=1e-12)
        row = pq.read_table(f"{o.folder}/summary.parquet").to_pylist()[0]
        assert (row["group"], row["trial"], row["param_fast"]) == ("w_batch", o.key, p["fast"])
        assert o.folder.startswith(f"{week_store}/runs/w_batch/")


def test_days_are_read_once_per_actor_across_batches(week_store):
    worker = SweepWorker(cache_mb=64)
    for i in range(3):
        spec = parse_spec(spec_dict(week_store, f"w_cache{i}"))  # another group: nothing to reuse
        worker.run(BatchRequest(_tasks(spec, week_store, PARAMS)))
    st = worker.stats()
    assert st["trials"] == 9
    assert st["reads"] == 5  # five stored days, each read once
    assert st["hits"] == 10  # one BatchRun pass per batch: later batches hit the cache


def test_tiny_cache_streams_days_again(week_store):
    worker = SweepWorker(cache_mb=0)
    for i in range(2):
        spec = parse_spec(spec_dict(week_store, f"w_nocache{i}"))
        worker.run(BatchRequest(_tasks(spec, week_store, PARAMS[:2])))
    assert worker.stats()["reads"] == 10  # nothing fits: every batch streams the five days


def test_bad_parameter_combination_fails_alone_with_its_message(week_store):
    spec = parse_spec(spec_dict(week_store, "w_bad"))
    params = [{"fast": 10, "slow": 100}, {"fast": 300, "slow": 100}]
    rep = SweepWorker(cache_mb=64).run(BatchRequest(_tasks(spec, week_store, params)))
    by = {o.key: o for o in rep.outcomes}
    assert by[0].status == "complete"
    assert by[1].status == "failed"
    assert "fast (300) must be < slow (100)" in by[1].error


def test_stepwise_days_end_where_a_single_pass_does_and_pruned_trials_stop(week_store):
    one_spec = parse_spec(spec_dict(week_store, "w_step_once"))
    one = SweepWorker(cache_mb=64).run(BatchRequest(_tasks(one_spec, week_store, PARAMS)))
    spec = parse_spec(spec_dict(week_store, "w_step"))
    worker = SweepWorker(cache_mb=64)
    rep = worker.begin(BatchRequest(_tasks(spec, week_store, PARAMS), objective="net_pnl", stepwise=True))
    assert not rep.done
    steps, prune, fed = [], [], 0
    while not rep.done:
        rep = worker.advance(prune)
        fed += rep.fed_ticks
        if rep.values:
            steps.append((rep.step, dict(rep.values)))
        prune = [2] if rep.step == 1 else []
    assert [s for s, _ in steps] == [0, 1, 2, 3]  # a value per day before the last one
    assert set(steps[-1][1]) == {0, 1}  # trial 2 pruned after day 2
    done = {o.key: o for o in rep.outcomes}
    assert set(done) == {0, 1}
    ref = {o.key: o for o in one.outcomes}
    for k in (0, 1):
        assert done[k].metrics["net_pnl"] == pytest.approx(ref[k].metrics["net_pnl"], rel=1e-12, abs=1e-9)
    assert fed < 3 * ref[0].ticks  # the pruned trial saw two days only


def test_an_identical_finished_run_is_reused_not_recomputed(week_store):
    spec = parse_spec(spec_dict(week_store, "w_reuse"))
    first = SweepWorker(cache_mb=64).run(BatchRequest(_tasks(spec, week_store, PARAMS[:1] * 2)))
    assert [o.reused for o in first.outcomes] == [False, True]  # the twin in the batch is not run twice
    assert first.fed_ticks == first.outcomes[0].ticks
    worker = SweepWorker(cache_mb=64)
    again = worker.run(BatchRequest(_tasks(spec, week_store, PARAMS[:1])))
    assert again.outcomes[0].reused and again.fed_ticks == 0 and worker.stats()["reads"] == 0
    assert again.outcomes[0].metrics == first.outcomes[0].metrics


def test_a_batch_writes_one_part_with_every_trial_and_a_rerun_replaces_it(week_store):
    import polars as pl

    spec = parse_spec(spec_dict(week_store, "w_part"))
    params = [*PARAMS, {"fast": 70, "slow": 20}]  # the last fails validation (fast >= slow)
    tasks = [
        TrialTask(t.key + 40, t.config, {**t.tags, "trial": t.key + 40, "phase": "train"})
        for t in _tasks(spec, week_store, params)
    ]
    worker = SweepWorker(cache_mb=64)
    rep = worker.run(BatchRequest(tasks))
    assert worker.parts == [f"{week_store}/runs/w_part/trials/part-0000040-0000043.parquet"]
    worker.run(BatchRequest(tasks))  # the same batch again (a retry after a lost reply)
    files = sorted(p.name for p in (Path(week_store) / "runs" / "w_part" / "trials").iterdir())
    assert files == ["part-0000040-0000043.parquet"]
    df = pl.read_parquet(worker.parts[0]).sort("trial")
    assert df["trial"].to_list() == [40, 41, 42, 43]
    assert df["status"].to_list() == ["complete"] * 3 + ["failed"]
    assert "fast (70) must be < slow (20)" in df["error"][3]
    assert set(df["phase"]) == {"train"} and set(df["sweep"]) == {"w_part"}
    cap = spec.execution.capital
    for o in [o for o in rep.outcomes if o.status == "complete"]:
        # independent: the day closes of the run folder's equity.parquet
        eq = pl.read_parquet(Path(o.folder) / "equity.parquet").filter("day_close")
        closes = eq["equity"].to_numpy()
        want = closes / np.concatenate([[cap], closes[:-1]]) - 1.0
        match = df.filter(pl.col("run_id") == o.run_id).row(0, named=True)
        assert match["daily_returns"] == pytest.approx(list(want), rel=1e-12, abs=1e-15)
        # a day's close is stamped 24:00 of that day (README, Run folders): the date is the day before
        assert match["daily_dates"] == [(t - timedelta(milliseconds=1)).date() for t in eq["ts"]]
        assert match["daily_dates"] == [START + timedelta(days=i) for i in range(5)]  # the stored week
        assert match["n_days"] == len(want) == o.metrics["n_days"]
        assert match["params"].count("\n") == 0 and json.loads(match["params"])["fast"] == match["param_fast"]


def test_rerun_rebuilds_the_folder_an_actor_wrote_byte_for_byte(week_store, tmp_path):
    import shutil

    from hft.backtest.rerun import rerun

    spec = parse_spec(spec_dict(week_store, "w_rerun"))
    tasks = [
        TrialTask(t.key, t.config, {**t.tags, "phase": "train"}) for t in _tasks(spec, week_store, PARAMS)
    ]
    rep = SweepWorker(cache_mb=64).run(BatchRequest(tasks))  # batched engine path, folders written
    names = ["equity.parquet", "summary.parquet", "summary.yaml", "trades.parquet"]
    for o in rep.outcomes:
        folder = Path(o.folder)
        before = {n: (folder / n).read_bytes() for n in names}
        shutil.rmtree(folder)
        out = rerun(o.run_id, week_store)  # streaming engine path, from the row in the part
        assert out.folder == str(folder)
        assert {n: (folder / n).read_bytes() for n in names} == before
    other = _tasks(spec, week_store, [{"fast": 15, "slow": 150}])[0]
    lean = SweepWorker(cache_mb=64).run(BatchRequest([other], folders=False))  # rows only
    o = lean.outcomes[0]
    assert o.status == "complete" and o.folder is None
    assert not (Path(week_store) / "runs" / "w_rerun" / o.run_id).exists()
    built = rerun(o.run_id, week_store)
    assert built.summary["metrics"]["net_pnl"] == o.metrics["net_pnl"]
    assert built.summary["tags"] == {"phase": "run", "sweep": "w_rerun", "trial": 0}
    with pytest.raises(StoreError, match="no completed result row"):
        rerun("0123456789abcdef", week_store)


def test_batched_trials_match_a_plain_python_ema_cross_from_the_readme_rules(tmp_path):
    """Each trial's config written by hand at YAML level (not through spec.run_config) on a few hundred
    synthetic ticks given here; trades and PnL checked against `plain_ema_cross`."""
    import polars as pl

    from hft.data.ticks import TICK_DTYPE
    from hft.store.ticks import write_day

    rng = np.random.default_rng(7)
    n = 400
    ticks = np.zeros(n, TICK_DTYPE)
    t0 = int(datetime(START.year, START.month, START.day, 8, tzinfo=UTC).timestamp() * 1000)
    ticks["ts"] = t0 + np.cumsum(rng.integers(1, 40, n))  # gaps around the 20 ms latency
    mid = 2000 + np.cumsum(rng.normal(0, 0.3, n))
    ticks["bid"], ticks["ask"] = np.round(mid - 0.1, 2), np.round(mid + 0.1, 2)
    store = str(tmp_path / "store")
    write_day(store, "XAUUSD", START, ticks)
    params = [{"fast": 3, "slow": 12}, {"fast": 5, "slow": 40}, {"fast": 10, "slow": 25}]
    tasks = [
        TrialTask(
            i,
            {
                "group": "plain",
                "data": {
                    "symbol": "XAUUSD",
                    "start": START.isoformat(),
                    "end": START.isoformat(),
                    "store": store,
                },
                "strategy": {"name": "ema_cross", "params": p},
                "execution": EXEC,
            },
            {"sweep": "plain", "trial": i},
        )
        for i, p in enumerate(params)
    ]
    rep = SweepWorker(cache_mb=8).run(BatchRequest(tasks))
    assert [o.status for o in rep.outcomes] == ["complete"] * 3
    for o, p in zip(rep.outcomes, params, strict=True):
        want = plain_ema_cross(ticks, p["fast"], p["slow"], EXEC["size"], 20, 0.01, 0.02)
        got = pl.read_parquet(f"{o.folder}/trades.parquet")
        assert o.metrics["trades"] == got.height == len(want) > 5, p
        entry_ms = [int(t.timestamp() * 1000) for t in got["entry_time"]]
        exit_ms = [int(t.timestamp() * 1000) for t in got["exit_time"]]
        assert entry_ms == [w[0] for w in want] and exit_ms == [w[1] for w in want], p
        assert got["side"].to_list() == ["long" if w[2] > 0 else "short" for w in want], p
        assert got["net_pnl"].to_list() == pytest.approx([w[3] for w in want], abs=1e-9), p
        assert o.metrics["net_pnl"] == pytest.approx(sum(w[3] for w in want), abs=1e-9), p
        assert o.metrics["fees"] == pytest.approx(len(want) * 2 * EXEC["size"] * 0.02, abs=1e-9), p


def test_a_corrupt_day_is_rejected_from_the_cache_batch_after_batch(week_store):
    """Days are checked once, as they enter the actor's cache; a day that failed is fed unchecked, so
    every batch over it names the bad tick (the batch then runs its trials one by one to say so)."""
    from hft.data.synth import synth_day
    from hft.store.ticks import write_day

    bad_day = START + timedelta(days=2)
    ticks = synth_day("XAUUSD", bad_day, seed=5, activity=0.05)
    j = ticks.size // 2
    ticks["bid"][j] = ticks["ask"][j] + 0.5  # crossed quote
    write_day(week_store, "XAUUSD", bad_day, ticks)
    spec = parse_spec(spec_dict(week_store, "w_corrupt"))
    worker = SweepWorker(cache_mb=64)
    when = datetime.fromtimestamp(int(ticks["ts"][j]) / 1000, tz=UTC).isoformat(timespec="milliseconds")
    for i in range(2):  # the second batch finds every day in the cache
        tasks = [TrialTask(t.key + 10 * i, t.config, t.tags) for t in _tasks(spec, week_store, PARAMS)]
        rep = worker.run(BatchRequest(tasks, folders=False))
        assert [o.status for o in rep.outcomes] == ["failed"] * 3
        for o in rep.outcomes:
            assert f"XAUUSD: tick {j} of the chunk at {when}" in o.error and "crossed quote" in o.error
    assert worker.stats()["reads"] == 3  # each day up to the bad one read (and checked) once
    good = _tasks(spec, week_store, PARAMS, end=bad_day - timedelta(days=1))  # the days before it
    rep = worker.run(BatchRequest([TrialTask(t.key + 20, t.config, t.tags) for t in good], folders=False))
    assert [o.status for o in rep.outcomes] == ["complete"] * 3
    assert worker.stats()["reads"] == 3
