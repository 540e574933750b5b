"""Typed strategy parameters and the name -> strategy registry (the user extension point).

The short way is `hft.strategy` (declared parameters and state, docs/strategies.md). The raw way,
in your own module:

    from numba import njit
    from hft.backtest import StrategyParams, register_strategy

    @njit(cache=True)
    def my_signal_nb(ts, bid, ask, pos, ss, sp, quotes):   # shared signature, see strategies_nb
        ...
        return target  # -1, 0, +1 lots (or TARGET_NONE and write quotes)

    class MyParams(StrategyParams):
        window: int = Field(ge=2)
        def encode(self, size): return np.array([self.window])
        def state_size(self): return 2 + self.window

    register_strategy("my_strategy", my_signal_nb, MyParams)

and name it in a config: `strategy: {name: my_strategy, module: ./my_module.py, params: ...}` (a
file, or a dotted name, found from the config's folder or the current one; see
`import_strategy_module`). The module is imported before the name is looked up.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator

from hft.engine import BUILTINS, StrategySpec
from hft.engine import strategies as S
from hft.errors import ConfigError, HftError

__all__ = [
    "StrategyParams",
    "Registered",
    "register_strategy",
    "get_strategy",
    "EmaCrossParams",
    "ZscoreParams",
    "DonchianParams",
    "FilteredEmaParams",
    "MarketMakerParams",
]


def _no_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {v!r} (a YAML boolean)")
    return v


#: Parameter types: YAML `true` is never 1, `2.5` is never an int.
Int = StrictInt
Float = Annotated[float, BeforeValidator(_no_bool)]


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: unknown keys are errors, values are checked on load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def encode(self, size: float) -> np.ndarray:
        """The float64 parameter vector the compiled signal reads (`size` = units per lot)."""
        raise NotImplementedError

    def state_size(self) -> int:
        """Length of the float64 state vector the signal keeps between ticks."""
        raise NotImplementedError


class EmaCrossParams(StrategyParams):
    fast: Int = Field(ge=1, description="fast EMA span in ticks")
    slow: Int = Field(ge=2, description="slow EMA span in ticks; also the warm-up")

    @model_validator(mode="after")
    def _order(self):
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be < slow ({self.slow})")
        return self

    def encode(self, size):
        return S.ema_cross_params(self.fast, self.slow)

    def state_size(self):
        return 4


class ZscoreParams(StrategyParams):
    window: Int = Field(ge=2, le=10_000_000, description="ticks in the rolling window")
    entry_z: Float = Field(gt=0, description="enter when |z| of mid vs the window mean exceeds this")
    exit_z: Float = Field(ge=0, description="exit when |z| falls back below this")
    min_std: Float = Field(default=1e-9, ge=0, description="below this std (price units) z is 0")

    @model_validator(mode="after")
    def _order(self):
        if self.exit_z >= self.entry_z:
            raise ValueError(f"exit_z ({self.exit_z}) must be < entry_z ({self.entry_z})")
        return self

    def encode(self, size):
        return S.zscore_params(self.window, self.entry_z, self.exit_z, self.min_std)

    def state_size(self):
        return 6 + self.window


class DonchianParams(StrategyParams):
    window: Int = Field(ge=2, le=10_000_000, description="ticks in the breakout band")

    def encode(self, size):
        return S.donchian_params(self.window)

    def state_size(self):
        return 6 + 4 * (self.window + 1)


class FilteredEmaParams(StrategyParams):
    fast: Int = Field(ge=1, description="fast EMA span in ticks")
    slow: Int = Field(ge=2, description="slow EMA span in ticks; also the warm-up")
    max_spread: Float = Field(gt=0, description="enter only when ask - bid <= this (price units)")
    gap_span: Int = Field(default=50, ge=1, description="EMA span (ticks) of the gap between ticks")
    max_gap_ms: Float = Field(gt=0, description="enter only when the average tick gap <= this")

    @model_validator(mode="after")
    def _order(self):
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be < slow ({self.slow})")
        return self

    def encode(self, size):
        return S.filtered_ema_params(self.fast, self.slow, self.max_spread, self.gap_span, self.max_gap_ms)

    def state_size(self):
        return 6


class MarketMakerParams(StrategyParams):
    half_spread: Float = Field(ge=0, description="quote distance from the reservation price")
    skew_per_lot: Float = Field(ge=0, description="reservation shift per lot of inventory")
    max_lots: Int = Field(ge=1, description="stop quoting a side at this many lots")
    tick: Float = Field(gt=0, description="price increment quotes are rounded to")

    def encode(self, size):
        return S.market_maker_params(self.half_spread, self.skew_per_lot, self.max_lots, self.tick, size)

    def state_size(self):
        return 1


@dataclass(frozen=True)
class Registered:
    name: str
    signal: object  # numba dispatcher with the shared signature (or a declared strategy's function)
    params: type[StrategyParams]
    layout: Any = None  # hft.engine.user.Layout for declared strategies
    quoting: bool = True

    def spec(self, params: StrategyParams) -> StrategySpec:
        if self.layout is not None:
            return StrategySpec(self.name, self.signal, self.layout.state_size, self.layout, self.quoting)
        builtin = BUILTINS.get(self.name)
        if builtin is not None and builtin.signal is self.signal:
            # sized from each encoded row, so a BatchRun over configs with different windows gives
            # every row its own state instead of the first config's (built-ins are not bounds-checked)
            return builtin
        return StrategySpec(self.name, self.signal, lambda _sp: params.state_size())


_REGISTRY: dict[str, Registered] = {
    "ema_cross": Registered("ema_cross", BUILTINS["ema_cross"].signal, EmaCrossParams),
    "zscore": Registered("zscore", BUILTINS["zscore"].signal, ZscoreParams),
    "donchian": Registered("donchian", BUILTINS["donchian"].signal, DonchianParams),
    "filtered_ema": Registered("filtered_ema", BUILTINS["filtered_ema"].signal, FilteredEmaParams),
    "market_maker": Registered("market_maker", BUILTINS["market_maker"].signal, MarketMakerParams),
}


def _qualname(obj) -> str:
    """Where a function is defined: the same file imported under two module names is one strategy."""
    code = getattr(obj, "__code__", None)
    return f"{code.co_filename if code else obj.__module__}:{obj.__qualname__}"


def register_strategy(
    name: str, signal, params: type[StrategyParams], *, layout: Any = None, quoting: bool = True
) -> None:
    """Make `name` runnable from configs; re-registering the same function is a no-op.

    `layout` / `quoting` come from `hft.strategy.strategy` (declared state); leave them out for a
    signal with the shared signature and a hand-sized state.
    """
    if not (isinstance(params, type) and issubclass(params, StrategyParams)):
        raise ConfigError(f"strategy {name!r}: params must subclass hft.backtest.StrategyParams")
    if not hasattr(signal, "py_func"):
        raise ConfigError(f"strategy {name!r}: signal must be an @njit function with the shared signature")
    old = _REGISTRY.get(name)
    if old is not None and _qualname(old.signal.py_func) != _qualname(signal.py_func):
        raise ConfigError(f"strategy name {name!r} is already registered by another module")
    _REGISTRY[name] = Registered(name, signal, params, layout, quoting)


#: Files and package folders user strategies were imported from (shipped to Ray workers).
USER_MODULE_PATHS: set[str] = set()


def _is_path(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def _bases(where: str) -> list[Path]:
    """Where a relative `module:` is looked for: the config file's folder, then the current one."""
    out = []
    cfg = Path(where)
    if where not in ("config", "spec") and cfg.suffix in (".yaml", ".yml") and cfg.parent.is_dir():
        out.append(cfg.parent.resolve())
    out.append(Path.cwd().resolve())
    return list(dict.fromkeys(out))


def _load_file(path: Path, where: str, ship: bool = True) -> None:
    """Import the file at `path` as the top-level module named by its stem (once per process);
    `ship`: keep its text, as read here, for the Ray workers (see `user_runtime_env`)."""
    name = path.stem
    if not name.isidentifier():
        raise ConfigError(
            f"{where}: strategy.module: {path.name!r}: the file name must be a Python identifier"
        )
    old = sys.modules.get(name)
    if old is not None:
        if Path(getattr(old, "__file__", "") or "").resolve() == path:
            return
        raise ConfigError(
            f"{where}: strategy.module: {path} would be imported as {name!r}, which is already the "
            f"module {getattr(old, '__file__', None) or name}: rename the file"
        )
    text = path.read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        exec(compile(text, str(path), "exec"), mod.__dict__)  # the text shipped is the text run
    except Exception as exc:
        del sys.modules[name]
        if isinstance(exc, HftError):
            raise
        raise ConfigError(
            f"{where}: strategy.module: {path}: importing it raised {type(exc).__name__}: {exc}"
        ) from None
    USER_MODULE_PATHS.add(str(path))
    if ship:
        _SHIPPED[path.name] = text


def _loaded_from(path: Path) -> bool:
    """Whether this process already imported the module file `path` (it may be gone since)."""
    mod = sys.modules.get(path.stem)
    return mod is not None and Path(getattr(mod, "__file__", "") or "").resolve() == path


def _ship_package(pkg: Path) -> None:
    """Keep the text of a package folder (or single-file module) imported by dotted name."""
    files = [pkg] if pkg.is_file() else sorted(f for f in pkg.rglob("*.py") if "__pycache__" not in f.parts)
    for f in files:
        rel = f.name if pkg.is_file() else str(Path(pkg.name) / f.relative_to(pkg))
        _SHIPPED[rel] = f.read_text(encoding="utf-8")


def import_strategy_module(module: str, where: str = "config") -> None:
    """Import `module`: a file path (relative to the config's folder or the current folder) or a
    dotted name importable as is, from the config's folder or from the current folder.

    On a Ray worker of a sweep the driver's copies come first (`_materialize`): a file at the same
    path on the worker's own disk, missing or another version, is not what the driver validated.
    """
    shipped = _materialize()
    bases = _bases(where)
    if _is_path(module):
        if shipped is not None and (shipped / Path(module).name).is_file():
            return _load_file(shipped / Path(module).name, where, ship=False)
        candidates = [(base / module).resolve() for base in bases]
        for path in candidates:
            if _loaded_from(path) or path.is_file():
                return _load_file(path, where)
        raise ConfigError(
            f"{where}: strategy.module: no file {module!r} in {' or '.join(str(b) for b in bases)}"
        )
    try:
        importlib.import_module(module)
        return None
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name not in {top, None} and not module.startswith(f"{exc.name}."):
            raise ConfigError(f"{where}: strategy.module: cannot import {module!r}: {exc}") from None
        first = exc
    except ImportError as exc:
        raise ConfigError(f"{where}: strategy.module: cannot import {module!r}: {exc}") from None
    except HftError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"{where}: strategy.module: importing {module!r} raised {type(exc).__name__}: {exc}"
        ) from None
    for base in bases:
        pkg = base / top
        if pkg.is_dir() or pkg.with_suffix(".py").is_file():
            if str(base) not in sys.path:
                sys.path.insert(0, str(base))
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ConfigError(f"{where}: strategy.module: cannot import {module!r}: {exc}") from None
            found = pkg if pkg.is_dir() else pkg.with_suffix(".py")
            USER_MODULE_PATHS.add(str(found))
            _ship_package(found)
            return None
    raise ConfigError(
        f"{where}: strategy.module: cannot import {module!r}: {first} (looked in "
        f"{' and '.join(str(b) for b in bases)}; or give a file path, e.g. module: ./my_strategy.py)"
    )


#: Environment variable carrying user strategy sources to Ray workers (JSON: relative path -> text).
CODE_ENV = "HFT_USER_CODE"
_CODE_LIMIT = 100_000  # bytes; an environment string must stay well under the OS limit (128 KiB)
#: The user strategy sources imported here, as read when imported, by path relative to sys.path.
_SHIPPED: dict[str, str] = {}
_materialized: list[Path] = []


def user_code_bundle() -> dict[str, str]:
    """Source files of the user strategies imported in this process, as they were when imported
    (a later edit, move or deletion of the file changes nothing that is shipped)."""
    return dict(sorted(_SHIPPED.items()))


def user_runtime_env() -> dict[str, Any] | None:
    """Ray runtime env (per actor) that brings the user strategy code imported here to every worker.

    Ray uploads local files (`py_modules`, `working_dir`) only for a whole job (`ray.init`), not per
    actor, so the sources travel as text in an environment variable and each worker writes them to a
    private folder on its `sys.path`: no node needs the driver's disk or the file's folder.
    """
    bundle = user_code_bundle()
    if not bundle:
        return None
    text = json.dumps(bundle)
    if len(text.encode()) > _CODE_LIMIT:
        raise ConfigError(
            f"user strategy code {sorted(bundle)} is {len(text.encode()):,} bytes, more than the "
            f"{_CODE_LIMIT:,} shipped to Ray workers: install it as a package on every node instead"
        )
    return {"env_vars": {CODE_ENV: text}}


def _materialize() -> Path | None:
    """On a Ray worker: write the shipped strategy sources once, put them first on `sys.path`, and
    return their folder (None elsewhere)."""
    text = os.environ.get(CODE_ENV)
    if not text:
        return None
    if not _materialized:
        root = Path(tempfile.mkdtemp(prefix="hft-user-code-"))
        for rel, src in json.loads(text).items():
            dst = root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(src, encoding="utf-8")
        sys.path.insert(0, str(root))
        _materialized.append(root)
    return _materialized[0]


def get_strategy(name: str, module: str | None = None, where: str = "config") -> Registered:
    if module:
        import_strategy_module(module, where)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"{where}: strategy.name: unknown strategy {name!r}; known: {', '.join(sorted(_REGISTRY))}"
            + ("" if module else " (set strategy.module to import a user strategy)")
        ) from None
