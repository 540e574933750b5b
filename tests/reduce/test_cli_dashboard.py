from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import polars as pl
import pytest
from typer.testing import CliRunner

from hft.reduce.cli import app
from tests.reduce.conftest import eager_top, folder_of
from tests.terminal import HFT, run_in_terminal, screen


def test_report_cli_prints_leaderboard_and_writes_exports(runs_copy, tmp_path):
    root, rows = runs_copy
    top = eager_top(rows, "net_pnl", 3)
    leader = next(r for r in rows if r["run_id"] == top[0])
    (folder_of(root, leader) / "equity.parquet").write_bytes(b"not parquet")
    out_csv, out_html = tmp_path / "runs.csv", tmp_path / "r" / "report.html"
    res = CliRunner(env={"COLUMNS": "80"}).invoke(
        app,
        ["report", root, "--top", "3", "--by", "net_pnl", "--csv", str(out_csv), "--html", str(out_html)],
    )
    assert res.exit_code == 0, res.output
    for run_id in top:
        assert run_id in res.output
    _fits_80(res.stdout)
    ranked = pl.read_csv(out_csv, schema_overrides={"run_id": pl.String})
    assert ranked.height == len(rows)
    assert ranked.sort("rank")["run_id"].head(3).to_list() == top
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    assert f"{top[0]}/equity.parquet: unreadable equity.parquet" in res.output


def _fits_80(stdout: str) -> None:
    """Every line of the terminal report fits 80 columns (the paths of written files may not)."""
    long = [line for line in stdout.splitlines() if len(line) > 80 and not line.startswith("wrote ")]
    assert not long, long


def test_report_over_s3_says_each_phase_and_writes_the_html(s3_store, tmp_path):
    """At an 80-column terminal: a status line per phase (the leaders' curves counted), then tables."""
    from hft.reduce.synth import write_runs
    from hft.store.fs import Store

    url, opts = s3_store
    write_runs(Store(f"{url}/runs", opts), 8, groups=2, seed=4)
    args = [*HFT, "report", f"{url}/runs", "--top", "2", "--html", str(tmp_path / "r.html")]
    args += [x for k, v in opts.items() for x in ("--storage-option", f"{k}={v}")]
    code, raw = run_in_terminal(args)
    seen = screen(raw)
    assert code == 0, seen
    said = [line.split(" ", 1)[1] for line in seen.splitlines() if line[2:].startswith("report: ")]
    assert list(dict.fromkeys(said)) == [  # each phase drawn, in order (a spinner frame each time)
        "report: scanning run summaries",
        "report: curves of run 1/2",
        "report: curves of run 2/2",
        "report: walk-forward and Optuna tables",
        "report: drawing the HTML (Optuna plots take a few seconds)",
    ], seen
    _fits_80(seen)
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_report_cli_names_a_bad_metric(runs_dir):
    res = CliRunner().invoke(app, ["report", runs_dir[0], "--by", "nope"])
    assert res.exit_code == 2
    assert "'nope' is not one of" in res.output and "'sharpe'" in res.output  # the choices are listed


def _studies(tmp_path):
    """Two sweeps in a store as `hft sweep` leaves them: a journal (default) and a SQLite one."""
    from hft.sweep.study import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = tmp_path / "store"
    made = {}
    for sweep, url in (
        ("alpha", f"journal:{store / 'runs' / 'alpha' / 'optuna.journal'}"),
        ("beta", f"sqlite:///{store / 'runs' / 'beta' / 'optuna.db'}"),
    ):
        (store / "runs" / sweep).mkdir(parents=True)
        study = optuna.create_study(study_name=sweep, storage=open_storage(url))
        study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=3 + len(made))
        made[sweep] = study.best_value
    return str(store), made


def _serve(args):
    """Start `hft dashboard ARGS --port 0`; (process, base URL) once it answers over HTTP."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hft.reduce.cli", "dashboard", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        m = re.search(r"http://(127\.0\.0\.1):(\d+)/", line)
        if m:
            return proc, m.group(0)
    proc.wait(timeout=10)
    raise AssertionError("dashboard did not start: " + "".join(lines))


def _get(url):
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.slow
def test_dashboard_finds_every_sweep_of_the_store_and_serves_one_on_request(tmp_path):
    store, made = _studies(tmp_path)
    proc, base = _serve(["--store", store])
    try:
        body = _get(base + "api/studies")
        studies = {s["study_name"]: s for s in body["study_summaries"]}
        assert set(studies) == {"alpha", "beta"}
        sid = studies["beta"]["study_id"]
        detail = _get(f"{base}api/studies/{sid}")
        assert len(detail["trials"]) == 4
        assert detail["best_trials"][0]["values"][0] == pytest.approx(made["beta"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    proc, base = _serve(["--store", store, "--sweep", "alpha"])
    try:
        names = [s["study_name"] for s in _get(base + "api/studies")["study_summaries"]]
        assert names == ["alpha"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dashboard_port_in_use_and_empty_store_are_one_line_errors(tmp_path):
    store, _ = _studies(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = CliRunner().invoke(app, ["dashboard", "--store", store, "--sweep", "beta", "--port", str(port)])
    assert res.exit_code != 0
    assert f"port {port} on 127.0.0.1 is in use" in res.output and len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(app, ["dashboard", "--store", str(tmp_path / "empty"), "--port", "0"])
    assert res.exit_code != 0 and "no sweep studies under" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(app, ["dashboard", "--store", store, "--sweep", "gamma"])
    assert res.exit_code != 0 and "sweeps: alpha, beta" in res.output


def _listening(pid: int) -> set[str]:
    """Addresses the process listens on (TCP)."""
    import psutil

    conns = psutil.Process(pid).net_connections(kind="tcp")
    return {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}


@pytest.mark.slow
def test_dashboard_on_an_s3_store_serves_the_studies_kept_in_the_state_dir(s3_store, tmp_path, monkeypatch):
    """A remote store's sweeps keep their studies in $HFT_STATE_DIR, keyed by the store URL: the
    dashboard finds those of this store (not another's) and serves them on 127.0.0.1 only."""
    from hft.store.fs import open_store
    from hft.sweep import parse_spec
    from hft.sweep.study import default_storage, open_storage, open_study, spec_binding
    from tests.sweep.conftest import spec_dict

    url, opts = s3_store
    monkeypatch.setenv("HFT_STATE_DIR", str(tmp_path / "state"))
    res = CliRunner().invoke(app, ["dashboard", "--store", url, "--port", "0"])
    assert res.exit_code != 0 and len(res.output.strip().splitlines()) == 1, res.output
    assert f"no sweep studies of {url} under {tmp_path / 'state' / 'studies'}" in res.output

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best = {}
    for store, sweep, n in ((url, "alpha", 3), (url, "beta", 5), (url + "-other", "gamma", 2)):
        spec = parse_spec(spec_dict(store, sweep))
        st = open_store(store, opts)
        storage = default_storage(spec, st, "journal")  # where `hft sweep` puts a remote store's study
        study = open_study(spec, open_storage(storage), sweep, spec_binding(spec, st, "ticks"))
        for k in range(n):
            trial = study.ask(spec.distributions())
            study.tell(trial, float(trial.params["fast"] - k))
        best[sweep] = study.best_value

    proc, base = _serve(["--store", url])
    try:
        studies = {s["study_name"]: s for s in _get(base + "api/studies")["study_summaries"]}
        assert set(studies) == {"alpha", "beta"}  # gamma is another store's
        assert _listening(proc.pid) == {"127.0.0.1"}
        detail = _get(f"{base}api/studies/{studies['beta']['study_id']}")
        assert len(detail["trials"]) == 5
        assert detail["best_trials"][0]["values"][0] == pytest.approx(best["beta"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    proc, base = _serve(["--store", url + "/", "--sweep", "alpha"])  # the same store, spelled with a slash
    try:
        names = [s["study_name"] for s in _get(base + "api/studies")["study_summaries"]]
        assert names == ["alpha"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
