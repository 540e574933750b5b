"""Opening an Optuna storage by URL (RDB such as `sqlite:///…/optuna.db`) or journal file path,
and parameter importances from a study."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hft.errors import ConfigError, SweepError

__all__ = ["open_storage", "study_names", "param_importances"]


def open_storage(url: str):
    """An Optuna storage: `sqlite:///…` and other SQLAlchemy URLs as RDB storages, a file path
    (or `journal:///path`) as a JournalStorage file (what a sweep uses on a shared disk)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if url.startswith("journal://"):
        path = url.removeprefix("journal://")
    elif "://" in url:
        if url.startswith("sqlite:///"):
            db = Path(url.removeprefix("sqlite:///"))
            if not db.is_file():
                raise ConfigError(f"--storage {url}: no SQLite file at {db}")
        try:
            return optuna.storages.RDBStorage(url, skip_compatibility_check=False)
        except Exception as exc:  # SQLAlchemy raises many types; name the URL whatever it is
            raise ConfigError(f"--storage {url}: cannot open Optuna storage: {exc}") from exc
    else:
        path = url
    if not Path(path).is_file():
        raise ConfigError(f"--storage {url}: no journal file at {path}")
    return JournalStorage(JournalFileBackend(path))


def study_names(storage) -> list[str]:
    import optuna

    return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def param_importances(storage_url: str, study: str | None = None) -> tuple[str, pl.DataFrame]:
    """(study name, table of param and importance) from Optuna's default evaluator (fANOVA)
    over the study's completed trials. With one study in the storage, `study` may be omitted."""
    import optuna

    storage = open_storage(storage_url)
    names = study_names(storage)
    if study is None:
        if len(names) != 1:
            raise ConfigError(
                f"--storage {storage_url}: {len(names)} studies ({', '.join(names) or 'none'}); "
                "name one with --study"
            )
        study = names[0]
    elif study not in names:
        raise ConfigError(f"--study {study!r}: not in {storage_url}; studies: {', '.join(names) or 'none'}")
    s = optuna.load_study(study_name=study, storage=storage)
    complete = [t for t in s.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        raise SweepError(f"study {study!r}: {len(complete)} completed trial(s); importance needs at least 2")
    try:
        imp = optuna.importance.get_param_importances(s)
    except (ValueError, RuntimeError) as exc:  # e.g. a multi-objective study needs a target
        raise SweepError(f"study {study!r}: cannot compute parameter importances: {exc}") from exc
    return study, pl.DataFrame(
        {"param": list(imp), "importance": [float(v) for v in imp.values()]},
        schema={"param": pl.String, "importance": pl.Float64},
    )
