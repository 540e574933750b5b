"""Sweep specs: validation names the file and key; shipped specs load; folds; daily objective values."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from hft.engine import enums as E
from hft.errors import ConfigError
from hft.sweep import is_sweep_spec, load_spec, make_folds, parse_spec
from hft.sweep.spec import WalkForward
from hft.sweep.worker import step_value

from .conftest import spec_dict

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


def test_shipped_specs_load_and_cover_grid_tpe_and_nsga2():
    specs = [load_spec(p) for p in sorted(SWEEPS.glob("*.yaml"))]
    assert {s.sampler.type for s in specs} >= {"grid", "tpe", "nsga2"}
    assert all(s.data.symbol == "XAUUSD" for s in specs)
    multi = [s for s in specs if s.sampler.type == "nsga2"]
    assert multi and all(len(s.objectives) == 2 for s in multi)
    grid = next(s for s in specs if s.sampler.type == "grid")
    assert grid.grid_size() == 100


def _write(tmp_path, raw) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, default_flow_style=False))
    return path


@pytest.mark.parametrize(
    ("change", "key", "why"),
    [
        ({"bogus": 1}, "bogus", "unknown key"),
        ({"objectives": [{"metric": "shrape"}]}, "objectives.0.metric", "unknown metric 'shrape'"),
        ({"sampler": {"type": "nsga2"}}, "(top level)", "nsga2 is for two or more objectives"),
        (
            {"space": {"fast": {"type": "float", "low": 1, "high": 5}}, "sampler": {"type": "grid"}},
            "(top level)",
            "give a step",
        ),
        ({"space": {"fast": {"type": "int", "low": 9, "high": 2}}}, "space.fast", "low <= high"),
        (
            {"pruner": {"type": "median"}, "objectives": [{"metric": "trades"}]},
            "(top level)",
            "no daily value",
        ),
        ({"name": "../escape"}, "name", "folder name"),
        (
            {
                "space": {
                    "fast": {"type": "int", "low": -100, "high": 50},
                    "slow": {"type": "int", "low": 60, "high": 90},
                }
            },
            "space.fast",
            "-100 is outside ema_cross's limits: Input should be greater than or equal to 1",
        ),
        (
            {
                "space": {
                    "fast": {"type": "int", "low": 200, "high": 300},
                    "slow": {"type": "int", "low": 60, "high": 100},
                }
            },
            "space",
            "no point of the search space is valid for ema_cross (fast 200..300, slow 60..100): fast (200)",
        ),
        (
            {
                "space": {"fast": {"type": "int", "low": 5, "high": 9}},
                "strategy": {"name": "ema_cross", "params": {"slow": 1}},
            },
            "strategy.params.slow",
            "1 is outside ema_cross's limits",
        ),
    ],
)
def test_bad_spec_names_file_and_key(tmp_path, change, key, why):
    raw = {**spec_dict("./store", "s"), **change}
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError, match=r"bad\.yaml: " + re.escape(key)) as exc:
        load_spec(path)
    assert why in str(exc.value)


def test_unknown_strategy_parameter_is_named(tmp_path):
    raw = spec_dict("./store", "s")
    raw["space"]["window"] = {"type": "int", "low": 2, "high": 9}
    with pytest.raises(ConfigError, match=r"bad\.yaml: space\.window: ema_cross has no parameter 'window'"):
        load_spec(_write(tmp_path, raw))


def test_missing_required_parameter_is_named():
    raw = spec_dict("./store", "s")
    del raw["space"]["slow"]
    with pytest.raises(ConfigError, match=r"needs \['slow'\]"):
        parse_spec(raw, where="x.yaml")


def test_sweep_spec_is_told_apart_from_a_run_config():
    assert is_sweep_spec(spec_dict("./s", "s"))
    run_cfg = yaml.safe_load((SWEEPS.parent / "configs" / "ema_cross.yaml").read_text())
    assert not is_sweep_spec(run_cfg)


def test_grid_values_follow_step_and_bounds():
    spec = parse_spec(spec_dict("./s", "s", sampler={"type": "grid"}))
    assert spec.space["slow"].grid() == list(range(60, 401, 20))
    assert spec.grid_size() == 46 * 18


def test_folds_slide_over_trading_days():
    days = [date(2024, 3, 4) + timedelta(days=i) for i in (0, 1, 2, 3, 4, 7, 8)]  # a weekend gap
    folds = make_folds(days, WalkForward(train_days=3, test_days=2, step_days=2))
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [
        (days[0], days[2], days[3], days[4]),
        (days[2], days[4], days[5], days[6]),
    ]
    with pytest.raises(ConfigError, match="walk_forward: 7 day"):
        make_folds(days, WalkForward(train_days=6, test_days=2))


def test_step_value_matches_an_independent_daily_computation():
    capital = 1000.0
    closes = [1010.0, 1005.0, 1020.0, 1019.0]
    acct = np.zeros(E.N_ACCT)
    acct[E.A_EQUITY], acct[E.A_MAX_DD], acct[E.A_MAX_DD_FRAC] = 1019.0, 7.0, 0.007
    prev = [capital, *closes[:-1]]
    r = [c / p - 1 for c, p in zip(closes, prev, strict=True)]
    mean = sum(r) / len(r)
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))
    down = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))
    assert step_value("sharpe", closes, acct, capital) == pytest.approx(mean / sd * math.sqrt(252))
    assert step_value("sortino", closes, acct, capital) == pytest.approx(mean / down * math.sqrt(252))
    assert step_value("net_pnl", closes, acct, capital) == pytest.approx(19.0)
    assert step_value("total_return", closes, acct, capital) == pytest.approx(0.019)
    assert step_value("max_drawdown", closes, acct, capital) == 7.0
    assert step_value("sharpe", closes[:1], acct, capital) is None  # one day: undefined


def test_a_space_partly_valid_for_the_strategy_is_accepted():
    # fast 5..300 overlaps slow 60..400: some points are valid, the invalid ones fail as trials
    raw = spec_dict("./s", "s")
    raw["space"]["fast"] = {"type": "int", "low": 5, "high": 300}
    assert parse_spec(raw).space["fast"].high == 300


def test_a_spec_without_space_searches_the_declared_ranges():
    # examples/sma_cross.py declares n = Param(500, ge=2, le=1_000_000)
    example = Path(__file__).resolve().parents[2] / "examples" / "sma_cross.py"
    raw = spec_dict("./store", "s", strategy={"name": "sma_cross", "module": str(example)})
    del raw["space"]
    spec = parse_spec(raw, where="x.yaml")
    assert {k: (p.type, p.low, p.high, p.log) for k, p in spec.space.items()} == {
        "n": ("int", 2, 1_000_000, False)
    }
    raw["strategy"]["params"] = {"n": 50}  # fixing the only declared range leaves nothing to search
    with pytest.raises(ConfigError, match=r"x\.yaml: space: missing, and strategy 'sma_cross' fixes every"):
        parse_spec(raw, where="x.yaml")


def test_a_spec_without_space_for_a_strategy_without_ranges_is_refused():
    raw = spec_dict("./store", "s")
    del raw["space"]
    with pytest.raises(ConfigError, match=r"x\.yaml: space: missing, and strategy 'ema_cross' declares no"):
        parse_spec(raw, where="x.yaml")
