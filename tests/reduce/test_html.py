from __future__ import annotations

import os
import re
import warnings

import optuna
import pytest

from hft.reduce import build_report
from hft.reduce.html import render_html
from tests.reduce import browser

KINDS = ("equity", "drawdown", "heatmap", "importance", "eta2", "pnl_hist", "by_hour", "acf_abs", "acf")
# CI sets HFT_REQUIRE_BROWSER=1 (and installs chromium): there the browser tests must run, never skip.
needs_browser = pytest.mark.skipif(
    browser.chromium() is None and os.environ.get("HFT_REQUIRE_BROWSER") != "1",
    reason="no chromium on this machine (apt install chromium)",
)


def _study(path, rows):
    """A real Optuna study over the runs' parameters, so the report shows Optuna importances."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="ema", storage=f"sqlite:///{path}", direction="maximize")
    for r in [r for r in rows if r["strategy"] == "ema_cross"][:30]:
        study.add_trial(
            optuna.trial.create_trial(
                params={"fast": r["param_fast"], "slow": r["param_slow"]},
                distributions={
                    "fast": optuna.distributions.IntDistribution(1, 100),
                    "slow": optuna.distributions.IntDistribution(2, 1000),
                },
                value=r["sharpe"],
            )
        )
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def page(runs_dir, tmp_path_factory):
    root, rows = runs_dir
    tmp = tmp_path_factory.mktemp("html")
    storage = _study(tmp / "optuna.db", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = build_report(root, by="sharpe", top=5, optuna_storage=storage)
    path = tmp / "report.html"
    path.write_text(render_html(rep))
    return path, rep


def test_html_is_self_contained(page):
    path, rep = page
    text = path.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text
    for kind in KINDS:
        assert f'data-kind="{kind}"' in text
    assert rep.importance_study == "ema" and set(rep.importance["param"]) == {"fast", "slow"}
    for run_id in rep.leaderboard["run_id"]:
        assert run_id in text


@needs_browser
def test_html_renders_in_headless_chromium_without_errors(page, tmp_path):
    path, rep = page
    dom, console = browser.run(path, tmp_path, "--dump-dom")
    assert console == [], console
    assert 'data-ready="1"' in dom
    assert re.search(r'<pre id="js-errors"></pre>', dom)
    plots = int(re.search(r'data-plots="(\d+)"', dom).group(1))
    assert plots == dom.count('class="plot"') and plots >= 2 + 3 + 4 * len(rep.details)
    for kind in KINDS:
        assert f'data-kind="{kind}"' in dom
    shot = tmp_path / "report.png"
    browser.run(path, tmp_path, f"--screenshot={shot}", "--window-size=1200,1400")
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
