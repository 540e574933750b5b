"""The two Dukascopy tick sources behind one interface, so users switch with `--source` alone."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np

from hft.data.bi5 import decode_bi5
from hft.data.instruments import Instrument
from hft.data.jsonapi import decode_json_hour
from hft.errors import ConfigError

__all__ = ["Source", "Bi5Source", "JsonApiSource", "get_source", "SOURCES", "feed_base_url", "check_feed_url"]


class Source(Protocol):
    name: str
    default_base: str

    def url(self, base: str, instrument: Instrument, hour: datetime) -> str: ...

    def decode(self, body: bytes, instrument: Instrument, hour: datetime) -> np.ndarray: ...


@dataclass(frozen=True)
class Bi5Source:
    """Classic datafeed: `{base}/{SYMBOL}/{YYYY}/{MM-1:02}/{DD:02}/{HH:02}h_ticks.bi5` (zero-based month)."""

    name: str = "bi5"
    default_base: str = "https://datafeed.dukascopy.com/datafeed"

    def url(self, base: str, instrument: Instrument, hour: datetime) -> str:
        return (
            f"{base.rstrip('/')}/{instrument.symbol}/{hour.year:04d}/{hour.month - 1:02d}/"
            f"{hour.day:02d}/{hour.hour:02d}h_ticks.bi5"
        )

    def decode(self, body: bytes, instrument: Instrument, hour: datetime) -> np.ndarray:
        return decode_bi5(body, symbol=instrument.symbol, hour=hour, decimal_factor=instrument.decimal_factor)


@dataclass(frozen=True)
class JsonApiSource:
    """Newer JSON tick API: `{base}/ticks/{BASE-QUOTE}/{YYYY}/{M}/{D}/{H}` (one-based, unpadded)."""

    name: str = "json"
    default_base: str = "https://jetta.dukascopy.com/v1"

    def url(self, base: str, instrument: Instrument, hour: datetime) -> str:
        return (
            f"{base.rstrip('/')}/ticks/{instrument.json_api_pair}/{hour.year}/{hour.month}/"
            f"{hour.day}/{hour.hour}"
        )

    def decode(self, body: bytes, instrument: Instrument, hour: datetime) -> np.ndarray:
        return decode_json_hour(
            body, symbol=instrument.symbol, hour=hour, decimal_factor=instrument.decimal_factor
        )


SOURCES: dict[str, Source] = {"bi5": Bi5Source(), "json": JsonApiSource()}


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown --source {name!r}; choose one of {', '.join(SOURCES)}") from None


def check_feed_url(url: str, where: str = "--feed-url") -> str:
    """An http(s) URL with a host, or a `ConfigError` saying what to write (before any Ray starts)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{where} {url!r} is not an http:// or https:// URL with a host "
            f"(e.g. http://127.0.0.1:8765 for `hft feed serve`)"
        )
    return url.strip()


def feed_base_url(source: Source, override: str | None = None) -> str:
    """`--feed-url`, else `HFT_FEED_URL`, else the source's public root."""
    if override:
        return check_feed_url(override)
    env = os.environ.get("HFT_FEED_URL")
    return check_feed_url(env, "$HFT_FEED_URL") if env else source.default_base
