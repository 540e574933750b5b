"""`hft demo` itself, on 4 synthetic days (the smallest walk-forward: train 3, test 1) and 4 trials.

The whole chain runs as a user runs it (the CLI in a subprocess: synth, feed on 127.0.0.1, Ray
ingest, two TPE sweeps on Ray actors); the test then checks what it wrote against what it printed,
and recomputes the out-of-sample EMA result with the README oracle from the ticks it stored.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.oracle.simulator import oracle_metrics, simulate

DAYS, TRIALS = 4, 4
NAMES = ("demo_ema_cross", "demo_zscore")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("demo")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "hft.cli",
            "demo",
            "--workdir",
            str(work),
            "--days",
            str(DAYS),
            "--trials",
            str(TRIALS),
        ],
        capture_output=True,
        text=True,
        timeout=600,  # a cold Numba cache and a busy machine can take minutes
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "80"},
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return work, res.stdout


def test_demo_writes_feed_store_and_sweeps_that_agree_with_its_output(demo):
    work, out = demo
    assert len(list((work / "demo-feed").rglob("*.bi5"))) == 24 * DAYS
    ingested = re.search(r"\[3/4\] ingest: ([\d,]+) ticks in (\d+) day\(s\).*failed hours: (\d+)", out)
    assert ingested, out
    days = sorted((work / "data" / "ticks" / "symbol=XAUUSD").glob("date=*"))
    assert [d.name for d in days] == [f"date=2024-03-0{4 + i}" for i in range(DAYS)]
    assert all((d / "_manifest.json").is_file() for d in days)
    rows = (
        pl.scan_parquet(str(work / "data/ticks/symbol=XAUUSD/*/ticks.parquet"))
        .select(pl.len())
        .collect()
        .item()
    )
    assert (int(ingested[1].replace(",", "")), int(ingested[2]), int(ingested[3])) == (rows, DAYS, 0)
    assert rows > 100_000
    for name in ("demo_ema_cross", "demo_zscore"):
        folder = work / "data" / "runs" / name
        sweep = yaml.safe_load((folder / "sweep.yaml").read_text())
        (study,) = sweep["studies"]
        counts = study["counts"]
        assert counts["failed"] == 0 and counts["complete"] + counts["pruned"] == TRIALS
        assert (folder / "optuna.journal").is_file()  # the default study storage
        wf = pl.read_parquet(folder / "walkforward.parquet")
        assert wf.height == 1 and str(wf["test_start"][0]) == "2024-03-07" and wf["error"][0] is None
        summary = yaml.safe_load((folder / wf["run_id"][0] / "summary.yaml").read_text())
        assert summary["metrics"]["net_pnl"] == pytest.approx(wf["net_pnl"][0], abs=1e-9)
        assert sweep["walkforward"]["aggregate"]["oos_net_pnl"] == pytest.approx(wf["net_pnl"][0], abs=1e-9)
        assert f"sweep {name}: {counts['complete']} complete, {counts['pruned']} pruned, 0 failed" in out
    assert "demo finished" in out


def test_demo_names_the_one_time_compile_and_prints_80_column_tables(demo):
    work, out = demo
    assert "compiles the engine's kernels on its first trial (one-time, cached on disk)" in out
    tables = [out[out.index(f"Leaderboard of sweep {n}") : out.index(f"\nsweep {n}: ")] for n in NAMES]
    tables.append(out[out.index("Out of sample, the number to trust") : out.index("demo finished")])
    for text in tables:
        assert max(len(line) for line in text.splitlines()) <= 80, text
    # the closing table: each strategy's out-of-sample net PnL and trades as walkforward.parquet has them
    for name in NAMES:
        wf = pl.read_parquet(work / "data" / "runs" / name / "walkforward.parquet")
        strategy = name.removeprefix("demo_")
        row = next(line.split() for line in tables[-1].splitlines() if strategy in line.split())
        assert row[2] == f"{wf['net_pnl'][0]:,.2f}" and row[-1] == f"{wf['trades'][0]:,}", row


def test_demo_out_of_sample_result_matches_the_oracle(demo):
    work, _ = demo
    folder = work / "data" / "runs" / "demo_ema_cross"
    wf = pl.read_parquet(folder / "walkforward.parquet")
    summary = yaml.safe_load((folder / wf["run_id"][0] / "summary.yaml").read_text())
    raw = summary["config"]  # the resolved config the test run used, as YAML
    ticks = pl.read_parquet(str(work / "data/ticks/symbol=XAUUSD/date=2024-03-07/ticks.parquet"))
    ts, bid, ask = ticks["ts"].dt.epoch("ms").to_numpy(), ticks["bid"].to_numpy(), ticks["ask"].to_numpy()
    want = oracle_metrics(simulate(raw, ts, bid, ask))
    assert wf["trades"][0] == want["trades"] > 0
    assert wf["net_pnl"][0] == pytest.approx(want["net_pnl"], abs=1e-6)
    assert wf["max_drawdown"][0] == pytest.approx(want["max_drawdown"], abs=1e-6)
