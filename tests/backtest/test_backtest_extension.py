"""A strategy written outside the engine runs by name and obeys the same execution rules."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hft.backtest import load_config, run_backtest
from hft.engine import Run, StrategySpec, exec_params
from hft.errors import ConfigError
from tests.terminal import run_in_terminal, screen

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))


def test_user_strategy_runs_by_name_from_a_config(store_copy):
    out = run_backtest(ROOT / "examples/momentum.yaml", store=store_copy)
    assert out.summary["metrics"]["trades"] > 5
    assert out.summary["config"]["strategy"]["params"] == {"lookback": 500, "band": 0.0002}

    # same engine, same rules: compare with a plain-Python momentum over the stored ticks
    from examples.momentum_strategy import tick_momentum_nb
    from hft.store.ticks import read_ticks

    ticks = read_ticks(
        store_copy, "EURUSD", *(np.datetime64(d, "D").astype(object) for d in ("2019-02-04", "2019-02-05"))
    )
    mid = (ticks["bid"] + ticks["ask"]) * 0.5
    move = np.full(mid.size, np.nan)
    move[500:] = mid[500:] - mid[:-500]
    want = np.where(move > 0.0002, 1, np.where(move < -0.0002, -1, 0))
    ss = np.zeros(502)
    got = np.array(
        [
            tick_momentum_nb(0, b, a, 0.0, ss, np.array([500.0, 0.0002]), np.zeros(2))
            for b, a in zip(ticks["bid"], ticks["ask"], strict=True)
        ]
    )
    np.testing.assert_array_equal(got[500:], want[500:])
    assert (got[:500] == 0).all()

    run = Run(
        StrategySpec("m", tick_momentum_nb, lambda sp: 502),
        np.array([500.0, 0.0002]),
        exec_params(size=100_000, latency_ms=50, slippage=0.00001, taker_per_unit=0.00002, stop_loss=0.001),
    )
    run.feed(ticks["ts"], ticks["bid"], ticks["ask"])
    assert len(run.finish().trades) == out.summary["metrics"]["trades"]


def test_user_strategy_params_are_validated(tmp_path):
    doc = yaml.safe_load((ROOT / "examples/momentum.yaml").read_text())
    doc["strategy"]["params"]["lookback"] = 0
    doc["strategy"]["module"] = str(ROOT / "examples" / "momentum_strategy.py")  # the copy lives elsewhere
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(
        ConfigError, match=r"m\.yaml: strategy\.params\.lookback: .*greater than or equal to 1"
    ):
        load_config(path)
    doc["strategy"]["module"] = "examples.not_there"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"strategy\.module: cannot import 'examples\.not_there'"):
        load_config(path)
    assert "examples.not_there" not in sys.modules


# --- the `hft` command with user strategies: imports from anywhere, Ray workers, tools ---------------

HFT = [sys.executable, "-m", "hft.cli"]


def _hft(args, cwd, **env):
    import os
    import subprocess

    e = {**os.environ, "PYTHONPATH": str(ROOT), **env}  # hft itself; never the strategy's folder
    return subprocess.run([*HFT, *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=900)


def _sma_files(folder: Path, store: str, module: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sma_cross.py").write_text((ROOT / "examples/sma_cross.py").read_text())
    cfg = folder / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data": {"symbol": "EURUSD", "start": "2019-02-04", "end": "2019-02-05", "store": store},
                "strategy": {"name": "sma_cross", "module": module, "params": {"n": 300}},
                "execution": {"size": 100000, "latency_ms": 49.5},
            }
        )
    )
    return cfg


def test_hft_run_imports_a_strategy_file_or_a_dotted_name_from_the_config_folder(tmp_path, store_copy):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cfg = _sma_files(tmp_path / "strats", store_copy, "./sma_cross.py")
    out = _hft(["run", str(cfg)], cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    assert "computed:" in out.stdout and "sma_cross" in out.stdout
    # a dotted name: a package beside the config, run from another folder
    pkg = tmp_path / "pkgcfg" / "mystrats"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sma.py").write_text((ROOT / "examples/sma_cross.py").read_text())
    cfg2 = _sma_files(tmp_path / "pkgcfg", store_copy, "mystrats.sma")
    out = _hft(["run", str(cfg2), "--force"], cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    # and the repository's example, from any folder
    out = _hft(["run", str(ROOT / "examples/momentum.yaml"), "--store", store_copy], cwd=elsewhere)
    assert out.returncode == 0, out.stderr


def test_hft_run_names_a_missing_strategy_file(tmp_path, store_copy):
    cfg = _sma_files(tmp_path / "s", store_copy, "./not_here.py")
    out = _hft(["run", str(cfg)], cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert "strategy.module: no file './not_here.py' in" in out.stderr
    out = _hft(["--debug", "run", str(cfg)], cwd=tmp_path)  # the global option: the traceback too
    assert out.returncode == 2 and "Traceback" in out.stderr and "no file './not_here.py'" in out.stderr


def test_hft_run_undersized_state_is_one_line_naming_the_strategy_and_the_fix(tmp_path, store_copy):
    src = (ROOT / "examples/momentum_strategy.py").read_text().replace("return 2 + self.lookback", "return 3")
    src = src.replace('"tick_momentum"', '"tick_momentum_bad"')
    (tmp_path / "bad_momentum.py").write_text(src)
    doc = yaml.safe_load((ROOT / "examples/momentum.yaml").read_text())
    doc["strategy"].update(name="tick_momentum_bad", module="./bad_momentum.py")
    doc["data"]["store"] = store_copy
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc))
    out = _hft(["run", "bad.yaml"], cwd=tmp_path)
    assert out.returncode == 2, out.stdout
    line = out.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "bad_momentum.py: tick_momentum_nb: strategy 'tick_momentum_bad' indexed outside its state" in line
    assert "make state_size() return every slot the signal uses" in line


def test_strategy_new_writes_a_template_that_check_passes(tmp_path):
    out = _hft(["strategy", "new", "my_sma", "--out", "s"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "s/my_sma.py").is_file() and (tmp_path / "s/my_sma.yaml").is_file()
    again = _hft(["strategy", "new", "my_sma", "--out", "s"], cwd=tmp_path)
    assert again.returncode == 2 and "already exists (pass --force" in again.stderr
    # at an 80-column terminal: its status line while it compiles, the checks, the speed table
    code, raw = run_in_terminal([*HFT, "strategy", "check", "s/my_sma.py", "--ticks", "30000"], cwd=tmp_path)
    seen = screen(raw)
    assert code == 0, seen
    wants = ("bounds-checked", "ok    repeatable", "bit-identical", "ok    no look-ahead", "M ticks/s")
    for want in (*wants, "sweep space"):
        assert want in seen
    assert "strategy check: compiling s/my_sma.py, bounds-checked (a few seconds)" in seen
    speed = seen.split("Speed on 30,000 synthetic ticks (built-in: ema_cross)")[1]
    assert max(len(line) for line in speed.splitlines()) <= 80, speed
    head, _, row = [line.split() for line in speed.strip().splitlines()[:3]]
    assert head == ["strategy", "M", "ticks/s", "built-in", "M", "ticks/s", "relative", "speed"]
    assert row[0] == "my_sma" and float(row[1]) / float(row[2]) == pytest.approx(float(row[3]), rel=0.02)
    doc = yaml.safe_load((tmp_path / "s/my_sma.yaml").read_text())
    assert doc["strategy"] == {"name": "my_sma", "module": "./my_sma.py", "params": {"n": 500}}


def test_strategy_check_one_line_error_and_traceback_only_with_debug(tmp_path):
    (tmp_path / "leaky.py").write_text(
        "import numpy as np\nfrom hft.strategy import strategy, njit\nCOUNT = np.zeros(1)\n"
        "@strategy('leaky', state={'x': 0.0})\n@njit\n"
        "def leaky(t, bid, ask, pos, s, w, p, quotes):\n"
        "    COUNT[0] += 1.0  # globals are constants in compiled code: state belongs in `state`\n"
        "    return 0\n"
    )
    out = _hft(["strategy", "check", "leaky.py", "--ticks", "5000"], cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    line = out.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "leaky.py: leaky: strategy 'leaky' does not compile:" in line and "(line 7)" in line
    out = _hft(["strategy", "check", "leaky.py", "--ticks", "5000", "--debug"], cwd=tmp_path)
    assert out.returncode != 0 and "Traceback" in out.stderr
    out = _hft(["--debug", "strategy", "check", "leaky.py", "--ticks", "5000"], cwd=tmp_path)
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_a_worker_runs_the_text_the_driver_imported_not_the_file_now_at_that_path(tmp_path):
    import os
    import subprocess

    from hft.backtest.params import CODE_ENV, import_strategy_module, user_runtime_env

    path = tmp_path / "shipped_sma.py"
    path.write_text((ROOT / "examples/sma_cross.py").read_text().replace('"sma_cross"', '"shipped_sma"'))
    import_strategy_module(str(path))  # the driver imports it, then the file changes on disk
    path.write_text("raise RuntimeError('the file on disk was imported, not the shipped text')\n")
    env = user_runtime_env()["env_vars"]  # what every sweep actor gets
    probe = (
        "import sys; from hft.backtest.params import get_strategy; "
        "print(get_strategy('shipped_sma', sys.argv[1]).signal.py_func.__code__.co_filename)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), CODE_ENV: env[CODE_ENV]},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    ran = Path(out.stdout.strip())
    assert ran.name == "shipped_sma.py" and ran.parent.name.startswith("hft-user-code-")
    assert '"shipped_sma"' in ran.read_text() and ran != path


@pytest.mark.slow
def test_hft_sweep_ships_a_strategy_file_to_local_ray_workers(tmp_path):
    from datetime import date, timedelta

    from hft.data.synth import synth_day
    from hft.store.ticks import write_day

    store = tmp_path / "store"
    for i in range(2):
        day = date(2024, 3, 4) + timedelta(days=i)
        write_day(str(store), "XAUUSD", day, synth_day("XAUUSD", day, seed=5, activity=0.05))
    folder = tmp_path / "strats"
    folder.mkdir()
    (folder / "sma_cross.py").write_text((ROOT / "examples/sma_cross.py").read_text())
    spec = {
        "name": "sma_sweep",
        "data": {"symbol": "XAUUSD", "start": "2024-03-04", "end": "2024-03-05", "store": str(store)},
        "strategy": {"name": "sma_cross", "module": "./sma_cross.py"},
        "execution": {"size": 1, "latency_ms": 20.5},
        "space": {"n": {"type": "int", "low": 50, "high": 500}},
        "sampler": {"type": "random", "seed": 1},
        "objectives": [{"metric": "net_pnl", "direction": "maximize"}],
        "n_trials": 4,
        "resources": {"batch": 2, "actors": 2},
    }
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _hft(["sweep", str(folder / "sweep.yaml")], cwd=elsewhere)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "4 complete, 0 pruned, 0 failed" in out.stdout
    # each start-up phase said: Ray, then the actors' one-time compile and cache warm-up
    assert "sweep sma_sweep: starting Ray (local)" in out.stdout
    assert "compiles the engine's kernels on its first trial (one-time, cached on disk)" in out.stdout
