"""The driver's ask/tell loop: trials asked from Optuna, batched to idle actors, results told back.

The driver is the only process touching the study. Each idle actor gets up to `resources.batch`
freshly asked trials, and without a pruner a second batch queued behind the first (Ray runs an
actor's calls in order), so the actor starts it the moment the first ends instead of waiting for the
driver to tell, ask and write; with a pruner the batch is stepped one UTC day at a time and the
driver reports each trial's intermediate objective, pruning as Optuna decides. An actor whose
process dies is replaced and its trials re-sent (up to `resources.max_retries`, then failed with the
reason); a trial whose engine or parameters raise is told FAIL with the message in user attribute
`error`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from hft.errors import SweepError
from hft.sweep.journal import batched
from hft.sweep.labels import label_study, metric_attrs, set_user_attrs
from hft.sweep.pool import ActorPool
from hft.sweep.retain import RetainPolicy
from hft.sweep.spec import SweepSpec
from hft.sweep.study import counted, grid_open
from hft.sweep.worker import BatchRequest, StepReport, TrialOutcome, TrialTask

__all__ = ["SweepStats", "WindowResult", "best_trials", "objective_values", "optimise", "run_requests"]


@dataclass
class SweepStats:
    """Where the wall time went, driver side and actor side (seconds)."""

    ask_s: float = 0.0  # sampler + storage (creating the trial)
    tell_s: float = 0.0  # storage: tell, user attributes, intermediate reports, pruning checks
    roundtrip_s: float = 0.0  # from sending a call to its result, summed over calls
    busy_s: float = 0.0  # inside actors
    engine_s: float = 0.0
    read_s: float = 0.0
    write_s: float = 0.0
    calls: int = 0
    trials: int = 0
    ticks: int = 0  # ticks fed to completed trials
    fed_ticks: int = 0  # all ticks fed to the engine, pruned and failed trials included
    actor_deaths: int = 0

    @property
    def ray_s(self) -> float:
        """Ray's share: call round trips not spent inside the actor (serialisation, scheduling)."""
        return max(0.0, self.roundtrip_s - self.busy_s)

    def add(self, rep: StepReport, roundtrip: float) -> None:
        self.calls += 1
        self.roundtrip_s += roundtrip
        self.busy_s += rep.busy_s
        self.read_s += rep.read_s
        self.fed_ticks += rep.fed_ticks
        for o in rep.outcomes:
            self.engine_s += o.engine_s
            self.write_s += o.write_s
            if o.status == "complete":
                self.trials += 1
                self.ticks += o.ticks


@dataclass
class WindowResult:
    name: str
    study: optuna.Study
    counts: dict[str, int]
    seconds: float
    best: list[optuna.trial.FrozenTrial] = field(default_factory=list)
    n_trials: int = 0  # asked for: complete + pruned trials the study should reach


@dataclass(eq=False)
class _Job:
    req: BatchRequest
    trials: dict[int, Any]  # key -> optuna.Trial (empty for plain configs)
    attempts: int = 0
    actor: Any = None
    sent: float = 0.0
    stepwise: bool = False
    behind: bool = False  # queued behind another call of its actor, not started yet


class Dispatch(Protocol):
    """How the driver talks to a pool: idle actors, calls in flight, results as they finish.

    `ActorPool.dispatch` gives the Ray one (`_Dispatch`); bench/driver.py plugs in an in-process pool
    that answers instantly, so only the driver is measured.
    """

    idle: deque
    inflight: dict
    starting: dict

    def behind(self) -> int: ...
    def send(self, job: _Job) -> None: ...
    def advance(self, job: _Job, prune: list[int]) -> None: ...
    def wait(self, block: bool = True) -> tuple[_Job, StepReport | None, str | None] | None: ...
    def release(self, job: _Job) -> None: ...


_START_TOGETHER_S = 10.0  # how long a new pool's first actors wait for the rest before work starts


class _Dispatch:
    """Ray actors: idle ones, calls in flight, and dead actors replaced.

    An actor is idle only once it has started (answered a ping): one that finds no room on the cluster
    (more actors than CPUs without an autoscaler, or a replacement whose CPUs went with a lost node)
    would hold any batch sent to it for ever, while the actors running could take it. If no actor
    runs and none starts within `Resources.start_timeout_s`, the sweep stops with an error naming
    what an actor needs.

    An actor running one whole batch (not stepped) can take a second, queued behind it: Ray runs an
    actor's calls in order, so the second starts the moment the first ends. When an actor dies, each
    of its calls fails on its own and comes back for a retry; it is replaced once, and a queued batch
    that never started is marked `behind` (its retry is not counted as an attempt).
    """

    def __init__(self, pool: ActorPool, stats: SweepStats) -> None:
        self.pool, self.stats = pool, stats
        self.idle = deque(a for a in pool.actors if a in pool.ready)
        self.inflight: dict[Any, _Job] = {}
        # ping ref -> an actor not known to have started
        self.starting: dict[Any, Any] = {a.pid.remote(): a for a in pool.actors if a not in pool.ready}
        self._failed_starts = 0
        self._jobs: dict[Any, list[_Job]] = {}  # live actor -> its jobs not released yet, in order sent
        self._dead: set[Any] = set()  # actors replaced: their other calls fail (or end) on their own
        if self.starting:  # a new pool: its actors start together, so the first batches spread over all
            import ray

            wait_s = min(_START_TOGETHER_S, pool.resources.start_timeout_s)
            ready, _ = ray.wait(list(self.starting), num_returns=len(self.starting), timeout=wait_s)
            for ref in ready:
                self._started(ref)

    def behind(self) -> int:
        """Actors that can take one more whole batch now, queued behind the one they run."""
        return sum(1 for jobs in self._jobs.values() if len(jobs) == 1 and not jobs[0].stepwise)

    def send(self, job: _Job) -> None:
        """Start a batch on an idle actor (`begin` when stepped, else `run`), else queue a whole
        batch behind one that an actor runs (see `behind`)."""
        if self.idle:
            job.actor, job.behind = self.idle.popleft(), False
        else:
            free = [a for a, jobs in self._jobs.items() if len(jobs) == 1 and not jobs[0].stepwise]
            if job.stepwise or not free:
                raise SweepError("dispatch: no actor can take this batch now (a driver bug)")
            job.actor, job.behind = free[0], True
        job.sent = time.perf_counter()
        self._jobs.setdefault(job.actor, []).append(job)
        ref = (job.actor.begin if job.stepwise else job.actor.run).remote(job.req)
        self.inflight[ref] = job

    def advance(self, job: _Job, prune: list[int]) -> None:
        job.sent = time.perf_counter()
        self.inflight[job.actor.advance.remote(prune)] = job

    def wait(self, block: bool = True) -> tuple[_Job, StepReport | None, str | None] | None:
        """The next finished call: (job, report, None), or (job, None, reason) when its actor died;
        None when no call has finished: `block` is false, or an actor started (it is idle now)."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        timeout = None if block else 0
        if block and not self.inflight:  # only actors starting to wait for: not for ever
            timeout = self.pool.resources.start_timeout_s
        ready, _ = ray.wait([*self.inflight, *self.starting], num_returns=1, timeout=timeout)
        if not ready:
            if block:
                self._none_started()
            return None
        if ready[0] in self.starting:
            self._started(ready[0])
            return None
        job = self.inflight.pop(ready[0])
        try:
            rep = ray.get(ready[0])
        except RayActorError as exc:
            dead, job.actor = job.actor, None
            if dead not in self._dead:  # its first call to fail: replace it, once
                self._dead.add(dead)
                self._jobs.pop(dead, None)
                self.stats.actor_deaths += 1
                self._replace(dead)
            return job, None, f"actor died: {str(exc).splitlines()[0][:300]}"
        except RayTaskError as exc:  # a bug, not bad input: fail the batch's trials, do not retry
            self._started_next(job)
            self.release(job)
            why = f"worker error: {exc.cause!r}" if exc.cause is not None else str(exc)[:500]
            keys = [t.key for t in job.req.tasks if not job.trials or t.key in job.trials]
            return (
                job,
                StepReport(done=True, outcomes=[TrialOutcome(k, "failed", error=why) for k in keys]),
                None,
            )
        self.stats.add(rep, time.perf_counter() - job.sent)
        if rep.done:
            self._started_next(job)
        return job, rep, None

    def _replace(self, dead) -> None:
        new = self.pool.replace(dead)
        self.starting[new.pid.remote()] = new

    def _started(self, ref) -> None:
        """An actor answered its ping (idle now), or died before it could (replaced)."""
        import ray
        from ray.exceptions import RayError

        actor = self.starting.pop(ref)
        try:
            ray.get(ref)
        except RayError as exc:  # it died, or could not be created (runtime env, import)
            self.stats.actor_deaths += 1
            self._failed_starts += 1
            if self._failed_starts > 3:  # e.g. a strategy module an actor cannot import
                raise SweepError(
                    f"sweep: {self._failed_starts} actors in a row died as they started: "
                    f"{str(exc).splitlines()[0][:300]}"
                ) from exc
            self._replace(actor)
            return
        self._failed_starts = 0
        self.pool.ready.add(actor)
        self.idle.append(actor)

    def _none_started(self) -> None:
        r = self.pool.resources
        need = f"{r.cpus_per_actor:g} CPU" + (f" and {r.memory_mb} MB" if r.memory_mb else "")
        raise SweepError(
            f"sweep: no actor is running and none of the {len(self.starting)} waited for has started in "
            f"{r.start_timeout_s:g} s: the cluster has no room for an actor ({need} each); add nodes "
            "(or lower resources.actors / cpus_per_actor), then rerun to resume"
        )

    def _started_next(self, job: _Job) -> None:
        """The batch queued behind `job` on its actor runs now (its round trip is timed from here)."""
        for other in self._jobs.get(job.actor, ()):
            if other.behind:
                other.behind, other.sent = False, time.perf_counter()
                break

    def release(self, job: _Job) -> None:
        """`job` is over: its actor takes the next batch (idle when nothing is queued behind)."""
        if job.actor is None or job.actor in self._dead:
            job.actor = None
            return
        jobs = self._jobs.get(job.actor, [])
        if job in jobs:
            jobs.remove(job)
        if not jobs:
            self._jobs.pop(job.actor, None)
            self.idle.append(job.actor)
        job.actor = None


def _tell(study: optuna.Study, trial, values=None, state: TrialState | None = None) -> None:
    """`study.tell` without the deep copy of the finished trial it returns (the driver drops it;
    with a trial's ~20 user attributes the copy was half the cost of a tell)."""
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:  # pragma: no cover - another Optuna
        study.tell(trial, values, state=state)
        return
    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state)


def _progress(desc: str, total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="trial", dynamic_ncols=True)


def optimise(
    study: optuna.Study,
    spec: SweepSpec,
    pool: ActorPool,
    *,
    start: date,
    end: date,
    store: str,
    storage_options: dict[str, Any] | None = None,
    n_trials: int,
    tags: dict[str, Any] | None = None,
    stats: SweepStats | None = None,
    progress: bool = True,
    desc: str = "sweep",
    callback: Callable[[SweepStats, ActorPool], None] | None = None,
) -> WindowResult:
    """Run the study on [start, end] until `n_trials` trials are complete or pruned.

    A failed trial is replaced by a new one, at most `n_trials` times per invocation (a grid never
    replaces a failed point); a rerun retries failed trials (see study.retry_failed).
    `callback(stats, pool)` runs in the driver after every actor call returns (progress hooks, tests).
    """
    t0 = time.perf_counter()
    stats = stats or SweepStats()
    c = counted(study)
    done = {"complete": c["complete"], "pruned": c["pruned"], "failed": 0}  # failed: this invocation
    remaining = n_trials - c["complete"] - c["pruned"]
    grid_left = grid_open(study)
    if grid_left is not None:
        remaining = min(remaining, grid_left)
    stepwise = spec.pruner.type != "none"
    objective = spec.objectives[0].metric
    sign = 1 if spec.objectives[0].direction == "maximize" else -1
    best: list[float] = []
    bar = _progress(desc, n_trials, sum(done.values()), progress)
    disp = pool.dispatch(stats)
    dists = spec.distributions()
    retry: deque[_Job] = deque()
    live_trials = 0
    replaced = 0
    ticks0, w0 = stats.ticks, time.perf_counter()

    def postfix() -> None:
        if bar is not None:
            el = max(time.perf_counter() - w0, 1e-9)
            bar.set_postfix(
                done=done["complete"],
                pruned=done["pruned"],
                failed=done["failed"],
                best="-" if not best else f"{best[0] * sign:.4g}",
                ticks_s=f"{(stats.ticks - ticks0) / el:,.0f}",
                refresh=False,
            )

    def finish(trial: optuna.Trial, state: str, values=None, error: str | None = None) -> None:
        nonlocal live_trials, remaining, replaced
        t = time.perf_counter()
        if state == "complete":
            _tell(study, trial, values)
            v = values[0] if isinstance(values, list) else values
            if not best or v * sign > best[0]:
                best[:] = [v * sign]
        elif state == "pruned":
            _tell(study, trial, state=TrialState.PRUNED)
        else:
            trial.set_user_attr("error", error or "failed")
            _tell(study, trial, state=TrialState.FAIL)
        stats.tell_s += time.perf_counter() - t
        done[state] += 1
        live_trials -= 1
        if state == "failed" and grid_left is None and replaced < n_trials:
            remaining += 1  # replaced by a new trial while the budget lasts
            replaced += 1
        if bar is not None:
            postfix()
            bar.update(0 if state == "failed" else 1)

    def told(job: _Job, out: TrialOutcome) -> None:
        trial = job.trials.pop(out.key)
        if out.status != "complete":
            finish(trial, "failed", error=out.error)
            return
        t = time.perf_counter()
        metrics = metric_attrs(out.metrics)  # one numeric attribute per metric (hft.sweep.labels)
        run = {"run_id": out.run_id, "folder": out.folder, "ticks": out.ticks}
        set_user_attrs(study, trial, {**metrics, "run": run})
        stats.tell_s += time.perf_counter() - t
        values, error = objective_values(spec, metrics, out.run_id)
        if error:
            finish(trial, "failed", error=error)
        else:
            finish(trial, "complete", values)

    def request(trials: list[optuna.Trial]) -> BatchRequest:
        tasks = []
        for tr in trials:
            cfg = spec.run_config(tr.params, start, end, store)
            tt = {**(tags or {}), "sweep": spec.name, "trial": tr.number}
            tasks.append(
                TrialTask(tr.number, cfg.model_dump(mode="json"), tt, where=f"{spec.name} trial {tr.number}")
            )
        return BatchRequest(
            tasks,
            objective=objective,
            stepwise=stepwise,
            storage_options=storage_options or {},
            folders=spec.artifacts_top_k == "all",
            retain=RetainPolicy.for_window(spec, store, (tags or {}).get("fold")),
        )

    def handle(job: _Job, rep: StepReport | None, died: str | None) -> None:
        if callback is not None:
            callback(stats, pool)
        if died is not None:
            job.attempts += 0 if job.behind else 1  # a batch queued behind never started
            if job.attempts > spec.resources.max_retries:
                for k_ in list(job.trials):
                    finish(job.trials.pop(k_), "failed", error=f"{died} (after {job.attempts} attempts)")
                return
            tasks = [t_ for t_ in job.req.tasks if t_.key in job.trials]
            job.req = replace(job.req, tasks=tasks)
            if job.trials:
                retry.append(job)
            return
        for out in rep.outcomes:
            told(job, out)
        if not job.stepwise or rep.done:
            for k_ in list(job.trials):  # a stepwise batch ends with every trial told
                finish(job.trials.pop(k_), "failed", error="actor returned no result")
            disp.release(job)
            return
        prune = []
        t = time.perf_counter()
        for key, value in rep.values.items():
            trial = job.trials.get(key)
            if trial is None:
                continue
            trial.report(value, rep.step)
            if trial.should_prune():
                prune.append(key)
        stats.tell_s += time.perf_counter() - t
        for key in prune:
            finish(job.trials.pop(key), "pruned")
        disp.advance(job, prune)

    with batched(study):
        label_study(study, spec, start=start, end=end, store=store, phase=str((tags or {}).get("phase", "")))

    def fill(slots: int) -> list[_Job]:
        """Up to `slots` batches: retries first, then freshly asked trials, the rest shared evenly."""
        nonlocal remaining, live_trials
        jobs: list[_Job] = []
        while slots and (retry or remaining > 0):
            slots -= 1
            if retry:
                jobs.append(retry.popleft())
                continue
            share = math.ceil(remaining / (slots + 1))
            k = max(1, min(spec.resources.batch, remaining, share))
            t = time.perf_counter()
            try:
                trials = [study.ask(dists) for _ in range(k)]
            except Exception as exc:  # leaves a RUNNING trial, recovered on the next run
                raise SweepError(
                    f"study {study.study_name}: the sampler could not propose a trial: "
                    f"{str(exc).splitlines()[0][:300]} (rerun to resume)"
                ) from exc
            stats.ask_s += time.perf_counter() - t
            remaining -= k
            live_trials += k
            jobs.append(_Job(request(trials), {tr.number: tr for tr in trials}, stepwise=stepwise))
        return jobs

    got = None
    try:
        while True:
            # Results that are in, then new trials for every idle actor: one storage write (journal).
            # Batches are sent once that write is done, so no actor writes rows of a trial the
            # storage does not know yet (a driver killed in between would give its number again).
            with batched(study):
                while got is not None:
                    handle(*got)
                    got = disp.wait(block=False) if disp.inflight else None
                ready = fill(len(disp.idle))
                if not ready:  # every actor busy: their next batches ride on this write
                    ready = fill(disp.behind())
            for job in ready:
                disp.send(job)
            if disp.behind() and (retry or remaining > 0):
                # actors just started: queue their next batch now (its own write, while they run)
                with batched(study):
                    ready = fill(disp.behind())
                for job in ready:
                    disp.send(job)
            if not disp.inflight and not (disp.starting and (retry or remaining > 0)):
                break
            got = disp.wait()
    finally:
        if bar is not None:
            postfix()
            bar.close()
    front = best_trials(study, spec)
    return WindowResult(study.study_name, study, counted(study), time.perf_counter() - t0, front, n_trials)


def objective_values(spec: SweepSpec, metrics: dict[str, Any], run_id: str | None):
    """(what to tell the study, None), or (None, why the trial failed) when an objective is undefined."""
    values = [metrics.get(o.metric) for o in spec.objectives]
    bad = [
        o.metric for o, v in zip(spec.objectives, values, strict=True) if v is None or not math.isfinite(v)
    ]
    if bad:
        return None, f"objective {', '.join(bad)} is undefined for this run ({run_id})"
    return (values if spec.multi else values[0]), None


def best_trials(study: optuna.Study, spec: SweepSpec) -> list[optuna.trial.FrozenTrial]:
    """Single objective: the best trial; several: the Pareto front, best first objective first."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return []
    if not spec.multi:
        return [study.best_trial]
    sign = -1 if spec.objectives[0].direction == "maximize" else 1
    return sorted(study.best_trials, key=lambda t: sign * t.values[0])


def run_requests(
    pool: ActorPool,
    requests: list[BatchRequest],
    stats: SweepStats | None = None,
    *,
    max_retries: int = 1,
    progress: bool = False,
    desc: str = "runs",
) -> dict[int, TrialOutcome]:
    """Run plain batches (no study) across the pool; outcomes by task key."""
    stats = stats or SweepStats()
    disp = pool.dispatch(stats)
    todo = deque(_Job(r, {}) for r in requests)
    out: dict[int, TrialOutcome] = {}
    total = sum(len(r.tasks) for r in requests)
    bar = _progress(desc, total, 0, progress)
    try:
        while todo or disp.inflight:
            while disp.idle and todo:
                disp.send(todo.popleft())
            got = disp.wait()
            if got is None:  # an actor started: it takes the next batch
                continue
            job, rep, died = got
            if died is not None or rep is None:
                job.attempts += 1
                if died is not None and job.attempts <= max_retries:
                    todo.append(job)
                    continue
                for t in job.req.tasks:
                    out[t.key] = TrialOutcome(t.key, "failed", error=died or "no result")
                    if bar is not None:
                        bar.update(1)
                continue
            disp.release(job)
            for o in rep.outcomes:
                out[o.key] = o
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out
