"""The configuration reference (docs/config.md) and JSON Schemas, generated from the pydantic models so
they cannot drift from what `hft run` and `hft sweep` accept.

    python -m hft.configdoc > docs/config.md      # tests/foundation/test_configdoc.py compares
    hft schema run|sweep [--out FILE]             # JSON Schema for editor completion
"""

from __future__ import annotations

import json
import types
import typing
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

__all__ = ["config_markdown", "json_schema", "schema"]

_INTRO = """# Configuration reference

Generated from the pydantic models (`python -m hft.configdoc > docs/config.md`; a test checks it is
current). JSON Schemas for editor completion: `hft schema run`, `hft schema sweep`.

Units: prices, `slippage`, `stop_loss`, `take_profit` and `fill_through` are in **price units** of the
symbol (USD per ounce for XAU/USD, USD per euro for EUR/USD); `size` and `max_inventory` are in
**units of the base asset** (ounces, euros); money — `capital`, PnL, fees, `taker_per_unit`,
`maker_per_unit` — is in the symbol's **quote currency** (USD for both); `*_bps` are basis points of
notional; times of day (`trading_hours`) and days are **UTC**. A relative `data.store` is read
against the config file's folder; `--store` or `$HFT_STORE` override it.
"""


def _type(ann: Any) -> str:
    origin = typing.get_origin(ann)
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(ann))
    if origin is dict:
        return f"mapping of name → {_type(args[1])}" if len(args) == 2 else "mapping"
    if origin is list:
        return f"list of {_type(args[0])}" if args else "list"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "mapping (below)"
    return {
        str: "text",
        float: "number",
        int: "integer",
        bool: "true/false",
        date: "YYYY-MM-DD",
        time: "HH:MM",
    }.get(ann, getattr(ann, "__name__", str(ann)))


def _default(f) -> str:
    if f.is_required():
        return "required"
    if f.default_factory is not None:
        return "`{}`"
    d = f.default
    if d is None or d is PydanticUndefined:
        return "—"
    if isinstance(d, BaseModel):
        return "(defaults below)"
    if isinstance(d, float) and d.is_integer() and abs(d) >= 1000:
        return f"`{int(d):,}`"
    return f"`{d}`"


def _bounds(f) -> str:
    marks = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "length ≥", "max_length": "length ≤"}
    out = []
    for m in f.metadata:
        for attr, sym in marks.items():
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v:,}" if isinstance(v, int | float) else f"{sym} {v}")
    return ", ".join(out)


def _sub(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in typing.get_args(ann):
        m = _sub(a)
        if m is not None:
            return m
    return None


def _rows(model: type[BaseModel], prefix: str = "", skip: frozenset[str] = frozenset()) -> list[str]:
    rows = []
    for name, f in model.model_fields.items():
        key = f"{prefix}{name}"
        if key in skip:
            continue
        desc = (f.description or "").replace("|", "\\|")
        bounds = _bounds(f)
        rows.append(
            f"| `{key}` | {_type(f.annotation)} | {_default(f)} | {desc}{f' ({bounds})' if bounds else ''} |"
        )
        sub = _sub(f.annotation)
        if sub is not None and sub.model_fields:
            inner = f"{key}.<name>." if typing.get_origin(f.annotation) is dict else f"{key}."
            inner = f"{key}[i]." if typing.get_origin(f.annotation) is list else inner
            rows.extend(_rows(sub, inner))
    return rows


def _table(rows: list[str]) -> str:
    return "| key | type | default | meaning |\n| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"


def config_markdown() -> str:
    """The whole reference as Markdown."""
    from hft.backtest.config import DataConfig, RunConfig
    from hft.backtest.params import _REGISTRY
    from hft.sweep.spec import SweepSpec

    inherited = ("| `execution", "| `strategy", *(f"| `data.{k}`" for k in DataConfig.model_fields))
    parts = [
        _INTRO,
        "\n## Run configs (`configs/*.yaml`, `hft run`)\n\n",
        _table(_rows(RunConfig)),
        "\n## Sweep specs (`sweeps/*.yaml`, `hft sweep`)\n\n",
        "`data`, `strategy` and `execution` are as in a run config (`data` adds the keys below); "
        "`strategy.params` holds the fixed parameters and `space` the searched ones.\n\n",
        _table([r for r in _rows(SweepSpec) if not r.startswith(inherited)]),
        "\n## Strategy parameters (`strategy.params`)\n",
    ]
    from hft.engine.strategies import BUILTINS

    for name in sorted(n for n in _REGISTRY if n in BUILTINS):  # not strategies a session registered
        params = _REGISTRY[name].params
        parts.append(f"\n### `{name}`\n\n")
        parts.append(_table(_rows(params)) if params.model_fields else "no parameters\n")
    return "".join(parts)


def json_schema(kind: str) -> dict:
    from hft.backtest.config import RunConfig
    from hft.sweep.spec import SweepSpec

    model = {"run": RunConfig, "sweep": SweepSpec}[kind]
    doc = model.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = f"hft {kind} {'config' if kind == 'run' else 'spec'}"
    return doc


class Kind(StrEnum):
    """Which file the schema describes."""

    run = "run"
    sweep = "sweep"


def schema(
    kind: Annotated[Kind, typer.Argument(help="run (configs/*.yaml) or sweep (sweeps/*.yaml).")] = Kind.run,
    out: Annotated[Path | None, typer.Option(help="Write here instead of printing.")] = None,
) -> None:
    """Print the JSON Schema of run configs or sweep specs (for editor completion)."""
    text = json.dumps(json_schema(Kind(kind).value), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


if __name__ == "__main__":  # pragma: no cover
    print(config_markdown(), end="")
