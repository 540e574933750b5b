"""`hft strategy check` fails strategies that keep state outside their declaration; bad strategies
end `hft strategy check` and `hft run` with one line naming the file, the function and the field."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = Path(__file__).parent / "leaky" / "hidden_state.py"
CHECKS = ("repeatable", "chunked = unchunked", "no look-ahead")


def _hft(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # hft itself; never the strategy's folder
    cmd = [sys.executable, "-m", "hft.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _reports(stdout: str) -> dict[str, list[str]]:
    """The check lines printed under each `strategy NAME (FILE)` header."""
    out: dict[str, list[str]] = {}
    name = None
    for line in stdout.splitlines():
        if line.startswith("strategy "):
            name = line.split()[1]
            out[name] = []
        elif name and line.startswith("  "):
            out[name].append(line.strip())
    return out


def test_check_fails_each_way_of_keeping_state_outside_the_declaration(tmp_path):
    out = _hft(["strategy", "check", str(HIDDEN), "--ticks", "30000"], cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    reps = _reports(out.stdout)
    assert sorted(reps) == ["peek", "seeded_coin", "state_coin"]
    failed = {
        name: {line.removeprefix("FAIL  ").split(":")[0] for line in lines if line.startswith("FAIL")}
        for name, lines in reps.items()
    }
    assert failed["seeded_coin"] == {"chunked = unchunked"}  # seeded per run: only a batch shows it
    assert failed["peek"] == set(CHECKS)  # reads the mid a minute ahead from an earlier pass
    assert failed["state_coin"] == set()  # the fix: the generator in declared state
    assert all(any(line.startswith(f"ok    {c}") for line in reps["state_coin"]) for c in CHECKS)
    for name in ("seeded_coin", "peek"):
        for line in (x for x in reps[name] if x.startswith("FAIL")):
            # one line: the check, the file and the function, what happened, what to do
            assert f"hidden_state.py: {name}: " in line, line
            assert "declared state" in line, line
    (seeded,) = [x for x in reps["seeded_coin"] if x.startswith("FAIL")]
    assert re.search(r"batched with a copy of itself over \d+ chunks, config [12] of 2 gives other", seeded)
    (ahead,) = [x for x in reps["peek"] if x.startswith("FAIL  no look-ahead")]
    assert "changed when only ticks 10,000..20,000 changed" in ahead
    errors = out.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in out.stderr
    assert errors[0].endswith(
        f"{HIDDEN}: strategy 'seeded_coin' failed chunked = unchunked (its FAIL lines above say what to fix)"
    )
    assert f"{HIDDEN}: strategy 'peek' failed repeatable, chunked = unchunked, no look-ahead" in errors[1]


# --- bad strategies through `hft strategy check` and `hft run`: one line, no traceback --------------

_HEAD = (
    "import numpy as np\nfrom numba import objmode\nfrom hft.strategy import Param, Window, strategy, njit\n"
)


def _strategy_file(folder: Path, name: str, body: str, state: str = '{"x": 0.0}') -> Path:
    path = folder / f"{name}.py"
    path.write_text(
        _HEAD + f"@strategy({name!r}, params={{'k': Param(2, ge=1, le=10)}}, state={state})\n@njit\n"
        f"def {name}(t, bid, ask, pos, s, w, p, quotes):\n    {body}\n"
    )
    return path


BAD = {
    # name: (function body, state, params given, what the line must say)
    "b_compile": ("return np.int64(q.k)", None, {}, "does not compile: NameError: name 'q' is not defined"),
    "b_float": ("return bid * p.k", None, {}, "returns float64, not an integer"),
    "b_decl": ("return 0", '{"m": Window("n")}', {}, "state.m: 'n' is not one of the params ['k']"),
    "b_range": ("return 0", None, {"k": 11}, "params.k: Input should be less than or equal to 10"),
    "b_objmode": (
        'with objmode(y="float64"):\n        y = 1.0\n    return np.int64(y)',
        None,
        {},
        "a `with` block (numba.objmode) cannot run in a strategy",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_strategy_is_one_line_naming_file_function_and_field(tmp_path, store_copy, name):
    body, state, params, want = BAD[name]
    _strategy_file(tmp_path, name, body, state or '{"x": 0.0}')
    args = [f"--param=k={v}" for v in params.values()] if params else []
    (tmp_path / "run.yaml").write_text(
        yaml.safe_dump(
            {
                "data": {"symbol": "EURUSD", "start": "2019-02-04", "end": "2019-02-04", "store": store_copy},
                "strategy": {"name": name, "module": f"./{name}.py", "params": params},
                "execution": {"size": 100000, "latency_ms": 50},
            }
        )
    )
    for cmd in (["strategy", "check", f"{name}.py", "--ticks", "1000", *args], ["run", "run.yaml"]):
        out = _hft(cmd, cwd=tmp_path)
        assert out.returncode == 2, (cmd, out.stdout, out.stderr)
        line = out.stderr.strip()
        assert "\n" not in line and "Traceback" not in line, (cmd, line)
        assert want in line, (cmd, line)
        where = "run.yaml: strategy." if cmd[0] == "run" and name == "b_range" else ""
        assert where in line and f"{name}.py: {name}" in line, (cmd, line)


def test_hft_debug_run_shows_numbas_report_for_a_strategy_that_does_not_compile(tmp_path, store_copy):
    _strategy_file(tmp_path, "b_debug", "return np.int64(q.k)")
    (tmp_path / "run.yaml").write_text(
        yaml.safe_dump(
            {
                "data": {"symbol": "EURUSD", "start": "2019-02-04", "end": "2019-02-04", "store": store_copy},
                "strategy": {"name": "b_debug", "module": "./b_debug.py"},
                "execution": {"size": 100000},
            }
        )
    )
    out = _hft(["--debug", "run", "run.yaml"], cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" in out.stderr and "TypingError" in out.stderr
