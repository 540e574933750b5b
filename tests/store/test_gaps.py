"""Runs over holes in the data say so: `data.gaps` in summary.yaml and a warning from `hft run`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import yaml

from hft.data.synth import synth_day
from hft.store import open_store, write_day
from hft.store.gaps import data_gaps
from hft.store.ticks import partition_parts

MON, TUE, WED, THU, SAT = (date(2024, 3, d) for d in (4, 5, 6, 7, 9))


def _hours(**special: str) -> dict:
    hours = {f"{h:02d}": {"status": "ok"} for h in range(24)}
    for h, status in special.items():
        hours[h[1:]] = {"status": status}
    return hours


def _store(tmp_path):
    st = open_store(str(tmp_path / "s"))
    ticks = synth_day("XAUUSD", MON, seed=3, activity=0.01)
    hours = _hours(h10="failed", h11="suspect_empty")
    del hours["23"]  # a manifest that never mentions hour 23
    write_day(st, "XAUUSD", MON, ticks, {"hours": hours})
    write_day(st, "XAUUSD", WED, synth_day("XAUUSD", WED, seed=3, activity=0.01), {"hours": _hours()})
    write_day(
        st, "XAUUSD", THU, synth_day("XAUUSD", THU, seed=3, activity=0.01), {"hours": _hours(h22="pending")}
    )
    return st


EXPECTED = [
    {"day": "2024-03-04", "hours": {"failed": ["10"], "suspect_empty": ["11"], "missing": ["23"]}},
    {"day": "2024-03-05", "status": "missing"},
    {"day": "2024-03-07", "hours": {"pending": ["22"]}},
]


def test_gaps_name_days_and_hours_by_status(tmp_path):
    st = _store(tmp_path)
    assert data_gaps(st, "XAUUSD", MON, THU) == EXPECTED
    # an unstored Saturday is no gap (the market is closed); a data file without manifest is
    assert data_gaps(st, "XAUUSD", SAT, SAT) == []
    st.fs.rm(st.path(*partition_parts("XAUUSD", WED), "_manifest.json"))
    assert data_gaps(st, "XAUUSD", WED, WED) == [
        {"day": "2024-03-06", "status": "no_manifest", "detail": "manifest missing"}
    ]


def test_hft_run_records_the_gaps_and_warns(tmp_path):
    st = _store(tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "group": "gaps",
                "data": {"symbol": "XAUUSD", "store": st.url, "start": str(MON), "end": str(THU)},
                "strategy": {"name": "ema_cross", "params": {"fast": 20, "slow": 100}},
                "execution": {"size": 1, "capital": 100000},
            }
        )
    )
    res = subprocess.run(
        [sys.executable, "-m", "hft.cli", "run", str(config)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    warning = [line for line in res.stderr.splitlines() if line.startswith("warning: the data has gaps")]
    assert warning == [
        "warning: the data has gaps (2024-03-04 failed 10 suspect_empty 11 missing 23; "
        "2024-03-07 pending 22); recorded under data.gaps in summary.yaml"
    ]
    assert "2024-03-05" in res.stderr  # the day with nothing stored is named by the line before the run
    (summary,) = (tmp_path / "s" / "runs" / "gaps").glob("*/summary.yaml")
    assert yaml.safe_load(summary.read_text())["data"]["gaps"] == EXPECTED
