"""Sweep specs (`sweeps/*.yaml`): YAML (safe_load only) -> typed models; errors name the file and key.

A spec is a run config (data, strategy, execution) plus what to search: a `space` of strategy
parameters, a `sampler`, one or more `objectives`, `n_trials`, a `pruner`, optional `walk_forward`
folds and the `resources` of the actor pool. Fixed strategy parameters go in `strategy.params`.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hft.backtest.config import (
    _NAME,
    DataConfig,
    ExecutionConfig,
    RunConfig,
    StrategyConfig,
    anchor_store,
    read_yaml,
)
from hft.errors import ConfigError
from hft.store.results import RUN_METRICS

__all__ = [
    "METRICS",
    "STEP_METRICS",
    "ParamSpace",
    "SweepData",
    "Objective",
    "SamplerSpec",
    "PrunerSpec",
    "WalkForward",
    "Resources",
    "SweepSpec",
    "is_sweep_spec",
    "load_spec",
    "parse_spec",
    "read_yaml",
]

#: Every metric a run reports (hft.backtest.metrics); objectives must name one of them.
METRICS = RUN_METRICS
#: Metrics the actors can also compute at every UTC day close, so a pruner can use them.
STEP_METRICS = (
    "net_pnl",
    "total_return",
    "final_equity",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_frac",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamSpace(_Model):
    """One searched parameter: int / float (low, high, optional step or log) or categorical choices."""

    type: Literal["int", "float", "categorical"] = Field(description="int, float or categorical")
    low: float | None = Field(default=None, description="int/float: smallest value, in the parameter's unit")
    high: float | None = Field(default=None, description="int/float: largest value (inclusive)")
    step: float | None = Field(
        default=None, gt=0, description="int/float: grid spacing (needed by the grid sampler)"
    )
    log: bool = Field(default=False, description="int/float: sample on a log scale")
    choices: list[Any] | None = Field(default=None, description="categorical: the values to try")

    @model_validator(mode="after")
    def _consistent(self):
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical needs a non-empty `choices` list")
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ValueError("categorical takes only `choices` (no low/high/step/log)")
            for c in self.choices:
                if not (c is None or isinstance(c, bool | int | float | str)):
                    raise ValueError(f"choice {c!r}: only numbers, strings, booleans or null")
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} takes low/high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} needs both `low` and `high`")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.high < self.low:
            raise ValueError(f"need finite low <= high, got low={self.low} high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError("log scale needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("use either log or step, not both")
        if self.type == "int":
            for k in ("low", "high", "step"):
                v = getattr(self, k)
                if v is not None and v != int(v):
                    raise ValueError(f"int parameter: {k} must be a whole number, got {v}")
        return self

    def distribution(self):
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.type == "categorical":
            return CategoricalDistribution(self.choices)
        if self.type == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def grid(self) -> list[Any] | None:
        """Every value a grid search visits; None when the range is continuous (float with no step)."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            return None
        n = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, 12) for i in range(n)]


class SweepData(DataConfig):
    """The data block of a run config plus where to fetch missing days from."""

    feed_url: str | None = Field(default=None, description="ingest missing days from this feed first")
    source: Literal["bi5", "json"] = Field(
        default="bi5", description="feed layout when ingesting: bi5 or json"
    )


class Objective(_Model):
    metric: str = Field(
        description="a run metric: net_pnl, sharpe, max_drawdown_frac, … (hft.backtest.metrics)"
    )
    direction: Literal["maximize", "minimize"] = Field(default="maximize", description="maximize or minimize")

    @field_validator("metric")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; choose one of {', '.join(METRICS)}")
        return v


class SamplerSpec(_Model):
    type: Literal["grid", "random", "tpe", "nsga2"] = Field(
        default="tpe", description="grid, random, tpe or nsga2"
    )
    seed: int | None = Field(default=None, description="sampler seed: same seed, same trials")
    n_startup_trials: int = Field(default=10, ge=1, description="tpe: random trials before modelling")
    population_size: int = Field(default=20, ge=2, description="nsga2: individuals per generation")


class PrunerSpec(_Model):
    """Prune on the objective reported at every UTC day close (single-objective sweeps only)."""

    type: Literal["none", "median", "successive_halving", "hyperband"] = Field(
        default="none", description="stop weak trials early, judged per UTC day"
    )
    n_startup_trials: int = Field(default=5, ge=0, description="median: trials never pruned")
    n_warmup_steps: int = Field(default=1, ge=0, description="median: days before pruning may start")
    min_resource: int = Field(default=1, ge=1, description="halving/hyperband: days a trial always gets")
    reduction_factor: int = Field(default=3, ge=2, description="halving/hyperband: keep 1 in this many")


class WalkForward(_Model):
    """Folds over the days that hold ticks: optimise on `train_days`, test on the next `test_days`."""

    train_days: int = Field(ge=1, description="trading days each fold optimises on")
    test_days: int = Field(
        ge=1, description="trading days after them the winner is scored on (out of sample)"
    )
    step_days: int | None = Field(default=None, ge=1, description="default: test_days")
    oos_candidates: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="the best train trials after the winner also run on each test window (phase "
        "oos_check, never the selected result) to measure in- vs out-of-sample rank agreement; 0: none",
    )

    @property
    def step(self) -> int:
        return self.step_days or self.test_days


class Resources(_Model):
    actors: int = Field(default=0, ge=0, le=1024, description="0 = one per CPU of the Ray cluster")
    cpus_per_actor: float = Field(default=1.0, gt=0, description="Ray CPUs reserved per actor")
    memory_mb: int | None = Field(default=None, gt=0, description="Ray memory reservation per actor")
    cache_mb: int = Field(default=512, ge=0, description="ticks each actor keeps in memory (LRU by day)")
    object_store_mb: int = Field(default=256, ge=64, description="object store of a locally started Ray")
    batch: int = Field(default=8, ge=1, le=1024, description="trials sent to an actor at once")
    max_retries: int = Field(default=1, ge=0, le=10, description="re-runs of a trial whose actor died")
    start_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="with no actor running, how long the sweep waits for its actors (or those replacing "
        "dead ones) to start, e.g. while an autoscaler adds a node, before it stops with an error",
    )

    @field_validator("cpus_per_actor")
    @classmethod
    def _whole(cls, v: float) -> float:
        if v > 1 and v != int(v):
            raise ValueError("above 1 CPU, Ray needs a whole number")
        return v


class SweepSpec(_Model):
    name: str = Field(description="becomes runs/{name}/ and the Optuna study name")
    data: SweepData = Field(description="which ticks (as in a run config, plus where to fetch missing days)")
    strategy: StrategyConfig = Field(description="strategy and its fixed parameters")
    execution: ExecutionConfig = Field(description="as in a run config")
    space: dict[str, ParamSpace] = Field(
        default_factory=dict,
        description="searched parameters: name → range (default: the ranges the strategy declares, "
        "less its fixed parameters)",
    )
    sampler: SamplerSpec = Field(default=SamplerSpec(), description="how trials are chosen")
    objectives: list[Objective] = Field(
        min_length=1, max_length=4, description="what to optimise (1-4 metrics)"
    )
    n_trials: int = Field(ge=1, le=1_000_000, description="per study (per fold with walk_forward)")
    pruner: PrunerSpec = Field(default=PrunerSpec(), description="early stopping of weak trials")
    walk_forward: WalkForward | None = Field(default=None, description="optimise, then test on the next days")
    resources: Resources = Field(default=Resources(), description="Ray actors, caches and batching")
    top: int = Field(default=10, ge=1, le=1000, description="leaderboard rows")
    artifacts_top_k: int | Literal["all"] = Field(
        default=20,
        description="trades and equity kept for the top K trials per objective (per window), the "
        "Pareto front and every walk-forward test run, packed in runs/{name}/kept.parquet (test runs: "
        "a run folder); any other trial: `hft rerun RUN_ID`. `all`: a run folder for every trial",
    )
    pbo_splits: int = Field(
        default=16, ge=2, le=32, multiple_of=2, description="blocks S of the PBO's CSCV (even)"
    )

    @field_validator("artifacts_top_k")
    @classmethod
    def _top_k(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 0:
            raise ValueError("a number of trials (0 or more), or all")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r}: use letters, digits, _ . - (it becomes a folder name)")
        return v

    @model_validator(mode="after")
    def _coherent(self):
        clash = sorted(set(self.space) & set(self.strategy.params))
        if clash:
            raise ValueError(f"{clash} are both fixed (strategy.params) and searched (space)")
        if len({o.metric for o in self.objectives}) != len(self.objectives):
            raise ValueError("objectives: each metric may appear once")
        multi = len(self.objectives) > 1
        if self.sampler.type == "nsga2" and not multi:
            raise ValueError("sampler nsga2 is for two or more objectives; use tpe for one")
        if self.pruner.type != "none":
            if multi:
                raise ValueError("pruner: Optuna cannot prune multi-objective studies; set type: none")
            if self.objectives[0].metric not in STEP_METRICS:
                raise ValueError(
                    f"pruner: objective {self.objectives[0].metric!r} has no daily value; prune on one of "
                    f"{', '.join(STEP_METRICS)}"
                )
        if self.sampler.type == "grid":
            cont = [k for k, p in self.space.items() if p.grid() is None]
            if cont:
                raise ValueError(f"sampler grid: give a step to float parameter(s) {cont}")
        return self

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    def grid_size(self) -> int:
        return math.prod(len(p.grid() or []) for p in self.space.values())

    def distributions(self) -> dict[str, Any]:
        return {k: p.distribution() for k, p in self.space.items()}

    def run_config(self, params: dict[str, Any], start: date, end: date, store: str) -> RunConfig:
        """The plain run config of one trial on [start, end]: fixed parameters plus the trial's."""
        data = DataConfig(symbol=self.data.symbol, start=start, end=end, store=store)
        strat = self.strategy.model_copy(update={"params": {**self.strategy.params, **params}})
        return RunConfig(group=self.name, data=data, strategy=strat, execution=self.execution)


def _explain(exc: ValidationError, where: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)


def is_sweep_spec(raw: Any) -> bool:
    """A mapping with a search (space/objectives/n_trials) is a sweep spec; otherwise a run config."""
    return isinstance(raw, dict) and bool({"space", "objectives", "n_trials", "sampler"} & set(raw))


def parse_spec(raw: Any, where: str = "spec") -> SweepSpec:
    """Validate a mapping, including that the searched and fixed names are the strategy's parameters."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, where)) from None
    from hft.backtest.params import get_strategy

    reg = get_strategy(spec.strategy.name, spec.strategy.module, where)
    if not spec.space:
        spec = _declared_space(raw, spec, reg.params, where)
    known = set(reg.params.model_fields)
    for key in (*spec.space, *spec.strategy.params):
        if key not in known:
            section = "space" if key in spec.space else "strategy.params"
            raise ConfigError(
                f"{where}: {section}.{key}: {spec.strategy.name} has no parameter {key!r}; "
                f"its parameters: {', '.join(sorted(known))}"
            )
    missing = sorted(
        k
        for k, f in reg.params.model_fields.items()
        if f.is_required() and k not in spec.space and k not in spec.strategy.params
    )
    if missing:
        raise ConfigError(
            f"{where}: strategy.params: {spec.strategy.name} needs {missing} (fix or search them)"
        )
    _check_limits(spec, reg.params, where)
    return spec


def _declared_space(raw: dict, spec: SweepSpec, params: Any, where: str) -> SweepSpec:
    """The spec with the strategy's declared ranges (`hft.strategy.Param(ge=, le=)`) as its space,
    less the parameters it fixes; an error if that leaves nothing to search."""
    declared = params.space() if hasattr(params, "space") else {}
    space = {k: v for k, v in declared.items() if k not in spec.strategy.params}
    if not space:
        why = "fixes every parameter it declares ranges for" if declared else "declares no parameter ranges"
        raise ConfigError(
            f"{where}: space: missing, and strategy {spec.strategy.name!r} {why}; "
            "add `space: {name: {type: int, low: ..., high: ...}}`"
        )
    try:
        return SweepSpec.model_validate({**raw, "space": space})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, where)) from None


def _probe_values(p: ParamSpace) -> list[Any]:
    """The lowest, middle and highest value a sampler can draw (every choice of a categorical)."""
    if p.type == "categorical":
        return list(p.choices)
    lo, hi = p.low, p.high
    if p.type == "int" or p.step is not None:
        step = p.step or 1
        k = math.floor((hi - lo) / step + 1e-9)
        vals = [lo, lo + (k // 2) * step, lo + k * step]
    else:
        vals = [lo, math.sqrt(lo * hi) if p.log else (lo + hi) / 2, hi]
    vals = [int(v) for v in vals] if p.type == "int" else [round(v, 12) for v in vals]
    return list(dict.fromkeys(vals))


def _first_error(exc: ValidationError) -> str:
    return exc.errors()[0]["msg"].removeprefix("Value error, ")


def _check_limits(spec: SweepSpec, model: type, where: str) -> None:
    """The space's bounds and the fixed parameters within the strategy's own limits, and at least one
    probed point of the space (low / middle / high of each parameter) valid as a whole, before any trial."""
    import itertools
    from typing import Annotated

    from pydantic import TypeAdapter

    name = spec.strategy.name
    fields = model.model_fields
    probes = {k: _probe_values(p) for k, p in spec.space.items()}
    checks = [(f"space.{k}", v) for k, vals in probes.items() for v in vals]
    checks += [(f"strategy.params.{k}", v) for k, v in spec.strategy.params.items()]
    for key, value in checks:
        f = fields[key.rsplit(".", 1)[1]]
        try:
            TypeAdapter(Annotated[f.annotation, f]).validate_python(value)
        except ValidationError as exc:
            raise ConfigError(
                f"{where}: {key}: {value!r} is outside {name}'s limits: {_first_error(exc)}"
            ) from None
    names = list(probes)
    n = math.prod(len(v) for v in probes.values())
    if n > 4096:  # many parameters: the corners only
        probes = {k: list(dict.fromkeys([v[0], v[-1]])) for k, v in probes.items()}
        n = math.prod(len(v) for v in probes.values())
    if n > 4096:
        return
    first = None
    for combo in itertools.product(*(probes[k] for k in names)):
        try:
            model.model_validate({**spec.strategy.params, **dict(zip(names, combo, strict=True))})
            return
        except ValidationError as exc:
            first = first or _first_error(exc)
    ranges = ", ".join(
        f"{k} {v[0]}..{v[-1]}" if spec.space[k].type != "categorical" else f"{k} in {v}"
        for k, v in probes.items()
    )
    raise ConfigError(
        f"{where}: space: no point of the search space is valid for {name} ({ranges}): {first}; "
        "change the ranges"
    )


def load_spec(path: str | Path) -> SweepSpec:
    return parse_spec(anchor_store(read_yaml(path), path), where=str(path))
