"""When a market should trade, hour by hour: how ingest tells a closed hour from a lost one.

An empty 200 body is how the feed says "no ticks this hour", and also what a glitching feed or proxy
sends. Only a calendar can tell them apart, so one is used where it is honest, and nowhere else:

- **FX** (both sides ISO currencies) and **metals** (XAU, XAG, XPT, XPD against a currency or metal)
  close for the weekend from Friday 17:00 New York to Sunday 17:00 (FX) or 18:00 (metals) New York,
  i.e. Friday 21:00/22:00 UTC to Sunday 21:00/22:00 (FX) or 22:00/23:00 (metals) UTC with daylight
  saving. The hour holding the boundary may go either way (`maybe`), hours clearly inside the weekend
  are `closed`, every other hour is `open`. Metals also pause for an hour every day at 17:00 New
  York (21:00 or 22:00 UTC): both candidate hours are `maybe`, but at most one may be empty.
- Thin or closed days: 24 Dec and 31 Dec from 17:00 UTC, 25 Dec, 1 Jan and Good Friday are `maybe`.
- **Crypto** (a non-currency base against a currency) trades 24/7: every hour is `open`.
- Everything else (stocks, indices, commodities, bonds) has exchange hours and holidays this table
  does not know: every hour is `maybe`.
- Hours before the instrument's first tick are `closed`.

`open` hours that stay empty after being fetched again are flagged `suspect_empty` (the command fails
naming them until a rerun fills them or `--accept-empty` accepts them); `maybe` hours are fetched
again when empty and then trusted; `closed` hours are fetched once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Literal

from dateutil.easter import easter

from hft.data.instruments import get_instrument

__all__ = ["Expect", "market_kind", "day_expectations", "break_pair"]

Expect = Literal["open", "maybe", "closed"]

FX_CODES = frozenset(
    {
        "AED",
        "AUD",
        "CAD",
        "CHF",
        "CNH",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "ILS",
        "JPY",
        "MXN",
        "NOK",
        "NZD",
        "PLN",
        "RON",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TRY",
        "USD",
        "ZAR",
    }
)
METAL_CODES = frozenset({"XAU", "XAG", "XPT", "XPD"})


@cache
def market_kind(symbol: str) -> str:
    """`fx`, `metal`, `crypto` or `other` (no calendar known)."""
    name = get_instrument(symbol).name
    base, sep, quote = name.partition("/")
    if not sep or len(base) != 3 or len(quote) != 3 or not (base + quote).isalpha():
        return "other"
    if base in METAL_CODES and (quote in FX_CODES or quote in METAL_CODES):
        return "metal"
    if base in FX_CODES and quote in FX_CODES:
        return "fx"
    if quote in FX_CODES:
        return "crypto"
    return "other"


def _holiday_hours(day: date) -> range:
    if (day.month, day.day) in ((12, 25), (1, 1)) or day == easter(day.year) - timedelta(days=2):
        return range(24)
    if (day.month, day.day) in ((12, 24), (12, 31)):
        return range(17, 24)
    return range(0)


def day_expectations(symbol: str, day: date) -> dict[str, Expect]:
    """`{"00": "open", ...}`: whether each UTC hour of `day` should have ticks (see module doc)."""
    kind = market_kind(symbol)
    out: dict[int, Expect] = dict.fromkeys(
        range(24), "open" if kind in ("fx", "metal", "crypto") else "maybe"
    )
    if kind in ("fx", "metal"):
        wd = day.weekday()
        if kind == "metal":
            for h in (21, 22):
                out[h] = "maybe"
        if wd == 5:
            out = dict.fromkeys(range(24), "closed")
        elif wd == 4:  # closes 17:00 New York: 21:00 UTC in summer, 22:00 in winter
            out[21] = "maybe"
            for h in (22, 23):
                out[h] = "closed"
        elif wd == 6:  # opens 17:00 (FX) or 18:00 (metals) New York
            opening = 21 if kind == "fx" else 22
            for h in range(opening):
                out[h] = "closed"
            out[opening] = "maybe"
        for h in _holiday_hours(day):
            if out[h] == "open":
                out[h] = "maybe"
    first = get_instrument(symbol).first_tick_hour
    if first is not None:
        for h in range(24):
            if datetime(day.year, day.month, day.day, h, tzinfo=UTC).timestamp() + 3600 <= first.timestamp():
                out[h] = "closed"
    return {f"{h:02d}": v for h, v in out.items()}


def break_pair(symbol: str, day: date) -> tuple[str, str] | None:
    """The two hours of which at most one may be empty (the metals' daily pause), or None."""
    if market_kind(symbol) != "metal" or day.weekday() > 3 or _holiday_hours(day):
        return None
    return ("21", "22")
