"""Optuna studies for a sweep: storage, sampler, pruner, binding to the spec, resuming and retrying.

Only the driver touches the study (ask/tell), so one file serves even on a cluster. Default storage
(`hft sweep`): the journal `{store}/runs/{sweep}/optuna.journal` for a local store, its writes grouped
per round (hft.sweep.journal); `--storage sqlite` gives `optuna.db`. For a remote (`s3://`) store a
per-user folder keyed by the store URL, `$HFT_STATE_DIR` (default `$XDG_STATE_HOME/hft`, else
`~/.local/state/hft`) `/studies/{store-slug}-{hash}/{sweep}/`, never the current folder. `--storage`
takes any Optuna RDB URL, `journal:PATH` (or a `*.log` path) for a JournalStorage file, or the words
`sqlite` / `journal` for the default file of that kind. Journal storage costs the driver ~3 ms per
trial against ~15-20 ms for SQLite (see bench/sweep.py), which decides whether two actors scale on a
2-core machine.

Binding: a study records in its user attribute `binding` a hash of what its results depend on (space,
dates, strategy and fixed parameters, execution, objectives, walk-forward, store URL, tick data
fingerprint). Reopening it for a spec or data that hash differently is an error naming the parts that
differ, unless `fresh` (the old study is deleted and a new one started). A study with no completed or
pruned trial holds no results: when only its tick data differ (data added or repaired), it is rebound.

Resuming: trials left RUNNING by a killed driver are marked FAIL, listed in the study user attribute
`interrupted`, and their parameters enqueued once more (user attribute `retry_of`); a trial killed
inside `ask()` before it had parameters is re-enqueued at its grid point (grid) or simply replaced by a
fresh one. Only COMPLETE and PRUNED trials count toward `n_trials`. A FAIL trial (user attribute
`error`) is re-run on a later invocation, at most `retry_failed` times (user attribute `failed_retry`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hft.errors import SweepError
from hft.store.fs import Store
from hft.store.state import state_dir, studies_dir
from hft.sweep.spec import SweepSpec

__all__ = [
    "default_storage",
    "state_dir",
    "open_storage",
    "make_sampler",
    "make_pruner",
    "spec_binding",
    "open_study",
    "recover_interrupted",
    "retry_failed",
    "counted",
    "failure_reasons",
    "grid_open",
    "prepare_study",
    "is_done",
]

#: The spec parts a study's results depend on (sampler, pruner, n_trials, resources and top do not).
BOUND = ("space", "data", "strategy", "execution", "objectives", "walk_forward", "store", "ticks")


def default_storage(spec: SweepSpec, st: Store, kind: str = "sqlite") -> str:
    """`sqlite` (optuna.db) or `journal` (optuna.journal): beside the runs for a local store, else in
    the per-user state folder keyed by the store URL (see `state_dir`)."""
    folder = Path(st.path("runs", spec.name)) if st.is_local else studies_dir(st.uri()) / spec.name
    _writable(folder, "the default Optuna storage")
    if kind == "journal":
        return f"journal:{folder / 'optuna.journal'}"
    return f"sqlite:///{folder / 'optuna.db'}"


def _writable(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(
            f"{what}: cannot create folder {folder}: {exc.strerror or exc}; pass --storage elsewhere"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SweepError(f"{what}: folder {folder} is not writable; pass --storage elsewhere")


def open_storage(url: str):
    """An Optuna storage for `url`: RDB URL, `journal:PATH` or a `.log` journal file."""
    if url.startswith("journal:") or url.endswith((".log", ".journal")):
        from hft.sweep.journal import SweepJournalStorage

        path = Path(url.removeprefix("journal:")).expanduser()
        _writable(path.parent, f"--storage {url}")
        try:
            return SweepJournalStorage(str(path))
        except OSError as exc:
            raise SweepError(
                f"--storage {url}: cannot open journal file {path}: {exc.strerror or exc}"
            ) from None
    if "://" not in url:
        raise SweepError(
            f"--storage {url!r}: expected an Optuna RDB URL (sqlite:///path.db, postgresql://...) "
            "or journal:PATH"
        )
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except Exception as exc:
        why = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
        raise SweepError(f"--storage {url!r}: cannot open: {why}") from None
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

    def params_of(self, grid_id: int) -> dict[str, Any]:
        """The parameters of grid point `grid_id` (a trial killed in `ask()` has the id, not the values)."""
        return dict(zip(self._param_names, self._all_grids[grid_id], strict=True))

    def grid_id_of(self, params: dict[str, Any]) -> int | None:
        want = tuple(params.get(k) for k in self._param_names)
        for i, g in enumerate(self._all_grids):
            if tuple(g) == want:
                return i
        return None


def make_sampler(spec: SweepSpec):
    s = spec.sampler
    if s.type == "grid":
        return _AskTellGrid({k: p.grid() for k, p in spec.space.items()}, seed=s.seed)
    if s.type == "random":
        return optuna.samplers.RandomSampler(seed=s.seed)
    if s.type == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=s.population_size, seed=s.seed)
    from hft.sweep.tpe import RefitTPESampler

    return RefitTPESampler(
        search_space=spec.distributions(),
        n_startup_trials=s.n_startup_trials,
        seed=s.seed,
        constant_liar=True,
        multivariate=True,
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


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def spec_binding(spec: SweepSpec, st: Store, fingerprint: str) -> dict[str, Any]:
    """What a study's results depend on, hashed part by part (see BOUND), plus one overall hash."""
    d = spec.model_dump(mode="json")
    parts = {
        "space": d["space"],
        "data": {k: d["data"][k] for k in ("symbol", "start", "end")},
        "strategy": d["strategy"],
        "execution": d["execution"],
        "objectives": d["objectives"],
        # oos_candidates only adds checks on the test windows: the studies do not depend on it
        "walk_forward": d["walk_forward"]
        and {k: v for k, v in d["walk_forward"].items() if k != "oos_candidates"},
        "store": st.uri(),
        "ticks": fingerprint,
    }
    digests = {k: _digest(parts[k]) for k in BOUND}
    return {"hash": _digest(digests), "parts": digests}


_WHAT = {
    "space": "search space",
    "data": "symbol or dates",
    "strategy": "strategy or fixed parameters",
    "execution": "execution settings",
    "objectives": "objectives",
    "walk_forward": "walk_forward",
    "store": "store URL",
    "ticks": "tick data in the store",
}


def _create(spec: SweepSpec, storage, name: str) -> optuna.Study:
    return optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        directions=[o.direction for o in spec.objectives],
        load_if_exists=True,
    )


def open_study(
    spec: SweepSpec,
    storage,
    name: str,
    binding: dict[str, Any] | None = None,
    *,
    fresh: bool = False,
    where: str = "",
    echo=print,
) -> optuna.Study:
    """Create or load `name`; a loaded study must have the spec's directions and `binding`.

    `fresh`: a study made for another spec or data is deleted and started again (a matching one is
    resumed, so a killed `--fresh` run continues when rerun).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [o.direction for o in spec.objectives]
    study = _create(spec, storage, name)
    have = [d.name.lower() for d in study.directions]
    differ: list[str] = []
    if have != directions:
        differ = ["objectives"]
    elif binding is not None:
        old = study.user_attrs.get("binding")
        trials = study.get_trials(deepcopy=False)
        if old is None and not trials:
            study.set_user_attr("binding", binding)
            return study
        if old is not None and old.get("hash") == binding["hash"]:
            return study
        if old is None:
            differ = ["(a study made before studies were bound to their spec)"]
        else:
            differ = [k for k in BOUND if old["parts"].get(k) != binding["parts"][k]]
        results = any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        if differ == ["ticks"] and not results:
            study.set_user_attr("binding", binding)
            echo(f"study {name}: no trial had completed on the old tick data; now bound to the current data")
            return study
    if not differ:
        return study
    what = ", ".join(_WHAT.get(k, k) for k in differ)
    if not fresh:
        raise SweepError(
            f"study {name!r} in {where or 'the storage'} was made for another sweep (differs: {what}); "
            "rerun with --fresh to delete it and start again, or rename the sweep"
        )
    optuna.delete_study(study_name=name, storage=storage)
    echo(f"study {name}: deleted (it was made for another sweep, differs: {what}); starting again")
    study = _create(spec, storage, name)
    if binding is not None:
        study.set_user_attr("binding", binding)
    return study


def _full(params: dict[str, Any], keys: set[str]) -> bool:
    return set(params) == keys


def recover_interrupted(study: optuna.Study, keys: set[str]) -> list[int]:
    """Fail trials a killed driver left RUNNING and enqueue each once more; returns their numbers.

    A trial killed inside `ask()` may have no (or only some) parameters: on a grid it is re-enqueued
    at its grid point, otherwise the sampler simply asks a fresh trial in its place.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    grid = study.sampler if isinstance(study.sampler, _AskTellGrid) else None
    if not stale:
        if grid is not None:
            _grid_repair(study, grid)
        return []
    done = list(study.user_attrs.get("interrupted", []))
    numbers = []
    for t in stale:
        params: dict[str, Any] | None = dict(t.params)
        if not _full(params, keys):
            gid = t.system_attrs.get("grid_id")
            params = grid.params_of(gid) if grid is not None and gid is not None else None
        if t.number not in done:
            done.append(t.number)
            study.set_user_attr("interrupted", done)  # before the FAIL: a kill here loses nothing
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        if params is not None:
            attrs = {"retry_of": t.number, "failed_retry": t.user_attrs.get("failed_retry", 0)}
            study.enqueue_trial(params, user_attrs=attrs)
        numbers.append(t.number)
    if grid is not None:
        _grid_repair(study, grid)
    return numbers


def _grid_ids(study: optuna.Study, grid: _AskTellGrid, trials) -> tuple[set[int], set[int]]:
    """Grid points that need no new trial (finished for a reason of their own, running or waiting),
    and those whose only trials were interrupted."""
    interrupted = set(study.user_attrs.get("interrupted", []))
    covered, lost = set(), set()
    for t in trials:
        gid = t.system_attrs.get("grid_id")
        if gid is None:  # enqueued trials carry their point as parameters, not as a grid id
            gid = grid.grid_id_of(t.params or t.system_attrs.get("fixed_params", {}))
        if gid is None:
            continue
        (lost if t.state == TrialState.FAIL and t.number in interrupted else covered).add(gid)
    return covered, lost - covered


def _grid_repair(study: optuna.Study, grid: _AskTellGrid) -> None:
    """Enqueue grid points whose interrupted trial was failed but not re-enqueued (a kill in between)."""
    _covered, lost = _grid_ids(study, grid, study.get_trials(deepcopy=False))
    for gid in sorted(lost):
        study.enqueue_trial(grid.params_of(gid), user_attrs={"retry_of": -1})


def grid_open(study: optuna.Study) -> int | None:
    """Grid points still without a trial (None when the sampler is not a grid)."""
    grid = study.sampler if isinstance(study.sampler, _AskTellGrid) else None
    if grid is None:
        return None
    covered, _lost = _grid_ids(study, grid, study.get_trials(deepcopy=False))
    waiting = sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    return len(grid._all_grids) - len(covered) + waiting


def _superseded(trials) -> set[int]:
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def retry_failed(study: optuna.Study, keys: set[str], limit: int, budget: int) -> list[int]:
    """Enqueue failed trials again (each at most `limit` times over all reruns, at most `budget` now)."""
    if limit <= 0 or budget <= 0:
        return []
    trials = study.get_trials(deepcopy=False)
    skip = set(study.user_attrs.get("interrupted", [])) | _superseded(trials)
    out: list[int] = []
    for t in trials:
        if len(out) >= budget:
            break
        if t.state != TrialState.FAIL or t.number in skip or not _full(t.params, keys):
            continue
        n = int(t.user_attrs.get("failed_retry", 0))
        if n >= limit:
            continue
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "failed_retry": n + 1})
        out.append(t.number)
    return out


def _failed(study: optuna.Study, trials) -> list:
    """FAIL trials with a reason of their own that no later retry replaced."""
    skip = set(study.user_attrs.get("interrupted", [])) | _superseded(trials)
    return [t for t in trials if t.state == TrialState.FAIL and t.number not in skip]


def counted(study: optuna.Study) -> dict[str, int]:
    """Trials by state: complete and pruned count toward n_trials; failed = failures not since retried."""
    trials = study.get_trials(deepcopy=False)
    out = {"complete": 0, "pruned": 0, "failed": len(_failed(study, trials)), "waiting": 0, "running": 0}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            out["complete"] += 1
        elif t.state == TrialState.PRUNED:
            out["pruned"] += 1
        elif t.state == TrialState.WAITING:
            out["waiting"] += 1
        elif t.state == TrialState.RUNNING:
            out["running"] += 1
    return out


def failure_reasons(study: optuna.Study) -> list[tuple[int, str]]:
    """Distinct reasons of the study's failed trials (numbers ignored when grouping), most frequent first."""
    groups: Counter[str] = Counter()
    example: dict[str, str] = {}
    for t in _failed(study, study.get_trials(deepcopy=False)):
        why = str(t.user_attrs.get("error", "failed (no reason recorded)")).splitlines()[0][:300]
        key = re.sub(r"\d+(\.\d+)?", "#", why)
        groups[key] += 1
        example.setdefault(key, why)
    return [(n, example[k]) for k, n in groups.most_common()]


def prepare_study(
    spec: SweepSpec,
    storage,
    name: str,
    binding: dict[str, Any],
    n_trials: int,
    *,
    fresh: bool = False,
    retry_limit: int = 1,
    where: str = "",
    echo=print,
    adopt=None,
) -> tuple[optuna.Study, list[int], list[int]]:
    """Open the bound study, recover interrupted trials and enqueue failed ones still worth a retry.

    `adopt(study)` runs first: it may finish RUNNING trials whose results were written after all
    (hft.sweep.repair.adopt_written), so they are not recovered as interrupted.
    Returns (study, interrupted trial numbers, retried failed trial numbers).
    """
    study = open_study(spec, storage, name, binding, fresh=fresh, where=where, echo=echo)
    if adopt is not None:
        adopt(study)
    keys = set(spec.space)
    interrupted = recover_interrupted(study, keys)
    c = counted(study)
    need = n_trials - c["complete"] - c["pruned"] - c["waiting"]
    left = grid_open(study)
    if left is not None:  # a grid's failed points are covered: only retry those it still needs
        need = min(need, n_trials - c["complete"] - c["pruned"] - left)
    retried = retry_failed(study, keys, retry_limit, need)
    return study, interrupted, retried


def is_done(study: optuna.Study, n_trials: int) -> bool:
    """Nothing left to run: enough complete + pruned trials (or a grid with every point tried)."""
    c = counted(study)
    if c["waiting"] or c["running"]:
        return False
    left = grid_open(study)
    return c["complete"] + c["pruned"] >= n_trials or left == 0
