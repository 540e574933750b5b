"""Reduce: Polars scans of every run folder into leaderboards, sensitivity tables, curves of the
leaders, walk-forward tables, HTML reports and the Optuna dashboard.

Layout it reads: `{store}/runs/{sweep}/trials/**/part-*.parquet` (result rows, hft.store.results),
`{store}/runs/{group}/{run_id}/{summary.parquet, summary.yaml, trades.parquet, equity.parquet}`
(hft.backtest.artifacts) and `{store}/runs/{sweep}/walkforward.parquet`.
"""

from hft.reduce.curves import (
    RunDetail,
    autocorrelation,
    equity_drawdown,
    load_run,
    trade_stats,
    vol_clustering,
)
from hft.reduce.leaderboard import (
    compare_strategies,
    leaderboard,
    leaderboard_query,
    leaderboard_sections,
    rank_runs,
    runs_table,
)
from hft.reduce.report import Report, build_report, export_table
from hft.reduce.scan import RunsScan, Skipped, SkippedArtifactWarning, polars_storage_options, scan_runs
from hft.reduce.selection import Selection, degradation_frame, selection, selection_frame
from hft.reduce.sensitivity import explained_variance, heatmap_grid, param_levels, sensitivity
from hft.reduce.walkforward import walkforward_summary, walkforward_table

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
