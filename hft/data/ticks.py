"""The one in-memory tick layout every stage agrees on."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

__all__ = ["TICK_DTYPE", "empty_ticks", "HOUR_MS", "hour_ms", "hour_label"]

#: Decoded ticks: epoch milliseconds (UTC), prices in price units, volumes as the feed gives them.
TICK_DTYPE = np.dtype(
    [
        ("ts", "<i8"),
        ("ask", "<f8"),
        ("bid", "<f8"),
        ("ask_volume", "<f4"),
        ("bid_volume", "<f4"),
    ]
)

HOUR_MS = 3_600_000


def empty_ticks() -> np.ndarray:
    return np.empty(0, dtype=TICK_DTYPE)


def hour_ms(hour: datetime) -> int:
    """Epoch ms of a (UTC or naive-as-UTC) hour start."""
    if hour.tzinfo is None:
        hour = hour.replace(tzinfo=UTC)
    if hour.minute or hour.second or hour.microsecond:
        raise ValueError(f"{hour.isoformat()} is not the start of an hour")
    return int(hour.timestamp()) * 1000


def hour_label(hour: datetime) -> str:
    """`2023-02-20T12` — how errors and manifests name an hour."""
    return hour.strftime("%Y-%m-%dT%H")
