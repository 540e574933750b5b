"""The sweep actor: keeps tick days in memory and runs batches of trials on them with the engine.

Each actor reads a day's partition once (`DayCache`, LRU bounded by `cache_mb`) and reuses it for every
later trial, so a sweep reads each partition once per actor instead of once per trial. Days that do
not fit the cache are streamed again per batch, so the cost is still shared by the batch's trials.

A batch is several trials of one strategy on one date range. Without a pruner it runs in one call
through the engine's `BatchRun` (all trials advanced together chunk by chunk). With a pruner the driver
steps it one UTC day at a time (`begin`, then `advance`): after each day the actor returns every live
trial's objective so far, and the driver answers with the trials Optuna pruned, which stop there.
The class is plain Python (tests use it directly); `hft.sweep.pool` wraps it as a Ray actor.

Results: at the end of each batch the actor writes one row per trial (complete, pruned or failed,
with its daily returns) as a Parquet part of the sweep's dataset (hft.store.results), named from the
batch's trial numbers, so a batch retried after a dead actor replaces its part. The part is
written before the batch's results go back to the driver, which tells the study only then: a trial
the study records as finished has its row. With `folders=True` (walk-forward test runs, a spec with
`artifacts_top_k: all`) each completed trial also writes its run folder (trades, equity, summary);
otherwise the sweep keeps trades and equity for its top trials only (hft.sweep.keep): with a
`BatchRequest.retain` policy the actor holds each window's local top K completed trials (engine result
and summary, hft.sweep.retain) once their rows are written, and hands them over in `take_retained`, so
the driver packs them without running them again.
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import yaml

from hft.backtest.api import PreparedRun, batch_of, data_fingerprint, prepare_run, record_run
from hft.backtest.artifacts import SUMMARY_PARQUET, SUMMARY_YAML
from hft.backtest.config import parse_config
from hft.backtest.params import get_strategy
from hft.engine import Run
from hft.engine import enums as E
from hft.engine.run import CheckedTicks, check_ticks
from hft.errors import HftError
from hft.store.fs import Store, open_store
from hft.store.results import params_json, write_part
from hft.store.ticks import iter_tick_batches, partition_parts
from hft.sweep.retain import RetainedRun, RetainedRuns, RetainPolicy

__all__ = [
    "Day",
    "DayCache",
    "TrialTask",
    "BatchRequest",
    "TrialOutcome",
    "StepReport",
    "SweepWorker",
    "step_value",
    "tagged",
    "task_row",
]

_ANNUAL = math.sqrt(252)


class Day(NamedTuple):
    """A day's ticks from `DayCache`: read-only arrays, and the same as `CheckedTicks` when every tick
    passed the engine's check (None: a bad tick, which feeding the arrays names)."""

    ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    checked: CheckedTicks | None


class DayCache:
    """(store, symbol, day) -> a `Day`, least recently used evicted past `cap_bytes`.

    A day is checked once as it is read (every batch then feeds it with an O(1) check of its link to
    the previous day instead of a pass over its ticks); its arrays are made read-only so nothing can
    change them after the check."""

    def __init__(self, cap_bytes: int) -> None:
        self.cap = int(cap_bytes)
        self._days: OrderedDict[tuple[str, str, str], Day] = OrderedDict()
        self.bytes = 0
        self.reads = 0  # partitions read from the store
        self.hits = 0

    def get(self, st: Store, symbol: str, day: date) -> Day:
        key = (st.url, symbol, day.isoformat())
        got = self._days.get(key)
        if got is not None:
            self._days.move_to_end(key)
            self.hits += 1
            return got
        got = self._read(st, symbol, day)
        self.reads += 1
        size = sum(a.nbytes for a in got[:3])
        if size <= self.cap:
            while self._days and self.bytes + size > self.cap:
                _, old = self._days.popitem(last=False)
                self.bytes -= sum(a.nbytes for a in old[:3])
            self._days[key] = got
            self.bytes += size
        return got

    @staticmethod
    def _read(st: Store, symbol: str, day: date) -> Day:
        if not st.exists(*partition_parts(symbol, day), "ticks.parquet"):
            arrays = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
        else:
            parts = list(iter_tick_batches(st, symbol, day, day, ("ts", "bid", "ask")))
            arrays = tuple(
                np.ascontiguousarray(np.concatenate([p[c] for p in parts]), dtype=d)
                for c, d in (("ts", np.int64), ("bid", np.float64), ("ask", np.float64))
            )
        for a in arrays:
            a.flags.writeable = False
        return Day(*arrays, check_ticks(*arrays))


@dataclass(frozen=True)
class TrialTask:
    key: int  # trial number (or config index)
    config: dict[str, Any]  # a RunConfig as JSON-able mapping, data.store/start/end set
    tags: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # what to name in messages (file or trial)


@dataclass(frozen=True)
class BatchRequest:
    """Trials sharing strategy, store, symbol and date range."""

    tasks: list[TrialTask]
    objective: str | None = None  # metric reported per day when stepping
    stepwise: bool = False
    storage_options: dict[str, Any] = field(default_factory=dict)
    folders: bool = True  # False: result rows only; run folders come later for the trials kept
    retain: RetainPolicy | None = None  # hold the window's best trials for the kept pack (None: none)


@dataclass
class TrialOutcome:
    key: int
    status: str  # complete | failed
    metrics: dict[str, Any] | None = None
    run_id: str | None = None
    folder: str | None = None
    error: str | None = None
    ticks: int = 0
    engine_s: float = 0.0  # this trial's share of engine time
    write_s: float = 0.0  # artifacts
    reused: bool = False  # an identical finished run (same run id) was found, nothing recomputed


@dataclass
class StepReport:
    day: str | None = None  # the UTC day just fed (stepwise)
    step: int = -1
    values: dict[int, float] = field(default_factory=dict)  # live trials' objective so far
    done: bool = False
    outcomes: list[TrialOutcome] = field(default_factory=list)
    busy_s: float = 0.0  # time spent inside the actor for this call
    read_s: float = 0.0
    fed_ticks: int = 0  # ticks fed to the engine in this call, summed over trials (pruned ones too)
    pid: int = 0


def step_value(metric: str, closes: list[float], acct: np.ndarray, capital: float) -> float | None:
    """The objective after the last UTC-day close, from day-close equities (see hft.backtest.metrics)."""
    equity = float(acct[E.A_EQUITY])
    if metric == "net_pnl":
        return equity - capital
    if metric == "final_equity":
        return equity
    if metric == "total_return":
        return equity / capital - 1.0
    if metric == "max_drawdown":
        return float(acct[E.A_MAX_DD])
    if metric == "max_drawdown_frac":
        return float(acct[E.A_MAX_DD_FRAC])
    c = np.asarray(closes)
    if c.size < 2:
        return None
    r = c / np.concatenate([[capital], c[:-1]]) - 1.0
    if metric == "sharpe":
        sd = float(np.std(r, ddof=1))
        return float(np.mean(r)) / sd * _ANNUAL if sd > 0 else None
    if metric == "sortino":
        down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
        return float(np.mean(r)) / down * _ANNUAL if down > 0 else None
    return None


@dataclass
class _Live:
    task: TrialTask
    prep: PreparedRun
    run: Run | None = None
    closes: list[float] = field(default_factory=list)


def tagged(row: dict[str, Any], task: TrialTask) -> dict[str, Any]:
    """`row` with the task's tags (sweep, trial, fold, phase): how it is filed in the sweep's parts."""
    row.update({k: v for k, v in task.tags.items() if k not in {"run_id", "group"}})
    row.update(trial=task.tags.get("trial", task.key), phase=task.tags.get("phase") or "run")
    return row


def task_row(task: TrialTask, status: str, error: str | None = None) -> dict[str, Any]:
    """The row of a trial that left no run (pruned, failed): its tags, data range and parameters."""
    cfg = task.config
    params = dict((cfg.get("strategy") or {}).get("params") or {})
    data = cfg.get("data") or {}
    row = {
        "group": cfg.get("group") or (cfg.get("strategy") or {}).get("name"),
        "strategy": (cfg.get("strategy") or {}).get("name"),
        "symbol": data.get("symbol"),
        "start": date.fromisoformat(str(data["start"])) if data.get("start") else None,
        "end": date.fromisoformat(str(data["end"])) if data.get("end") else None,
        "params": params_json(params),
        **{f"param_{k}": v for k, v in params.items()},
        "status": status,
        "error": error,
    }
    return tagged(row, task)


def _ray_node_id() -> str | None:
    """The Ray node this worker runs on (None outside Ray: the worker is testable without it)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:
        return None


class SweepWorker:
    """Runs batches of trials; one instance per Ray actor, reused for the whole sweep."""

    def __init__(self, cache_mb: int = 512) -> None:
        self.cache = DayCache(cache_mb * 1024**2)
        self._stores: dict[str, Store] = {}
        self._data_ids: dict[tuple, tuple[str, list[str]]] = {}
        self._batch: dict[str, Any] | None = None
        self._twins: list[tuple[int, int]] = []
        self._rows: dict[int, dict[str, Any]] = {}  # this batch's result rows by trial key
        self._folders = True  # write run folders for this batch (BatchRequest.folders)
        self._retain: RetainPolicy | None = None  # this batch's BatchRequest.retain
        self._computed: dict[int, RetainedRun] = {}  # this batch's completed runs, offered once written
        self.retained = RetainedRuns()
        self.parts: list[str] = []  # URLs of the parts this worker wrote
        self.trials = 0
        self.node_id = _ray_node_id()  # recorded in every run this worker writes

    def pid(self) -> int:
        return os.getpid()

    def stats(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "reads": self.cache.reads,
            "hits": self.cache.hits,
            "cached_mb": self.cache.bytes / 1024**2,
            "trials": self.trials,
            "retained": len(self.retained),
            "retained_windows": len(self.retained.windows),
        }

    def take_retained(
        self, windows: list[tuple], wanted: dict[str, tuple[int, str | None]]
    ) -> list[tuple[str, int, Any]]:
        """The held runs of `windows` that `wanted` names (run id -> (trial, created)), as kept-pack
        rows; the windows are then dropped (hft.sweep.retain)."""
        return self.retained.take(windows, wanted)

    # -- batch set-up -------------------------------------------------------------------------
    def _store(self, url: str, opts: dict[str, Any]) -> Store:
        st = self._stores.get(url)
        if st is None:
            st = self._stores[url] = open_store(url, opts)
        return st

    def _prepare(self, req: BatchRequest) -> tuple[list[_Live], list[TrialOutcome]]:
        """Validate each trial; identical runs (a sampler repeating itself, a resumed sweep) are reused."""
        live, failed = [], []
        self._rows = {}
        self._folders = req.folders
        self._retain = req.retain
        self._computed = {}
        seen: dict[str, int] = {}
        self._twins: list[tuple[int, int]] = []  # (key, key of the identical trial computed in this batch)
        for task in req.tasks:
            try:
                cfg = parse_config(task.config, where=task.where or f"trial {task.key}")
                d = cfg.data
                st = self._store(d.store, req.storage_options)
                key = (d.store, d.symbol, d.start, d.end)
                if key not in self._data_ids:
                    self._data_ids[key] = data_fingerprint(st, d.symbol, d.start, d.end)
                prep = prepare_run(cfg, store=st, data_id=self._data_ids[key])
            except HftError as exc:
                failed.append(TrialOutcome(task.key, "failed", error=str(exc)))
                continue
            done = self._finished(prep, task.key)
            if done is not None:
                failed.append(done)
            elif prep.run_id in seen:
                self._twins.append((task.key, seen[prep.run_id]))
            else:
                seen[prep.run_id] = task.key
                live.append(_Live(task, prep))
        return live, failed

    def _finished(self, prep: PreparedRun, key: int) -> TrialOutcome | None:
        try:
            doc = yaml.safe_load(prep.store.read_bytes(*prep.folder, SUMMARY_YAML))
        except FileNotFoundError:
            return None
        if not (isinstance(doc, dict) and doc.get("run_id") == prep.run_id):
            return None
        self._rows[key] = self._reused_row(prep, doc)
        return TrialOutcome(
            key,
            "complete",
            metrics=doc["metrics"],
            run_id=prep.run_id,
            folder=prep.store.uri(*prep.folder),
            ticks=int(doc["data"]["ticks"]),
            reused=True,
        )

    @staticmethod
    def _reused_row(prep: PreparedRun, doc: dict[str, Any]) -> dict[str, Any]:
        """The stored row of a finished run (its folder's summary.parquet), else one from its YAML."""
        import pyarrow.parquet as pq

        try:
            with prep.store.fs.open(prep.store.path(*prep.folder, SUMMARY_PARQUET), "rb") as fh:
                rows = pq.read_table(fh).to_pylist()
            if rows:
                return rows[0]
        except (OSError, ValueError):
            pass
        d = doc.get("data") or {}
        params = (doc.get("config") or {}).get("strategy", {}).get("params", {})
        return {
            "run_id": prep.run_id,
            "group": prep.config.run_group,
            "strategy": prep.config.strategy.name,
            "symbol": d.get("symbol"),
            "start": prep.config.data.start,
            "end": prep.config.data.end,
            "fingerprint": d.get("fingerprint"),
            "params": params_json(params),
            **{f"param_{k}": v for k, v in params.items()},
            **(doc.get("metrics") or {}),
            "status": "complete",
        }

    def _write_rows(self, req: BatchRequest, outs: list[TrialOutcome], pruned: set[int] = frozenset()):
        """One part per (store, group, window) of the batch, rows for every task; a write that fails
        fails the batch's trials with the reason (their results would otherwise be lost unseen)."""
        by_out = {o.key: o for o in outs}
        parts: dict[tuple, tuple[Store, list[dict[str, Any]], list[int]]] = {}
        for task in req.tasks:
            o = by_out.get(task.key)
            row = self._rows.get(task.key)
            if o is None and task.key not in pruned:
                continue
            if o is not None and o.status == "complete" and row is not None:
                row = tagged(dict(row), task)
            elif o is not None and o.status == "complete":  # no row kept: metrics from the outcome
                row = {**task_row(task, "complete"), **(o.metrics or {}), "run_id": o.run_id}
            else:
                row = task_row(task, "pruned" if o is None else "failed", None if o is None else o.error)
            if self.node_id:
                row["node_id"] = self.node_id
            url = str((task.config.get("data") or {}).get("store"))
            k = (url, row.get("group"), row.get("fold"), row["phase"])
            parts.setdefault(k, (self._store(url, req.storage_options), [], []))
            parts[k][1].append(row)
            parts[k][2].append(row["trial"])
        written = True
        for (_, group, _, _), (st, rows, keys) in parts.items():
            try:
                got = write_part(st, str(group), rows, keys)
            except HftError as exc:
                for o in outs:
                    o.status, o.error = "failed", f"result rows not written: {exc}"
                written = False
                break
            if got:
                self.parts.append(got)
        self._rows = {}
        if written and self._retain is not None:  # only runs whose rows exist can be kept
            for o in outs:
                run = self._computed.get(o.key)
                if run is not None and o.status == "complete":
                    self.retained.offer(self._retain, run)
        self._computed = {}

    def _with_twins(self, outs: list[TrialOutcome]) -> list[TrialOutcome]:
        by = {o.key: o for o in outs}
        for key, twin in self._twins:
            o = by.get(twin)
            if o is not None and twin in self._rows:
                self._rows[key] = self._rows[twin]
            if o is not None:
                outs.append(replace(o, key=key, engine_s=0.0, write_s=0.0, reused=True))
            else:
                outs.append(TrialOutcome(key, "failed", error=f"identical to trial {twin}, which was pruned"))
        self._twins = []
        return outs

    def _ticks(self, prep: PreparedRun, day: str):
        return self.cache.get(prep.store, prep.config.data.symbol, date.fromisoformat(day))

    def _where(self, prep: PreparedRun) -> str:
        return f"{prep.store.uri('ticks')} {prep.config.data.symbol}"

    def _new_run(self, lv: _Live) -> Run:
        cfg = lv.prep.config
        spec = get_strategy(cfg.strategy.name, cfg.strategy.module).spec(lv.prep.params)
        return Run(spec, lv.prep.params.encode(cfg.execution.size), lv.prep.exec_vector)

    def _finish(self, lv: _Live, engine_s: float) -> TrialOutcome:
        t0 = time.perf_counter()
        try:
            res = lv.run.finish()
            tags = {**lv.task.tags, "node_id": self.node_id} if self.node_id else lv.task.tags
            out = record_run(lv.prep, res, engine_s, tags, folder=self._folders)
        except HftError as exc:
            return TrialOutcome(lv.task.key, "failed", error=str(exc))
        self._rows[lv.task.key] = out.row
        if self._retain is not None:
            trial = lv.task.tags.get("trial", lv.task.key)
            self._computed[lv.task.key] = RetainedRun(out.run_id, trial, out.summary, res)
        self.trials += 1
        return TrialOutcome(
            lv.task.key,
            "complete",
            metrics=out.summary["metrics"],
            run_id=out.run_id,
            folder=out.folder if self._folders else None,
            ticks=res.n_ticks,
            engine_s=engine_s,
            write_s=time.perf_counter() - t0,
        )

    # -- one pass ---------------------------------------------------------------------------------
    def run(self, req: BatchRequest) -> StepReport:
        """All days for every trial of the batch in one call (no pruning)."""
        t0 = time.perf_counter()
        live, failed = self._prepare(req)
        report = StepReport(done=True, outcomes=failed, pid=os.getpid())
        if live:
            report.outcomes += self._run_all(live, report)
        report.outcomes = self._with_twins(report.outcomes)
        self._write_rows(req, report.outcomes)
        report.busy_s = time.perf_counter() - t0
        return report

    def _run_all(self, live: list[_Live], report: StepReport) -> list[TrialOutcome]:
        prep0 = live[0].prep
        groups = {
            (lv.prep.config.strategy.name, lv.prep.config.data.start, lv.prep.config.data.end) for lv in live
        }
        if len(live) > 1 and len(groups) == 1:
            try:
                return self._batched(live, report)
            except HftError:
                pass  # one bad trial spoils the batch: run them one by one to name it
        outs = []
        for lv in live:
            t = time.perf_counter()
            try:
                lv.run = self._new_run(lv)
                for day in lv.prep.days:
                    r0 = time.perf_counter()
                    ts, bid, ask, _ = self._ticks(lv.prep, day)
                    report.read_s += time.perf_counter() - r0
                    lv.run.feed(ts, bid, ask, where=self._where(prep0))
                    report.fed_ticks += ts.size
            except HftError as exc:
                outs.append(TrialOutcome(lv.task.key, "failed", error=str(exc)))
                continue
            outs.append(self._finish(lv, time.perf_counter() - t))
        return outs

    def _batched(self, live: list[_Live], report: StepReport) -> list[TrialOutcome]:
        t = time.perf_counter()
        prep0 = live[0].prep
        batch = batch_of([lv.prep for lv in live])
        for day in prep0.days:
            r0 = time.perf_counter()
            ts, bid, ask, checked = self._ticks(prep0, day)
            report.read_s += time.perf_counter() - r0
            if checked is not None:  # checked once as it entered the cache
                batch.feed_checked(checked, where=self._where(prep0))
            else:
                batch.feed(ts, bid, ask, where=self._where(prep0))
            report.fed_ticks += ts.size * len(live)
        results = batch.finish()
        share = (time.perf_counter() - t) / len(live)
        outs = []
        for lv, res in zip(live, results, strict=True):
            lv.run = _Done(res)
            outs.append(self._finish(lv, share))
        return outs

    # -- stepwise (pruning) ------------------------------------------------------------------------
    def begin(self, req: BatchRequest) -> StepReport:
        t0 = time.perf_counter()
        live, failed = self._prepare(req)
        outs = list(failed)
        ok = []
        for lv in live:
            try:
                lv.run = self._new_run(lv)
                ok.append(lv)
            except HftError as exc:
                outs.append(TrialOutcome(lv.task.key, "failed", error=str(exc)))
        days = ok[0].prep.days if ok else []
        self._batch = {"live": ok, "days": days, "next": 0, "metric": req.objective, "spent": {}}
        self._batch.update(req=req, outs=list(outs), pruned=set())
        rep = StepReport(done=not ok, outcomes=outs, pid=os.getpid())
        if rep.done:
            rep.outcomes = self._with_twins(rep.outcomes)
            self._write_rows(req, rep.outcomes)
            self._batch = None
        rep.busy_s = time.perf_counter() - t0
        return rep

    def advance(self, prune: list[int] | None = None) -> StepReport:
        """Drop the `prune` trials, feed the next UTC day to the rest; finish them after the last day."""
        t0 = time.perf_counter()
        b = self._batch
        rep = StepReport(pid=os.getpid())
        if b is None:
            rep.done = True
            return rep
        drop = set(prune or ())
        b["pruned"] |= drop
        b["live"] = [lv for lv in b["live"] if lv.task.key not in drop]
        spent = b["spent"]
        while b["next"] < len(b["days"]) and b["live"]:
            day = b["days"][b["next"]]
            b["next"] += 1
            r0 = time.perf_counter()
            ts, bid, ask, _ = self._ticks(b["live"][0].prep, day)
            rep.read_s += time.perf_counter() - r0
            keep = []
            for lv in b["live"]:
                t = time.perf_counter()
                try:
                    lv.run.feed(ts, bid, ask, where=self._where(lv.prep))
                except HftError as exc:
                    rep.outcomes.append(TrialOutcome(lv.task.key, "failed", error=str(exc)))
                    b["outs"].append(rep.outcomes[-1])
                    continue
                spent[lv.task.key] = spent.get(lv.task.key, 0.0) + time.perf_counter() - t
                rep.fed_ticks += ts.size
                keep.append(lv)
                if ts.size:
                    lv.closes.append(float(lv.run.acct[E.A_EQUITY]))
                    cap = lv.prep.config.execution.capital
                    v = step_value(b["metric"], lv.closes, lv.run.acct, cap) if b["metric"] else None
                    if v is not None and math.isfinite(v):
                        rep.values[lv.task.key] = v
            b["live"] = keep
            for key, twin in self._twins:  # an identical trial reports the same value
                if twin in rep.values:
                    rep.values[key] = rep.values[twin]
            if ts.size:  # a day without ticks says nothing new: go on to the next
                rep.day, rep.step = day, len(b["live"][0].closes) - 1 if b["live"] else -1
                break
        if b["next"] >= len(b["days"]) or not b["live"]:
            rep.values = {}
            for lv in b["live"]:
                rep.outcomes.append(self._finish(lv, spent.get(lv.task.key, 0.0)))
            rep.done = True
            self._batch = None
            rep.outcomes = self._with_twins(rep.outcomes)
            seen = {o.key: o for o in [*b["outs"], *rep.outcomes]}
            self._write_rows(b["req"], list(seen.values()), b["pruned"])
        rep.busy_s = time.perf_counter() - t0
        return rep


class _Done:
    """A finished engine result standing in for a Run in `_finish`."""

    def __init__(self, res) -> None:
        self._res = res

    def finish(self):
        return self._res
