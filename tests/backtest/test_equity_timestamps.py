"""Equity and trade artifacts are in time order, and a day's close sits at 24:00 of that day.

The daily close used to carry the day's *start* time (and sit out of order), so every plot drew a
false spike at each UTC midnight. Oracle: the documented rule "close stamped at the next 00:00 UTC,
after every sample of its day", and flat-over-midnight means the equity cannot move across it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml

from hft.backtest import run_backtest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _flat_overnight_config(tmp_path: Path) -> Path:
    doc = yaml.safe_load((CONFIGS / "ema_cross.yaml").read_text())
    doc["data"].pop("store", None)
    # forced flat outside 08:00-16:00 UTC, so every midnight is crossed with no position
    doc["execution"]["trading_hours"] = {"start": "08:00", "end": "16:00"}
    p = tmp_path / "flat.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_artifacts_are_time_ordered_and_flat_midnights_show_no_spike(tmp_path, store_copy):
    out = run_backtest(_flat_overnight_config(tmp_path), store=store_copy)
    eq = pl.read_parquet(Path(out.folder, "equity.parquet"))
    tr = pl.read_parquet(Path(out.folder, "trades.parquet"))
    assert tr.height > 0 and tr["exit_time"].is_sorted() and tr["entry_time"].is_sorted()
    assert eq["ts"].is_sorted()  # the file itself, not a sorted copy
    ms = eq["ts"].dt.epoch("ms")
    closes = eq.with_row_index("i").filter(pl.col("day_close"))
    assert closes.height == 2  # 2019-02-04 and 2019-02-05
    day = 86_400_000
    for i, ts, equity in closes.select("i", pl.col("ts").dt.epoch("ms"), "equity").iter_rows():
        assert ts % day == 0  # 24:00 of its day = the next day's 00:00
        day_rows = ms.filter((ms >= ts - day) & (ms < ts))
        assert day_rows.len() > 0 and eq["day_close"][i - 1] is False  # after every sample of its day
        # flat from 16:00: the last sample of the day, the close and the next sample agree
        assert eq["position"][i - 1] == 0.0 and eq["equity"][i - 1] == equity
        if i + 1 < eq.height:
            assert eq["equity"][i + 1] == equity
    # no spike: over 20:00-04:00 around each midnight the curve is constant
    night = eq.filter(((ms % day) >= 20 * 3_600_000) | ((ms % day) < 4 * 3_600_000))
    assert night.height > 100 and (night["position"] == 0.0).all()
    for _, grp in night.group_by((pl.col("ts").dt.epoch("ms") + 4 * 3_600_000) // day):
        assert grp["equity"].n_unique() == 1
