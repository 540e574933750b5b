from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from hft.reduce.synth import write_runs
from hft.store.fs import Store

N_LOCAL = 90


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> tuple[str, list[dict]]:
    """A runs folder of synthetic but complete run folders (summary, trades, equity)."""
    root = tmp_path_factory.mktemp("reduce") / "store" / "runs"
    rows = write_runs(Store(str(root)), N_LOCAL, groups=3, seed=1)
    return str(root), rows


@pytest.fixture
def runs_copy(tmp_path, runs_dir) -> tuple[str, list[dict]]:
    dst = tmp_path / "store" / "runs"
    shutil.copytree(runs_dir[0], dst)
    return str(dst), runs_dir[1]


def eager_top(rows: list[dict], by: str, top: int, descending: bool = True) -> list[str]:
    """Independent leaderboard: plain Python sort over the rows the runs were written from."""
    ok = [r for r in rows if r.get(by) is not None and math.isfinite(r[by])]
    ok.sort(key=lambda r: ((-r[by] if descending else r[by]), r["run_id"]))
    return [r["run_id"] for r in ok[:top]]


def folder_of(root: str, row: dict) -> Path:
    return Path(root) / row["group"] / row["run_id"]
