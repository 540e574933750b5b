"""User strategies: the declared SMA cross, memory safety, one-line errors for bad strategies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from pydantic import Field

from hft.backtest import StrategyParams, register_strategy
from hft.backtest.params import get_strategy
from hft.engine import BatchRun, Run, StrategySpec, exec_params
from hft.errors import EngineError

ROOT = Path(__file__).resolve().parents[2]
EP = dict(size=100_000, latency_ms=0, slippage=0.00001, taker_per_unit=0.00002)


def _load(path: Path, name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ticks(eurusd):
    t = eurusd[:150_000]
    return t["ts"].astype("datetime64[ms]").astype(np.int64), t["bid"].astype(float), t["ask"].astype(float)


def test_declared_sma_cross_trades_where_numpy_sees_the_crosses(eurusd):
    _load(ROOT / "examples/sma_cross.py", "sma_cross")
    reg = get_strategy("sma_cross")
    prm = reg.params(n=500)
    t = eurusd[130_000:181_000]  # 51 K ticks with no exact tie of mid and its average (checked below)
    ts, bid, ask = t["ts"].astype("datetime64[ms]").astype(np.int64), t["bid"], t["ask"]
    run = Run(reg.spec(prm), prm.encode(1.0), exec_params(**EP))
    for a in range(0, ts.size, 20_000):
        run.feed(ts[a : a + 20_000], bid[a : a + 20_000], ask[a : a + 20_000])
    res = run.finish()
    # its compile-time check and the run share one compiled loop (the ticks' types agree)
    assert len(run._user.fn.signatures) == 1, run._user.fn.signatures
    # the rule from its definition, in exact integers: 2 * mid in points against its 500-tick sum
    two_mid = np.round((bid + ask) * 1e5).astype(np.int64)
    c = np.concatenate([[0], np.cumsum(two_mid)])
    d = np.zeros(ts.size, dtype=np.int64)
    d[499:] = two_mid[499:] * 500 - (c[500:] - c[:-500])
    assert (d[499:] != 0).all()  # no ties: float rounding cannot decide a crossing here
    target = np.zeros(ts.size)
    side = 0.0
    for i in range(500, ts.size):
        if d[i - 1] < 0 < d[i]:
            side = 1.0
        elif d[i - 1] > 0 > d[i]:
            side = -1.0
        target[i] = side
    change = np.flatnonzero(np.diff(np.concatenate([[0.0], target])) != 0)
    fills = ts[np.minimum(change + 1, ts.size - 1)]  # latency 0: the next tick
    assert len(res.trades) == len(change) > 20
    np.testing.assert_array_equal(np.sort(res.trades["entry_ts"]), np.sort(fills))
    assert set(res.trades["side"][:-1]) == {-1, 1}


# --- the mistake: state_size() 3 instead of 2 + lookback ------------------------------------


@njit(cache=True)
def undersized_nb(ts, bid, ask, pos, ss, sp, quotes):
    lookback = np.int64(sp[0])
    n = np.int64(ss[0])
    mid = (bid + ask) * 0.5
    slot = 2 + n % lookback
    if n >= lookback:
        move = mid - ss[slot]
        ss[1] = 1.0 if move > sp[1] else (-1.0 if move < -sp[1] else 0.0)
    ss[slot] = mid
    ss[0] = n + 1
    return np.int64(ss[1])


@njit  # a separate compiled helper: not bounds-checked, caught by the guard cells instead
def _poke(ss, k):
    ss[k] = 1.0


@njit
def pokes_past_nb(ts, bid, ask, pos, ss, sp, quotes):
    ss[0] += 1.0
    if ss[0] == 3.0:
        _poke(ss, ss.shape[0])  # one float past the end
    return 0


def test_undersized_state_is_one_line_error_in_run_and_batch_and_touches_nothing_else(ticks):
    ts, bid, ask = (x[:20_000] for x in ticks)
    good = StrategySpec("good", undersized_nb, lambda sp: 2 + int(sp[0]))
    bad = StrategySpec("tick_momentum", undersized_nb, lambda sp: 3)
    sps = np.array([[500.0, 0.0002], [300.0, 0.0001]])
    ep = exec_params(**EP)

    def batch(spec):
        b = BatchRun(spec, sps, ep)
        b.feed(ts, bid, ask)
        return b.finish()

    before = batch(good)
    with pytest.raises(EngineError) as err:
        Run(bad, sps[0], ep).feed(ts, bid, ask)
    msg = str(err.value)
    assert "\n" not in msg and "'tick_momentum'" in msg and "test_engine_user.py: undersized_nb" in msg
    assert "state_size()" in msg and "indexed outside its state" in msg
    with pytest.raises(EngineError, match=r"'tick_momentum' indexed outside its state.*state_size\(\)"):
        batch(bad)
    after = batch(good)
    for x, y in zip(before, after, strict=True):  # the other configs' results do not change
        assert x.trades.tobytes() == y.trades.tobytes() and x.acct.tobytes() == y.acct.tobytes()
    assert len(before[0].trades) > 5


def test_guard_cells_catch_a_write_past_the_state_from_an_unchecked_helper(ticks):
    ts, bid, ask = (x[:100] for x in ticks)
    spec = StrategySpec("poker", pokes_past_nb, lambda sp: 4)
    with pytest.raises(EngineError, match=r"'poker' wrote past the end of its state \(4 floats\)"):
        Run(spec, np.zeros(1), exec_params(**EP)).feed(ts, bid, ask)
    with pytest.raises(EngineError, match=r"'poker' wrote past the end of its state"):
        BatchRun(spec, np.zeros((3, 1)), exec_params(**EP)).feed(ts, bid, ask)


# --- bad strategies: one line naming file, function and field ---------------------------------------


def _declare(tmp_path, name, body, params='{"k": Param(2, ge=1, le=10)}', state='{"x": 0.0}'):
    path = tmp_path / f"{name}.py"
    path.write_text(
        "import numpy as np\nfrom hft.strategy import Param, Window, strategy, njit\n"
        f"@strategy({name!r}, params={params}, state={state})\n@njit\n"
        f"def {name}(t, bid, ask, pos, s, w, p, quotes):\n" + "".join(f"    {x}\n" for x in body)
    )
    _load(path, name)
    reg = get_strategy(name)
    prm = reg.params()
    return Run(reg.spec(prm), prm.encode(1.0), exec_params(**EP))


@pytest.mark.parametrize(
    ("name", "body", "want"),
    [
        (
            "u_float",
            ["return bid * p.k"],
            r"u_float\.py: u_float: strategy 'u_float' returns float64, not an integer",
        ),
        (
            "u_nope",
            ["s.nope = 1.0", "return 0"],
            r"u_nope\.py: u_nope: strategy 'u_nope' does not compile: 'nope' is not declared",
        ),
        (
            "u_typo",
            ["return np.int64(q.k)"],
            r"u_typo\.py: u_typo: strategy 'u_typo' does not compile: .*'q'",
        ),
        (
            "u_none",
            ["return 2"],
            r"u_none\.py: u_none: strategy 'u_none' returned TARGET_NONE but does not declare limit orders",
        ),
    ],
)
def test_bad_declared_strategies_give_one_line(tmp_path, ticks, name, body, want):
    ts, bid, ask = (x[:1000] for x in ticks)
    with pytest.raises(EngineError, match=want) as err:
        _declare(tmp_path, name, body).feed(ts, bid, ask)
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)


def test_raw_window_indexing_in_a_declared_strategy_is_bounds_checked(tmp_path, ticks):
    ts, bid, ask = (x[:1000] for x in ticks)
    body = ["s.x += 1.0", "if s.x > 100.0:", "    w.m[w.m.shape[0]] = 1.0", "return 0"]
    run = _declare(tmp_path, "u_oob", body, state='{"x": 0.0, "m": Window("k")}')  # the probe's tick passes
    with pytest.raises(EngineError, match=r"u_oob\.py: u_oob: strategy 'u_oob' indexed outside its state"):
        run.feed(ts, bid, ask)


def test_a_declared_strategy_using_a_window_as_an_array_runs_in_the_checked_form(tmp_path, ticks):
    # no subscript, so not seen as indexing memory; len() needs the array, not the fast raw pointer
    ts, bid, ask = (x[:1000] for x in ticks)
    run = _declare(
        tmp_path, "u_len", ["s.x = float(len(w.m))", "return 0"], state='{"x": 0.0, "m": Window("k")}'
    )
    run.feed(ts, bid, ask)
    assert run.ss[0] == 13.0  # a window of k = 2: a 9-float header, then 2 times and 2 values


def test_declared_params_are_strict_and_ranged(tmp_path):
    from hft.errors import ConfigError

    _declare(tmp_path, "u_ok", ["return 0"])
    model = get_strategy("u_ok").params
    assert model().k == 2 and model.space() == {"k": {"type": "int", "low": 1, "high": 10, "log": False}}
    from hft.backtest.config import parse_config

    raw = {
        "data": {"symbol": "EURUSD", "start": "2019-02-04", "end": "2019-02-04"},
        "execution": {"size": 1},
    }
    for bad, field in [({"k": True}, "k"), ({"k": 11}, "k"), ({"k": 2.5}, "k"), ({"j": 1}, "j")]:
        with pytest.raises(ConfigError, match=rf"^cfg\.yaml: strategy\.params\.{field}: "):
            parse_config({**raw, "strategy": {"name": "u_ok", "params": bad}}, where="cfg.yaml")
    with pytest.raises(ConfigError, match=r"strategy\.params\.fast: Input should be a valid integer"):
        parse_config({**raw, "strategy": {"name": "ema_cross", "params": {"fast": True, "slow": 20}}}, "c")


class _P(StrategyParams):
    lookback: int = Field(ge=1)


def test_register_same_file_under_two_module_names_is_one_strategy():
    register_strategy("twice", undersized_nb, _P)
    register_strategy("twice", njit(undersized_nb.py_func), _P)  # same source function
    assert get_strategy("twice").params is _P
