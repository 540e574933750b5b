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
from tests.oracle.simulator import oracle_metrics, simulate

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "xau_ema_cross.yaml"
DAYS = (date(2024, 3, 5), date(2024, 3, 6))
FAST_SLOW = ((50, 400), (100, 800), (200, 1600), (400, 3200))


@pytest.fixture(scope="module")
def runs_store(tmp_path_factory) -> str:
    store = str(tmp_path_factory.mktemp("store"))
    for day in DAYS:
        write_day(store, "XAUUSD", day, synth_day("XAUUSD", day, seed=3, activity=0.1))
    base = load_config(CONFIG)
    for fast, slow in FAST_SLOW:
        strategy = base.strategy.model_copy(update={"params": {"fast": fast, "slow": slow}})
        cfg = base.model_copy(update={"strategy": strategy})
        run_backtest(cfg, store=store, start=DAYS[0], end=DAYS[1])
    return store


def _oracle_net_pnl(store: str) -> dict[int, dict]:
    """Each run's metrics recomputed from the raw YAML and the stored ticks by the README oracle
    (tests/oracle), keyed by the fast span: no engine, no run folder, no summary involved."""
    ticks = pl.read_parquet(f"{store}/ticks/symbol=XAUUSD/*/ticks.parquet").sort("ts", maintain_order=True)
    ts, bid, ask = ticks["ts"].dt.epoch("ms").to_numpy(), ticks["bid"].to_numpy(), ticks["ask"].to_numpy()
    raw = yaml.safe_load(CONFIG.read_text())
    out = {}
    for fast, slow in FAST_SLOW:
        raw["strategy"]["params"] = {"fast": fast, "slow": slow}
        out[fast] = oracle_metrics(simulate(raw, ts, bid, ask))
    return out


def test_leaderboard_ranks_the_runs_hft_run_wrote(runs_store):
    summaries = [yaml.safe_load(p.read_text()) for p in Path(runs_store, "runs").glob("*/*/summary.yaml")]
    assert len(summaries) == 4
    oracle = _oracle_net_pnl(runs_store)
    for s in summaries:  # the figures the report ranks are the README's, recomputed independently
        o = oracle[s["config"]["strategy"]["params"]["fast"]]
        assert s["metrics"]["trades"] == o["trades"] > 0
        assert s["metrics"]["net_pnl"] == pytest.approx(o["net_pnl"], abs=1e-6)
        assert s["metrics"]["max_drawdown"] == pytest.approx(o["max_drawdown"], abs=1e-6)
    by_oracle = sorted(oracle, key=lambda fast: -oracle[fast]["net_pnl"])
    expected = sorted(summaries, key=lambda s: (-s["metrics"]["net_pnl"], s["run_id"]))
    assert [s["config"]["strategy"]["params"]["fast"] for s in expected] == by_oracle
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
