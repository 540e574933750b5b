"""Distributed sweeps: Optuna ask/tell in the driver, trials in a pool of Ray actors.

Spec (`sweeps/*.yaml`) → `run_sweep` → run folders under `{store}/runs/{sweep}/`, the study in its
storage, `walkforward.parquet` and `sweep.yaml`; `run_configs` runs plain run configs on the same pool.
"""

from __future__ import annotations

from hft.sweep.driver import SweepStats
from hft.sweep.leaderboard import format_leaderboard, format_walkforward
from hft.sweep.run import SweepResult, run_configs, run_sweep
from hft.sweep.spec import SweepSpec, is_sweep_spec, load_spec, parse_spec
from hft.sweep.walkforward import WALKFORWARD_FILE, make_folds

__all__ = [
    "WALKFORWARD_FILE",
    "SweepResult",
    "SweepSpec",
    "SweepStats",
    "format_leaderboard",
    "format_walkforward",
    "is_sweep_spec",
    "load_spec",
    "make_folds",
    "parse_spec",
    "run_configs",
    "run_sweep",
]
