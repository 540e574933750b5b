"""Non-finite money, sizes and latencies are refused at the boundary, naming the key, before any run."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hft.backtest.config import parse_config
from hft.cli import app
from hft.errors import ConfigError

BASE = {
    "data": {"symbol": "XAUUSD", "start": "2024-03-04", "end": "2024-03-04"},
    "strategy": {"name": "ema_cross", "params": {"fast": 10, "slow": 100}},
}
# every float of the execution model the README documents (units, money, bps, seconds, milliseconds)
KEYS = [
    "size",
    "capital",
    "latency_ms",
    "slippage",
    "taker_per_unit",
    "taker_bps",
    "maker_per_unit",
    "maker_bps",
    "stop_loss",
    "take_profit",
    "max_hold_s",
    "fill_through",
    "max_inventory",
]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("key", KEYS)
def test_non_finite_execution_values_are_refused_by_key(key, value):
    execution = {"size": 1.0, key: value}
    with pytest.raises(ConfigError, match=rf"^cfg\.yaml: execution\.{key}: .*finite number"):
        parse_config({**BASE, "execution": execution}, where="cfg.yaml")


def test_the_same_values_finite_are_accepted():
    execution = dict.fromkeys(KEYS, 1.0)
    assert parse_config({**BASE, "execution": execution}).execution.capital == 1.0


def test_hft_run_with_capital_inf_writes_nothing(tmp_path):
    cfg = tmp_path / "inf.yaml"
    cfg.write_text(
        "data: {symbol: XAUUSD, start: 2024-03-04, end: 2024-03-04}\n"
        "strategy: {name: ema_cross, params: {fast: 10, slow: 100}}\n"
        "execution: {size: 1, capital: .inf}\n"
    )
    res = CliRunner().invoke(app, ["run", str(cfg), "--store", str(tmp_path / "store")])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {cfg}: execution.capital: Input should be a finite number"
    assert not (tmp_path / "store").exists()
