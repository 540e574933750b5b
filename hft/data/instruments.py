"""Instrument table: Dukascopy symbols and the decimal factor that turns integer prices into prices.

Generated from dukascopy-node's instrument metadata by `tools/gen_instruments.py`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files

from hft.errors import UnknownSymbolError

__all__ = ["Instrument", "get_instrument", "all_symbols", "normalise_symbol"]


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str  # feed spelling, e.g. "XAUUSD"
    name: str  # display spelling, e.g. "XAU/USD"
    decimal_factor: int  # integer price units per 1.0 of price
    first_tick_hour: datetime | None

    @property
    def json_api_pair(self) -> str:
        """The JSON tick API's `BASE-QUOTE` spelling (`XAU-USD`)."""
        return self.name.replace("/", "-")


@cache
def _table() -> dict[str, list]:
    return json.loads(files("hft.data").joinpath("instruments.json").read_text())


def normalise_symbol(symbol: str) -> str:
    """`xau/usd`, `XAU-USD` and `XAUUSD` all name the same instrument."""
    return symbol.strip().upper().replace("/", "").replace("-", "").replace("_", "")


def all_symbols() -> list[str]:
    return sorted(_table())


@cache
def get_instrument(symbol: str) -> Instrument:
    key = normalise_symbol(symbol)
    row = _table().get(key)
    if row is None:
        close = difflib.get_close_matches(key, _table().keys(), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownSymbolError(f"unknown symbol {symbol!r}{hint} (see `hft symbols`)")
    name, factor, first = row
    first_dt = datetime.fromisoformat(first.replace("Z", "+00:00")) if first else None
    return Instrument(key, name, int(factor), first_dt)
