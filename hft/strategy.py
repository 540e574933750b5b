"""Write a strategy as one `@njit` function over named parameters and named state.

    from hft.strategy import Param, Window, strategy, njit, push, full, mean

    @strategy("sma_cross", params={"n": Param(500, ge=2, le=100_000)},
              state={"target": 0.0, "mids": Window("n")})
    @njit
    def sma_cross(t, bid, ask, pos, s, w, p, quotes):
        mid = (bid + ask) * 0.5
        push(w.mids, mid)
        ...
        return np.int64(s.target)

The framework derives the parameter encoding, the state size and every offset from the declaration;
the function reads `p.name`, reads and writes `s.name` (float scalars) and passes `w.name` windows to
the helpers. The contract (units, TARGET_NONE, quotes, orders in flight) is in docs/strategies.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from numba import njit
from pydantic import Field, create_model

from hft.backtest.params import Float, Int, StrategyParams, register_strategy
from hft.engine.enums import TARGET_NONE
from hft.engine.user import Layout
from hft.engine.user import where as user_where
from hft.engine.windows_nb import (
    ago,
    alpha,
    count,
    cross,
    crossed_above,
    crossed_below,
    ema,
    full,
    last,
    mean,
    push,
    push_at,
    std,
    wmax,
    wmin,
)
from hft.errors import ConfigError

__all__ = [
    "Param",
    "Window",
    "TimeWindow",
    "strategy",
    "njit",
    "TARGET_NONE",
    "push",
    "push_at",
    "count",
    "full",
    "last",
    "ago",
    "mean",
    "std",
    "wmin",
    "wmax",
    "ema",
    "alpha",
    "cross",
    "crossed_above",
    "crossed_below",
]


@dataclass(frozen=True)
class Param:
    """A named parameter: its default fixes the type (int or float); bounds validate configs and
    give the default sweep range (`low`..`high`)."""

    default: int | float
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    help: str = ""
    log: bool = False

    @property
    def is_int(self) -> bool:
        return isinstance(self.default, int | np.integer) and not isinstance(self.default, bool)

    def space(self) -> dict[str, Any] | None:
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        if low is None or high is None:
            return None
        return {"type": "int" if self.is_int else "float", "low": low, "high": high, "log": self.log}


@dataclass(frozen=True)
class Window:
    """The last `cap` values pushed (`cap`: a parameter name or a number of ticks)."""

    cap: str | int


@dataclass(frozen=True)
class TimeWindow:
    """The values pushed in the last `seconds` (a parameter name or a number); `cap` bounds how many
    ticks that can be (a parameter name or a number): more is reported as an error, not dropped."""

    seconds: str | float
    cap: str | int


def _check_decl(name: str, fn, params: dict[str, Param], state: dict[str, Any]) -> None:
    where = f"{user_where(fn)}: strategy {name!r}"
    for k in {**params, **state}:
        if not k.isidentifier() or k.startswith("_"):
            raise ConfigError(f"{where}: {k!r} is not a usable name (a Python identifier, no leading _)")
    both = sorted(set(params) & set(state))
    if both:
        raise ConfigError(f"{where}: {both} are declared both as params and as state")
    for k, p in params.items():
        if not isinstance(p, Param) or isinstance(p.default, bool) or not isinstance(p.default, int | float):
            raise ConfigError(f"{where}: params.{k}: declare it as Param(default, ge=..., le=...)")
    for k, v in state.items():
        refs = []
        if isinstance(v, Window):
            refs = [v.cap]
        elif isinstance(v, TimeWindow):
            refs = [v.cap, v.seconds]
        elif isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{where}: state.{k}: a float initial value, Window(...) or TimeWindow(...)")
        for r in refs:
            if isinstance(r, str) and r not in params:
                raise ConfigError(f"{where}: state.{k}: {r!r} is not one of the params {sorted(params)}")
            if isinstance(r, str) and isinstance(v, Window | TimeWindow) and r == v.cap:
                p = params[r]
                if not p.is_int or (p.ge if p.ge is not None else p.gt if p.gt is not None else 0) < 1:
                    raise ConfigError(f"{where}: state.{k}: capacity param {r!r} must be an int with ge >= 1")
            if not isinstance(r, str) and not (isinstance(r, int | float) and r > 0):
                raise ConfigError(f"{where}: state.{k}: sizes must be positive")


def _params_model(name: str, params: dict[str, Param], layout: Layout) -> type[StrategyParams]:
    fields: dict[str, Any] = {}
    for k, p in params.items():
        bounds = {b: getattr(p, b) for b in ("ge", "le", "gt", "lt") if getattr(p, b) is not None}
        typ = Int if p.is_int else Float
        fields[k] = (
            Annotated[typ, Field(default=p.default, description=p.help or None, **bounds)],
            p.default,
        )

    class Declared(StrategyParams):
        def encode(self, size: float) -> np.ndarray:
            return np.array([float(getattr(self, k)) for k in params], dtype=np.float64)

        def state_size(self) -> int:
            return layout.state_size(self.encode(1.0))

        @classmethod
        def space(cls) -> dict[str, dict[str, Any]]:
            """The declared ranges, in the form of a sweep spec's `space`."""
            return {k: s for k, p in params.items() if (s := p.space()) is not None}

    return create_model(f"{name}_params", __base__=Declared, **fields)


def strategy(
    name: str,
    *,
    params: dict[str, Param] | None = None,
    state: dict[str, float | Window | TimeWindow] | None = None,
    quotes: bool = False,
):
    """Register `fn(t, bid, ask, pos, s, w, p, quotes) -> target lots` under `name`.

    `params`: named `Param`s; `state`: scalars (name -> initial float; NaN is a good "not yet")
    and windows (`Window`, `TimeWindow`). `quotes=True` if the function returns TARGET_NONE and
    writes limit prices to `quotes[0]` (buy) / `quotes[1]` (sell).
    """
    params = dict(params or {})
    state = dict(state or {})

    def deco(fn):
        if not hasattr(fn, "py_func"):
            fn = njit(fn)
        _check_decl(name, fn, params, state)
        scalars = tuple((k, float(v)) for k, v in state.items() if not isinstance(v, Window | TimeWindow))
        windows = tuple(
            (k, v.cap, v.seconds if isinstance(v, TimeWindow) else None)
            for k, v in state.items()
            if isinstance(v, Window | TimeWindow)
        )
        layout = Layout(tuple((k, p.is_int) for k, p in params.items()), scalars, windows)
        model = _params_model(name, params, layout)
        register_strategy(name, fn, model, layout=layout, quoting=quotes)
        return fn

    return deco
