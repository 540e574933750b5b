"""SIGKILL the sweep driver mid-sweep and rerun the same command: nothing lost or re-run, n_trials exact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import optuna
import psutil
import pytest
import yaml
from optuna.trial import TrialState

from hft.data.synth import synth_day
from hft.store.ticks import write_day
from hft.sweep.study import counted

from .conftest import START, spec_dict

pytestmark = pytest.mark.slow

N_TRIALS = 30
CMD = "import typer; from hft.sweep.cli import sweep; typer.run(sweep)"


def _driver(spec_path, cwd):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.Popen(
        [sys.executable, "-c", CMD, str(spec_path), "--quiet"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _complete(db) -> int:
    """Completed trials, read with plain sqlite3 (cheap enough to poll while the driver writes)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # tables not created yet
        return 0


def _mtime(trial) -> int:
    return os.stat(f"{trial.user_attrs['run']['folder']}/summary.yaml").st_mtime_ns


def test_driver_killed_mid_sweep_resumes_exactly(tmp_path):
    store = tmp_path / "store"
    for i in range(5):
        day = START + timedelta(days=i)
        write_day(str(store), "XAUUSD", day, synth_day("XAUUSD", day, seed=9, activity=0.15))
    raw = spec_dict(str(store), "t_resume", n_trials=N_TRIALS, resources={"batch": 2, "actors": 2})
    spec_path = tmp_path / "resume.yaml"
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    url = f"sqlite:///{store}/runs/t_resume/optuna.db"

    proc = _driver(spec_path, tmp_path)
    deadline = time.monotonic() + 240
    before = None
    db = store / "runs" / "t_resume" / "optuna.db"
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if _complete(db) >= 6:
            children = psutil.Process(proc.pid).children(recursive=True)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            before = optuna.load_study(study_name="t_resume", storage=url).get_trials()
            break
    assert before is not None, f"driver ended before it could be killed: {proc.communicate()[0][-2000:]}"
    # Ray's processes share the driver's fate; clean up anything that outlived it (ours only)
    _gone, alive = psutil.wait_procs(children, timeout=5)
    for p in alive:
        p.kill()
    complete_before = {t.number: t for t in before if t.state == TrialState.COMPLETE}
    running_before = {t.number for t in before if t.state == TrialState.RUNNING}
    assert len(complete_before) < N_TRIALS
    mtimes = {
        n: os.stat(f"{t.user_attrs['run']['folder']}/summary.yaml").st_mtime_ns
        for n, t in complete_before.items()
    }

    again = _driver(spec_path, tmp_path)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out[-3000:]
    study = optuna.load_study(study_name="t_resume", storage=url)
    after = {t.number: t for t in study.get_trials()}
    c = counted(study)
    assert c["complete"] == N_TRIALS and c["running"] == c["waiting"] == c["failed"] == 0
    for n, t in complete_before.items():  # nothing completed was lost or run again
        assert after[n].state == TrialState.COMPLETE
        assert (after[n].values, after[n].datetime_complete) == (t.values, t.datetime_complete)
        assert _mtime(t) == mtimes[n]
    interrupted = set(study.user_attrs.get("interrupted", []))
    assert interrupted == running_before
    retries = [t for t in after.values() if "retry_of" in t.user_attrs]
    assert sorted(t.user_attrs["retry_of"] for t in retries) == sorted(interrupted)  # each re-run once
    assert all(t.state == TrialState.COMPLETE for t in retries)
    assert all(after[n].state == TrialState.FAIL for n in interrupted)
    assert f"re-ran {len(interrupted)} interrupted trial(s)" in out or not interrupted
    assert "leaderboard t_resume" in out
