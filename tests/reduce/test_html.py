"""The HTML report over run folders `hft run` really wrote, checked against the ticks and trades
they came from, and in headless Chromium."""

from __future__ import annotations

import math
import os
import re
import statistics
from datetime import date
from pathlib import Path

import numpy as np
import optuna
import polars as pl
import pytest
import yaml

from hft.backtest import load_config, run_backtest
from hft.data.synth import synth_day
from hft.reduce import build_report, export_table
from hft.reduce.figures import run_timeline
from hft.reduce.html import render_html
from hft.reduce.text import render_text
from hft.store import write_day
from tests.reduce import browser

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "xau_ema_cross.yaml"
DAYS = (date(2024, 3, 8), date(2024, 3, 11))  # a Friday and the Monday after: a weekend between
KINDS = (
    "timeline", "calendar", "pnl_split", "trades", "heatmap", "eta2", "walkforward",
    "optuna_history", "optuna_importance", "optuna_slice", "optuna_parallel", "optuna_contour",
    "optuna_pareto",
)  # fmt: skip
# CI sets HFT_REQUIRE_BROWSER=1 (and installs chromium): there the browser tests must run, never skip.
needs_browser = pytest.mark.skipif(
    browser.chromium() is None and os.environ.get("HFT_REQUIRE_BROWSER") != "1",
    reason="no chromium on this machine (apt install chromium)",
)


def _study(runs: Path, summaries: list[dict]) -> None:
    """A two-objective Optuna study beside the EMA runs, as a sweep leaves it (storage + sweep.yaml)."""
    folder = runs / "ema_cross_xauusd"
    (folder / "sweep.yaml").write_text(
        yaml.safe_dump({"spec": {"objectives": [{"metric": "net_pnl"}, {"metric": "max_drawdown"}]}})
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="ema", storage=f"sqlite:///{folder / 'optuna.db'}", directions=["maximize", "minimize"]
    )
    dist = {
        "fast": optuna.distributions.IntDistribution(10, 1000),
        "slow": optuna.distributions.IntDistribution(100, 9000),
    }
    for s in summaries:
        p, m = s["config"]["strategy"]["params"], s["metrics"]
        if s["config"]["strategy"]["name"] == "ema_cross":
            study.add_trial(
                optuna.trial.create_trial(
                    params=p, distributions=dist, values=[m["net_pnl"], m["max_drawdown"]]
                )
            )


def _walkforward(runs: Path) -> None:
    pl.DataFrame(
        {
            "sweep": ["ema_wf", "ema_wf"],
            "fold": [0, 1],
            "train_start": [date(2024, 3, 4), date(2024, 3, 5)],
            "train_end": [date(2024, 3, 6), date(2024, 3, 7)],
            "test_start": [date(2024, 3, 7), date(2024, 3, 8)],
            "test_end": [date(2024, 3, 7), date(2024, 3, 8)],
            "params": ["fast: 50\nslow: 400", "fast: 100\nslow: 800"],
            "train_net_pnl": [12.5, -3.0],
            "net_pnl": [-4.0, 2.0],
            "trades": [10, 12],
        }
    ).write_parquet(runs / "ema_wf" / "walkforward.parquet")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    store = str(tmp_path_factory.mktemp("store"))
    for day in DAYS:
        write_day(store, "XAUUSD", day, synth_day("XAUUSD", day, seed=5, activity=0.05))
    base = load_config(CONFIG)
    for name, params in (
        ("ema_cross", {"fast": 50, "slow": 400}),
        ("ema_cross", {"fast": 100, "slow": 800}),
        ("ema_cross", {"fast": 200, "slow": 1600}),
        ("ema_cross", {"fast": 400, "slow": 3200}),
        ("zscore", {"window": 500, "entry_z": 2.0, "exit_z": 0.5}),
        ("zscore", {"window": 1000, "entry_z": 2.5, "exit_z": 0.5}),
        ("zscore", {"window": 2000, "entry_z": 3.0, "exit_z": 0.5}),
    ):
        cfg = base.model_copy(
            update={"strategy": base.strategy.model_copy(update={"name": name, "params": params})}
        )
        cfg = cfg.model_copy(update={"group": f"{name}_xauusd"})
        run_backtest(cfg, store=store, start=DAYS[0], end=DAYS[1])
    runs = Path(store, "runs")
    summaries = [yaml.safe_load(p.read_text()) for p in runs.glob("*/*/summary.yaml")]
    _study(runs, summaries)
    (runs / "ema_wf").mkdir()
    _walkforward(runs)
    return store


@pytest.fixture(scope="module")
def report(store):
    return build_report(str(Path(store, "runs")), by="net_pnl", top=7)


@pytest.fixture(scope="module")
def page(report, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(report))
    return path


def _mids(store: str) -> np.ndarray:
    files = [f"{store}/ticks/symbol=XAUUSD/date={d}/ticks.parquet" for d in DAYS]
    t = pl.concat([pl.read_parquet(f) for f in files])
    return ((t["bid"] + t["ask"]) / 2).to_numpy()


def test_html_is_self_contained_with_plotly_once(page, report):
    text = page.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)
    assert text.count("* plotly.js v") == 1  # the library's banner: embedded exactly once
    for kind in KINDS:
        assert f'data-kind="{kind}"' in text, kind
    assert text.count('data-kind="heatmap"') == 2  # one per strategy, not only the leader's
    assert text.count('data-kind="timeline"') == len(report.details) == 7
    assert ">net PnL (USD)</th>" in text  # money headers carry the quote currency
    assert " USD\\u003cextra\\u003e" in text  # and so do hover values (JSON escapes the '<')


def test_price_chart_keeps_every_extreme_and_buy_and_hold_follows_the_ticks(report, store):
    mids = _mids(store)
    for d in report.details:
        assert d.price is not None and d.price.height <= 2 * 1500 + 4 < mids.size
        assert d.price["mid"].min() == mids.min() and d.price["mid"].max() == mids.max()
        assert d.price["ts"].is_sorted()
        size, capital = d.summary["config"]["execution"]["size"], d.summary["config"]["execution"]["capital"]
        assert d.equity["buy_hold"][-1] == pytest.approx(capital + size * (mids[-1] - mids[0]), rel=1e-12)
        assert d.equity["buy_hold"][0] == pytest.approx(capital, abs=size * 5)


def test_pnl_split_adds_up_to_the_run_net_pnl(report):
    for d in report.details:
        tr = pl.read_parquet(f"{d.url}/trades.parquet")
        slip = d.summary["config"]["execution"]["slippage"]
        s = d.split
        assert s["gross"] - s["slippage"] - s["fees"] == pytest.approx(
            d.summary["metrics"]["net_pnl"], abs=1e-6
        )
        assert s["slippage"] == pytest.approx(
            2 * slip * tr["qty"].abs().sum(), rel=1e-12
        )  # market in and out
        assert s["fees"] == pytest.approx(d.summary["metrics"]["fees"], rel=1e-12)


def test_daily_returns_reproduce_the_run_sharpe_and_days(report):
    for d in report.details:
        assert d.daily["date"].to_list() == list(DAYS)
        r = d.daily["ret"].to_list()
        sharpe = statistics.mean(r) / statistics.stdev(r) * math.sqrt(252)
        assert sharpe == pytest.approx(d.summary["metrics"]["sharpe"], rel=1e-9)


def test_time_axis_cuts_the_weekend_and_trades_by_hour_has_every_hour(report):
    d = report.details[0]
    fig = run_timeline(d)
    breaks = fig.layout.xaxis.rangebreaks
    sat = np.datetime64("2024-03-09T12:00", "ms").astype(np.int64)
    sun = np.datetime64("2024-03-10T12:00", "ms").astype(np.int64)
    covers = [
        (lo := np.datetime64(b.values[0].replace(" ", "T"), "ms").astype(np.int64)) <= sat
        and lo + b.dvalue >= sun
        for b in breaks
    ]
    assert any(covers)
    x = next(np.asarray(t.x) for t in fig.data if t.name == "strategy")
    assert np.all(np.diff(x) >= 0)
    bh = d.stats["by_hour"]
    assert bh["hour"].to_list() == list(range(24)) and bh["trades"].sum() == d.stats["trades"]


def test_leaderboard_puts_out_of_sample_first_and_shows_honest_statistics(report):
    first = report.ranked["run_id"][-1]  # the worst run, tagged as the only out-of-sample one
    ranked = report.ranked.with_columns(
        phase=pl.when(pl.col("run_id") == first).then(pl.lit("test")).otherwise(pl.lit("train")),
        psr=pl.lit(0.42),
    )
    text = render_html(type(report)(**{**report.__dict__, "ranked": ranked}))
    oos, ins = text.index("Out of sample (walk-forward"), text.index("In sample and other runs")
    assert oos < ins and oos < text.index(first) < ins
    assert "Honest ranking" in text and ">PSR<" in text and "42.00%" in text


def test_terminal_report_fits_80_columns_and_csv_is_one_line_per_run(report, tmp_path):
    text = render_text(report, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    for run_id in report.leaderboard["run_id"]:
        assert run_id in text  # ids whole, never folded
    out = tmp_path / "runs.csv"
    export_table(report.ranked, str(out))
    lines = out.read_text().splitlines()
    assert len(lines) == report.ranked.height + 1
    back = pl.read_csv(out)
    assert {"param_fast", "param_slow", "param_window"} <= set(back.columns)
    assert back["params"].str.contains("\n").sum() == 0
    assert '{"fast": 50, "slow": 400}' in back["params"].to_list()  # one line of JSON (hft.store.results)


@needs_browser
def test_html_renders_in_headless_chromium_without_errors(page, tmp_path):
    dom, console = browser.run(page, tmp_path, "--dump-dom")
    assert console == [], console
    assert 'data-ready="1"' in dom and re.search(r'<pre id="js-errors"></pre>', dom)
    plots = int(re.search(r'data-plots="(\d+)"', dom).group(1))
    assert plots == page.read_text().count('class="fig"') >= len(KINDS) + 7
    assert re.search(r'data-empty="0"', dom)  # every figure has data points
    shot = tmp_path / "report.png"
    browser.run(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,1400")
    img = browser.read_png(shot)[..., :3].astype(float)
    assert img.shape[:2] == (1400, 1200)
    assert img.std() > 10  # not blank
    assert len({tuple(p) for p in img.reshape(-1, 3)[::97]}) > 20  # text, lines and colours


@needs_browser
def test_the_browser_check_catches_a_broken_page(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><pre id="js-errors"></pre><script>'
        "window.addEventListener('error',function(e){document.getElementById('js-errors').textContent=e.message});"
        "undefined_function();</script></body></html>"
    )
    dom, console = browser.run(bad, tmp_path, "--dump-dom")
    assert any("undefined_function" in line for line in console)
    assert "undefined_function is not defined" in dom
