"""`run_backtest`: config -> ticks streamed from the store -> engine -> metrics -> run folder."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import hft
from hft.backtest import artifacts as A
from hft.backtest.config import RunConfig, load_config
from hft.backtest.metrics import METRIC_NOTE, metrics_and_daily
from hft.backtest.params import get_strategy
from hft.engine import BatchRun, Run, exec_params
from hft.engine.enums import DAY_MS, P_SAMPLE_MS
from hft.errors import ConfigError, StoreError
from hft.store.fs import Store, open_store
from hft.store.gaps import data_gaps
from hft.store.results import params_json
from hft.store.ticks import day_identity, iter_tick_batches, no_data_message

__all__ = [
    "PreparedRun",
    "RunOutcome",
    "batch_of",
    "compute_run",
    "compute_runs",
    "data_fingerprint",
    "prepare_run",
    "record_run",
    "result_row",
    "run_backtest",
    "run_prepared",
]


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    folder: str  # URL of the run folder
    summary: dict[str, Any]
    computed: bool  # False when an identical finished run was reused
    row: dict[str, Any] | None = None  # the result row (hft.store.results), when computed


def _ms_of_day(t) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.microsecond // 1000


def _seconds_to_ms(s: float) -> float:
    """ms of a YAML seconds value without binary rounding (0.007 s is 7 ms, not 7.000000000000001)."""
    return float(Decimal(repr(float(s))) * 1000)


def execution_vector(cfg: RunConfig):
    ex = cfg.execution
    hours = None
    if ex.trading_hours is not None:
        hours = (_ms_of_day(ex.trading_hours.start), _ms_of_day(ex.trading_hours.end) or 86_400_000)
    return exec_params(
        size=ex.size,
        latency_ms=ex.latency_ms,
        slippage=ex.slippage,
        taker_per_unit=ex.taker_per_unit,
        taker_bps=ex.taker_bps,
        maker_per_unit=ex.maker_per_unit,
        maker_bps=ex.maker_bps,
        stop_loss=ex.stop_loss or 0.0,
        take_profit=ex.take_profit or 0.0,
        max_hold_ms=_seconds_to_ms(ex.max_hold_s or 0.0),
        hours=hours,
        capital=ex.capital,
        fill_through=ex.fill_through,
        max_inventory=ex.max_inventory or 0.0,
        sample_ms=ex.sample_s * 1000,
    )


def data_fingerprint(st: Store, symbol: str, start: date, end: date) -> tuple[str, list[str]]:
    """Hash of each stored day's content hash, row count and hour statuses in the range: what was
    stored, not when, where or by which node it was fetched (see `hft.store.ticks.day_digest`)."""
    h = hashlib.sha256()
    days = []
    day = start
    while day <= end:
        identity = day_identity(st, symbol, day)
        if identity is not None:
            days.append(day.isoformat())
            h.update(f"{day.isoformat()}:{identity}\n".encode())
        day += timedelta(days=1)
    if not days:
        raise StoreError(no_data_message(st, symbol, start, end))
    return h.hexdigest()[:16], days


def missing_days(start: date, end: date, days: list[str]) -> list[str]:
    """Days of [start, end] with no stored partition (never ingested, unlike an empty weekend day)."""
    have, out, day = set(days), [], start
    while day <= end:
        if day.isoformat() not in have:
            out.append(day.isoformat())
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class PreparedRun:
    """A validated, resolved config with its run id: everything needed before ticks are fed."""

    config: RunConfig  # data.store/start/end resolved
    params: Any  # StrategyParams
    exec_vector: Any  # np.ndarray, see execution_vector
    store: Store
    fingerprint: str
    days: list[str]
    resolved: dict[str, Any]
    run_id: str

    @property
    def folder(self) -> tuple[str, str, str]:
        return ("runs", self.config.run_group, self.run_id)


def prepare_run(
    config: RunConfig | str | Path,
    *,
    store: str | Store | None = None,
    start: date | None = None,
    end: date | None = None,
    storage_options: dict[str, Any] | None = None,
    data_id: tuple[str, list[str]] | None = None,
    where: str = "config",
) -> PreparedRun:
    """Validate and resolve `config`; `data_id` = (fingerprint, days) skips re-reading manifests;
    `where` names the config in messages (a file path: a relative `strategy.module` is read against
    its folder)."""
    if not isinstance(config, RunConfig):
        where = str(config)
        config = load_config(config)
    st_obj = store if isinstance(store, Store) else None
    store_url = st_obj.url if st_obj is not None else store
    data = config.data.model_copy(
        update={k: v for k, v in {"store": store_url, "start": start, "end": end}.items() if v is not None}
    )
    if data.end < data.start:
        raise ConfigError(f"{where}: data: empty date range: end {data.end} is before start {data.start}")
    if not data.store:
        raise ConfigError(f"{where}: data.store: no store given (set it in the config or pass --store)")
    config = config.model_copy(update={"data": data})
    params = config.strategy_params(where)
    ep = execution_vector(config)
    st = st_obj or open_store(data.store, storage_options)
    fingerprint, days = data_id or data_fingerprint(st, data.symbol, data.start, data.end)
    resolved = config.model_dump(mode="json")
    resolved["data"].pop("store")
    resolved["strategy"]["params"] = params.model_dump(mode="json")
    run_id = A.run_id_for(resolved, fingerprint, hft.__version__)
    return PreparedRun(config, params, ep, st, fingerprint, list(days), resolved, run_id)


def result_row(
    prep: PreparedRun,
    metrics: dict[str, Any],
    daily: tuple[list, list[float]],
    wall: float,
    tags,
    created: str | None = None,
) -> dict[str, Any]:
    """The run's row in the one result schema (hft.store.results): summary.parquet and sweep parts.

    It carries the resolved config (`config`, one line of JSON) and `created`, so `hft rerun` can
    rebuild the run's folder byte for byte from the row alone."""
    config, data = prep.config, prep.config.data
    params = prep.resolved["strategy"]["params"]
    tags = dict(tags or {})
    return {
        "run_id": prep.run_id,
        "group": config.run_group,
        "strategy": config.strategy.name,
        "symbol": data.symbol,
        "start": data.start,
        "end": data.end,
        "fingerprint": prep.fingerprint,
        "params": params_json(params),
        # typed `param_<name>` columns so reports can group and filter by parameter without parsing
        **{f"param_{k}": v for k, v in params.items()},
        **metrics,
        **{k: v for k, v in tags.items() if k not in {"run_id", "group"}},
        "phase": tags.get("phase") or "run",
        "status": "complete",
        "error": None,
        "wall_time_s": wall,
        "created": created,
        "config": params_json(prep.resolved),
        "daily_dates": daily[0],
        "daily_returns": daily[1],
    }


def record_run(
    prep: PreparedRun,
    res: Any,
    wall: float,
    tags: dict[str, Any] | None = None,
    *,
    folder: bool = True,
    created: str | None = None,
) -> RunOutcome:
    """Metrics, result row and (unless `folder` is False) the run folder for an engine `RunResult`
    computed by the caller (e.g. a sweep actor). `created` (default now) is given by `hft rerun`."""
    config, st, data = prep.config, prep.store, prep.config.data
    capital = config.execution.capital
    metrics, daily = metrics_and_daily(res.trades, res.marks, res.acct, capital)
    created = created or datetime.now().astimezone().isoformat(timespec="seconds")
    if tags and not tags.get("phase"):  # a tagged run says its phase (a bare `hft run` has no tags)
        tags = {**tags, "phase": "run"}
    summary = {
        "run_id": prep.run_id,
        "group": config.run_group,
        "created": created,
        "hft_version": hft.__version__,
        "metrics": metrics,
        "metric_note": METRIC_NOTE,
        "data": {
            "store": st.url,
            "symbol": data.symbol,
            "start": data.start.isoformat(),
            "end": data.end.isoformat(),
            "days": prep.days,
            "fingerprint": prep.fingerprint,
            "ticks": res.n_ticks,
            "gaps": data_gaps(st, data.symbol, data.start, data.end, key=prep.fingerprint),
        },
        "wall_time_s": round(wall, 4),
        "config": prep.resolved,
        "tags": dict(sorted((tags or {}).items())),
    }
    row = result_row(prep, metrics, daily, wall, tags, created)
    where = prep.folder
    if folder:
        st.write_bytes(A.parquet_bytes(A.trades_table(res.trades)), *where, A.TRADES_FILE)
        st.write_bytes(A.parquet_bytes(A.equity_table(res.marks)), *where, A.EQUITY_FILE)
        st.write_bytes(A.parquet_bytes(A.summary_table(row)), *where, A.SUMMARY_PARQUET)
        st.write_bytes(A.yaml_bytes(summary), *where, A.SUMMARY_YAML)
    return RunOutcome(prep.run_id, st.uri(*where), summary, computed=True, row=row)


def run_backtest(
    config: RunConfig | str | Path,
    *,
    store: str | None = None,
    start: date | None = None,
    end: date | None = None,
    force: bool = False,
    storage_options: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
) -> RunOutcome:
    """Run one config (locally, no Ray); reuse an identical finished run unless `force`.

    `tags` (e.g. sweep, trial, fold, phase) are stored as extra `summary.parquet` columns and under
    `tags` in `summary.yaml`; they do not change the run id.
    """
    where = str(config) if not isinstance(config, RunConfig) else "config"
    prep = prepare_run(config, store=store, start=start, end=end, storage_options=storage_options)
    return run_prepared(prep, force=force, tags=tags, where=where)


def run_prepared(
    prep: PreparedRun, *, force: bool = False, tags: dict[str, Any] | None = None, where: str = "config"
) -> RunOutcome:
    """`run_backtest` of a run already prepared (config parsed, manifests read, run id known)."""
    st, folder = prep.store, prep.folder
    if not force:
        try:
            done = yaml.safe_load(st.read_bytes(*folder, A.SUMMARY_YAML))
        except FileNotFoundError:
            done = None
        if isinstance(done, dict) and done.get("run_id") == prep.run_id:
            return RunOutcome(prep.run_id, st.uri(*folder), done, computed=False)

    res, wall = compute_run(prep, where)
    return record_run(prep, res, wall, tags)


def compute_run(prep: PreparedRun, where: str = "config") -> tuple[Any, float]:
    """Stream the run's ticks from the store through the engine: (RunResult, engine wall seconds)."""
    config, st, data = prep.config, prep.store, prep.config.data
    spec = get_strategy(config.strategy.name, config.strategy.module, where).spec(prep.params)
    t0 = time.perf_counter()
    run = Run(spec, prep.params.encode(config.execution.size), prep.exec_vector)
    ticks = iter_tick_batches(st, data.symbol, data.start, data.end, ("ts", "bid", "ask"), prefetch=True)
    for batch in ticks:
        run.feed(batch["ts"], batch["bid"], batch["ask"], where=f"{st.uri('ticks')} {data.symbol}")
    return run.finish(), time.perf_counter() - t0


def batch_of(preps: list[PreparedRun]) -> BatchRun:
    """One `BatchRun` for prepared runs of one strategy: parameter vectors padded to the widest, each
    state row sized for the largest config (each row's own size comes from its own parameters)."""
    cfg = preps[0].config
    spec = get_strategy(cfg.strategy.name, cfg.strategy.module).spec(preps[0].params)
    sps = [p.params.encode(p.config.execution.size) for p in preps]
    sp = np.zeros((len(sps), max(s.size for s in sps)))
    for i, s in enumerate(sps):
        sp[i, : s.size] = s
    widest = max(p.params.state_size() for p in preps)
    spec = dataclasses.replace(spec, state_size=lambda _row: widest)
    eps = np.stack([p.exec_vector for p in preps])
    # marks a config makes at most, a sample per period and a close per day: its record array starts
    # that large (capped at 2^20 rows; it grows past that), so a sweep's batch never copies one
    per_day = DAY_MS // int(eps[:, P_SAMPLE_MS].min()) + 1
    return BatchRun(spec, sp, eps, expect_marks=min(len(preps[0].days) * per_day + 2, 1 << 20))


def compute_runs(preps: list[PreparedRun], where: str = "runs") -> list[Any]:
    """`compute_run` for runs sharing strategy, store, symbol and dates, advanced together (one read of
    the ticks, the batched kernels); the results are those of `compute_run`, run by run."""
    if len(preps) == 1:
        return [compute_run(preps[0], where)[0]]
    p0 = preps[0]
    st, data = p0.store, p0.config.data
    batch = batch_of(preps)
    ticks = iter_tick_batches(st, data.symbol, data.start, data.end, ("ts", "bid", "ask"), prefetch=True)
    for b in ticks:
        batch.feed(b["ts"], b["bid"], b["ask"], where=f"{st.uri('ticks')} {data.symbol} ({where})")
    return batch.finish()
