"""SIGKILL the sweep driver while trials are known to be running, rerun the same command: nothing
completed is lost or run again, each interrupted trial runs again exactly once, n_trials is exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import psutil
import pyarrow.parquet as pq
import pytest
import yaml
from optuna.trial import TrialState

from hft.sweep.study import counted

from .conftest import gated_spec, python_path_env
from .gated_strategy import held

pytestmark = pytest.mark.slow

N_TRIALS = 12
LET_THROUGH = 4  # trials that pass the gate (and complete) before the rest wait at it
CMD = "import typer; from hft.sweep.cli import sweep; typer.run(sweep)"


def _driver(spec_path, cwd):
    return subprocess.Popen(
        [sys.executable, "-c", CMD, str(spec_path), "--quiet"],
        cwd=cwd,
        env=python_path_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _complete(journal) -> int:
    """Completed trials in the default (journal) storage as the file stands (the driver appends whole
    rounds, so a reader never sees half of one)."""
    if not journal.exists():
        return 0
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    # op 6 = SET_TRIAL_STATE_VALUES (optuna.storages.journal JournalOperation); state 1 = COMPLETE
    return sum(1 for x in lines if x["op_code"] == 6 and x["state"] == TrialState.COMPLETE.value)


def _storage(journal):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(journal)))


def _row_files(trials_dir) -> dict[int, tuple[str, int]]:
    """Trial number → (the part holding its row, that file's mtime): a trial run again would be
    written again, into another part or a rewritten one."""
    out = {}
    for p in sorted(trials_dir.glob("part-*.parquet")):
        for n in pq.read_table(p, columns=["trial"]).column("trial").to_pylist():
            assert n not in out, f"trial {n} has rows in {out[n][0]} and {p.name}"
            out[n] = (p.name, p.stat().st_mtime_ns)
    return out


def test_driver_killed_while_trials_run_resumes_exactly(week_store, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "hold").write_text(str(LET_THROUGH))
    raw = gated_spec(week_store, "t_resume", gate, n_trials=N_TRIALS, resources={"batch": 2, "actors": 2})
    spec_path = tmp_path / "resume.yaml"
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    db = tmp_path / "store" / "runs" / "t_resume" / "optuna.journal"  # the default storage

    proc = _driver(spec_path, tmp_path)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if held(gate) and _complete(db) >= LET_THROUGH:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"driver ended before it could be killed: {proc.communicate()[0][-2000:]}"
    assert held(gate), "no trial reached the gate in time"
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Ray's processes share the driver's fate; clean up anything that outlived it (ours only)
    _gone, alive = psutil.wait_procs(children, timeout=5)
    for p in alive:
        p.kill()
    psutil.wait_procs(alive, timeout=5)

    before = optuna.load_study(study_name="t_resume", storage=_storage(db)).get_trials()
    complete_before = {t.number: t for t in before if t.state == TrialState.COMPLETE}
    running_before = {t.number: t for t in before if t.state == TrialState.RUNNING}
    assert len(complete_before) >= LET_THROUGH and len(complete_before) < N_TRIALS
    # the trials waiting at the gate when the driver died are RUNNING in the study
    waiting_at_gate = {(fast, slow) for _pid, fast, slow in held(gate)}
    assert waiting_at_gate <= {(t.params["fast"], t.params["slow"]) for t in running_before.values()}
    files = _row_files(db.parent / "trials")
    assert set(complete_before) <= set(files)  # a trial the study holds as done has its row
    (gate / "hold").unlink()

    again = _driver(spec_path, tmp_path)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out[-3000:]
    study = optuna.load_study(study_name="t_resume", storage=_storage(db))
    after = {t.number: t for t in study.get_trials()}
    c = counted(study)
    assert c["complete"] == N_TRIALS and c["running"] == c["waiting"] == c["failed"] == 0
    for n, t in complete_before.items():  # nothing completed was lost or run again
        assert after[n].state == TrialState.COMPLETE
        assert (after[n].values, after[n].datetime_complete) == (t.values, t.datetime_complete)
    after_files = _row_files(db.parent / "trials")
    assert {n: after_files[n] for n in complete_before} == {n: files[n] for n in complete_before}
    interrupted = study.user_attrs["interrupted"]
    assert sorted(interrupted) == sorted(running_before)  # a list: no trial recorded twice
    retries = [t for t in after.values() if "retry_of" in t.user_attrs]
    assert sorted(t.user_attrs["retry_of"] for t in retries) == sorted(interrupted)  # each re-run once
    for t in retries:
        assert t.state == TrialState.COMPLETE
        assert t.params == running_before[t.user_attrs["retry_of"]].params
    assert all(after[n].state == TrialState.FAIL for n in interrupted)
    # one row per completed trial, none for the interrupted ones (held before their engine ran)
    assert set(after_files) == {n for n, t in after.items() if t.state == TrialState.COMPLETE}
    assert f"re-ran {len(interrupted)} interrupted trial(s)" in out
    assert "Leaderboard of sweep t_resume" in out
