from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hft.reduce import (
    autocorrelation,
    equity_drawdown,
    explained_variance,
    export_table,
    heatmap_grid,
    runs_table,
    scan_runs,
    sensitivity,
    trade_stats,
    vol_clustering,
    walkforward_summary,
    walkforward_table,
)
from hft.reduce.synth import synth_run


def _acf_loop(x, lag):
    m = sum(x) / len(x)
    num = sum((x[t] - m) * (x[t + lag] - m) for t in range(len(x) - lag))
    return num / sum((v - m) ** 2 for v in x)


def test_autocorrelation_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200).cumsum()
    got = autocorrelation(x, 5)
    assert got == pytest.approx([_acf_loop(list(x), k) for k in range(1, 6)])


def test_volatility_clustering_of_garch_returns():
    eq = synth_run(0, "g", seed=2, n_marks=3000)["equity"]
    df = pl.from_arrow(eq)
    vc = vol_clustering(df, lags=10)
    e = df["equity"].to_list()
    r = [b / a - 1 for a, b in itertools.pairwise(e)]
    assert vc["acf_abs_returns"].to_list() == pytest.approx(
        [_acf_loop([abs(v) for v in r], k) for k in range(1, 11)]
    )
    assert vc["acf_returns"][0] == pytest.approx(_acf_loop(r, 1))
    assert vc["band"][0] == pytest.approx(1.96 / math.sqrt(len(r)))
    assert vc["acf_abs_returns"][0] > vc["band"][0] > abs(vc["acf_returns"][0])  # GARCH: |r| clusters


def test_equity_drawdown_against_numpy():
    df = pl.from_arrow(synth_run(1, "g", seed=2)["equity"])
    dd = equity_drawdown(df)
    e = df.sort("ts")["equity"].to_numpy()
    peak = np.maximum.accumulate(e)
    assert dd["drawdown"].to_numpy() == pytest.approx(peak - e)
    assert dd["drawdown_frac"].max() == pytest.approx(((peak - e) / peak).max())


def test_trade_stats_against_python():
    t = pl.from_arrow(synth_run(2, "g", seed=4, n_trades=300)["trades"])
    st = trade_stats(t, bins=10)
    pnl = t["net_pnl"].to_list()
    assert st["trades"] == 300
    assert st["pnl"]["total"] == pytest.approx(sum(pnl))
    assert st["pnl"]["std"] == pytest.approx(statistics.stdev(pnl))
    assert st["pnl"]["p50"] == pytest.approx(statistics.median(pnl))
    assert st["pnl"]["p25"] == pytest.approx(statistics.quantiles(pnl, n=4, method="inclusive")[0])
    assert st["pnl"]["win_rate"] == pytest.approx(sum(p > 0 for p in pnl) / 300)
    assert st["histogram"]["count"].sum() == 300
    holds = [(b - a).total_seconds() for a, b in zip(t["entry_time"], t["exit_time"], strict=True)]
    assert st["holding_s"]["median"] == pytest.approx(statistics.median(holds))
    assert st["holding_s"]["max"] == pytest.approx(max(holds))
    by_hour = defaultdict(list)
    for ts, p in zip(t["entry_time"].to_list(), pnl, strict=True):
        by_hour[ts.astimezone(UTC).hour].append(p)
    got = {r["hour"]: r for r in st["by_hour"].iter_rows(named=True)}
    assert set(got) == set(range(24))  # every hour of the day, empty ones with 0 trades
    assert all(got[h]["trades"] == 0 and got[h]["net_pnl"] == 0 for h in set(range(24)) - set(by_hour))
    for h, ps in by_hour.items():
        assert got[h]["trades"] == len(ps)
        assert got[h]["net_pnl"] == pytest.approx(sum(ps))
        assert got[h]["win_rate"] == pytest.approx(sum(p > 0 for p in ps) / len(ps))
    assert trade_stats(t.head(0)) == {"trades": 0}


def test_sensitivity_heatmap_and_eta2_against_python(runs_dir):
    root, rows = runs_dir
    table = runs_table(scan_runs(root), "sharpe")
    ema = [r for r in rows if r["strategy"] == "ema_cross" and r["sharpe"] is not None]
    groups = defaultdict(list)
    for r in ema:
        groups[r["param_fast"]].append(r["sharpe"])
    sens = sensitivity(table, "sharpe").filter(
        (pl.col("strategy") == "ema_cross") & (pl.col("param") == "fast")
    )
    assert sens["level"].to_list() == [str(v) for v in sorted(groups)]
    for row in sens.iter_rows(named=True):
        vals = groups[int(row["level"])]
        assert row["runs"] == len(vals)
        assert row["mean"] == pytest.approx(statistics.fmean(vals))
        assert row["median"] == pytest.approx(statistics.median(vals))
        assert row["max"] == pytest.approx(max(vals))
    allv = [r["sharpe"] for r in ema]
    mu = statistics.fmean(allv)
    eta = sum(len(v) * (statistics.fmean(v) - mu) ** 2 for v in groups.values()) / sum(
        (x - mu) ** 2 for x in allv
    )
    e = explained_variance(table, "sharpe").filter(
        (pl.col("strategy") == "ema_cross") & (pl.col("param") == "fast")
    )
    assert e["eta2"][0] == pytest.approx(eta)
    grid = heatmap_grid(table, "sharpe", "ema_cross", "fast", "slow")
    cells = defaultdict(list)
    for r in ema:
        cells[(r["param_fast"], r["param_slow"])].append(r["sharpe"])
    for (f, s), vals in cells.items():
        i, j = grid["x_labels"].index(str(f)), grid["y_labels"].index(str(s))
        assert grid["z"][j][i] == pytest.approx(statistics.fmean(vals))
        assert grid["n"][j][i] == len(vals)
    assert sum(map(sum, grid["n"])) == len(ema)


def test_many_valued_parameters_are_binned_by_quantile():
    table = pl.DataFrame(
        {
            "strategy": ["s"] * 100,
            "param_x": [float(i) for i in range(100)],
            "sharpe": [float(i % 7) for i in range(100)],
        }
    )
    sens = sensitivity(table, "sharpe", max_levels=12, bins=4)
    assert sens["runs"].to_list() == [25, 25, 25, 25]
    assert sens["level"][0] == "[0, 24.75]"
    assert sens["mean"][0] == pytest.approx(statistics.fmean(i % 7 for i in range(25)))


def _wf(path, folds):
    day = datetime(2024, 1, 1)
    pl.DataFrame(
        {
            "fold": list(range(folds)),
            "train_start": [day] * folds,
            "train_end": [day] * folds,
            "test_start": [day] * folds,
            "test_end": [day] * folds,
            "params": ["fast: 10\nslow: 40"] * folds,
            "net_pnl": [100.0 * (i - 1) for i in range(folds)],
            "sharpe": [0.5 * i for i in range(folds)],
            "trades": list(range(10, 10 + folds)),
        }
    ).write_parquet(path)


def test_walkforward_table_and_summary(runs_copy):
    root, _ = runs_copy
    scan = scan_runs(root)
    assert walkforward_table(scan) is None  # absent: simply omitted
    for name, folds in (("wf_a", 4), ("wf_b", 3)):
        Path(root, name).mkdir()
        _wf(f"{root}/{name}/walkforward.parquet", folds)
    wf = walkforward_table(scan_runs(root))
    assert wf.height == 7 and set(wf["sweep"]) == {"wf_a", "wf_b"}
    s = {r["sweep"]: r for r in walkforward_summary(wf).iter_rows(named=True)}
    assert s["wf_a"]["folds"] == 4
    assert s["wf_a"]["sum_net_pnl"] == pytest.approx(sum(100.0 * (i - 1) for i in range(4)))
    assert s["wf_a"]["mean_sharpe"] == pytest.approx(statistics.fmean(0.5 * i for i in range(4)))
    assert s["wf_b"]["share_folds_profitable"] == pytest.approx(1 / 3)


def test_exports_round_trip(runs_dir, tmp_path):
    root, rows = runs_dir
    table = runs_table(scan_runs(root), "sharpe")
    export_table(table, str(tmp_path / "out" / "runs.parquet"))
    assert pl.read_parquet(tmp_path / "out" / "runs.parquet").equals(table)
    export_table(table, str(tmp_path / "runs.csv"))
    back = pl.read_csv(tmp_path / "runs.csv")
    assert back.height == len(rows)
    assert sorted(back["run_id"].cast(pl.String).str.zfill(16)) == sorted(r["run_id"] for r in rows)
