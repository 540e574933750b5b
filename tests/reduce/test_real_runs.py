"""The report over run folders that `hft run` really wrote (not synthetic artifacts)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import yaml

from hft.backtest import load_config, run_backtest
from hft.data.synth import synth_day
from hft.reduce import build_report
from hft.store import write_day

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "xau_ema_cross.yaml"
DAYS = (date(2024, 3, 5), date(2024, 3, 6))


@pytest.fixture(scope="module")
def runs_store(tmp_path_factory) -> str:
    store = str(tmp_path_factory.mktemp("store"))
    for day in DAYS:
        write_day(store, "XAUUSD", day, synth_day("XAUUSD", day, seed=3, activity=0.1))
    base = load_config(CONFIG)
    for fast, slow in ((50, 400), (100, 800), (200, 1600), (400, 3200)):
        strategy = base.strategy.model_copy(update={"params": {"fast": fast, "slow": slow}})
        cfg = base.model_copy(update={"strategy": strategy})
        run_backtest(cfg, store=store, start=DAYS[0], end=DAYS[1])
    return store


def test_leaderboard_ranks_the_runs_hft_run_wrote(runs_store):
    summaries = [yaml.safe_load(p.read_text()) for p in Path(runs_store, "runs").glob("*/*/summary.yaml")]
    assert len(summaries) == 4
    expected = sorted(summaries, key=lambda s: (-s["metrics"]["net_pnl"], s["run_id"]))
    report = build_report(str(Path(runs_store, "runs")), by="net_pnl", top=4)
    assert report.runs == 4 and sum(report.skipped.values()) == 0
    assert report.leaderboard["run_id"].to_list() == [s["run_id"] for s in expected]
    for row, s in zip(report.leaderboard.iter_rows(named=True), expected, strict=True):
        assert row["net_pnl"] == pytest.approx(s["metrics"]["net_pnl"], rel=1e-12)
        assert row["trades"] == s["metrics"]["trades"]
        assert row["param_fast"] == s["config"]["strategy"]["params"]["fast"]


def test_cli_report_prints_the_leader_and_writes_csv(runs_store, tmp_path):
    csv = tmp_path / "runs.csv"
    res = subprocess.run(
        [sys.executable, "-m", "hft.cli", "report", runs_store, "--by", "net_pnl", "--csv", str(csv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    best = build_report(str(Path(runs_store, "runs")), by="net_pnl", top=1).leaderboard["run_id"][0]
    assert best in res.stdout
    exported = pl.read_csv(csv)
    assert exported.height == 4 and exported["run_id"][0] == best
