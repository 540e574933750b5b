from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import optuna
import polars as pl
import pytest
from typer.testing import CliRunner

from hft.reduce.cli import app
from hft.reduce.dashboard import free_port
from tests.reduce.conftest import eager_top, folder_of


def test_report_cli_prints_leaderboard_and_writes_exports(runs_copy, tmp_path):
    root, rows = runs_copy
    top = eager_top(rows, "net_pnl", 3)
    leader = next(r for r in rows if r["run_id"] == top[0])
    (folder_of(root, leader) / "equity.parquet").write_bytes(b"not parquet")
    out_csv, out_html = tmp_path / "runs.csv", tmp_path / "r" / "report.html"
    res = CliRunner().invoke(
        app,
        ["report", root, "--top", "3", "--by", "net_pnl", "--csv", str(out_csv), "--html", str(out_html)],
    )
    assert res.exit_code == 0, res.output
    for run_id in top:
        assert run_id in res.output
    ranked = pl.read_csv(out_csv, schema_overrides={"run_id": pl.String})
    assert ranked.height == len(rows)
    assert ranked.sort("rank")["run_id"].head(3).to_list() == top
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    assert f"{top[0]}/equity.parquet: unreadable equity.parquet" in res.output


def test_report_cli_names_a_bad_metric(runs_dir):
    res = CliRunner().invoke(app, ["report", runs_dir[0], "--by", "nope"])
    assert res.exit_code == 2
    assert "'nope' is not one of" in res.output and "'sharpe'" in res.output  # the choices are listed


@pytest.mark.slow
def test_dashboard_serves_the_study_over_http(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="sweep-1", storage=storage)
    study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=7)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hft.reduce.cli", "dashboard", "--storage", storage, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as resp:
                    body = json.loads(resp.read())
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.3)
        assert body is not None, "dashboard did not answer"
        studies = {s["study_name"]: s for s in body["study_summaries"]}
        assert studies["sweep-1"]["directions"] == ["minimize"]
        sid = studies["sweep-1"]["study_id"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{sid}", timeout=5) as resp:
            detail = json.loads(resp.read())
        assert len(detail["trials"]) == 7
        assert detail["best_trials"][0]["values"][0] == pytest.approx(study.best_value)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dashboard_without_storage_names_the_missing_file(tmp_path):
    res = CliRunner().invoke(app, ["dashboard", "--store", str(tmp_path)])
    assert res.exit_code == 2
    assert "optuna.db" in res.output
