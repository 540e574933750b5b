"""Run folders, idempotence, the CLI function, and clear errors on bad configs and data."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import typer
import yaml
from typer.testing import CliRunner

from hft.backtest import load_config, run_backtest
from hft.backtest.cli import run as run_cli
from hft.errors import ConfigError, DataError, StoreError
from hft.store.ticks import write_day
from tests.terminal import HFT, run_in_terminal, screen

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _write(tmp_path: Path, doc, name="cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return p


def _base() -> dict:
    return yaml.safe_load((CONFIGS / "ema_cross.yaml").read_text())


@pytest.mark.parametrize("name", ["ema_cross", "zscore", "donchian", "filtered_ema", "market_maker"])
def test_every_shipped_config_runs_and_writes_a_complete_folder(name, store_copy):
    out = run_backtest(CONFIGS / f"{name}.yaml", store=store_copy)
    files = sorted(os.listdir(out.folder))
    assert files == ["equity.parquet", "summary.parquet", "summary.yaml", "trades.parquet"]
    summary = yaml.safe_load(Path(out.folder, "summary.yaml").read_text())
    assert summary["run_id"] == out.run_id and summary["data"]["ticks"] == 266_219
    assert summary["config"]["strategy"]["name"] == name
    row = pl.read_parquet(Path(out.folder, "summary.parquet"))
    assert row.height == 1 and row["trades"][0] == summary["metrics"]["trades"] > 0
    trades = pl.read_parquet(Path(out.folder, "trades.parquet"))
    assert set(trades["side"].unique()) <= {"long", "short"}
    assert (
        trades["exit_reason"]
        .is_in(["signal", "stop_loss", "take_profit", "max_hold", "hours", "end", "limit"])
        .all()
    )
    assert out.folder.endswith(f"runs/{summary['group']}/{out.run_id}")
    equity = pl.read_parquet(Path(out.folder, "equity.parquet"))
    assert equity.height > 0 and equity["ts"].is_sorted()
    # written lean (a sweep writes one per trial): stamps delta-encoded, no dictionary of floats
    col = {
        c.path_in_schema: c
        for c in (
            pq.ParquetFile(Path(out.folder, "equity.parquet")).metadata.row_group(0).column(j)
            for j in range(4)
        )
    }
    assert "DELTA_BINARY_PACKED" in col["ts"].encodings
    assert not any("DICTIONARY" in e for e in col["equity"].encodings)


def test_identical_run_is_reused_and_force_recomputes(store_copy):
    first = run_backtest(CONFIGS / "donchian.yaml", store=store_copy)
    yaml_path = Path(first.folder, "summary.yaml")
    stamp = yaml_path.stat().st_mtime_ns
    again = run_backtest(CONFIGS / "donchian.yaml", store=store_copy)
    assert again.computed is False and again.run_id == first.run_id
    assert yaml_path.stat().st_mtime_ns == stamp
    forced = run_backtest(CONFIGS / "donchian.yaml", store=store_copy, force=True)
    assert forced.computed and forced.run_id == first.run_id
    assert forced.summary["metrics"] == first.summary["metrics"]
    other = run_backtest(CONFIGS / "donchian.yaml", store=store_copy, end=date(2019, 2, 4))
    assert other.run_id != first.run_id and other.summary["data"]["days"] == ["2019-02-04"]


def test_changed_data_changes_the_run_id(store_copy, dukascopy_dir):
    first = run_backtest(CONFIGS / "ema_cross.yaml", store=store_copy)
    ticks = np.zeros(
        3, dtype=[("ts", "<i8"), ("ask", "<f8"), ("bid", "<f8"), ("ask_volume", "<f4"), ("bid_volume", "<f4")]
    )
    ticks["ts"] = 1_549_324_800_000 + np.arange(3) * 1000  # 2019-02-05
    ticks["bid"], ticks["ask"] = 1.1, 1.1001
    write_day(store_copy, "EURUSD", date(2019, 2, 5), ticks)
    second = run_backtest(CONFIGS / "ema_cross.yaml", store=store_copy)
    assert second.computed and second.run_id != first.run_id


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda d: d["strategy"]["params"].update(slow=100, fast=200),
            r"strategy\.params.*fast \(200\) must be < slow",
        ),
        (lambda d: d["strategy"]["params"].update(speed=3), r"strategy\.params\.speed: unknown key"),
        (lambda d: d["execution"].update(leverage=3), r"execution\.leverage: unknown key"),
        (lambda d: d["execution"].update(size=-1), r"execution\.size: .*greater than 0"),
        (lambda d: d["data"].update(end="2019-02-01"), r"data: .*empty date range"),
        (lambda d: d["strategy"].update(name="nope"), r"strategy\.name: unknown strategy 'nope'"),
        (lambda d: d.update(group="../escape"), r"group: .*folder name"),
        (
            lambda d: d["strategy"].update(name="zscore", params={"window": 1, "entry_z": 2, "exit_z": 0.5}),
            r"strategy\.params\.window: .*greater than or equal to 2",
        ),
    ],
)
def test_bad_configs_name_file_and_key(tmp_path, mutate, match):
    doc = _base()
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_bad_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, "data:\n  symbol: [EURUSD\n")
    with pytest.raises(ConfigError, match=r"cfg\.yaml: not valid YAML \(line \d+"):
        load_config(path)
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(_write(tmp_path, "- 1\n- 2\n", "list.yaml"))


def test_missing_partitions_and_empty_range_write_nothing(tmp_path, store_copy):
    with pytest.raises(StoreError, match="no tick partitions for EURUSD between 2019-03-01"):
        run_backtest(
            CONFIGS / "ema_cross.yaml", store=store_copy, start=date(2019, 3, 1), end=date(2019, 3, 2)
        )
    with pytest.raises(ConfigError, match="empty date range"):
        run_backtest(
            CONFIGS / "ema_cross.yaml", store=store_copy, start=date(2019, 2, 5), end=date(2019, 2, 4)
        )
    assert not Path(store_copy, "runs").exists()


@pytest.mark.parametrize(("bid", "problem"), [(np.nan, "NaN"), (1.2, "crossed")])
def test_bad_ticks_in_the_store_fail_cleanly(tmp_path, bid, problem):
    store = str(tmp_path / "bad")
    ticks = np.zeros(
        5, dtype=[("ts", "<i8"), ("ask", "<f8"), ("bid", "<f8"), ("ask_volume", "<f4"), ("bid_volume", "<f4")]
    )
    ticks["ts"] = 1_549_324_800_000 + np.arange(5) * 1000
    ticks["bid"], ticks["ask"] = 1.1, 1.1001
    ticks["bid"][3] = bid
    write_day(store, "EURUSD", date(2019, 2, 5), ticks)
    with pytest.raises(DataError, match=rf"EURUSD: tick 3 .*2019-02-05T00:00:03.000\+00:00.*{problem}"):
        run_backtest(CONFIGS / "ema_cross.yaml", store=store, end=date(2019, 2, 5))
    assert not Path(store, "runs").exists()


def test_cli_run_prints_the_summary_and_reports_errors(tmp_path, store_copy):
    app = typer.Typer()
    app.command()(run_cli)
    runner = CliRunner(env={"COLUMNS": "80"})
    res = runner.invoke(app, [str(CONFIGS / "zscore.yaml"), "--store", store_copy])
    assert res.exit_code == 0, res.output
    assert "computed:" in res.stdout and "266,219 ticks" in res.stdout
    table = res.stdout.split("computed:")[0]
    assert max(len(line) for line in table.splitlines()) <= 80, table
    folder = res.stdout.split("computed:")[1].strip()
    m = yaml.safe_load(Path(folder, "summary.yaml").read_text())["metrics"]
    rows = {" ".join(line.split()[:-1]): line.split()[-1] for line in table.splitlines()[2:] if line.strip()}
    assert rows["net PnL"] == f"{m['net_pnl']:,.2f}" and rows["trades"] == f"{m['trades']:,}"
    assert rows["return"] == f"{100 * m['total_return']:.2f}%" and rows["fees"] == f"{m['fees']:,.2f}"
    res = runner.invoke(app, [str(CONFIGS / "zscore.yaml"), "--store", store_copy])
    assert "reused:" in res.output
    # on a terminal, a status line per phase, the kernels' one-time compile named
    code, raw = run_in_terminal([*HFT, "run", str(CONFIGS / "zscore.yaml"), "--store", store_copy])
    seen = screen(raw)
    assert code == 0 and "reused:" in seen, seen
    assert "run: reading the config and the store's manifests" in seen
    assert "run: backtesting (a first run compiles the kernels: one-time, cached)" in seen
    res = runner.invoke(app, [str(CONFIGS / "zscore.yaml"), "--store", store_copy, "--start", "2019-13-01"])
    assert res.exit_code == 2 and "--start: '2019-13-01' is not a date" in res.output


def test_sharpe_uncertainty_and_daily_returns_are_in_summary_yaml_and_parquet(store_copy):
    from scipy import stats

    out = run_backtest(CONFIGS / "ema_cross.yaml", store=store_copy)
    m = yaml.safe_load(Path(out.folder, "summary.yaml").read_text())["metrics"]
    row = pl.read_parquet(Path(out.folder, "summary.parquet")).row(0, named=True)
    eq = pl.read_parquet(Path(out.folder, "equity.parquet")).filter("day_close")
    capital = load_config(CONFIGS / "ema_cross.yaml").execution.capital
    closes = eq["equity"].to_numpy()
    r = closes / np.concatenate([[capital], closes[:-1]]) - 1.0
    assert m["n_days"] == m["days"] == r.size == row["n_days"] >= 2
    assert row["daily_returns"] == pytest.approx(list(r), rel=1e-12)
    assert row["daily_dates"] == [(t - timedelta(milliseconds=1)).date() for t in eq["ts"]]  # 24:00 stamps
    assert row["daily_dates"] == sorted(set(row["daily_dates"])) and len(row["daily_dates"]) == r.size
    assert row["status"] == "complete" and row["phase"] == "run" and "\n" not in row["params"]
    # Mertens (2002) by hand: se(SR) = sqrt((1 - g3 SR + (g4 - 1)/4 SR^2) / (n - 1)), per day; x sqrt(252)
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = stats.skew(r), stats.kurtosis(r, fisher=False)
    se = np.sqrt((1 - g3 * sr + (g4 - 1) / 4 * sr**2) / (r.size - 1))
    assert m["sharpe"] == pytest.approx(sr * np.sqrt(252), rel=1e-9)
    assert m["sharpe_se"] == pytest.approx(se * np.sqrt(252), rel=1e-9) == row["sharpe_se"]
    assert m["sharpe_lo"] == pytest.approx((sr - 1.959964 * se) * np.sqrt(252), rel=1e-5)
    assert m["sharpe_hi"] == pytest.approx((sr + 1.959964 * se) * np.sqrt(252), rel=1e-5)
    assert m["psr"] == pytest.approx(stats.norm.cdf(sr / se), rel=1e-9) == row["psr"]
