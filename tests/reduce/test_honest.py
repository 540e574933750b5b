"""hft.reduce.honest against numbers it does not produce: the DSR paper's worked example, plain
arithmetic, brute-force CSCV, simulation of zero-edge sweeps, and NumPy/SciPy computed separately."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from hft.reduce import honest
from hft.reduce.honest import (
    align_returns,
    deflated_sharpe,
    effective_trials,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
    selection_stats,
    sharpe_stats,
    stack_returns,
    wf_degradation,
)

ROOT = Path(__file__).resolve().parents[2]


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def _assert_plain(d: dict) -> None:
    """YAML-safe and never NaN: only None, bool, int, float (finite) and str leaves."""
    for v in _walk(d):
        assert v is None or type(v) in (bool, int, float, str), (type(v), v)
        if isinstance(v, float):
            assert math.isfinite(v), d


# --- published worked example -------------------------------------------------------------------


def test_dsr_paper_worked_example():
    """Bailey & López de Prado (2014), numerical example: 5 years of daily returns (T = 1250,
    250 days/year), annualised SR 2.5, skew -3, kurtosis 10, N = 100 trials whose annualised
    Sharpe estimates have variance 1/2. Published: E[max SR] = 0.1132 (per period), DSR = 0.9004."""
    sr = 2.5 / math.sqrt(250)
    v = 0.5 / 250
    sr0 = expected_max_sharpe(100, v)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert sr0 * math.sqrt(250) == pytest.approx(1.7894, abs=1e-3)  # the same, annualised
    assert probabilistic_sharpe(sr, 1250, -3.0, 10.0, sr0) == pytest.approx(0.9004, abs=1e-4)
    # without the selection (benchmark 0), the same record looks near certain
    assert probabilistic_sharpe(sr, 1250, -3.0, 10.0, 0.0) > 0.999


def test_expected_max_sharpe_matches_simulated_maximum():
    """E[max] of N standard normals (V = 1) from 20,000 simulated draws of 50 (the paper's
    approximation is within about 1 %)."""
    rng = np.random.default_rng(3)
    simulated = rng.standard_normal((20_000, 50)).max(axis=1).mean()
    assert expected_max_sharpe(50, 1.0) == pytest.approx(simulated, rel=0.02)
    assert expected_max_sharpe(50, 4.0) == pytest.approx(2 * simulated, rel=0.02)


def test_expected_max_sharpe_edges():
    assert expected_max_sharpe(1, 0.3) == 0.0  # no choice, no selection bias
    assert expected_max_sharpe(0.5, 0.3) == 0.0  # n_trials < 1
    assert expected_max_sharpe(100, 0.0) == 0.0  # no spread across trials
    assert expected_max_sharpe(1.01, 1.0) >= 0.0  # the approximation diverges near 1; floored
    with pytest.raises(ValueError, match="finite"):
        expected_max_sharpe(float("nan"), 1.0)


# --- per-run Sharpe uncertainty -----------------------------------------------------------------

TINY = [0.012, -0.004, 0.007, -0.011, 0.020, 0.003]


def test_sharpe_se_and_psr_by_hand():
    """Mean, std (ddof=1), biased skew/kurtosis and the Mertens / PSR formulas in plain arithmetic."""
    n = len(TINY)
    mean = sum(TINY) / n
    dev = [x - mean for x in TINY]
    m2 = sum(d * d for d in dev) / n
    m3 = sum(d**3 for d in dev) / n
    m4 = sum(d**4 for d in dev) / n
    std = math.sqrt(sum(d * d for d in dev) / (n - 1))
    sr = mean / std
    g3, g4 = m3 / m2**1.5, m4 / m2**2
    term = 1 - g3 * sr + (g4 - 1) / 4 * sr * sr
    se = math.sqrt(252) * math.sqrt(term / (n - 1))
    psr = _phi(sr * math.sqrt(n - 1) / math.sqrt(term))

    s = sharpe_stats(TINY)
    assert s.n == n and s.reason is None and s.dropped == 0
    assert s.sharpe == pytest.approx(math.sqrt(252) * sr, rel=1e-12)
    assert s.skew == pytest.approx(g3, rel=1e-12)
    assert s.kurt == pytest.approx(g4, rel=1e-12)
    assert s.se == pytest.approx(se, rel=1e-12)
    assert (s.lo, s.hi) == pytest.approx((s.sharpe - 1.959964 * se, s.sharpe + 1.959964 * se), rel=1e-6)
    assert s.psr == pytest.approx(psr, rel=1e-12)
    # an annualised benchmark is converted to per period
    psr_vs_1 = _phi((sr - 1 / math.sqrt(252)) * math.sqrt(n - 1) / math.sqrt(term))
    assert sharpe_stats(TINY, benchmark=1.0).psr == pytest.approx(psr_vs_1, rel=1e-12)


def test_sharpe_stats_drops_non_finite_and_counts_them():
    s = sharpe_stats([*TINY, float("nan"), float("inf")])
    assert s.dropped == 2 and s.n == len(TINY)
    assert s.sharpe == pytest.approx(sharpe_stats(TINY).sharpe)


def test_mertens_se_matches_simulation_on_skewed_returns():
    """I.i.d. returns, negatively skewed (negated exponential: skew -2, kurtosis 9), per-period
    SR 0.2, 250 days: the spread of the Sharpe over 3,000 simulated histories matches the mean
    non-normal SE within 5 %, while the normal-theory SE is clearly too small."""
    rng = np.random.default_rng(11)
    n, sims, sr_true = 250, 3000, 0.2
    draws = sr_true - (rng.exponential(1.0, (sims, n)) - 1.0)  # mean sr_true, std 1
    srs = draws.mean(axis=1) / draws.std(axis=1, ddof=1) * math.sqrt(252)
    empirical = float(srs.std(ddof=1))
    ses = [sharpe_stats(row).se for row in draws[:400]]
    assert float(np.mean(ses)) == pytest.approx(empirical, rel=0.05)
    normal_se = math.sqrt(252) * math.sqrt((1 + sr_true**2 / 2) / (n - 1))  # Lo (2002), i.i.d. normal
    assert normal_se < 0.9 * empirical


@pytest.mark.parametrize(
    ("returns", "n", "reason"),
    [
        ([], 0, "no finite daily return"),
        ([0.01], 1, "1 daily return"),
        ([0.002] * 30, 30, "zero variance"),
        ([float("nan")] * 4, 0, "no finite daily return"),
    ],
)
def test_sharpe_stats_bad_input_gives_none_and_reason(returns, n, reason):
    s = sharpe_stats(returns)
    assert s.n == n and reason in s.reason
    assert (s.sharpe, s.se, s.lo, s.hi, s.psr, s.skew, s.kurt) == (None,) * 7
    assert deflated_sharpe(returns, n_trials=10, sharpe_variance=0.01) is None


def test_deflated_sharpe_is_psr_against_expected_max():
    rng = np.random.default_rng(5)
    x = rng.normal(0.001, 0.01, 400)
    sr = x.mean() / x.std(ddof=1)
    g3, g4 = stats.skew(x), stats.kurtosis(x, fisher=False)
    v = 0.004
    sr0 = math.sqrt(v) * (
        (1 - np.euler_gamma) * stats.norm.ppf(1 - 1 / 30)
        + np.euler_gamma * stats.norm.ppf(1 - 1 / (30 * math.e))
    )
    expected = stats.norm.cdf((sr - sr0) * math.sqrt(399) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert deflated_sharpe(x, n_trials=30, sharpe_variance=v) == pytest.approx(expected, rel=1e-10)
    assert deflated_sharpe(x, n_trials=30, sharpe_variance=v) < sharpe_stats(x).psr


# --- effective trials, alignment ------------------------------------------------------------------


def test_effective_trials_from_average_correlation():
    rng = np.random.default_rng(2)
    common = rng.standard_normal(2000)
    m = math.sqrt(0.3) * common + math.sqrt(0.7) * rng.standard_normal((50, 2000))
    c = np.corrcoef(m)
    rho = (c.sum() - 50) / (50 * 49)
    assert effective_trials(m) == pytest.approx(50 / (1 + 49 * rho), rel=1e-9)
    assert 2.5 < effective_trials(m) < 4.0  # 50 / (1 + 49 * 0.3) = 3.18
    assert effective_trials(np.tile(common, (20, 1))) == pytest.approx(1.0)
    assert effective_trials(rng.standard_normal((20, 5000))) == pytest.approx(20, rel=0.1)
    assert effective_trials(np.full((3, 10), np.nan)) == 1.0


def test_align_drops_and_says_what():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(6, 12))
    m[:, 5] = np.nan  # a holiday: no trial has it
    m[:, 6] = np.nan
    m[5, 6] = 0.1  # a day only trial 5 has
    m[0] = np.nan  # a failed trial
    m[1, :3] = np.nan  # a trial that lacks the first days
    m[2, 11] = np.nan  # one that lacks the last day
    a = align_returns(m)
    assert list(a.trials) == [3, 4, 5]
    assert a.matrix.shape == (3, 10)
    assert np.array_equal(a.matrix, m[3:, [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]])
    text = "; ".join(a.notes)
    assert "1 trial(s) without any daily return" in text
    assert "2 trial(s) missing days most trials have" in text
    assert "1 day(s) not shared" in text


def test_stack_returns_puts_each_trial_on_the_union_of_days():
    m, days = stack_returns(
        [["2024-03-04", "2024-03-05", "2024-03-07"], ["2024-03-05", "2024-03-06"], []],
        [[0.1, 0.2, 0.3], [0.5, 0.6], []],
    )
    assert [str(d) for d in days] == ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]
    expected = np.array(
        [[0.1, 0.2, np.nan, 0.3], [np.nan, 0.5, 0.6, np.nan], [np.nan] * 4],
    )
    np.testing.assert_array_equal(m, expected)
    with pytest.raises(ValueError, match="trial 0 lists a day more than once"):
        stack_returns([[3, 3]], [[0.1, 0.2]])
    with pytest.raises(ValueError, match="trial 0: 2 days but 1 returns"):
        stack_returns([[3, 4]], [[0.1]])


# --- PBO ------------------------------------------------------------------------------------------


def _brute_force_logits(m: np.ndarray, s: int) -> list[float]:
    """CSCV as written in the paper, one split at a time, ranks by scipy."""
    n, t = m.shape
    blocks = np.split(m[:, t % s :], s, axis=1)
    out = []
    for train in combinations(range(s), s // 2):
        ins = np.hstack([blocks[i] for i in train])
        oos = np.hstack([blocks[i] for i in range(s) if i not in train])
        sr_in = ins.mean(axis=1) / ins.std(axis=1, ddof=1)
        sr_out = oos.mean(axis=1) / oos.std(axis=1, ddof=1)
        best = int(np.argmax(sr_in))
        w = stats.rankdata(sr_out)[best] / (n + 1)
        out.append(math.log(w / (1 - w)))
    return sorted(out)


def test_pbo_matches_brute_force_cscv():
    rng = np.random.default_rng(4)
    m = rng.normal(0, 1, (7, 43))  # 43 days, S = 6: the first day is dropped
    res = pbo_cscv(m, n_splits=6)
    expected = _brute_force_logits(m, 6)
    assert res.n_partitions == math.comb(6, 3) == len(expected)
    assert sorted(res.logits.tolist()) == pytest.approx(expected, rel=1e-9)
    assert res.pbo == pytest.approx(np.mean(np.array(expected) <= 0))
    assert (res.n_trials, res.n_days, res.reason) == (7, 42, None)


def test_chunked_working_arrays_give_the_same_figures(monkeypatch):
    """Rows and splits a few at a time (a tiny CHUNK_CELLS: many chunks) change nothing: the mean
    correlation still equals numpy's corrcoef average, PBO logits the brute-force CSCV's."""
    rng = np.random.default_rng(9)
    m = rng.normal(0, 1, (7, 43)) + 0.5 * rng.normal(0, 1, 43)
    monkeypatch.setattr(honest, "CHUNK_CELLS", 50)  # 1 row, 7 splits per chunk
    c = np.corrcoef(m)
    assert effective_trials(m) == pytest.approx(7 / (1 + 6 * (c.sum() - 7) / 42), rel=1e-9)
    res = pbo_cscv(m, n_splits=6)
    assert sorted(res.logits.tolist()) == pytest.approx(_brute_force_logits(m, 6), rel=1e-9)
    sr = m.mean(axis=1) / m.std(axis=1, ddof=1)
    st = selection_stats(m, n_tried=7)
    assert st["sharpe_variance"] == pytest.approx(float(np.var(sr, ddof=1)), rel=1e-9)
    assert st["best_index"] == int(np.argmax(sr))


def test_pbo_samples_symmetric_pairs_when_huge(monkeypatch):
    """Over the PBO_CELLS budget, a random subset of splits in complementary pairs stands in for
    all C(S, S/2), and gives nearly the same PBO."""
    m = np.random.default_rng(8).normal(size=(20, 400))
    exact = pbo_cscv(m, n_splits=16)
    assert exact.n_partitions == math.comb(16, 8)
    monkeypatch.setattr(honest, "PBO_CELLS", 1000)
    sampled = pbo_cscv(m, n_splits=16)
    assert sampled.n_partitions == honest.PBO_MIN_PARTITIONS == 1000
    assert np.isfinite(sampled.logits).all()
    assert sampled.pbo == pytest.approx(exact.pbo, abs=0.05)
    masks = honest._partitions(16, np.random.default_rng(0), 1000)
    rows = {tuple(r) for r in masks.tolist()}
    assert len(rows) == 1000 and (masks.sum(axis=1) == 8).all()
    assert all(tuple(not v for v in r) in rows for r in rows)  # every split's mirror is there
    # exact, sampled, past int64 codes: each row's mirror row is its complement, and first = block 0
    for s in (4, 16, 64):
        first, mirror = honest._mirror_pairs(masks := honest._partitions(s, np.random.default_rng(0), 1000))
        assert (masks[mirror] == ~masks).all() and (mirror[mirror] == np.arange(len(masks))).all()
        assert first.tolist() == [i for i, r in enumerate(masks.tolist()) if r[0]]
    # built once per (S, cap) and frozen: a kernel writing into it would change every later PBO
    plan = honest._split_plan(16, 1000)
    assert plan is honest._split_plan(16, 1000) and not plan[0].flags.writeable


@pytest.mark.parametrize(
    ("m", "reason"),
    [
        (np.random.default_rng(0).normal(size=(1, 100)), "1 trial(s)"),
        (np.random.default_rng(0).normal(size=(5, 10)), "10 common day(s)"),
        (np.full((4, 40), np.nan), "0 trial(s)"),
        (np.tile(np.random.default_rng(0).normal(size=40), (5, 1)), "same daily returns"),
    ],
)
def test_pbo_bad_input(m, reason):
    res = pbo_cscv(m, n_splits=16)
    assert res.pbo is None and reason in res.reason and res.logits.size == 0


def test_pbo_rejects_odd_splits():
    with pytest.raises(ValueError, match="even"):
        pbo_cscv(np.zeros((3, 30)), n_splits=5)


# --- simulated sweeps -----------------------------------------------------------------------------


def test_zero_edge_sweeps_best_looks_good_but_dsr_and_pbo_say_luck():
    """100 zero-edge strategies × 500 days, 40 seeds: the best raw Sharpe looks attractive, DSR
    stays below 0.95 in >= 95 % of seeds, PBO averages about 0.5 and varies widely by seed."""
    best, dsr, pbo = [], [], []
    for seed in range(40):
        m = np.random.default_rng(seed).normal(0.0, 0.01, (100, 500))
        s = selection_stats(m, n_tried=100)
        _assert_plain(s)
        best.append(s["best_sharpe"])
        dsr.append(s["dsr"])
        pbo.append(s["pbo"])
    assert np.median(best) > 1.5  # annualised: what a leaderboard would show at the top
    assert np.mean(np.array(dsr) < 0.95) >= 0.95
    assert 0.35 < np.mean(pbo) < 0.65
    assert max(pbo) - min(pbo) > 0.3


def test_planted_edge_is_found_and_not_overfit():
    """One real edge among 99 null trials. The null's best per-period Sharpe is about 0.13 here
    and the estimate's noise about 0.045, so an edge must be near 0.2 to clear DSR 0.95 on
    average; a per-period Sharpe of 0.35 clears it in every seed."""
    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        m = rng.normal(0.0, 0.01, (100, 500))
        m[37] += 0.0035  # per-period Sharpe 0.35 (5.6 annualised)
        s = selection_stats(m, n_tried=100)
        assert s["best_index"] == 37
        assert s["dsr"] > 0.95
        assert s["pbo"] < 0.1


def test_selection_stats_counts_untried_and_explicit_best():
    rng = np.random.default_rng(9)
    m = rng.normal(0, 0.01, (30, 200))
    m[3, :] = np.nan  # a failed trial: counted as tried, not in the matrix statistics
    s = selection_stats(m, n_tried=45, best_index=5)
    _assert_plain(s)
    assert (s["n_tried"], s["n_with_returns"], s["n_aligned"], s["n_days"]) == (45, 30, 29, 200)
    assert s["best_index"] == 5
    assert s["best_sharpe"] == pytest.approx(sharpe_stats(m[5]).sharpe)
    assert "1 trial(s) without any daily return" in s["reasons"]["aligned"]
    assert s["n_effective"] == pytest.approx(45, rel=0.2)
    assert yaml.safe_load(yaml.safe_dump(s)) == s  # goes into sweep.yaml as is
    out_of_range = selection_stats(m, n_tried=45, best_index=30)
    assert out_of_range["dsr"] is None and "best_index 30" in out_of_range["reasons"]["dsr"]


@pytest.mark.parametrize(
    ("m", "n_tried", "key"),
    [
        (np.random.default_rng(0).normal(size=(1, 60)), 1, "pbo"),  # one trial
        (np.random.default_rng(0).normal(size=(8, 1)), 8, "dsr"),  # one day
        (np.full((6, 40), 0.001), 6, "dsr"),  # constant returns
        (np.full((6, 40), np.nan), 6, "dsr"),  # all NaN
        (np.empty((0, 0)), 0, "n_effective"),  # nothing tried
    ],
)
def test_selection_stats_bad_input_is_defined(m, n_tried, key):
    s = selection_stats(m, n_tried=n_tried)
    _assert_plain(s)
    assert s[key] is None
    assert s["reasons"][key]


# --- walk-forward ---------------------------------------------------------------------------------


def test_wf_degradation_by_hand():
    d = wf_degradation([1.0, 2.0, None, 3.0, 4.0], [4.0, 3.0, 9.0, 2.0, 1.0])
    assert d["n_pairs"] == 4
    assert d["spearman"] == pytest.approx(-1.0)
    assert (d["best_index"], d["best_train"], d["best_test"], d["drop"]) == (4, 4.0, 1.0, 3.0)
    assert d["best_test_pct"] == 0.0
    _assert_plain(d)


def test_wf_degradation_too_few_pairs():
    d = wf_degradation([1.0, float("nan")], [0.5, 2.0])
    assert d["spearman"] is None and "1 trial(s)" in d["reason"]
    assert d["drop"] == pytest.approx(0.5)
    e = wf_degradation([], [])
    assert e["best_index"] is None and e["reason"]


# --- purity ---------------------------------------------------------------------------------------


def test_module_loads_no_heavy_library():
    """`import hft.reduce.honest`, the normal way in a fresh interpreter, loads NumPy and SciPy but
    not Polars, Ray, Optuna, fsspec, PyArrow or pandas (hft.reduce's exports are lazy); the package's
    exports still resolve afterwards."""
    code = (
        "import sys\n"
        "import hft.reduce.honest as h\n"
        "assert h.sharpe_stats([0.01, 0.02, -0.01]).n == 3\n"
        "heavy = ('ray', 'optuna', 'polars', 'fsspec', 'pyarrow', 'pandas')\n"
        "print(','.join(m for m in heavy if m in sys.modules), 'scipy' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["True"], out.stdout
    code = (
        "import hft.reduce.leaderboard\n"
        "from hft.reduce import leaderboard, selection\n"
        "print(callable(leaderboard), callable(selection))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["True", "True"]
