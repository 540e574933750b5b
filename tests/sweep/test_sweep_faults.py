"""Faults between the study and the trial rows: a driver SIGKILLed while one batch is computed but not
written and another is written but not yet told, and parts truncated or deleted after a sweep. Rerun
the same sweep: every completed trial has exactly one row, no row is written twice, and the study is
exact (nothing completed is run again, n_trials holds)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pyarrow.parquet as pq
import pytest
import yaml
from optuna.trial import TrialState

from hft.store import open_store
from hft.sweep import parse_spec, run_sweep
from hft.sweep.study import counted

from .conftest import gated_spec, python_path_env, spec_dict
from .gated_worker import markers
from .test_sweep_resume import CMD, _complete, _storage

pytestmark = pytest.mark.slow

N_TRIALS = 12
GATED_DRIVER = """
import sys
from hft.sweep.pool import ActorPool
from hft.sweep.run import run_sweep, sweep_ray
from hft.sweep.spec import load_spec
from tests.sweep.gated_worker import WriteGatedWorker

spec = load_spec(sys.argv[1])
with sweep_ray(None, spec.resources):
    run_sweep(spec, pool=ActorPool(spec.resources, worker=WriteGatedWorker), progress=False)
"""


def _run(code: str, *args, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        env=python_path_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _rows(fs, folder: str) -> list[dict]:
    """Every row of every part under a sweep's trials/ folder, read file by file (independent of the
    readers under test); a part that cannot be read fails here."""
    paths = sorted(p for p in fs.find(folder) if p.endswith(".parquet"))
    return [r for p in paths for r in pq.read_table(p, filesystem=fs).to_pylist()]


def _by_trial(rows: list[dict]) -> dict[int, dict]:
    numbers = [r["trial"] for r in rows]
    assert len(numbers) == len(set(numbers)), f"a trial has more than one row: {sorted(numbers)}"
    return {r["trial"]: r for r in rows}


def _run_ids_once(study, rows: list[dict]) -> None:
    """Each run id has as many rows as the study has completed trials with it (a repeated parameter
    set is one run id for two trials; a row written twice would be one more)."""
    from collections import Counter

    want = Counter(t.user_attrs["run"]["run_id"] for t in study.get_trials(states=(TrialState.COMPLETE,)))
    assert Counter(r["run_id"] for r in rows if r["status"] == "complete") == want


def test_driver_killed_between_compute_write_and_tell_loses_no_row_and_writes_none_twice(
    week_store, tmp_path
):
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "write-hold").write_text("2")  # two batches go through, then batches hold at their write
    raw = gated_spec(week_store, "t_kill", gate, n_trials=N_TRIALS, resources={"batch": 2, "actors": 2})
    spec_path = tmp_path / "kill.yaml"
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    runs = Path(week_store) / "runs" / "t_kill"
    journal = runs / "optuna.journal"

    proc = _run(GATED_DRIVER, spec_path, cwd=tmp_path)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if markers(gate, "written") and markers(gate, "computed") and _complete(journal) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"driver ended before it could be killed: {proc.communicate()[0][-2000:]}"
    (written,) = markers(gate, "written").values()  # written, never told
    computed = [n for ns in markers(gate, "computed").values() for n in ns]  # computed, never written
    assert written and computed
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _gone, alive = psutil.wait_procs(children, timeout=5)  # Ray's processes share the driver's fate
    for p in alive:
        p.kill()
    psutil.wait_procs(alive, timeout=5)

    before = {t.number: t for t in optuna.load_study(study_name="t_kill", storage=_storage(journal)).trials}
    done_before = {n for n, t in before.items() if t.state == TrialState.COMPLETE}
    running = {n for n, t in before.items() if t.state == TrialState.RUNNING}
    assert len(done_before) >= 4 and set(written) | set(computed) <= running
    rows_before = _by_trial(_rows(open_store(week_store).fs, str(runs / "trials")))
    assert set(written) <= set(rows_before) and not set(computed) & set(rows_before)
    assert done_before <= set(rows_before)  # a trial the study holds as done has its row

    (gate / "write-hold").unlink()
    again = _run(CMD, spec_path, "--quiet", cwd=tmp_path)  # the plain `hft sweep`, plain actors
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out[-3000:]

    study = optuna.load_study(study_name="t_kill", storage=_storage(journal))
    after = {t.number: t for t in study.trials}
    c = counted(study)
    assert c["complete"] == N_TRIALS and c["running"] == c["waiting"] == c["failed"] == 0
    for n in done_before:  # nothing completed was run again
        assert (after[n].values, after[n].datetime_complete) == (
            before[n].values,
            before[n].datetime_complete,
        )
    for n in written:  # written but not told: recorded from its row, not run again
        assert after[n].state == TrialState.COMPLETE
        assert after[n].values[0] == pytest.approx(rows_before[n]["net_pnl"], rel=1e-9)
        assert after[n].user_attrs["run"]["run_id"] == rows_before[n]["run_id"]
    assert f"recorded from their rows, not run again ({', '.join(map(str, sorted(written)))})" in out
    interrupted = study.user_attrs["interrupted"]
    assert sorted(interrupted) == sorted(running - set(written))  # computed, not written: run again
    assert set(computed) <= set(interrupted)
    retries = [t for t in after.values() if "retry_of" in t.user_attrs]
    assert sorted(t.user_attrs["retry_of"] for t in retries) == sorted(interrupted)  # each once
    assert all(t.state == TrialState.COMPLETE for t in retries)

    rows = _rows(open_store(week_store).fs, str(runs / "trials"))
    assert set(_by_trial(rows)) == {n for n, t in after.items() if t.state == TrialState.COMPLETE}
    _run_ids_once(study, rows)


def _store_for(where: str, week_store: str, request) -> tuple[str, dict]:
    if where == "local":
        return week_store, {}
    url, opts = request.getfixturevalue("s3_store")
    st = open_store(url, opts)
    st.fs.put(f"{week_store}/ticks", st.path("ticks"), recursive=True)
    return url, opts


@pytest.mark.parametrize("where", ["local", "s3"])
def test_truncated_and_deleted_parts_are_rebuilt_on_resume(ray_module, week_store, tmp_path, where, request):
    url, opts = _store_for(where, week_store, request)
    st = open_store(url, opts)
    storage = f"journal:{tmp_path / 'optuna.journal'}"
    raw = spec_dict(url, "t_parts", n_trials=8, resources={"batch": 2, "actors": 2})
    quiet = {"storage_options": opts, "storage": storage, "progress": False}
    run_sweep(parse_spec(raw), echo=lambda _s: None, **quiet)
    trials = st.path("runs", "t_parts", "trials")
    parts = sorted(st.fs.glob(f"{trials}/part-*.parquet"))
    assert len(parts) == 4
    study = optuna.load_study(study_name="t_parts", storage=_storage(tmp_path / "optuna.journal"))
    before = [(t.number, t.state, t.values) for t in study.trials]
    victim, gone = parts[1], parts[2]
    lost = sorted(r["trial"] for p in (victim, gone) for r in pq.read_table(p, filesystem=st.fs).to_pylist())
    data = st.fs.cat_file(victim)
    st.fs.pipe_file(victim, data[: len(data) // 2])  # truncated: its footer is gone
    st.fs.rm(gone)

    lines: list[str] = []
    raw["resources"]["batch"] = 3  # rebuilt parts get other names: the truncated one must be moved aside
    res = run_sweep(parse_spec(raw), echo=lines.append, **quiet)
    text = "\n".join(lines)
    name = Path(victim).name
    assert any(
        ln.startswith("warning: skipped ") and name in ln and "unreadable trial part" in ln for ln in lines
    ), text
    assert f"sweep t_parts: {len(lost)} completed and 0 pruned trial(s) have no result row" in text
    assert f"moved the unreadable part aside to {name}.unreadable" in text
    assert st.fs.exists(f"{victim}.unreadable") and not st.fs.exists(victim)
    assert sorted(res.repaired) == lost
    study = optuna.load_study(study_name="t_parts", storage=_storage(tmp_path / "optuna.journal"))
    assert [(t.number, t.state, t.values) for t in study.trials] == before  # the study is untouched
    rows = _by_trial(_rows(st.fs, trials))
    assert sorted(rows) == list(range(8))
    for t in study.trials:
        assert rows[t.number]["run_id"] == t.user_attrs["run"]["run_id"]
        assert rows[t.number]["net_pnl"] == pytest.approx(t.values[0], rel=1e-9)
    _run_ids_once(study, _rows(st.fs, trials))

    again: list[str] = []
    run_sweep(parse_spec(raw), echo=again.append, **quiet)  # nothing left to repair, nothing said
    assert not [ln for ln in again if "warning" in ln or "no result row" in ln], again


def test_walk_forward_resume_rebuilds_lost_train_rows_and_tests_a_fold_again(
    ray_module, week_store, tmp_path
):
    """A finished walk-forward sweep: fold 0's test part truncated, one of fold 1's train parts
    deleted. The rerun gives fold 1's trials their rows back and runs fold 0's test windows again
    (same winner, same out-of-sample result); every window ends with exactly its rows."""
    from hft.sweep.walkforward import WALKFORWARD_FILE

    wf = {"train_days": 3, "test_days": 1, "oos_candidates": 2}
    raw = spec_dict(week_store, "t_wfparts", n_trials=4, walk_forward=wf)
    first = run_sweep(parse_spec(raw), progress=False, echo=lambda _s: None)
    trials = Path(week_store) / "runs" / "t_wfparts" / "trials"
    walkforward = pq.read_table(trials.parent / WALKFORWARD_FILE).to_pylist()
    (test0,) = (trials / "fold0-test").glob("part-*.parquet")
    test0.write_bytes(test0.read_bytes()[:100])
    gone = sorted((trials / "fold1-train").glob("part-*.parquet"))[0]
    lost = sorted(pq.read_table(gone).column("trial").to_pylist())
    gone.unlink()

    lines: list[str] = []
    res = run_sweep(parse_spec(raw), progress=False, echo=lines.append)
    text = "\n".join(lines)
    assert f"warning: skipped {test0}: unreadable trial part" in text
    assert f"sweep t_wfparts fold 1: {len(lost)} completed and 0 pruned trial(s) have no result row" in text
    assert sorted(res.repaired) == lost
    assert pq.read_table(trials.parent / WALKFORWARD_FILE).to_pylist() == walkforward  # same results
    rows = _rows(open_store(week_store).fs, str(trials))
    for (fold, w), (_f, w0) in zip(res.windows, first.windows, strict=True):
        done = {t.number for t in w.study.trials if t.state == TrialState.COMPLETE}
        assert [(t.number, t.values) for t in w.study.trials] == [
            (t.number, t.values) for t in w0.study.trials
        ]
        mine = [r for r in rows if r["fold"] == fold]
        assert set(_by_trial([r for r in mine if r["phase"] == "train"])) == done
        assert [r["trial"] for r in mine if r["phase"] == "test"] == [w.best[0].number]
        assert len(_by_trial([r for r in mine if r["phase"] == "oos_check"])) == 2
    again: list[str] = []
    run_sweep(parse_spec(raw), progress=False, echo=again.append)
    assert any("all 2 folds already complete" in ln for ln in again), again
    assert not [ln for ln in again if "warning" in ln or "no result row" in ln], again
