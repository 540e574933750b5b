"""Run configs: YAML (safe_load only) -> typed models; every error names the file and the key."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hft.backtest.params import StrategyParams, get_strategy
from hft.engine import BUILTINS
from hft.engine.user import where as user_where
from hft.errors import ConfigError

__all__ = [
    "DataConfig",
    "ExecutionConfig",
    "RunConfig",
    "StrategyConfig",
    "load_config",
    "parse_config",
    "read_yaml",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class _Model(BaseModel):
    # allow_inf_nan=False: `capital: .inf` or `size: .nan` would run and store NaN PnL; refuse them by key
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(_Model):
    symbol: str = Field(
        min_length=1, max_length=40, description="instrument, e.g. XAUUSD (see `hft symbols`)"
    )
    start: date = Field(description="first UTC day, YYYY-MM-DD")
    end: date = Field(description="last UTC day, inclusive")
    store: str | None = Field(
        default=None,
        description="store URL: a path (relative to this file) or s3://…; --store or $HFT_STORE override it",
    )

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} is not a symbol name (letters, digits, _ . -)")
        return v.upper()

    @model_validator(mode="after")
    def _range(self):
        if self.end < self.start:
            raise ValueError(f"empty date range: end {self.end} is before start {self.start}")
        return self


class TradingHours(_Model):
    start: time = Field(description="UTC time of day the window opens (HH:MM, inclusive)")
    end: time = Field(
        description="UTC time of day it closes (exclusive; may be before start: wraps midnight)"
    )

    @model_validator(mode="after")
    def _differ(self):
        if self.start == self.end:
            raise ValueError("start and end are equal; drop trading_hours to trade all day")
        return self


class ExecutionConfig(_Model):
    size: float = Field(
        gt=0, description="units of the base asset per lot (ounces for XAU/USD, euros for EUR/USD)"
    )
    capital: float = Field(default=100_000.0, gt=0, description="starting equity, in the quote currency")
    latency_ms: float = Field(
        default=0.0, ge=0, description="ms from decision to fill: first tick at or after it"
    )
    slippage: float = Field(default=0.0, ge=0, description="price units against every market order")
    taker_per_unit: float = Field(
        default=0.0, ge=0, description="commission per unit on market orders, in the quote currency"
    )
    taker_bps: float = Field(default=0.0, ge=0, description="commission on market orders, bps of notional")
    maker_per_unit: float = Field(
        default=0.0, description="commission per unit on limit fills, quote currency; negative = rebate"
    )
    maker_bps: float = Field(default=0.0, description="commission on limit fills, bps of notional")
    stop_loss: float | None = Field(default=None, gt=0, description="price units against the entry price")
    take_profit: float | None = Field(
        default=None, gt=0, description="price units in favour of the entry price"
    )
    max_hold_s: float | None = Field(default=None, gt=0, description="seconds a position may stay open")
    trading_hours: TradingHours | None = Field(
        default=None, description="UTC window in which positions may be held; flat outside it"
    )
    fill_through: float = Field(
        default=0.0, ge=0, description="price units the quote must trade through a limit; 0 = on touch"
    )
    max_inventory: float | None = Field(default=None, gt=0, description="largest position, units")
    sample_s: int = Field(
        default=60, ge=1, le=86_400, description="seconds between equity-curve samples (divides a day)"
    )

    @field_validator("sample_s")
    @classmethod
    def _divides_day(cls, v: int) -> int:
        if 86_400 % v:
            raise ValueError(f"{v} s does not divide a day (86400 s)")
        return v


class StrategyConfig(_Model):
    name: str = Field(min_length=1, description="a built-in strategy or one registered by `module`")
    module: str | None = Field(default=None, description="Python module to import first (your own strategy)")
    params: dict[str, Any] = Field(
        default_factory=dict, description="the strategy's parameters (tables below)"
    )


class RunConfig(_Model):
    group: str | None = Field(default=None, description="runs/{group}/…; defaults to the strategy name")
    data: DataConfig = Field(description="which ticks")
    strategy: StrategyConfig = Field(description="which strategy, with which parameters")
    execution: ExecutionConfig = Field(description="orders, costs and risk; money in the quote currency")

    @field_validator("group")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"{v!r}: use letters, digits, _ . - (it becomes a folder name)")
        return v

    @property
    def run_group(self) -> str:
        return self.group or self.strategy.name

    def strategy_params(self, where: str = "config") -> StrategyParams:
        reg = get_strategy(self.strategy.name, self.strategy.module, where)
        try:
            return reg.params.model_validate(self.strategy.params)
        except ValidationError as exc:
            builtin = BUILTINS.get(reg.name)
            by = (
                "" if builtin is not None and builtin.signal is reg.signal else f" ({user_where(reg.signal)})"
            )
            raise ConfigError(_explain(exc, where, prefix=("strategy", "params"), suffix=by)) from None


def _explain(exc: ValidationError, where: str, prefix: tuple = (), suffix: str = "") -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{where}: {key}: {msg}{suffix}")
    return "\n".join(lines)


def parse_config(raw: Any, where: str = "config") -> RunConfig:
    """Validate a mapping (e.g. loaded YAML), including the strategy's own parameters."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, where)) from None
    cfg.strategy_params(where)
    return cfg


def read_yaml(path: str | Path) -> Any:
    """`yaml.safe_load` of a file, with errors that name the file (and line) as ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None


def anchor_store(doc: Any, path: str | Path) -> Any:
    """A relative local `data.store` is relative to the config file's folder, not to the current one
    (so `hft run configs/x.yaml` and `cd configs && hft run x.yaml` use the same store)."""
    data = doc.get("data") if isinstance(doc, dict) else None
    store = data.get("store") if isinstance(data, dict) else None
    if isinstance(store, str) and store and "://" not in store and not Path(store).expanduser().is_absolute():
        data["store"] = str((Path(path).resolve().parent / store).resolve())
    return doc


def load_config(path: str | Path) -> RunConfig:
    return parse_config(anchor_store(read_yaml(path), path), where=str(path))
