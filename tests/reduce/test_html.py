"""The HTML report over run folders `hft run` really wrote, checked against the ticks and trades
they came from, and in headless Chromium."""

from __future__ import annotations

import json
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
from hft.store.fs import Store
from hft.store.results import write_part
from tests.reduce import browser
from tests.reduce.test_results_dataset import _row
from tests.terminal import HFT, run_in_terminal, screen

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


#: a strategy with many parameters: the `params` cell is long
LONG_PARAMS = {f"parameter_{k:02d}": 1000 + k for k in range(24)}


@pytest.fixture(scope="module")
def wf_runs(tmp_path_factory) -> str:
    """A walk-forward sweep's rows as `hft sweep` writes them: 8 train trials on a 12-day window
    (too short for PBO), the selected trial (test) and 2 checks (oos_check) on a 1-day test window,
    which has no Sharpe: those rows are unranked."""
    root = tmp_path_factory.mktemp("wf") / "store"
    st = Store(str(root))
    params = json.dumps(LONG_PARAMS)
    train = [dict(_row(k, group="wf", fold=0, days=12), params=params) for k in range(8)]
    write_part(st, "wf", train, range(8))
    oos = [
        _row(0, group="wf", phase="test", fold=0, days=1),
        *(_row(k, group="wf", phase="oos_check", fold=0, days=1) for k in (1, 2)),
    ]
    write_part(st, "wf", oos, [100, 101, 102])
    return f"{root}/runs"


@pytest.fixture(scope="module")
def wf_report(wf_runs):
    return build_report(wf_runs, by="sharpe", top=5, curves=0)


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
    tag = dict(
        phase=pl.when(pl.col("run_id") == first).then(pl.lit("test")).otherwise(pl.lit("train")),
        psr=pl.lit(0.42),
    )
    ranked, lead = report.ranked.with_columns(**tag), report.leaderboard.with_columns(**tag)
    lead = pl.concat([lead, ranked.filter(pl.col("run_id") == first).select(lead.columns)])
    text = render_html(type(report)(**{**report.__dict__, "ranked": ranked, "leaderboard": lead}))
    oos, ins = text.index("Out-of-sample: walk-forward test"), text.index("In-sample: sweep trials")
    assert oos < ins and oos < text.index(first) < ins
    assert "Honest ranking" in text and ">PSR<" in text and "42.00%" in text


def test_html_leaderboard_shows_every_phase_and_row_the_terminal_report_shows(wf_report):
    """The 1-day test windows have no Sharpe, so their rows are unranked: they are still the
    out-of-sample rows to look at, in `hft report` and in the page alike."""
    page = render_html(wf_report)
    start = page.index("<div id='leaderboard'>")
    lead = page[start : page.index("<h2", start)]
    test, checks, train = lead.split("<h3>")[1:]  # one table per phase, out of sample first
    assert test.startswith("Out-of-sample: walk-forward test windows ranked by Sharpe")
    assert checks.startswith("Out-of-sample checks, NOT selected")
    assert train.startswith("In-sample: sweep trials on their training windows ranked by Sharpe")
    assert "wf-test-0-0000" in test and "wf-test-0-0000" not in checks + train
    assert "wf-oos_check-0-0001" in checks and "wf-oos_check-0-0002" in checks
    assert "ranked by sharpe" not in lead
    assert "wf-test-0-0000" in render_text(wf_report, width=250)  # the row the terminal shows
    assert ">Sharpe<" not in test  # empty for every 1-day row: hidden
    assert len(re.findall(r"<tr><td", train)) == 5  # --top 5 per phase
    assert "parameter_00=1000, parameter_01=1001" in train  # JSON params as name=value


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


def test_hft_report_at_80_columns_keeps_dsr_and_psr_and_hides_empty_columns(wf_runs):
    """`hft report` on an 80-column terminal: the selection table leads with DSR and PSR; PBO,
    empty for a 12-day window (its reason is in the notes), takes no room; titles say `Sharpe`."""
    code, raw = run_in_terminal([*HFT, "report", wf_runs, "--top", "5"], columns=80, timeout=120)
    seen = screen(raw)
    assert code == 0, seen
    assert max(len(line) for line in seen.splitlines()) <= 80, seen
    sel = seen[seen.index("Selection statistics") :]
    head = next(line for line in sel.splitlines() if line.split()[:1] == ["group"]).split()
    assert head[:6] == ["group", "phase", "fold", "DSR", "best", "PSR"], head
    assert "PBO" not in head and "PBO" not in sel.split("\n\n")[1]  # not a column, not left out
    assert "ranked by Sharpe" in seen and "ranked by sharpe" not in seen


@needs_browser
def test_tables_fit_a_1400px_window_and_leaderboard_rows_stay_short(page, wf_report, tmp_path):
    """At 1,400 px nothing is wider than the window, each table fits its box (no sideways scroll)
    and a leaderboard row with two dozen parameters stays under four lines of text."""
    wf_page = tmp_path / "wf.html"
    wf_page.write_text(render_html(wf_report))
    for p in (page, wf_page):
        lay = browser.layout(p, tmp_path, 1400)
        assert lay["inner"] == 1400 and lay["scroll"] <= lay["inner"], (p.name, lay["scroll"])
        lead = [t for t in lay["tables"] if t["lead"]]
        assert len(lead) == (3 if p is wf_page else 1)
        for t in lay["tables"]:
            assert t["right"] <= lay["inner"], (p.name, t)
        for t in lead:
            assert t["table_right"] <= t["right"] + 0.5, (p.name, t["table_right"], t["right"], t["heads"])
            assert t["rows"] and max(t["rows"]) < 4 * 12 * 1.45 + 8, (p.name, t["rows"])
