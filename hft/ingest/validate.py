"""Tick validation: drop what no strategy should ever see, and count every drop."""

from __future__ import annotations

import numpy as np

__all__ = ["DROP_REASONS", "clean_ticks"]

DROP_REASONS = ("non_positive", "crossed", "out_of_order")


def clean_ticks(ticks: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Drop non-finite or non-positive prices, crossed quotes (bid > ask), then out-of-order ticks.

    A tick is out of order when its time is earlier than a tick kept before it. The running maximum
    of all earlier times equals the last kept time (a dropped tick never raises it), so one
    vectorised pass is exact. Equal times are kept: several quotes in one millisecond are normal.
    """
    counts = dict.fromkeys(DROP_REASONS, 0)
    if ticks.size == 0:
        return ticks, counts
    bid, ask = ticks["bid"], ticks["ask"]
    positive = np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask > 0)
    crossed = positive & (bid > ask)
    counts["non_positive"] = int(ticks.size - positive.sum())
    counts["crossed"] = int(crossed.sum())
    kept = ticks[positive & ~crossed] if counts["non_positive"] or counts["crossed"] else ticks
    if kept.size > 1:
        ts = kept["ts"]
        in_order = np.ones(ts.size, dtype=bool)
        in_order[1:] = ts[1:] >= np.maximum.accumulate(ts)[:-1]
        dropped = int(ts.size - in_order.sum())
        if dropped:
            counts["out_of_order"] = dropped
            kept = kept[in_order]
    return kept, counts
