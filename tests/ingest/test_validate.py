from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hft.data.ticks import TICK_DTYPE
from hft.ingest.validate import clean_ticks


def _make(rows):
    t = np.zeros(len(rows), dtype=TICK_DTYPE)
    for i, (ts, bid, ask) in enumerate(rows):
        t[i]["ts"], t[i]["bid"], t[i]["ask"] = ts, bid, ask
    return t


def test_each_reason_counted():
    t = _make([(1, 1.0, 1.1), (2, 1.2, 1.1), (3, 0.0, 1.1), (0, 1.0, 1.1), (4, np.nan, 1.1), (4, 1.0, 1.0)])
    clean, counts = clean_ticks(t)
    assert counts == {"non_positive": 2, "crossed": 1, "out_of_order": 1}
    assert clean["ts"].tolist() == [1, 4]


def _reference(rows):
    kept, counts, last = [], {"non_positive": 0, "crossed": 0, "out_of_order": 0}, None
    for ts, bid, ask in rows:
        if not (np.isfinite(bid) and np.isfinite(ask) and bid > 0 and ask > 0):
            counts["non_positive"] += 1
        elif bid > ask:
            counts["crossed"] += 1
        elif last is not None and ts < last:
            counts["out_of_order"] += 1
        else:
            kept.append(ts)
            last = ts
    return kept, counts


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 50),
            st.sampled_from([1.0, 1.1, 1.2, 0.0, -1.0, float("nan")]),
            st.sampled_from([1.0, 1.1, 1.2, 0.0, float("inf")]),
        ),
        max_size=60,
    )
)
def test_matches_a_tick_by_tick_reference(rows):
    clean, counts = clean_ticks(_make(rows))
    kept, ref_counts = _reference(rows)
    assert clean["ts"].tolist() == kept
    assert counts == ref_counts
