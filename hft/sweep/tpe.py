"""TPE whose Parzen estimators are refitted as the study grows, not at every ask.

Optuna's TPE refits both estimators on every finished trial at every ask: at 10^4 finished trials
that is ~0.1-0.5 s of pure Python per ask, so one driver cannot feed a large cluster (see
bench/driver.py). Here a fit is kept and reused until `refit_fraction` more trials (at least
`min_refit`) have been told since it was made; each ask still draws its own candidates from the kept
"good" estimator and keeps the best by the TPE criterion, so a batch of asks gives distinct points
(the candidates of 64 asks are drawn and scored in one call: scoring has a large fixed cost).
Between refits the constant liar has no effect (running trials enter at the next fit). With
`refit_fraction=0` it refits at every ask, as Optuna does.

Two more per-ask costs that grow with the study are bounded: the "bad" estimator is fitted on at most
`max_above` trials drawn uniformly from the bad ones (its density, not its size, is what TPE uses;
each candidate is scored against every component), and the search space is the sweep's own (given at
construction) instead of being inferred from every trial at every ask.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import TPESampler
from optuna.samplers._tpe.sampler import _split_trials, default_gamma, default_gamma_multiobjective
from optuna.trial import FrozenTrial, TrialState

__all__ = ["RefitTPESampler"]


class RefitTPESampler(TPESampler):
    def __init__(
        self,
        *,
        search_space: dict[str, BaseDistribution] | None = None,
        refit_fraction: float = 0.02,
        min_refit: int = 8,
        max_above: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._space = search_space
        self._refit_fraction = refit_fraction
        self._min_refit = min_refit
        self._max_above = max_above
        self._started = False
        self._pool_size = 64 if refit_fraction > 0 else 1
        self._pool: dict[tuple, tuple[Any, Any, int]] = {}
        self._fits: dict[tuple, tuple[Any, Any, int, int]] = {}  # space -> (below, above, told, trials)
        self._told = 0
        self.fits = 0  # how many fits were made (tests, bench)

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        if self._space is None or not self._is_multivariate(study):
            return super().infer_relative_search_space(study, trial)
        return {k: d for k, d in sorted(self._space.items()) if not d.single()}

    def _sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        if not search_space:
            return {}
        if not self._started:  # finished trials only grow: count them until there are enough
            done = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            if len(done) < self._n_startup_trials:
                return {}
            self._started = True
        return self._sample(study, trial, search_space)

    def after_trial(self, study, trial, state, values) -> None:
        super().after_trial(study, trial, state, values)
        self._told += 1

    def _fit(self, study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]):
        states = [TrialState.COMPLETE, TrialState.PRUNED]
        if self._constant_liar:
            states.append(TrialState.RUNNING)
        trials = study._get_trials(deepcopy=False, states=states, use_cache=not self._constant_liar)
        trials = [t for t in trials if t.number != trial.number]
        if self._gamma is None:
            self._gamma = default_gamma if len(study.directions) <= 1 else default_gamma_multiobjective
        n = sum(t.state != TrialState.RUNNING for t in trials)
        below, above = _split_trials(study, trials, self._gamma(n))
        if len(above) > self._max_above:
            pick = self._rng.rng.choice(len(above), self._max_above, replace=False)
            above = [above[i] for i in sorted(pick)]
        self.fits += 1
        return (
            self._build_parzen_estimator(study, search_space, below, handle_below=True),
            self._build_parzen_estimator(study, search_space, above, handle_below=False),
            n,
        )

    def _sample(self, study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        key = tuple(sorted((k, repr(d)) for k, d in search_space.items()))
        fit = self._fits.get(key)
        if fit is None or self._told - fit[2] >= max(self._min_refit, self._refit_fraction * fit[3]):
            below, above, n = self._fit(study, trial, search_space)
            fit = self._fits[key] = (below, above, self._told, n)
            self._pool.pop(key, None)
            if self._refit_fraction <= 0:
                del self._fits[key]
        # Candidates for the next `pool` asks drawn and scored in one call (scoring has a large fixed
        # cost); each ask keeps the best of its own n_ei_candidates, as if drawn alone.
        samples, acq, used = self._pool.get(key) or (None, None, self._pool_size)
        if used >= self._pool_size:
            below, above = fit[0], fit[1]
            samples = below.sample(self._rng.rng, self._n_ei_candidates * self._pool_size)
            acq, used = self._compute_acquisition_func(samples, below, above), 0
        sl = slice(used * self._n_ei_candidates, (used + 1) * self._n_ei_candidates)
        self._pool[key] = (samples, acq, used + 1)
        if self._refit_fraction <= 0:
            del self._pool[key]
        ret = TPESampler._compare({k: v[sl] for k, v in samples.items()}, acq[sl])
        return {k: d.to_external_repr(ret[k]) for k, d in search_space.items()}
