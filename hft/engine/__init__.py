"""Pure Numba backtest engine: kernels over tick arrays with all state in explicit arrays.

Imports only NumPy and Numba (plus `hft.errors`); storage, configs and reports live in
`hft.backtest`. Layout: `enums` (slots, dtypes), `*_nb` modules (compiled kernels: `loop_nb` the
per-tick loop, `events_nb` its rare paths, `signals_nb` the built-ins with register state,
`batch_nb` K configs per tick, `runners_nb` the cached entry points, `windows_nb` the helpers of
user strategies, `records_nb` record rows into record arrays), `strategies` (built-in specs), `user`
(user strategies: bounds-checked kernels, declared layouts), `run` (streaming facade). The README's
rules, in plain Python, are in tests/oracle.
"""

from __future__ import annotations

from hft.engine.enums import EXIT_REASONS, MARK_DTYPE, TARGET_NONE, TRADE_DTYPE
from hft.engine.run import BatchRun, Run, RunResult, exec_params
from hft.engine.strategies import (
    BUILTINS,
    StrategySpec,
    donchian_params,
    ema_cross_params,
    filtered_ema_params,
    market_maker_params,
    zscore_params,
)

__all__ = [
    "BUILTINS",
    "EXIT_REASONS",
    "MARK_DTYPE",
    "TARGET_NONE",
    "TRADE_DTYPE",
    "BatchRun",
    "Run",
    "RunResult",
    "StrategySpec",
    "donchian_params",
    "ema_cross_params",
    "exec_params",
    "filtered_ema_params",
    "market_maker_params",
    "zscore_params",
]
