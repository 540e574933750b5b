from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from hft.data.synth import synth_day
from hft.store.ticks import write_day

ROOT = Path(__file__).resolve().parents[2]
GATED = "tests.sweep.gated_strategy"
START = date(2024, 3, 4)  # Mon..Fri: five trading days
DAYS = 5


def spec_dict(store: str, name: str, **over) -> dict:
    """A small ema_cross sweep over the synthetic week; keyword arguments replace top-level keys."""
    raw = {
        "name": name,
        "data": {"symbol": "XAUUSD", "start": START, "end": START + timedelta(days=DAYS - 1), "store": store},
        "strategy": {"name": "ema_cross"},
        "execution": {"size": 1, "latency_ms": 20, "slippage": 0.01, "taker_per_unit": 0.02},
        "space": {
            "fast": {"type": "int", "low": 5, "high": 50},
            "slow": {"type": "int", "low": 60, "high": 400, "step": 20},
        },
        "sampler": {"type": "random", "seed": 3},
        "objectives": [{"metric": "net_pnl", "direction": "maximize"}],
        "n_trials": 8,
        "resources": {"batch": 2, "actors": 2},
    }
    raw.update(over)
    return raw


@pytest.fixture(scope="session")
def week_ticks(tmp_path_factory) -> Path:
    """Five days of sparse synthetic XAU/USD (activity 0.05: ~25 K ticks a day) in the tick layout."""
    root = tmp_path_factory.mktemp("sweep-ticks")
    for i in range(DAYS):
        day = START + timedelta(days=i)
        write_day(str(root), "XAUUSD", day, synth_day("XAUUSD", day, seed=5, activity=0.05))
    return root


@pytest.fixture
def week_store(week_ticks, tmp_path) -> str:
    """A private copy of the week per test: no runs, studies or reused results shared between tests."""
    dst = tmp_path / "store"
    shutil.copytree(week_ticks, dst)
    return str(dst)


def gated_spec(store: str, name: str, gate: Path, **over) -> dict:
    """`spec_dict` on the `gated_ema` test strategy: its trials hold while `{gate}/hold` exists."""
    raw = spec_dict(store, name, **over)
    raw["strategy"] = {"name": "gated_ema", "module": GATED, "params": {"gate": str(gate)}}
    return raw


def python_path_env() -> dict[str, str]:
    """This environment with the repository first on PYTHONPATH (the gated strategy in subprocesses)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture(scope="module")
def ray_module():
    """A real local Ray for one test module, through hft.rayenv; shut down only if we started it."""
    import ray

    from hft.rayenv import init_ray

    started = not ray.is_initialized()
    with pytest.MonkeyPatch.context() as mp:  # workers copy it at spawn: they import the gated strategy
        mp.setenv("PYTHONPATH", python_path_env()["PYTHONPATH"])
        init_ray(num_cpus=2, object_store_memory=256 * 1024**2)
    yield ray
    if started:
        ray.shutdown()
