"""`run_sweep` and `run_configs`: a spec (or plain run configs) through the actor pool, end to end.

Writes, under `{store}/runs/{sweep}/`: the trial rows as Parquet parts in `trials/` (one per batch,
hft.store.results), `kept.parquet` with the trades and equity of the top trials (hft.sweep.keep; packed
before the pool it started is closed, since its actors hold most of them; with `artifacts_top_k: all`
a run folder per completed trial instead), a run folder per walk-forward test run,
`walkforward.parquet` (see hft.sweep.walkforward), and `sweep.yaml` (spec, storage, counts, best
trials, the walk-forward aggregate, and the selection statistics computed from the parts: n_tried,
n_effective, expected max Sharpe, DSR, PBO, walk-forward degradation). The Optuna study lives in the
storage (default `optuna.db` in that folder).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from optuna.trial import TrialState

from hft.backtest.api import data_fingerprint
from hft.backtest.artifacts import yaml_bytes
from hft.backtest.config import load_config
from hft.errors import ConfigError
from hft.status import phases
from hft.store.fs import Store, open_store
from hft.sweep.driver import SweepStats, WindowResult, best_trials, optimise, run_requests
from hft.sweep.keep import keep_artifacts
from hft.sweep.leaderboard import leaderboard_rows
from hft.sweep.pool import ActorPool, pool_size
from hft.sweep.repair import adopt_written, repair_rows, trial_rows
from hft.sweep.spec import Resources, SweepSpec
from hft.sweep.study import counted, default_storage, is_done, open_storage, prepare_study, spec_binding
from hft.sweep.walkforward import (
    WALKFORWARD_FILE,
    aggregate,
    fold_row,
    make_folds,
    read_walkforward,
    reusable_row,
    trading_days,
    write_walkforward,
)
from hft.sweep.worker import BatchRequest, TrialOutcome, TrialTask

__all__ = ["SweepResult", "run_sweep", "run_configs", "sweep_ray", "SUMMARY_FILE"]

SUMMARY_FILE = "sweep.yaml"
_MB = 1024**2


@dataclass
class SweepResult:
    spec: SweepSpec
    storage: str
    folder: str  # {store}/runs/{sweep}
    windows: list[tuple[int | None, WindowResult]] = field(default_factory=list)
    walkforward: list[dict[str, Any]] = field(default_factory=list)
    walkforward_path: str | None = None
    aggregate: dict[str, Any] | None = None
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[str, Any] = field(default_factory=dict)  # see hft.reduce.selection
    artifacts: dict[str, Any] = field(default_factory=dict)  # run folders kept (hft.sweep.keep)
    interrupted: list[int] = field(default_factory=list)  # trials a killed driver left running
    adopted: list[int] = field(default_factory=list)  # ... whose rows were written: told from them
    repaired: list[int] = field(default_factory=list)  # finished trials whose lost rows were rebuilt
    rows_missing: list[int] = field(default_factory=list)  # ... whose rebuild failed (said, exit 1)
    retried: list[int] = field(default_factory=list)  # failed trials of earlier runs enqueued again
    stats: SweepStats = field(default_factory=SweepStats)
    seconds: float = 0.0
    summary_path: str = ""


@contextlib.contextmanager
def sweep_ray(address: str | None, resources: Resources) -> Iterator[None]:
    """Join `address` (or RAY_ADDRESS), else start a laptop-sized local Ray; stop only what we started."""
    from hft.rayenv import ray_session

    with ray_session(address, object_store_memory=resources.object_store_mb * _MB):
        yield


def _check_days(spec: SweepSpec, st, echo, strict: bool) -> None:
    from hft.backtest.api import data_fingerprint, missing_days

    _, days = data_fingerprint(st, spec.data.symbol, spec.data.start, spec.data.end)
    gone = missing_days(spec.data.start, spec.data.end, days)
    if not gone:
        return
    msg = (
        f"{len(gone)} requested day(s) of {spec.data.symbol} not in {st.uri('ticks')}: "
        f"{', '.join(gone[:10])}{' …' if len(gone) > 10 else ''} "
        "(ingest them, or set --feed-url / data.feed_url)"
    )
    if strict:
        raise ConfigError(f"sweep {spec.name}: {msg}; --strict: nothing was run")
    echo(f"warning: sweep {spec.name}: {msg}; running on the {len(days)} stored day(s)")


def _ensure_data(spec: SweepSpec, store: str, storage_options, feed_url: str | None, address, echo) -> None:
    feed = feed_url or spec.data.feed_url
    if not feed:
        return
    from hft.ingest.pipeline import ingest, make_config

    cfg = make_config(
        symbol=spec.data.symbol,
        start=spec.data.start,
        end=spec.data.end,
        store=store,
        source=spec.data.source,
        feed_url=feed,
        storage_options=storage_options or {},
        address=address,
    )
    report = ingest(cfg, progress=True)
    written = [d for d in report.days if not d.skipped]
    echo(
        f"ingest: {len(written)} missing day(s) of {spec.data.symbol} fetched from {feed} → "
        f"{open_store(store, storage_options).uri('ticks')} ({report.rows:,} ticks); "
        f"{len(report.days) - len(written)} already stored"
    )
    if not report.ok:
        bad = [*report.failed, *report.suspect]
        raise ConfigError(
            f"ingest from {feed} left {len(report.failed)} hour(s) failed and {len(report.suspect)} "
            f"empty while the market should have traded: {bad[:5]} (rerun the sweep to fetch them again)"
        )


def run_sweep(
    spec: SweepSpec,
    *,
    store: str | None = None,
    storage: str | None = None,
    n_trials: int | None = None,
    address: str | None = None,
    storage_options: dict[str, Any] | None = None,
    feed_url: str | None = None,
    progress: bool = True,
    pool: ActorPool | None = None,
    echo: Callable[[str], None] = print,
    callback: Callable[[SweepStats, ActorPool], None] | None = None,
    strict: bool = False,
    fresh: bool = False,
    retry_failed: int = 1,
) -> SweepResult:
    """Run (or resume) the sweep; joins Ray if connected, else starts a local one when there is work.

    Requested days missing from the store (after any ingest) are named; `strict` refuses to run then.
    `fresh`: delete a stored study made for another spec or data instead of failing;
    `retry_failed`: how often over all reruns a failed trial is run again.
    """
    import ray

    t0 = time.perf_counter()
    store = store or spec.data.store
    if not store:
        raise ConfigError(
            f"sweep {spec.name}: data.store: no store given (set it in the spec or pass --store)"
        )
    st = open_store(store, storage_options)
    feeds = feed_url or spec.data.feed_url
    if not feeds:  # nothing will fetch them: say so before anything starts
        _check_days(spec, st, echo, strict)
    url = (
        default_storage(spec, st, storage or "journal") if storage in (None, "sqlite", "journal") else storage
    )
    backend = open_storage(url)
    n = n_trials or spec.n_trials
    if spec.sampler.type == "grid":
        n = min(n, spec.grid_size())
    res = SweepResult(spec, url, st.uri("runs", spec.name))
    with contextlib.ExitStack() as stack:

        def ray_up() -> None:
            if not ray.is_initialized():
                echo(f"sweep {spec.name}: starting Ray ({'joining ' + address if address else 'local'})")
                stack.enter_context(sweep_ray(address, spec.resources))

        def actors() -> ActorPool:
            """Ray and the pool, started on first need (a finished sweep starts neither)."""
            nonlocal pool
            ray_up()
            if pool is None:
                pool = ActorPool(spec.resources)
                stack.callback(pool.close)
                echo(
                    f"sweep {spec.name}: {len(pool.actors)} actor(s) starting; each compiles the engine's "
                    "kernels on its first trial (one-time, cached on disk) and warms its tick cache"
                )
            return pool

        if feeds:
            ray_up()  # not the pool yet: its actors would hold the CPUs the ingest tasks need
            _ensure_data(spec, store, storage_options, feed_url, address, echo)
            _check_days(spec, st, echo, strict)
        fingerprint, _days = data_fingerprint(st, spec.data.symbol, spec.data.start, spec.data.end)
        binding = spec_binding(spec, st, fingerprint)
        rows = trial_rows(st, spec, echo)  # the rows as they stand, to reconcile with each study

        def open_bound(name: str, fold: int | None = None, start=spec.data.start, end=spec.data.end):
            def adopt(study) -> None:
                got = adopt_written(study, spec, rows.window(fold))
                if got:
                    echo(
                        f"sweep {name}: {len(got)} trial(s) had written their results when the driver "
                        f"stopped: recorded from their rows, not run again ({', '.join(map(str, got))})"
                    )
                res.adopted += got

            study, interrupted, retried = prepare_study(
                spec,
                backend,
                name,
                binding,
                n,
                fresh=fresh,
                retry_limit=retry_failed,
                where=url,
                echo=echo,
                adopt=adopt,
            )
            res.interrupted += interrupted
            res.retried += retried
            rebuilt, missing = repair_rows(
                spec,
                st,
                study,
                rows,
                fold=fold,
                start=start,
                end=end,
                pool=actors,
                storage_options=storage_options,
                stats=res.stats,
                echo=echo,
            )
            res.repaired += rebuilt
            res.rows_missing += missing
            return study

        if spec.walk_forward is None:
            study = open_bound(spec.name)
            if is_done(study, n):
                w = WindowResult(study.study_name, study, counted(study), 0.0, best_trials(study, spec), n)
                echo(
                    f"sweep {spec.name}: already complete ({n} trials): nothing to run "
                    "(--n-trials N adds trials)"
                )
            else:
                w = optimise(
                    study,
                    spec,
                    actors(),
                    start=spec.data.start,
                    end=spec.data.end,
                    store=st.url,
                    storage_options=storage_options,
                    n_trials=n,
                    tags={"phase": "train"},
                    stats=res.stats,
                    progress=progress,
                    desc=spec.name,
                    callback=callback,
                )
            res.windows.append((None, w))
        else:
            _walk_forward(
                spec, st, open_bound, actors, n, storage_options, progress, res, callback, echo, rows
            )
        studies = [(f, w.study) for f, w in res.windows]
        with phases(enabled=progress) as tell:
            if spec.artifacts_top_k != "all":
                tell(f"sweep {spec.name}: kept trials' trades and equity")
            # while the pool is up: its actors hold most kept runs (a pool never started holds none)
            res.artifacts = keep_artifacts(spec, st, studies, pool)
    with phases(enabled=progress) as tell:
        tell(f"sweep {spec.name}: leaderboard and selection statistics")
        runs = st.uri("runs")
        res.leaderboard = leaderboard_rows(spec, runs, studies, spec.top, storage_options=storage_options)
        res.selection = _selection(spec, runs, storage_options, res)
    res.seconds = time.perf_counter() - t0
    res.summary_path = _write_summary(st, spec, res)
    return res


def _walk_forward(
    spec, st: Store, open_bound, actors, n, storage_options, progress, res: SweepResult, callback, echo, rows
) -> None:
    """Fold by fold: optimise on the train window, run the winner on the test window. A fold whose
    study is done and whose test row an earlier run wrote is read back: a finished walk-forward
    sweep starts neither Ray nor the actors (`actors()` starts them on first need); a fold whose
    out-of-sample rows were lost (a part unreadable or gone, `rows`) is tested again."""
    days = trading_days(st, spec.data.symbol, spec.data.start, spec.data.end)
    folds = make_folds(days, spec.walk_forward, where=f"sweep {spec.name}")
    prior = read_walkforward(st, spec)
    changed = False
    for fold in folds:
        study = open_bound(f"{spec.name}.fold{fold.index}", fold.index, fold.train_start, fold.train_end)
        if is_done(study, n):
            w = WindowResult(study.study_name, study, counted(study), 0.0, best_trials(study, spec), n)
        else:
            w = optimise(
                study,
                spec,
                actors(),
                start=fold.train_start,
                end=fold.train_end,
                store=st.url,
                storage_options=storage_options,
                n_trials=n,
                tags={"fold": fold.index, "phase": "train"},
                stats=res.stats,
                progress=progress,
                desc=f"{spec.name} fold {fold.index} train {fold.train_start}..{fold.train_end}",
                callback=callback,
            )
        res.windows.append((fold.index, w))
        best = w.best[0] if w.best else None
        trials = sum(w.counts[k] for k in ("complete", "pruned", "failed"))
        old = prior.get(fold.index)
        m = spec.walk_forward.oos_candidates
        checks = [t.number for t in _oos_candidates(spec, w.study, best, m)] if best else []
        if reusable_row(old, fold, best) and rows.test_rows_whole(fold.index, best.number, checks):
            row = {**old, "trials": trials}
            changed |= old.get("trials") != trials  # more trials, the same winner
        else:
            outcome: TrialOutcome | None = None
            params = {**spec.strategy.params, **(best.params if best else {})}
            if best is not None:
                outcome = _test_window(spec, st, fold, w.study, best, actors(), storage_options, res)
                rows.set_aside_tests(fold.index, echo)
            row = fold_row(spec, fold, trials, best, outcome, params)
            changed = True
        res.walkforward.append(row)
        if changed:
            res.walkforward_path = write_walkforward(st, spec, res.walkforward)
    if not changed:
        res.walkforward_path = st.uri("runs", spec.name, WALKFORWARD_FILE)
        echo(
            f"sweep {spec.name}: all {len(folds)} folds already complete ({n} trials each, test runs "
            "stored): nothing to run (--n-trials N adds trials)"
        )
    res.aggregate = aggregate(res.walkforward)


def _oos_candidates(spec, study, best, m: int) -> list:
    """The `m` best complete train trials after `best` by the first objective (ties: trial number)."""
    if m <= 0:
        return []
    sign = -1.0 if spec.objectives[0].direction == "maximize" else 1.0
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.number != best.number and t.values
    ]
    done.sort(key=lambda t: (sign * t.values[0], t.number))
    return done[:m]


def _test_window(spec, st: Store, fold, study, best, pool, storage_options, res: SweepResult):
    """The fold's winner on its test window (phase test: the out-of-sample result), and in the same
    batched pass its next best train trials (phase oos_check, result rows only: never the selected
    result, only for the in- vs out-of-sample rank correlation)."""
    where = f"{spec.name} fold {fold.index}"

    def task(trial, phase: str) -> TrialTask:
        cfg = spec.run_config(trial.params, fold.test_start, fold.test_end, st.url)
        tags = {"sweep": spec.name, "trial": trial.number, "fold": fold.index, "phase": phase}
        return TrialTask(
            trial.number, cfg.model_dump(mode="json"), tags, where=f"{where} {phase} trial {trial.number}"
        )

    so = storage_options or {}
    reqs = [BatchRequest([task(best, "test")], storage_options=so)]
    checks = [
        task(t, "oos_check") for t in _oos_candidates(spec, study, best, spec.walk_forward.oos_candidates)
    ]
    b = spec.resources.batch
    reqs += [
        BatchRequest(checks[i : i + b], storage_options=so, folders=False) for i in range(0, len(checks), b)
    ]
    out = run_requests(pool, reqs, res.stats, max_retries=spec.resources.max_retries)
    return out[best.number]


_TRIED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _selection(spec: SweepSpec, runs: str, storage_options, res: SweepResult) -> dict[str, Any]:
    """Selection statistics of the sweep's windows from its parts; the study names the selected best
    and counts the trials tried (complete, pruned, failed)."""
    from hft.reduce.scan import scan_runs
    from hft.reduce.selection import selection

    best = {
        (spec.name, "train", f): {
            "trial": w.best[0].number if w.best else None,
            # every trial that ran to an end counts (a failure retried later was still tried)
            "n_tried": sum(1 for t in w.study.get_trials(deepcopy=False) if t.state in _TRIED),
        }
        for f, w in res.windows
    }
    scan = scan_runs(runs, storage_options, groups=[spec.name])
    return selection(scan, n_splits=spec.pbo_splits, best=best).for_group(spec.name)


def _write_summary(st: Store, spec: SweepSpec, res: SweepResult) -> str:
    doc = {
        "sweep": spec.name,
        "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
        "storage": res.storage,
        "studies": [
            {
                "name": w.name,
                "fold": f,
                "counts": w.counts,
                "seconds": round(w.seconds, 3),
                "best": [{"trial": t.number, "values": list(t.values), "params": t.params} for t in w.best],
            }
            for f, w in res.windows
        ],
        "walkforward": {"file": res.walkforward_path, "aggregate": res.aggregate}
        if res.walkforward
        else None,
        "trials": st.uri("runs", spec.name, "trials"),
        "selection": res.selection,
        "artifacts": res.artifacts or {"top_k": "all", "kept": "every trial (run folders)"},
        "interrupted_trials_rerun": res.interrupted,
        "written_trials_recorded": res.adopted,
        "lost_rows_rebuilt": res.repaired,
        "rows_still_missing": res.rows_missing,
        "spec": spec.model_dump(mode="json"),
    }
    st.write_bytes(yaml_bytes(doc), "runs", spec.name, SUMMARY_FILE)
    return st.uri("runs", spec.name, SUMMARY_FILE)


def config_files(paths: list[Path]) -> list[Path]:
    """Files as given; folders expand to their *.yaml / *.yml files, sorted."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ConfigError(f"{p}: folder holds no *.yaml run configs")
            out += found
        else:
            out.append(p)
    return out


def run_configs(
    paths: list[Path],
    *,
    store: str | None = None,
    address: str | None = None,
    storage_options: dict[str, Any] | None = None,
    resources: Resources | None = None,
    name: str = "configs",
    progress: bool = True,
    pool: ActorPool | None = None,
) -> list[tuple[Path, TrialOutcome]]:
    """Plain run configs (no search) across the actor pool; same-data configs share actors' caches."""
    import ray

    resources = resources or Resources()
    files = config_files(paths)
    groups: dict[tuple, list[TrialTask]] = {}
    for i, path in enumerate(files):
        cfg = load_config(path)
        if store:
            cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"store": store})})
        if not cfg.data.store:
            raise ConfigError(f"{path}: data.store: no store given (set it in the config or pass --store)")
        d = cfg.data
        task = TrialTask(i, cfg.model_dump(mode="json"), {"sweep": name, "phase": "run"}, where=str(path))
        groups.setdefault((cfg.strategy.name, d.store, d.symbol, d.start, d.end), []).append(task)
    reqs = [
        BatchRequest(tasks[j : j + resources.batch], storage_options=storage_options or {})
        for tasks in groups.values()
        for j in range(0, len(tasks), resources.batch)
    ]
    ctx = contextlib.nullcontext() if ray.is_initialized() else sweep_ray(address, resources)
    with ctx:
        own = pool is None
        pool = pool or ActorPool(resources, size=max(1, min(pool_size(resources), len(reqs))))
        try:
            out = run_requests(pool, reqs, max_retries=resources.max_retries, progress=progress, desc=name)
        finally:
            if own:
                pool.close()
    return [(files[k], out[k]) for k in sorted(out)]
