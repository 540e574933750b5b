"""The engine's edge: typed configs, ticks from the store, run folders, metrics, `hft run`."""

from __future__ import annotations

from hft.backtest.api import RunOutcome, run_backtest
from hft.backtest.config import RunConfig, load_config, parse_config
from hft.backtest.metrics import compute_metrics
from hft.backtest.params import StrategyParams, get_strategy, register_strategy

__all__ = [
    "RunConfig",
    "RunOutcome",
    "StrategyParams",
    "compute_metrics",
    "get_strategy",
    "load_config",
    "parse_config",
    "register_strategy",
    "run_backtest",
]
