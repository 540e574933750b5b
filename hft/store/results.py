"""Trial results: one row schema for every run, and a sweep's rows as one Parquet dataset.

A row is one run or trial: ids (`run_id`, `group`, `strategy`, `symbol`, `start`, `end`,
`fingerprint`), `params` (single-line JSON) and a typed `param_<name>` column per parameter, every
metric of hft.backtest.metrics (with the Sharpe standard error, its 95 % interval, PSR and `n_days`,
the daily returns behind the ratios), tags (`sweep`, `trial`, `fold`, `phase` = train|test|oos_check|run,
`node_id`), `status` (complete | pruned | failed) and `error`, `created` and the resolved `config`
(one line of JSON: what `hft rerun` rebuilds the run folder from), and the run's daily returns as
`daily_dates` (list<date32>) and `daily_returns` (list<float64>) so selection statistics over
10,000 trials come from one lazy scan instead of 10,000 equity files.

The same row is a single run's `summary.parquet` and one row of a sweep's dataset:
`{store}/runs/{sweep}/trials/[fold{k}-{phase}/]part-{first:07d}-{last:07d}.parquet`, one part per
batch of trials, named from the batch's first and last trial numbers (walk-forward windows have
their own trial numbering, hence their own folder). A part is written atomically, so a retried
batch replaces its part instead of adding a second one; a reader sees a part whole or not at all.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hft.store.fs import Store

__all__ = [
    "TRIALS_DIR",
    "PHASES",
    "STATUSES",
    "METRIC_TYPES",
    "RUN_METRICS",
    "ROW_TYPES",
    "params_json",
    "part_path",
    "rows_table",
    "table_bytes",
    "write_part",
]

TRIALS_DIR = "trials"
PHASES = ("test", "oos_check", "run", "train")  # out-of-sample first: the order leaderboards show them in
STATUSES = ("complete", "pruned", "failed")

_F, _I, _S = pa.float64(), pa.int64(), pa.string()
#: Metric names and types as hft.backtest.metrics.compute_metrics returns them (reports read them too).
METRIC_TYPES: dict[str, pa.DataType] = {
    "net_pnl": _F,
    "total_return": _F,
    "final_equity": _F,
    "sharpe": _F,
    "sortino": _F,
    "max_drawdown": _F,
    "max_drawdown_frac": _F,
    "calmar": _F,
    "trades": _I,
    "win_rate": _F,
    "profit_factor": _F,
    "avg_trade": _F,
    "median_trade": _F,
    "avg_holding_s": _F,
    "exposure": _F,
    "fees": _F,
    "days": _I,
    "ticks": _I,
    "sharpe_se": _F,
    "sharpe_lo": _F,
    "sharpe_hi": _F,
    "psr": _F,
    "n_days": _I,
}
#: The run's own figures (net PnL … fees), before the counts and the Sharpe statistics.
RUN_METRICS: tuple[str, ...] = tuple(METRIC_TYPES)[: list(METRIC_TYPES).index("days")]
#: Fixed types of the columns every row has (others, e.g. `param_*`, are inferred per file).
ROW_TYPES: dict[str, pa.DataType] = {
    "run_id": _S,
    "group": _S,
    "strategy": _S,
    "symbol": _S,
    "start": pa.date32(),
    "end": pa.date32(),
    "fingerprint": _S,
    "params": _S,
    **METRIC_TYPES,
    "wall_time_s": _F,
    "created": _S,
    "config": _S,
    "sweep": _S,
    "trial": _I,
    "fold": _I,
    "phase": _S,
    "node_id": _S,
    "status": _S,
    "error": _S,
    "daily_dates": pa.list_(pa.date32()),
    "daily_returns": pa.list_(_F),
}


def params_json(params: dict[str, Any]) -> str:
    """Parameters as one line of JSON (keys sorted): safe in a CSV cell and in a terminal table."""
    return json.dumps(params, sort_keys=True, separators=(", ", ": "), default=str)


def part_path(group: str, first: int, last: int, *, fold: int | None = None, phase: str | None = None):
    """Path parts of the part holding trials `first..last` of a sweep window."""
    window = [] if fold is None else [f"fold{int(fold)}-{phase or 'train'}"]
    return ("runs", group, TRIALS_DIR, *window, f"part-{int(first):07d}-{int(last):07d}.parquet")


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def rows_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Rows → one Arrow table: fixed types for `ROW_TYPES`, every such column present, NaN → null."""
    rows = [{k: _clean(v) for k, v in r.items()} for r in rows]
    names = list(dict.fromkeys([*ROW_TYPES, *(k for r in rows for k in r)]))
    cols = {}
    for name in names:
        values = [r.get(name) for r in rows]
        typ = ROW_TYPES.get(name)
        cols[name] = pa.array(values, typ) if typ is not None else pa.array(values)
    return pa.table(cols)


def table_bytes(table: pa.Table) -> bytes:
    """zstd Parquet; dictionaries only for strings (see hft.backtest.artifacts.parquet_bytes)."""
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", use_dictionary=strings or False)
    return buf.getvalue()


def write_part(st: Store, group: str, rows: list[dict[str, Any]], keys: Iterable[int]) -> str | None:
    """Publish `rows` as the part of the batch whose trial numbers are `keys`; returns its URL."""
    keys = sorted(int(k) for k in keys)
    if not rows or not keys:
        return None
    tags = rows[0]
    parts = part_path(group, keys[0], keys[-1], fold=tags.get("fold"), phase=tags.get("phase"))
    st.write_bytes(table_bytes(rows_table(rows)), *parts)
    return st.uri(*parts)
