"""What a study records for people reading it (optuna-dashboard, `optuna` CLI), and reading it back.

Every metric of a trial is its own numeric user attribute (`sharpe`, `net_pnl`, ...), so the
dashboard can sort, filter and plot each one; numbers are rounded to 10 significant digits, which
removes float noise (0.30000000000000004) and nothing a backtest can resolve. The objectives get
their metric names (`study.set_metric_names`), and the study carries the sweep's spec, data range,
phase and store as user attributes.
"""

from __future__ import annotations

import math
import warnings
from datetime import date
from typing import Any

import optuna

from hft.sweep.spec import METRICS, SweepSpec

__all__ = ["clean", "label_study", "metric_attrs", "set_user_attrs", "trial_metrics"]


def clean(v: Any) -> Any:
    """A finite float rounded to 10 significant digits; ints, None and non-finite floats as given."""
    if isinstance(v, float) and math.isfinite(v) and v != 0.0:
        return round(v, 9 - math.floor(math.log10(abs(v))))
    return v


def metric_attrs(metrics: dict[str, Any]) -> dict[str, Any]:
    """The user attributes of a trial's metrics: one per metric, cleaned."""
    return {k: clean(v) for k, v in metrics.items()}


def set_user_attrs(study: optuna.Study, trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """A running trial's user attributes in one storage round trip where the storage allows it: one
    transaction on an RDB storage (SQLite would commit ~17 times per trial otherwise); a journal groups
    them anyway (hft.sweep.journal)."""
    rdb = getattr(study._storage, "_backend", None)
    if isinstance(rdb, optuna.storages.RDBStorage) and hasattr(rdb, "_set_trial_attr_without_commit"):
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(rdb.scoped_session, True) as session:
            for k, v in attrs.items():
                rdb._set_trial_attr_without_commit(
                    session, models.TrialUserAttributeModel, trial._trial_id, k, v
                )
        return
    for k, v in attrs.items():
        trial.set_user_attr(k, v)


def trial_metrics(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's metrics, from per-metric user attributes (or the one `metrics` dict of older sweeps)."""
    old = trial.user_attrs.get("metrics")
    if isinstance(old, dict):
        return old
    return {m: trial.user_attrs[m] for m in METRICS if m in trial.user_attrs}


def label_study(
    study: optuna.Study, spec: SweepSpec, *, start: date, end: date, store: str, phase: str
) -> None:
    """Metric names and the study attributes the dashboard shows; written only when they change."""
    names = [o.metric for o in spec.objectives]
    if study.metric_names != names:
        with warnings.catch_warnings():  # experimental since Optuna 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    want = {
        "sweep": spec.name,
        "phase": phase,
        "symbol": spec.data.symbol,
        "data_start": start.isoformat(),
        "data_end": end.isoformat(),
        "store": store,
        "spec": spec.model_dump(mode="json"),
    }
    have = study.user_attrs
    for k, v in want.items():
        if have.get(k) != v:
            study.set_user_attr(k, v)
