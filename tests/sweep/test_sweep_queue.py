"""One batch queued behind the running one on each actor (hft.sweep.driver), on a real local Ray: the
remaining trials still split evenly, and the queued batch of a killed actor is sent again, its trials
told once each, without counting as an attempt (it never started)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
import ray
from optuna.trial import TrialState

from hft.sweep import parse_spec, run_sweep
from hft.sweep.pool import ActorPool
from hft.sweep.study import counted

from .conftest import gated_spec, spec_dict
from .gated_strategy import held
from .gated_worker import SizeRecordingWorker

pytestmark = pytest.mark.slow


def _quiet(**kw):
    return {"progress": False, "echo": lambda _s: None, **kw}


def _journal_ops(journal: Path) -> list[dict]:
    """The journal's operations as the file stands (optuna.storages.journal: 4 = CREATE_TRIAL,
    6 = SET_TRIAL_STATE_VALUES, written when a trial is told)."""
    return [json.loads(x) for x in journal.read_text().splitlines()] if journal.exists() else []


def test_queued_batches_split_the_trials_evenly_across_actors(ray_module, week_store):
    """12 trials, batches of 4, 2 actors: 4 + 4 start, the last 4 are queued 2 + 2 (sent back to the
    first actor to return, as without queueing, they would give it 8 trials and the other 4)."""
    spec = parse_spec(spec_dict(week_store, "t_even", n_trials=12, resources={"batch": 4, "actors": 2}))
    pool = ActorPool(spec.resources, worker=SizeRecordingWorker)
    try:
        res = run_sweep(spec, pool=pool, **_quiet())
        sizes = ray.get([a.sizes.remote() for a in pool.actors])
    finally:
        pool.close()
    assert res.windows[0][1].counts["complete"] == 12
    assert sorted(sizes) == [[4, 2], [4, 2]]


@pytest.mark.parametrize("max_retries", [0, 1])
def test_queued_batch_of_a_killed_actor_is_sent_again_and_each_trial_told_once(
    ray_module, week_store, tmp_path, max_retries
):
    """One actor, batches of 1: trial 0 holds at the gate inside the actor, trial 1 waits queued
    behind it. The actor is killed: both come back; trial 1 never started, so even with no retries
    left it runs again (on the replacement actor) and completes; trial 0 is retried when allowed."""
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "hold").write_text("0")  # every trial waits at the gate until the kill
    resources = {"batch": 1, "actors": 1, "max_retries": max_retries}
    spec = parse_spec(gated_spec(week_store, "t_qkill", gate, n_trials=3, resources=resources))
    journal = Path(week_store, "runs", "t_qkill", "optuna.journal")
    pool = ActorPool(spec.resources)
    (victim,) = pool.pids()
    asked_at_kill: list[int] = []

    def kill_the_actor():
        deadline = time.monotonic() + 120
        while not held(gate) and time.monotonic() < deadline:
            time.sleep(0.02)
        asked_at_kill.append(sum(op["op_code"] == 4 for op in _journal_ops(journal)))
        proc = psutil.Process(victim)
        proc.kill()
        psutil.wait_procs([proc], timeout=10)
        (gate / "hold").unlink()

    watcher = threading.Thread(target=kill_the_actor, daemon=True)
    watcher.start()
    try:
        res = run_sweep(spec, pool=pool, **_quiet())
        after = pool.pids()
    finally:
        watcher.join(timeout=5)
        pool.close()
    assert asked_at_kill == [2]  # trial 0 held in the actor, trial 1 queued behind it, both stored
    assert victim not in after and res.stats.actor_deaths == 1 and pool.replaced == 1
    study = res.windows[0][1].study
    trials = {t.number: t for t in study.get_trials()}
    assert trials[1].state == TrialState.COMPLETE  # the queued one: sent again, not an attempt
    if max_retries:
        assert [t.state for t in trials.values()] == [TrialState.COMPLETE] * 3
    else:  # the held one had its one attempt; a new trial replaces it
        error = trials[0].user_attrs["error"]
        assert trials[0].state == TrialState.FAIL and "actor died" in error and "after 1 attempts" in error
        assert counted(study)["complete"] == 3 and len(trials) == 4
    told = Counter(op["trial_id"] for op in _journal_ops(journal) if op["op_code"] == 6)
    assert len(told) == len(trials) and set(told.values()) == {1}  # each trial told exactly once
