"""Reduce: Polars scans of every run folder into leaderboards, sensitivity tables, curves of the
leaders, walk-forward tables, HTML reports and the Optuna dashboard.

Layout it reads: `{store}/runs/{sweep}/trials/**/part-*.parquet` (result rows, hft.store.results),
`{store}/runs/{group}/{run_id}/{summary.parquet, summary.yaml, trades.parquet, equity.parquet}`
(hft.backtest.artifacts), `{store}/runs/{sweep}/kept.parquet` (the kept runs' trades and equity,
hft.store.kept) and `{store}/runs/{sweep}/walkforward.parquet`.
"""

import importlib
import sys
import types

# Lazy exports: `import hft.reduce.honest` (pure NumPy + SciPy) must not load Polars through here.
_EXPORTS = {
    "RunDetail": "curves",
    "autocorrelation": "curves",
    "equity_drawdown": "curves",
    "load_run": "curves",
    "trade_stats": "curves",
    "vol_clustering": "curves",
    "compare_strategies": "leaderboard",
    "leaderboard": "leaderboard",
    "leaderboard_query": "leaderboard",
    "leaderboard_sections": "leaderboard",
    "rank_runs": "leaderboard",
    "runs_table": "leaderboard",
    "Report": "report",
    "build_report": "report",
    "export_table": "report",
    "RunsScan": "scan",
    "Skipped": "scan",
    "SkippedArtifactWarning": "scan",
    "polars_storage_options": "scan",
    "scan_runs": "scan",
    "Selection": "selection",
    "degradation_frame": "selection",
    "selection": "selection",
    "selection_frame": "selection",
    "explained_variance": "sensitivity",
    "heatmap_grid": "sensitivity",
    "param_levels": "sensitivity",
    "sensitivity": "sensitivity",
    "walkforward_summary": "walkforward",
    "walkforward_table": "walkforward",
}


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'hft.reduce' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hft.reduce.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


class _Package(types.ModuleType):
    """`hft.reduce.leaderboard` / `.selection` / `.sensitivity` name both a submodule and its main
    function; importing the submodule binds the function here (as the eager imports once did)."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "RunDetail",
    "Report",
    "RunsScan",
    "Selection",
    "Skipped",
    "SkippedArtifactWarning",
    "autocorrelation",
    "build_report",
    "compare_strategies",
    "degradation_frame",
    "equity_drawdown",
    "explained_variance",
    "export_table",
    "heatmap_grid",
    "leaderboard",
    "leaderboard_query",
    "leaderboard_sections",
    "load_run",
    "param_levels",
    "polars_storage_options",
    "rank_runs",
    "runs_table",
    "scan_runs",
    "selection",
    "selection_frame",
    "sensitivity",
    "trade_stats",
    "vol_clustering",
    "walkforward_summary",
    "walkforward_table",
]
