"""Optuna studies for a sweep: storage, sampler, pruner, and resuming after the driver was killed.

Only the driver touches the study (ask/tell), so one SQLite file serves even on a cluster. Default
storage: `sqlite:///{store}/runs/{sweep}/optuna.db` for a local store, `./runs/{sweep}/optuna.db` for a
remote one. `--storage` takes any Optuna RDB URL, `journal:PATH` (or a `*.log` path) for a
JournalStorage file, or the words `sqlite` / `journal` for the default file of that kind. Journal
storage costs the driver ~3 ms per trial against ~15-20 ms for SQLite (see bench/sweep.py), which
decides whether two actors scale on a 2-core machine.

Resuming: trials left RUNNING by a killed driver are marked FAIL, listed in the study user attribute
`interrupted`, and their parameters enqueued once more (user attribute `retry_of`). A trial counts
toward `n_trials` when it is COMPLETE, PRUNED, or FAIL for a reason of its own (user attribute `error`),
so the final count equals `n_trials` however often the driver was stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hft.errors import SweepError
from hft.store.fs import Store
from hft.sweep.spec import SweepSpec

__all__ = [
    "default_storage",
    "open_storage",
    "make_sampler",
    "make_pruner",
    "open_study",
    "recover_interrupted",
    "counted",
]


def default_storage(spec: SweepSpec, st: Store, kind: str = "sqlite") -> str:
    """`sqlite` (default: optuna.db) or `journal` (optuna.journal) in the sweep's local runs folder."""
    folder = Path(st.path("runs", spec.name)) if st.is_local else Path("runs", spec.name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "journal":
        return f"journal:{folder / 'optuna.journal'}"
    return f"sqlite:///{folder / 'optuna.db'}"


def open_storage(url: str):
    """An Optuna storage for `url`: RDB URL, `journal:PATH` or a `.log` journal file."""
    if url.startswith("journal:") or url.endswith((".log", ".journal")):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise SweepError(
            f"--storage {url!r}: expected an Optuna RDB URL (sqlite:///path.db, postgresql://...) "
            "or journal:PATH"
        )
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except Exception as exc:
        raise SweepError(f"--storage {url!r}: cannot open: {exc}") from exc
    if url.startswith("sqlite"):
        _fast_sqlite(storage)
    return storage


def _engine_kwargs(url: str) -> dict[str, Any]:
    return {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}


def _fast_sqlite(storage) -> None:
    """WAL journal, fsync at checkpoints only: several times faster tells, still crash-consistent."""
    from sqlalchemy import event

    engine = storage.engine

    @event.listens_for(engine, "connect")
    def _pragmas(conn, _record):  # pragma: no cover - run by SQLAlchemy
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    engine.dispose()  # later connections run the pragmas


class _AskTellGrid(optuna.samplers.GridSampler):
    """GridSampler without its `study.stop()` on the last point, which raises outside `optimize`.

    The driver caps n_trials at the grid size instead.
    """

    def after_trial(self, study, trial, state, values) -> None:
        return None


def make_sampler(spec: SweepSpec):
    s = spec.sampler
    if s.type == "grid":
        return _AskTellGrid({k: p.grid() for k, p in spec.space.items()}, seed=s.seed)
    if s.type == "random":
        return optuna.samplers.RandomSampler(seed=s.seed)
    if s.type == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=s.population_size, seed=s.seed)
    return optuna.samplers.TPESampler(
        n_startup_trials=s.n_startup_trials, seed=s.seed, constant_liar=True, multivariate=True
    )


def make_pruner(spec: SweepSpec):
    p = spec.pruner
    if p.type == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps
        )
    if p.type == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p.min_resource, reduction_factor=p.reduction_factor
        )
    if p.type == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=p.min_resource, reduction_factor=p.reduction_factor
        )
    return optuna.pruners.NopPruner()


def open_study(spec: SweepSpec, storage, name: str) -> optuna.Study:
    """Create or load `name`; a loaded study must have the spec's directions."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [o.direction for o in spec.objectives]
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        directions=directions,
        load_if_exists=True,
    )
    have = [d.name.lower() for d in study.directions]
    if have != directions:
        raise SweepError(
            f"study {name!r} exists with directions {have}, the spec asks {directions}: "
            "rename the sweep or use another --storage"
        )
    return study


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Fail trials a killed driver left RUNNING and enqueue each once more; returns their numbers."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not stale:
        return []
    done = list(study.user_attrs.get("interrupted", []))
    numbers = []
    for t in stale:
        done.append(t.number)
        study.set_user_attr("interrupted", done)  # before the FAIL: a kill here loses nothing
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        numbers.append(t.number)
    return numbers


def counted(study: optuna.Study) -> dict[str, int]:
    """Trials toward n_trials by state, and those waiting (enqueued retries)."""
    interrupted = set(study.user_attrs.get("interrupted", []))
    out = {"complete": 0, "pruned": 0, "failed": 0, "waiting": 0, "running": 0}
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE:
            out["complete"] += 1
        elif t.state == TrialState.PRUNED:
            out["pruned"] += 1
        elif t.state == TrialState.FAIL and t.number not in interrupted:
            out["failed"] += 1
        elif t.state == TrialState.WAITING:
            out["waiting"] += 1
        elif t.state == TrialState.RUNNING:
            out["running"] += 1
    return out
