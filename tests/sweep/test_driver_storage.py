"""The driver's cheaper study: journal writes grouped per batch, WAITING trials without a scan, and TPE
refitted every few percent of trials. Real Optuna storages and samplers, no Ray."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hft.sweep.journal import batched
from hft.sweep.study import open_storage
from hft.sweep.tpe import RefitTPESampler

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE = {"x": FloatDistribution(-5, 5), "n": IntDistribution(1, 9)}


def _lines(path) -> int:
    return len(path.read_bytes().splitlines())


def test_a_batch_is_one_append_seen_at_once_by_its_writer_and_whole_by_readers(tmp_path):
    path = tmp_path / "optuna.journal"
    storage = open_storage(f"journal:{path}")
    study = optuna.create_study(study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler(0))
    backend = storage._backend
    before_lines, before_appends = _lines(path), backend.appends
    with batched(study):
        trials = [study.ask(SPACE) for _ in range(5)]
        for i, t in enumerate(trials):
            t.set_user_attr("sharpe", 0.5 * i)
            study.tell(t, float(i))
        assert _lines(path) == before_lines  # nothing written yet
        assert [t.value for t in study.get_trials()] == [0.0, 1.0, 2.0, 3.0, 4.0]  # but the writer sees it
    assert backend.appends == before_appends + 1
    assert _lines(path) > before_lines + 5 * 4  # create + 2 params + attr + tell per trial, in one go
    reader = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    got = reader.get_trials()
    assert [(t.state, t.value, t.user_attrs["sharpe"]) for t in got] == [
        (TrialState.COMPLETE, float(i), 0.5 * i) for i in range(5)
    ]
    assert [t.params for t in got] == [t.params for t in study.get_trials()]


def test_a_failed_batch_still_writes_what_it_did_and_enqueued_trials_come_first(tmp_path):
    path = tmp_path / "optuna.journal"
    storage = open_storage(f"journal:{path}")
    study = optuna.create_study(study_name="s", storage=storage)
    with pytest.raises(RuntimeError), batched(study):
        study.tell(study.ask(SPACE), 1.0)
        raise RuntimeError("driver bug")
    study.enqueue_trial({"x": 1.5, "n": 3})
    with batched(study):
        first = study.ask(SPACE)  # the index of WAITING trials is built here
        study.enqueue_trial({"x": -2.0, "n": 7})  # and followed through this process's writes
        second, third = study.ask(SPACE), study.ask(SPACE)
    assert (first.params, second.params) == ({"x": 1.5, "n": 3}, {"x": -2.0, "n": 7})
    assert third.params != second.params
    reader = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    states = [t.state for t in reader.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.RUNNING, TrialState.RUNNING, TrialState.RUNNING]


def _quadratic(p) -> float:
    return (p["x"] - 2.0) ** 2 + (p["n"] - 4) ** 2


def test_refit_tpe_fits_once_per_few_percent_and_still_homes_in(tmp_path):
    sampler = RefitTPESampler(
        search_space=SPACE, n_startup_trials=10, seed=3, multivariate=True, refit_fraction=0.1, min_refit=8
    )
    study = optuna.create_study(sampler=sampler)
    rnd = optuna.samplers.RandomSampler(seed=3)
    seed_study = optuna.create_study(sampler=rnd)
    seed_study.optimize(
        lambda t: _quadratic({"x": t.suggest_float("x", -5, 5), "n": t.suggest_int("n", 1, 9)}), 200
    )
    study.add_trials(seed_study.trials)
    batch = [study.ask(SPACE) for _ in range(16)]  # one batch: one fit, 16 distinct proposals
    assert sampler.fits == 1
    assert len({(t.params["x"], t.params["n"]) for t in batch}) == 16
    for t in batch:
        study.tell(t, _quadratic(t.params))
    for _ in range(40):  # 16 + 40 told: a refit after every 20 (10 % of 200) trials
        t = study.ask(SPACE)
        study.tell(t, _quadratic(t.params))
    assert sampler.fits == 3
    # the TPE idea: proposals concentrate where the objective is good. Uniform proposals average
    # E[(x-2)^2] + E[(n-4)^2] = (100/12 + 3^2) + (80/12 + 1^2) = 20.0 over this box
    tpe_mean = sum(t.value for t in study.trials[200:]) / len(study.trials[200:])
    assert tpe_mean < 20.0 / 3


def test_sqlite_user_attributes_of_a_trial_in_one_transaction(tmp_path):
    from hft.sweep.labels import set_user_attrs

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    trial = study.ask(SPACE)
    set_user_attrs(study, trial, {"sharpe": 1.25, "trades": 3, "run": {"run_id": "r1"}})
    study.tell(trial, 1.0)
    got = optuna.load_study(study_name="s", storage=url).trials[0].user_attrs
    assert got == {"sharpe": 1.25, "trades": 3, "run": {"run_id": "r1"}}
