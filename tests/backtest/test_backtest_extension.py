"""A strategy written outside the engine runs by name and obeys the same execution rules."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hft.backtest import load_config, run_backtest
from hft.engine import Run, StrategySpec, exec_params
from hft.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))


def test_user_strategy_runs_by_name_from_a_config(store_copy):
    out = run_backtest(ROOT / "examples/momentum.yaml", store=store_copy)
    assert out.summary["metrics"]["trades"] > 5
    assert out.summary["config"]["strategy"]["params"] == {"lookback": 500, "band": 0.0002}

    # same engine, same rules: compare with a plain-Python momentum over the stored ticks
    from examples.momentum_strategy import tick_momentum_nb
    from hft.store.ticks import read_ticks

    ticks = read_ticks(
        store_copy, "EURUSD", *(np.datetime64(d, "D").astype(object) for d in ("2019-02-04", "2019-02-05"))
    )
    mid = (ticks["bid"] + ticks["ask"]) * 0.5
    move = np.full(mid.size, np.nan)
    move[500:] = mid[500:] - mid[:-500]
    want = np.where(move > 0.0002, 1, np.where(move < -0.0002, -1, 0))
    ss = np.zeros(502)
    got = np.array(
        [
            tick_momentum_nb(0, b, a, 0.0, ss, np.array([500.0, 0.0002]), np.zeros(2))
            for b, a in zip(ticks["bid"], ticks["ask"], strict=True)
        ]
    )
    np.testing.assert_array_equal(got[500:], want[500:])
    assert (got[:500] == 0).all()

    run = Run(
        StrategySpec("m", tick_momentum_nb, lambda sp: 502),
        np.array([500.0, 0.0002]),
        exec_params(size=100_000, latency_ms=50, slippage=0.00001, taker_per_unit=0.00002, stop_loss=0.001),
    )
    run.feed(ticks["ts"], ticks["bid"], ticks["ask"])
    assert len(run.finish().trades) == out.summary["metrics"]["trades"]


def test_user_strategy_params_are_validated(tmp_path):
    doc = yaml.safe_load((ROOT / "examples/momentum.yaml").read_text())
    doc["strategy"]["params"]["lookback"] = 0
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(
        ConfigError, match=r"m\.yaml: strategy\.params\.lookback: .*greater than or equal to 1"
    ):
        load_config(path)
    doc["strategy"]["module"] = "examples.not_there"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"strategy\.module: cannot import 'examples\.not_there'"):
        load_config(path)
    assert "examples.not_there" not in sys.modules
