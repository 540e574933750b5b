"""A study belongs to one spec and its data; interrupted and failed trials are made up for exactly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import optuna
import pytest
import typer
import yaml
from optuna.trial import TrialState
from typer.testing import CliRunner

from hft.errors import SweepError
from hft.store.fs import Store
from hft.sweep import parse_spec, run_sweep
from hft.sweep.cli import sweep
from hft.sweep.study import default_storage, open_storage

from .conftest import START, python_path_env, spec_dict

pytestmark = pytest.mark.slow

GRID = {
    "fast": {"type": "int", "low": 10, "high": 30, "step": 10},
    "slow": {"type": "categorical", "choices": [100, 300]},
}
DATES_DIFFER = r"differs: symbol or dates, tick data in the store\); rerun with --fresh"
# every grid point, written out from GRID by hand
POINTS = sorted((f, s) for f in (10, 20, 30) for s in (100, 300))


# run_sweep in a fresh process where starting Ray is an error: prints complete and calls to actors
NO_RAY = (
    "import sys, ray, yaml; ray.init = lambda *a, **k: sys.exit('ray.init called'); "
    "from hft.sweep import parse_spec, run_sweep; "
    "res = run_sweep(parse_spec(yaml.safe_load(open(sys.argv[1]))), progress=False, echo=lambda s: None); "
    "print(res.windows[0][1].counts['complete'], res.stats.calls)"
)


def _quiet(**kw):
    return {"progress": False, "echo": lambda _s: None, **kw}


def _cli(*args: str):
    app = typer.Typer()
    app.command()(sweep)
    return CliRunner().invoke(app, [*args, "--quiet"])


def _write(tmp_path: Path, raw: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _states(study) -> dict[TrialState, int]:
    out: dict[TrialState, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state] = out.get(t.state, 0) + 1
    return out


def test_grid_trial_killed_inside_ask_resumes_to_exactly_n_trials(ray_module, week_store, tmp_path):
    spec = parse_spec(spec_dict(week_store, "t_gridask", space=GRID, sampler={"type": "grid", "seed": 1}))
    first = run_sweep(spec, n_trials=2, **_quiet())
    study = first.windows[0][1].study
    assert _states(study) == {TrialState.COMPLETE: 2}
    # what a driver killed inside ask() leaves: a RUNNING trial with no parameters, one without a grid
    # point yet and one that had drawn its grid point (an unvisited one) but no values
    storage, sid = study._storage, study._study_id
    visited = {(t.params["fast"], t.params["slow"]) for t in study.get_trials()}
    storage.create_new_trial(sid)
    gid = next(i for i, p in enumerate(study.sampler._all_grids) if tuple(p) not in visited)
    t2 = storage.create_new_trial(sid)
    storage.set_trial_system_attr(t2, "search_space", study.sampler._search_space)
    storage.set_trial_system_attr(t2, "grid_id", gid)

    res = run_sweep(spec, **_quiet())  # n_trials 8, capped at the 6 grid points
    study = res.windows[0][1].study
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted((t.params["fast"], t.params["slow"]) for t in done) == POINTS
    assert _states(study) == {TrialState.COMPLETE: 6, TrialState.FAIL: 2}  # no RUNNING, no WAITING
    interrupted = set(study.user_attrs["interrupted"])
    assert {t.number for t in study.get_trials(states=(TrialState.FAIL,))} == interrupted
    assert res.windows[0][1].counts["failed"] == 0

    # a finished grid with an orphan RUNNING trial: no crash, nothing added, and no Ray started
    storage.create_new_trial(sid)
    spec_path = _write(
        tmp_path, spec_dict(week_store, "t_gridask", space=GRID, sampler={"type": "grid", "seed": 1})
    )
    out = subprocess.run(
        [sys.executable, "-c", NO_RAY, str(spec_path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.split() == ["6", "0"], out.stdout + out.stderr[-2000:]
    assert _states(study) == {TrialState.COMPLETE: 6, TrialState.FAIL: 3}


def test_a_changed_spec_or_another_store_never_reuses_a_study(ray_module, week_store, tmp_path):
    raw = spec_dict(week_store, "t_bind", n_trials=2)
    journal = f"journal:{tmp_path}/bind.log"
    run_sweep(parse_spec(raw), storage=journal, **_quiet())

    shorter = {**raw, "data": {**raw["data"], "end": START + timedelta(days=2)}}
    with pytest.raises(SweepError, match=DATES_DIFFER):
        run_sweep(parse_spec(shorter), storage=journal, **_quiet())
    wider = {**raw, "space": {**raw["space"], "fast": {"type": "int", "low": 5, "high": 55}}}
    with pytest.raises(SweepError, match=r"differs: search space\)"):
        run_sweep(parse_spec(wider), storage=journal, **_quiet())
    other = tmp_path / "other-store"
    shutil.copytree(Path(week_store) / "ticks", other / "ticks")  # same ticks, another store
    with pytest.raises(SweepError, match=r"differs: store URL\)"):
        run_sweep(
            parse_spec({**raw, "data": {**raw["data"], "store": str(other)}}), storage=journal, **_quiet()
        )

    # from the command line: one line, exit 2, nothing run
    spec_path = _write(tmp_path, shorter)
    out = _cli(str(spec_path), "--storage", journal)
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert out.output.strip().count("\n") == 0 and "--fresh" in out.output

    # --fresh deletes the old study and starts again; rerunning resumes the new one
    old = optuna.load_study(study_name="t_bind", storage=open_storage(journal)).get_trials()
    res = run_sweep(parse_spec(shorter), storage=journal, fresh=True, **_quiet())
    study = res.windows[0][1].study
    assert len(old) == 2 and len(study.get_trials()) == 2
    runs = {t.user_attrs["run"]["run_id"] for t in study.get_trials()}
    assert not runs & {t.user_attrs["run"]["run_id"] for t in old}  # computed on the 3 days, not reused
    again = run_sweep(parse_spec(shorter), storage=journal, **_quiet())
    assert [t.number for t in again.windows[0][1].study.get_trials()] == [0, 1]


def test_remote_store_default_storage_is_per_user_and_keyed_by_store(tmp_path, monkeypatch):
    monkeypatch.setenv("HFT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    spec = parse_spec(spec_dict("s3://b/probe", "t_remote"))
    opts = {"endpoint_url": "http://127.0.0.1:9"}  # never contacted: only the location is computed
    a = default_storage(spec, Store("s3://b/probe", opts))
    b = default_storage(spec, Store("s3://b/other", opts))
    assert a != b
    for url in (a, b):
        path = Path(url.removeprefix("sqlite:///"))
        assert path.is_relative_to(tmp_path / "state" / "studies") and path.parent.name == "t_remote"
        assert path.parent.is_dir()
    assert not (tmp_path / "runs").exists()  # nothing under the current folder


def test_journal_in_a_folder_that_cannot_be_written_is_one_line(tmp_path, week_store):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SweepError, match=r"--storage journal:.*cannot create folder"):
        open_storage(f"journal:{blocker}/sub/optuna.log")
    out = _cli(str(_write(tmp_path, spec_dict(week_store, "t_j"))), "--storage", f"journal:{blocker}/x.log")
    assert out.exit_code == 2 and out.output.strip().count("\n") == 0, out.output
    assert "cannot create folder" in out.output or "cannot open journal" in out.output


def test_all_failing_sweep_exits_1_with_reasons_then_completes_once_repaired(
    ray_module, week_store, tmp_path
):
    parts = sorted(Path(week_store, "ticks").rglob("ticks.parquet"))
    assert len(parts) == 5
    good = {p: p.read_bytes() for p in parts}
    for p, data in good.items():  # truncated: every read fails until the days are written again
        p.write_bytes(data[: len(data) // 2])
    spec_path = _write(tmp_path, spec_dict(week_store, "t_allfail", n_trials=4))
    out = _cli(str(spec_path))
    assert out.exit_code == 1, out.output
    # 4 trials, each failure replaced once (at most n_trials replacements per run): 8 failures
    assert "0 complete, 0 pruned, 8 failed" in out.output, out.output
    reasons = [line for line in out.output.splitlines() if " × " in line]
    assert len(reasons) == 1 and reasons[0].strip().startswith("8 ×"), out.output
    assert "ticks.parquet: not a readable Parquet file" in reasons[0]
    assert "error: sweep t_allfail: no trial completed (t_allfail: 0 of 4)" in out.output

    for p, data in good.items():
        p.write_bytes(data)
    out = _cli(str(spec_path))
    assert out.exit_code == 0, out.output
    # other tick data, but no trial had completed: the study is rebound, not refused
    assert "study t_allfail: no trial had completed on the old tick data" in out.output
    assert "retried 4 failed trial(s)" in out.output
    study = optuna.load_study(
        study_name="t_allfail", storage=open_storage(f"journal:{week_store}/runs/t_allfail/optuna.journal")
    )
    failed = {t.number: t for t in study.get_trials(states=(TrialState.FAIL,))}
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(failed) == 8 and len(done) == 4
    assert sorted(t.user_attrs["retry_of"] for t in done) == sorted(failed)[:4]  # the first 4 needed
    assert all(t.params == failed[t.user_attrs["retry_of"]].params for t in done)

    # once retried, a failure is not retried again: a third run has nothing to do
    out = _cli(str(spec_path))
    assert out.exit_code == 0 and "retried" not in out.output
    assert len(optuna.load_study(study_name="t_allfail", storage=study._storage).get_trials()) == 12


# `hft sweep` in a fresh process where starting (or auto-connecting to) Ray is an error
NO_RAY_CLI = (
    "import sys, ray; ray.init = lambda *a, **k: sys.exit('ray.init called'); from hft.cli import app\n"
    "try:\n    app(sys.argv[1:])\nfinally:\n    print('RAY CONNECTED', ray.is_initialized())"
)


def _tables(output: str) -> str:
    """The leaderboard, walk-forward and selection tables: from the leaderboard to the counts line."""
    return output[output.index("Leaderboard of sweep") : output.index("\nsweep t_wfdone: ")]


def test_a_finished_walk_forward_sweep_reruns_without_ray_and_prints_the_same_tables(
    ray_module, week_store, tmp_path
):
    import pyarrow.parquet as pq

    from hft.cli import app

    wf = {"train_days": 3, "test_days": 1, "oos_candidates": 2}
    spec_path = _write(tmp_path, spec_dict(week_store, "t_wfdone", n_trials=4, walk_forward=wf))
    first = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["sweep", str(spec_path), "--quiet"])
    assert first.exit_code == 0, first.output
    assert "compiles the engine's kernels on its first trial (one-time, cached on disk)" in first.stdout
    assert "t_wfdone: 2 actor(s) starting;" in first.stdout  # not "started": none has yet
    folds = Path(week_store, "runs/t_wfdone/walkforward.parquet")
    written = folds.read_bytes()

    env = {**python_path_env(), "COLUMNS": "80", "RAY_ENABLE_AUTO_CONNECT": "0"}
    again = subprocess.run(
        [sys.executable, "-c", NO_RAY_CLI, "sweep", str(spec_path), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "RAY CONNECTED False" in again.stdout
    assert "sweep t_wfdone: all 2 folds already complete (4 trials each" in again.stdout
    assert _tables(again.stdout) == _tables(first.stdout)  # the same leaderboard, read back
    assert folds.read_bytes() == written  # nothing rewritten

    # 80 columns, and the out-of-sample figures as hft.tables formats them (checked by hand here)
    text = _tables(first.stdout)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    rows = pq.read_table(folds).to_pylist()
    wf_part = text.split("Walk-forward of sweep t_wfdone")[1].split("Out of sample over all folds")[0]
    for r in rows:
        key = [str(r["fold"]), str(r["test_start"])]
        line = next(x for x in wf_part.splitlines() if x.split()[:2] == key)
        cells = line.split()
        assert cells[2] == str(r["best_trial"]) and f"{r['net_pnl']:,.2f}" in cells, line
        assert _pct(next(c for c in cells if c.endswith("%"))) == pytest.approx(r["total_return"], abs=5e-5)
    total = next(x.split() for x in text.split("Out of sample over all folds")[1].splitlines() if "2/2" in x)
    assert total[:2] == ["2/2", f"{sum(r['net_pnl'] for r in rows):,.2f}"]
    assert _pct(total[2]) == pytest.approx(_compounded(rows), abs=5e-5)
    assert total[-2:] == [f"{sum(r['trades'] for r in rows):,}", str(sum(r["net_pnl"] > 0 for r in rows))]


def _pct(cell: str) -> float:
    return float(cell.removesuffix("%").replace(",", "")) / 100


def _compounded(rows: list[dict]) -> float:
    out = 1.0
    for r in rows:
        out *= 1.0 + r["total_return"]
    return out - 1.0
