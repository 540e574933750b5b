"""The ingest driver: plan the days, fan them out as Ray tasks, report what was stored."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hft.data.calendar import day_expectations
from hft.data.instruments import get_instrument
from hft.data.sources import SOURCES, check_feed_url, feed_base_url, get_source
from hft.errors import ConfigError
from hft.ingest.day import DayResult, DayTask, hour_done, ingest_day
from hft.store.fs import open_store
from hft.store.ticks import DATA_FILE, partition_parts, read_manifest
from hft.store.verify import check_day

__all__ = ["IngestConfig", "IngestReport", "ingest"]


class IngestConfig(BaseModel):
    """What to ingest; validated before any Ray process starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str
    start: date
    end: date
    store: str = "./data"
    source: str = "bi5"
    feed_url: str | None = None
    workers: int = Field(default=0, ge=0, le=1024)  # 0 = one per CPU of the Ray cluster
    concurrency: int = Field(default=4, ge=1, le=64)  # requests in flight per task
    force: bool = False
    accept_empty: bool = False  # store hours that stay empty when the market should trade as empty
    storage_options: dict[str, Any] = Field(default_factory=dict)
    address: str | None = None
    attempts: int = Field(default=6, ge=1, le=50)
    timeout_s: float = Field(default=20.0, gt=0)
    backoff_s: float = Field(default=0.25, ge=0)
    deadline_s: float = Field(default=300.0, gt=0)  # per day: a feed that never answers fails the day
    verify: bool = False  # read complete days and check them against their manifests before skipping

    @field_validator("feed_url")
    @classmethod
    def _feed_scheme(cls, v: str | None) -> str | None:
        return check_feed_url(v, "feed_url") if v is not None else v

    @field_validator("symbol")
    @classmethod
    def _known_symbol(cls, v: str) -> str:
        return get_instrument(v).symbol  # UnknownSymbolError suggests close names

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        if v not in SOURCES:
            raise ValueError(f"unknown source {v!r}; choose one of {', '.join(SOURCES)}")
        return v

    @model_validator(mode="after")
    def _range(self) -> IngestConfig:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if (self.end - self.start).days > 366 * 30:
            raise ValueError("date range longer than 30 years; split it")
        return self

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass
class IngestReport:
    config: IngestConfig
    days: list[DayResult] = field(default_factory=list)
    seconds: float = 0.0  # the whole call
    startup_seconds: float = 0.0  # planning and starting or joining Ray
    repaired: list[str] = field(default_factory=list)  # stored days `verify` found bad, fetched again

    @property
    def ticks_per_second(self) -> float:
        """Fetched ticks per second of work, Ray's start-up excluded."""
        busy = self.seconds - self.startup_seconds
        return self.fetched_ticks / busy if busy > 0 else 0.0

    @property
    def ticks_per_cpu_second(self) -> float:
        """Fetched ticks per CPU-second spent in the ingest tasks: throughput per core."""
        cpu = sum(d.cpu_seconds for d in self.days)
        return self.fetched_ticks / cpu if cpu > 0 else 0.0

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.days)

    @property
    def fetched_ticks(self) -> int:
        return sum(d.fetched_ticks for d in self.days)

    def hours(self, status: str) -> list[str]:
        return [f"{d.day.isoformat()}T{h}" for d in self.days for h in d.by_status(status)]

    @property
    def failed(self) -> list[str]:
        return self.hours("failed")

    @property
    def suspect(self) -> list[str]:
        return self.hours("suspect_empty")

    @property
    def ok(self) -> bool:
        """No hour failed and none stayed empty while the market should have traded."""
        return not self.failed and not self.suspect

    def dropped(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.days:
            for k, v in d.dropped.items():
                out[k] = out.get(k, 0) + v
        return out


def _is_complete(st, symbol: str, day: date, manifest: dict | None, now: datetime) -> bool:
    """Every due hour is done (see `hour_done`) and the data file is there at its recorded size.

    A cheap check (no Parquet is read): a truncated or missing file, or a missing or damaged
    manifest, sends the day back to a Ray task, which reads and hash-checks what it keeps.
    """
    if not manifest:
        return False
    hours = manifest.get("hours", {})
    expect = day_expectations(symbol, day)
    for h in range(24):
        start = datetime(day.year, day.month, day.day, h, tzinfo=UTC)
        if start + timedelta(hours=1) > now:
            continue  # not due yet
        if not hour_done(hours.get(f"{h:02d}"), expect[f"{h:02d}"]):
            return False
    try:
        size = st.fs.size(st.path(*partition_parts(symbol, day), DATA_FILE))
    except FileNotFoundError:
        return False
    return manifest.get("file_bytes") in (None, size)


#: IngestConfig fields every DayTask carries as they are.
_TASK_FIELDS = {
    "symbol",
    "store",
    "source",
    "storage_options",
    "force",
    "accept_empty",
    "deadline_s",
    "concurrency",
    "attempts",
    "timeout_s",
    "backoff_s",
}


def _run_task(task: DayTask) -> DayResult:
    import ray

    return ingest_day(task, node_id=ray.get_runtime_context().get_node_id())


def _plan(config: IngestConfig, store, now: datetime, report: IngestReport, todo: list[date]) -> None:
    """Days already complete go to `report` as skipped (checked against their manifests with
    --verify, repairs named); the rest to `todo`."""
    for day in config.days():
        manifest = None if config.force else read_manifest(store, config.symbol, day)
        problem = None
        if config.verify and _is_complete(store, config.symbol, day, manifest, now):
            problem = check_day(store, config.symbol, day)
            if problem is not None:
                report.repaired.append(str(problem))
        if problem is None and _is_complete(store, config.symbol, day, manifest, now):
            report.days.append(DayResult(config.symbol, day, skipped=True))
        else:
            todo.append(day)


def ingest(config: IngestConfig, *, progress: bool = True) -> IngestReport:
    """Ingest `config`'s days; days already complete in the store are skipped unless forced."""
    import ray

    from hft.rayenv import init_ray
    from hft.status import phases

    t0 = time.perf_counter()
    store = open_store(config.store, config.storage_options)
    source = get_source(config.source)
    base = feed_base_url(source, config.feed_url)
    now = datetime.now(UTC)
    report = IngestReport(config)
    todo: list[date] = []
    with phases(f"ingest: checking what {store.uri('ticks')} already holds", enabled=progress):
        _plan(config, store, now, report, todo)
    if not todo:
        report.seconds = time.perf_counter() - t0
        return report

    address = config.address or os.environ.get("RAY_ADDRESS")
    where = f"joining {address}" if address else "local"
    starting = f"ingest: starting Ray ({where}) for {len(todo)} day(s) to fetch"
    with phases(starting, enabled=progress and not ray.is_initialized()):
        init_ray(config.address, num_cpus=config.workers or None)
    slots = config.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    max_in_flight = 2 * slots  # one queued behind each running task: no idle gap between days
    # `workers` caps the days running at once: each task asks for the cluster's CPUs / workers.
    cpus = max(1.0, float(ray.cluster_resources().get("CPU", 1)))
    per_task = cpus / config.workers if config.workers else 1.0
    per_task = per_task if per_task < 1 else float(int(per_task))  # Ray: > 1 must be whole
    remote = ray.remote(num_cpus=per_task, max_retries=3)(_run_task)
    report.startup_seconds = time.perf_counter() - t0
    now_ms = int(now.timestamp() * 1000)
    shared = config.model_dump(include=_TASK_FIELDS)
    tasks = [DayTask(day=day, base_url=base, now_ms=now_ms, **shared) for day in todo]
    bar = _progress(len(tasks), progress)
    pending: list[Any] = []
    ticks = 0
    try:
        while tasks or pending:
            while tasks and len(pending) < max_in_flight:
                pending.append(remote.remote(tasks.pop(0)))
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                res: DayResult = ray.get(ref)
                report.days.append(res)
                ticks += res.fetched_ticks
                if bar is not None:
                    elapsed = max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(
                        hours_ok=len(report.hours("ok")) + len(report.hours("empty")),
                        failed=len(report.failed),
                        ticks_s=f"{ticks / elapsed:,.0f}",
                    )
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    report.days.sort(key=lambda d: d.day)
    report.seconds = time.perf_counter() - t0
    return report


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="day", desc="ingest", dynamic_ncols=True)


def make_config(**kwargs: Any) -> IngestConfig:
    """Build an IngestConfig, turning pydantic's errors into one ConfigError naming the fields."""
    from pydantic import ValidationError

    try:
        return IngestConfig(**kwargs)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid ingest options: {msgs}") from None
