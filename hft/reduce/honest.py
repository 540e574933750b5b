"""Honest statistics for backtests and sweeps: Sharpe uncertainty, selection bias, overfitting.

Pure NumPy + SciPy (no Ray, Optuna, Polars, fsspec), so the sweep driver, `hft report` and tests
call the same functions on plain arrays.

Conventions
- Input returns are **daily** (one value per trading day, per-period units). Functions named for a
  reported figure return it **annualised** by sqrt(`periods_per_year`) (`SharpeStats.sharpe/se/lo/hi`,
  `selection_stats`'s Sharpe figures); the building blocks `expected_max_sharpe` and
  `probabilistic_sharpe` work in **per-period** units, as in the papers.
- Skewness and kurtosis are the (biased) sample moments of the daily returns; kurtosis is
  **non-excess** (a normal distribution has 3).
- `sharpe_variance` is the variance (ddof=1) across trials of the trials' **per-period** Sharpe
  estimates.
- A returns matrix is **trials × days** with NaN for days a trial has no return. It is aligned
  first (`align_returns`): days no trial has are dropped; trials lacking any day that at least half
  of the trials have are dropped; the remaining days are those every kept trial has. What was
  dropped is named in the results' reasons, never silently.
- Bad data (one trial, one day, constant returns, all NaN, n_trials < 1) gives None plus a one-line
  reason, never an exception or a NaN. Caller errors (odd `n_splits`, train and test lists of
  different lengths, a non-finite `n_trials`) raise ValueError.

References: Lo (2002) "The Statistics of Sharpe Ratios"; Mertens (2002) standard error under
non-normal i.i.d. returns; Bailey & López de Prado (2012) "The Sharpe Ratio Efficient Frontier"
(PSR); Bailey & López de Prado (2014) "The Deflated Sharpe Ratio"; Bailey, Borwein, López de Prado
& Zhu (2017) "The Probability of Backtest Overfitting" (CSCV).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import stats
from scipy.special import comb

__all__ = [
    "Aligned",
    "PBOResult",
    "SharpeStats",
    "align_returns",
    "deflated_sharpe",
    "effective_trials",
    "expected_max_sharpe",
    "pbo_cscv",
    "probabilistic_sharpe",
    "selection_stats",
    "sharpe_stats",
    "stack_returns",
    "wf_degradation",
]

EULER_GAMMA = 0.5772156649015329
Z95 = float(stats.norm.ppf(0.975))
# CSCV evaluates every C(S, S/2) split while splits × trials stays within PBO_CELLS (S=16: all
# 12,870 splits up to 1,554 trials); beyond it a seeded random subset of complementary pairs (each
# split and its mirror), at least PBO_MIN_PARTITIONS (10,000 trials: 2,000 splits).
PBO_CELLS = 20_000_000
PBO_MIN_PARTITIONS = 1000
PBO_SEED = 12
# working arrays stay near CHUNK_CELLS values (16 MB of float64): rows, or splits, a chunk at a time
CHUNK_CELLS = 2_000_000
# CSCV's splits × trials arrays, a few at a time, stay within PBO_CHUNK_CELLS (512 KB, in cache):
# 2x faster than CHUNK_CELLS at 10^5 trials
PBO_CHUNK_CELLS = 65_536


@dataclass(frozen=True)
class SharpeStats:
    """Sharpe ratio of one run's daily returns and how far to trust it.

    n: daily returns behind it (finite values only).
    sharpe: annualised (sqrt(periods_per_year)) mean / std(ddof=1) of the daily returns.
    se: standard error of the annualised Sharpe under non-normal i.i.d. returns (Mertens 2002:
        Var = (1 - skew*SR + (kurt-1)/4*SR^2) / (n-1), SR per period), annualised.
    lo, hi: 95 % interval, sharpe -/+ 1.96 se.
    psr: Probabilistic Sharpe Ratio, P[true Sharpe > benchmark] (Bailey & López de Prado 2012).
    skew: sample skewness of the daily returns (biased moment estimator).
    kurt: sample kurtosis, NON-excess (normal = 3).
    reason: why any field is None ("1 daily return", "zero variance", ...), else None.
    dropped: non-finite daily values ignored (NaN, inf).
    """

    n: int
    sharpe: float | None
    se: float | None
    lo: float | None
    hi: float | None
    psr: float | None
    skew: float | None
    kurt: float | None
    reason: str | None
    dropped: int = 0


@dataclass(frozen=True)
class PBOResult:
    """Probability of Backtest Overfitting by CSCV.

    pbo: share of splits whose in-sample best trial ranks at or below the out-of-sample median.
    logits: one logit of the IS-best's relative OOS rank per split (> 0: above the median).
    n_partitions: splits evaluated: C(S, S/2), or a random symmetric subset (see PBO_CELLS).
    reason: why pbo is None, or what was dropped to align the matrix; else None.
    n_trials: trials used after alignment.
    n_days: days used (common days, trimmed to a multiple of S).
    """

    pbo: float | None
    logits: np.ndarray
    n_partitions: int
    reason: str | None
    n_trials: int = 0
    n_days: int = 0


@dataclass(frozen=True)
class Aligned:
    """A trials × days matrix with only finite values; `trials` are row indices of the input."""

    matrix: np.ndarray
    trials: np.ndarray
    notes: list[str] = field(default_factory=list)


def _moments(x: np.ndarray) -> tuple[float, float, float, float] | str:
    """Mean, std (ddof=1), skewness and non-excess kurtosis of finite `x`, or why there are none.

    Biased moment estimators (as scipy.stats.skew / kurtosis(fisher=False) by default) in plain
    NumPy: scipy's per-call overhead (~1 ms) is too much for 10,000 runs.
    """
    n = x.size
    if n < 2:
        return "no finite daily return" if n == 0 else "1 daily return"
    if _is_constant(x):
        return "zero variance (constant daily returns)"
    mean = float(x.mean())
    d = x - mean
    with np.errstate(all="ignore"):
        d2 = d * d
        m2 = float(d2.sum()) / n
        m3 = float((d2 * d).sum()) / n
        m4 = float((d2 * d2).sum()) / n
    if not (m2 > 0 and math.isfinite(m4) and m4 > 0):
        return "daily returns too small or too large for moments (under- or overflow)"
    return mean, math.sqrt(m2 * n / (n - 1)), m3 / m2**1.5, m4 / (m2 * m2)


def _norm_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _is_constant(x: np.ndarray) -> bool:
    spread = float(np.ptp(x))
    return spread == 0.0 or spread <= 1e-12 * max(abs(float(x.mean())), 1e-300)


def _sr_var_term(sr: float, skew: float, kurt: float) -> float:
    """1 - skew*SR + (kurt-1)/4 * SR^2 (per-period SR); n-1 times the variance of the estimate."""
    return 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr


def probabilistic_sharpe(
    sharpe: float, n: int, skew: float, kurt: float, benchmark: float = 0.0
) -> float | None:
    """PSR = Phi((SR - SR*) sqrt(n-1) / sqrt(1 - skew SR + (kurt-1)/4 SR^2)), all per period.

    `kurt` non-excess. None when n < 2 or the variance term is not positive.
    """
    if n < 2 or not all(math.isfinite(v) for v in (sharpe, skew, kurt, benchmark)):
        return None
    term = _sr_var_term(sharpe, skew, kurt)
    if term <= 0:
        return None
    return _norm_cdf((sharpe - benchmark) * math.sqrt(n - 1) / math.sqrt(term))


def _clean(daily_returns) -> tuple[np.ndarray, int]:
    x = np.asarray(daily_returns, dtype=np.float64).ravel()
    ok = np.isfinite(x)
    return x[ok], int(x.size - ok.sum())


def sharpe_stats(daily_returns, *, periods_per_year: int = 252, benchmark: float = 0.0) -> SharpeStats:
    """Annualised Sharpe with its non-normal standard error, 95 % interval and PSR.

    `benchmark` is an annualised Sharpe (same units as `.sharpe`). Non-finite values are dropped and
    counted in `.dropped`. Fewer than 2 returns or constant returns give None fields with a reason.
    """
    x, dropped = _clean(daily_returns)
    n = int(x.size)
    mom = _moments(x)
    if isinstance(mom, str):
        none = dict(sharpe=None, se=None, lo=None, hi=None, psr=None, skew=None, kurt=None)
        return SharpeStats(n=n, reason=mom, dropped=dropped, **none)
    mean, std, skew, kurt = mom
    ann = math.sqrt(periods_per_year)
    sr = mean / std
    term = _sr_var_term(sr, skew, kurt)
    se = psr = lo = hi = None
    reason = None
    if term > 0:
        se = ann * math.sqrt(term / (n - 1))
        lo, hi = ann * sr - Z95 * se, ann * sr + Z95 * se
        psr = probabilistic_sharpe(sr, n, skew, kurt, benchmark / ann)
    else:  # cannot happen with sample moments (Pearson: kurt >= skew^2 + 1); kept as a guard
        reason = "non-positive variance term for the Sharpe standard error"
    return SharpeStats(
        n=n,
        sharpe=ann * sr,
        se=se,
        lo=lo,
        hi=hi,
        psr=psr,
        skew=skew,
        kurt=kurt,
        reason=reason,
        dropped=dropped,
    )


def expected_max_sharpe(n_trials: float, sharpe_variance: float) -> float:
    """E[max Sharpe] of `n_trials` independent zero-skill trials (Bailey & López de Prado 2014).

    sqrt(V) ((1-g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), g = Euler-Mascheroni; same units as
    sqrt(`sharpe_variance`) (per period here). No choice (N <= 1) or no spread (V <= 0) gives 0.0,
    and the approximation is floored at 0 (the expected maximum of N >= 1 null draws); non-finite
    arguments raise ValueError (a caller bug, not bad data).
    """
    if not (math.isfinite(n_trials) and math.isfinite(sharpe_variance)):
        raise ValueError(
            f"expected_max_sharpe needs finite inputs, got n_trials={n_trials}, V={sharpe_variance}"
        )
    if n_trials <= 1 or sharpe_variance <= 0:
        return 0.0
    z = (1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / n_trials) + EULER_GAMMA * stats.norm.ppf(
        1 - 1 / (n_trials * math.e)
    )
    return max(0.0, float(math.sqrt(sharpe_variance) * z))


def deflated_sharpe(best_daily_returns, *, n_trials: float, sharpe_variance: float) -> float | None:
    """DSR: PSR of the selected trial against E[max Sharpe] of `n_trials` null trials.

    `sharpe_variance` per period. None when the returns give no Sharpe (< 2 finite values, constant).
    A probability: > 0.95 means the best survives the selection at the 5 % level.
    """
    x, _ = _clean(best_daily_returns)
    mom = _moments(x)
    if isinstance(mom, str):
        return None
    mean, std, skew, kurt = mom
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe(mean / std, int(x.size), skew, kurt, sr0)


def stack_returns(days, returns) -> tuple[np.ndarray, np.ndarray]:
    """Trials' daily returns on their own days -> (trials × union-of-days matrix, sorted days).

    `days[i]` and `returns[i]` are trial i's days (datetime64[D], dates as ISO strings, or ints)
    and returns; a day a trial lacks is NaN. A trial listing a day twice raises ValueError.
    """
    if len(days) != len(returns):
        raise ValueError(f"days and returns list different numbers of trials: {len(days)} vs {len(returns)}")
    ds = [np.asarray(d) for d in days]
    ds = [d.astype("datetime64[D]") if d.dtype.kind in "UOSM" else d for d in ds]
    if not ds:
        return np.empty((0, 0)), np.empty(0)
    cols = np.unique(np.concatenate([d for d in ds if d.size] or [np.empty(0)]))
    m = np.full((len(ds), cols.size), np.nan)
    for i, (d, r) in enumerate(zip(ds, returns, strict=True)):
        r = np.asarray(r, dtype=np.float64)
        if r.shape != d.shape:
            raise ValueError(f"trial {i}: {d.size} days but {r.size} returns")
        if not d.size:
            continue
        j = np.searchsorted(cols, d)
        if np.unique(j).size != j.size:
            raise ValueError(f"trial {i} lists a day more than once; one return per day expected")
        m[i, j] = r
    return m, cols


def align_returns(returns_matrix) -> Aligned:
    """Keep trials and days so every value is finite (rule in the module docstring)."""
    m = np.asarray(returns_matrix, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2:
        raise ValueError(f"returns matrix must be trials x days, got shape {m.shape}")
    notes: list[str] = []
    ok = np.isfinite(m)
    if m.size and ok.all():  # the usual sweep window: nothing to drop, no copy
        return Aligned(m, np.arange(m.shape[0]), notes)
    rows = np.flatnonzero(ok.any(axis=1))
    if rows.size < m.shape[0]:
        notes.append(f"{m.shape[0] - rows.size} trial(s) without any daily return dropped")
    if rows.size == 0:
        return Aligned(np.empty((0, 0)), rows, notes)
    ok = ok[rows]
    cols = np.flatnonzero(ok.any(axis=0))
    ok = ok[:, cols]
    core = ok.mean(axis=0) >= 0.5
    keep = ok[:, core].all(axis=1)
    if not keep.all():
        notes.append(f"{int((~keep).sum())} trial(s) missing days most trials have dropped")
    rows, ok = rows[keep], ok[keep]
    days = ok.all(axis=0)
    del ok
    if not days.all():
        notes.append(f"{int((~days).sum())} day(s) not shared by every trial dropped")
    cols = cols[days]
    # copy only what is dropped: a complete matrix (the usual sweep) is used as it is
    out = m if rows.size == m.shape[0] else m[rows]
    if cols.size < m.shape[1]:
        out = out[:, cols]
    return Aligned(out, rows, notes)


def _row_chunks(m: np.ndarray):
    step = max(1, CHUNK_CELLS // max(m.shape[1], 1))
    for lo in range(0, m.shape[0], step):
        yield m[lo : lo + step]


def _row_sharpes(m: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of each row; 0 where a row has zero variance."""
    out = []
    for c in _row_chunks(m):
        mean = c.mean(axis=1)
        std = c.std(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(std > 0, mean / std, 0.0))
    return np.concatenate(out) if out else np.empty(0)


def _mean_correlation(m: np.ndarray) -> float | None:
    """Average off-diagonal Pearson correlation of the rows, in O(trials × days) memory.

    With z the rows standardised to unit norm, sum_ij corr_ij = |sum_i z_i|^2. Constant rows are
    left out. None with fewer than 2 usable rows or days.
    """
    if m.shape[0] < 2 or m.shape[1] < 2:
        return None
    acc = np.zeros(m.shape[1])
    k = 0
    for c in _row_chunks(m):  # a chunk of rows at a time: only the sum vector is kept
        z = c - c.mean(axis=1, keepdims=True)
        norm = np.sqrt(np.einsum("ij,ij->i", z, z))
        use = norm > 0
        k += int(use.sum())
        acc += np.einsum("ij,i->j", z, np.where(use, 1.0 / np.where(use, norm, 1.0), 0.0))
    if k < 2:
        return None
    total = float(np.square(acc).sum())
    return (total - k) / (k * (k - 1))


def _n_eff(n: float, rho: float | None) -> float:
    if rho is None or n <= 1:
        return float(max(n, 1.0))
    denom = 1 + (n - 1) * rho
    if denom <= 0:  # the most negative average correlation possible (-1/(N-1)): N independent bets
        return float(n)
    return float(np.clip(n / denom, 1.0, n))


def effective_trials(returns_matrix) -> float:
    """Effective number of independent trials: N / (1 + (N-1) rho), clipped to [1, N].

    rho is the average pairwise correlation of the trials' daily returns (after `align_returns`;
    constant trials excluded from rho). Identical trials give 1, uncorrelated ones N. Negative
    average correlation is clipped to N; so is an undefined one (fewer than 2 non-constant trials
    or 2 common days), the cautious side for deflating. 1.0 when no trial remains.
    """
    a = align_returns(returns_matrix)
    n = a.matrix.shape[0]
    return _n_eff(float(n), _mean_correlation(a.matrix)) if n else 1.0


def _partitions(s: int, rng: np.random.Generator, cap: int) -> np.ndarray:
    """Boolean (P, S) in-sample block masks: all C(S, S/2), or a random symmetric subset of `cap`."""
    half = s // 2
    total = int(comb(s, half, exact=True))
    if total <= cap:
        idx = list(combinations(range(s), half))
    else:  # splits holding block 0 index the complementary pairs: draw distinct ones, add mirrors
        chosen: set[tuple[int, ...]] = set()
        while len(chosen) < cap // 2:  # cap // 2 < total / 2 pairs, so this ends (rarely repeats)
            chosen.add((0, *sorted(int(b) for b in rng.choice(np.arange(1, s), half - 1, replace=False))))
        idx = sorted(chosen)
        idx += [tuple(sorted(set(range(s)) - set(c))) for c in idx]
    mask = np.zeros((len(idx), s), dtype=bool)
    mask[np.repeat(np.arange(len(idx)), half), np.asarray(idx, dtype=np.intp).ravel()] = True
    return mask


def _mirror_pairs(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the splits holding block 0, and for every row the row of its mirror (the complement;
    `_partitions` always draws both)."""
    if masks.shape[1] > 62:  # no int64 code per split: match rows by their bytes
        row = {m.tobytes(): i for i, m in enumerate(masks)}
        return np.flatnonzero(masks[:, 0]), np.array([row[(~m).tobytes()] for m in masks], dtype=np.intp)
    code = masks.astype(np.int64) @ (np.int64(1) << np.arange(masks.shape[1], dtype=np.int64))
    order = np.argsort(code, kind="stable")
    full = (np.int64(1) << masks.shape[1]) - 1
    mirror = order[np.searchsorted(code, full ^ code, sorter=order)]
    return np.flatnonzero(masks[:, 0]), mirror


@functools.lru_cache(maxsize=8)
def _split_plan(s: int, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks, rows holding block 0 and mirrors for S blocks within `cap`: the same for every call
    (the sampled subset is drawn from a fresh PBO_SEED generator), so built once per process."""
    masks = _partitions(s, np.random.default_rng(PBO_SEED), cap)
    first, mirror = _mirror_pairs(masks)
    for a in (masks, first, mirror):
        a.setflags(write=False)
    return masks, first, mirror


def _best_logits(ins: np.ndarray, oos: np.ndarray, n: int) -> np.ndarray:
    """Per split (row): logit of the out-of-sample relative rank of the in-sample best trial (ties
    share the average rank)."""
    best = ins.argmax(axis=1)
    ref = oos[np.arange(best.size), best][:, None]
    rank = np.count_nonzero(oos < ref, axis=1) + (np.count_nonzero(oos == ref, axis=1) + 1) / 2
    wbar = rank / (n + 1)
    return np.log(wbar / (1 - wbar))


def _rank_score(s: np.ndarray, q: np.ndarray, days: int) -> np.ndarray:
    """A monotone transform of the Sharpe from sums s and sums of squares q over `days` values:
    s / sqrt(days q - s^2) = Sharpe * sqrt(days - 1) / days; 0 where the variance is zero."""
    nq = np.multiply(q, days)
    d = np.square(s)
    np.subtract(nq, d, out=d)
    nq *= 1e-12  # rounding residue of a constant row is not variance
    np.copyto(d, np.inf, where=d <= nq)
    np.sqrt(d, out=d)
    return np.divide(s, d, out=d)


def pbo_cscv(
    returns_matrix, *, n_splits: int = 16, metric: str = "sharpe", chunk: int | None = None
) -> PBOResult:
    """Probability of Backtest Overfitting by combinatorially symmetric cross-validation.

    The aligned trials × days matrix (the first days mod S are dropped) is cut into S contiguous
    blocks; for each split of the blocks into halves (in-sample J, out-of-sample the rest) the trial
    with the best in-sample `metric` ("sharpe" or "mean") is ranked out of sample: w = rank/(N+1)
    (ties share the average rank), logit = ln(w/(1-w)). PBO = share of logits <= 0. Splits: all
    C(S, S/2), or a seeded (PBO_SEED) random subset in complementary pairs when that exceeds the
    PBO_CELLS budget. Block sums make each split O(trials); a split and its mirror share one
    product (the one's out-of-sample half is the other's in-sample half), evaluated `chunk` pairs
    at a time (default: as many as keep a splits × trials array within PBO_CHUNK_CELLS, at most 256).
    """
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be an even number >= 2, got {n_splits}")
    if metric not in ("sharpe", "mean"):
        raise ValueError(f"metric must be 'sharpe' or 'mean', got {metric!r}")
    a = align_returns(returns_matrix)
    notes = "; ".join(a.notes) or None
    n, t = a.matrix.shape if a.matrix.size else (a.matrix.shape[0], 0)
    empty = np.empty(0)

    def fail(why: str) -> PBOResult:
        return PBOResult(None, empty, 0, "; ".join(filter(None, [why, notes])), n, t)

    if n < 2:
        return fail(f"{n} trial(s) with daily returns; PBO needs at least 2")
    need = n_splits * (2 if metric == "sharpe" and n_splits < 4 else 1)  # >= 2 days per half for a std
    if t < need:
        return fail(f"{t} common day(s); PBO with S={n_splits} needs at least {need}")
    if float(np.ptp(a.matrix, axis=0).max()) == 0.0:
        return fail("every trial has the same daily returns; no ranking to overfit")
    block = t // n_splits
    off = t - block * n_splits
    t_used = block * n_splits
    sums, sqs = np.empty((n_splits, n)), np.empty((n_splits, n))  # (S, N) block sums, a block at a time
    for b in range(n_splits):
        blk = a.matrix[:, off + b * block : off + (b + 1) * block]
        sums[b] = blk.sum(axis=1)
        sqs[b] = np.einsum("ij,ij->i", blk, blk)
    tot, tot_sq = sums.sum(axis=0), sqs.sum(axis=0)
    chunk = chunk or int(min(256, max(1, PBO_CHUNK_CELLS // n)))
    cap = max(PBO_MIN_PARTITIONS, PBO_CELLS // n)
    masks, first, mirror = _split_plan(n_splits, cap)
    half_days = block * (n_splits // 2)
    logits = np.empty(masks.shape[0])
    for lo in range(0, first.size, chunk):
        rows = first[lo : lo + chunk]
        w = masks[rows].astype(np.float64)
        # einsum, not BLAS: these products are small, and threaded BLAS on a busy machine is 3-5x slower
        a_s, a_q = np.einsum("ps,sn->pn", w, sums), np.einsum("ps,sn->pn", w, sqs)
        if metric == "mean":
            a, b = a_s, np.subtract(tot, a_s)
        else:
            a = _rank_score(a_s, a_q, half_days)
            b = _rank_score(np.subtract(tot, a_s, out=a_s), np.subtract(tot_sq, a_q, out=a_q), half_days)
        # a split's out-of-sample half is its mirror's in-sample half: one product serves both
        logits[rows] = _best_logits(a, b, n)
        logits[mirror[rows]] = _best_logits(b, a, n)
    pbo = float((logits <= 0).mean())
    return PBOResult(pbo, logits, int(masks.shape[0]), notes, n, t_used)


def wf_degradation(train_sharpes, test_sharpes) -> dict:
    """Walk-forward in-sample vs out-of-sample agreement over trials (one fold).

    Pairs with a missing (None/NaN) side are ignored. Returns plain floats: n_pairs, spearman (rank
    correlation of train vs test Sharpe, scipy) and its p-value, best_index (position of the best
    train Sharpe in the inputs), best_train, best_test, drop (= best_train - best_test), best_test_pct
    (share of trials the best-in-sample beats out of sample), reason (why something is None).
    """
    tr = np.array([np.nan if v is None else v for v in train_sharpes], dtype=np.float64)
    te = np.array([np.nan if v is None else v for v in test_sharpes], dtype=np.float64)
    if tr.shape != te.shape:
        raise ValueError(f"train and test Sharpe lists differ in length: {tr.size} vs {te.size}")
    ok = np.isfinite(tr) & np.isfinite(te)
    out: dict = dict(
        n_pairs=int(ok.sum()),
        spearman=None,
        spearman_p=None,
        best_index=None,
        best_train=None,
        best_test=None,
        drop=None,
        best_test_pct=None,
        reason=None,
    )
    if ok.sum() == 0:
        out["reason"] = "no trial with both a train and a test Sharpe"
        return out
    idx = np.flatnonzero(ok)
    b = int(idx[np.argmax(tr[idx])])
    out.update(
        best_index=b,
        best_train=float(tr[b]),
        best_test=float(te[b]),
        drop=float(tr[b] - te[b]),
        best_test_pct=float((te[idx] < te[b]).mean()),
    )
    if ok.sum() < 3:
        out["reason"] = f"{int(ok.sum())} trial(s) with both Sharpes; rank correlation needs at least 3"
    elif _is_constant(tr[idx]) or _is_constant(te[idx]):
        out["reason"] = "train or test Sharpe is the same for every trial; no rank correlation"
    else:
        res = stats.spearmanr(tr[idx], te[idx])
        out.update(spearman=float(res.statistic), spearman_p=float(res.pvalue))
    return out


def _summary(v: np.ndarray) -> dict | None:
    if v.size == 0:
        return None
    q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0])
    counts, edges = np.histogram(v, bins=20)
    return dict(
        mean=float(v.mean()),
        min=float(q[0]),
        q25=float(q[1]),
        median=float(q[2]),
        q75=float(q[3]),
        max=float(q[4]),
        hist_edges=[float(e) for e in edges],
        hist_counts=[int(c) for c in counts],
    )


def selection_stats(
    returns_matrix,
    *,
    n_tried: int,
    best_index: int | None = None,
    n_splits: int = 16,
    periods_per_year: int = 252,
) -> dict:
    """Every per-sweep selection figure as a plain dict of str/int/float/None/list (YAML-safe).

    returns_matrix: trials × days of the trials with daily returns (NaN where missing).
    n_tried: trials tried, complete, pruned and failed alike (at least the matrix's rows).
    best_index: row of the selected trial; default the best Sharpe among aligned trials.

    Keys (None where not computable, with the reason under `reasons[key]`):
    n_tried: max(n_tried, rows of the matrix).
    n_with_returns: rows of the matrix (trials with a returns row, possibly all NaN).
    n_aligned, n_days: trials and common days left after `align_returns`.
    mean_correlation: average pairwise correlation of the aligned trials' daily returns.
    n_effective: n_tried / (1 + (n_tried-1) mean_correlation), clipped to [1, n_tried].
    sharpe_variance: variance (ddof=1) of the aligned trials' per-period Sharpe ratios.
    expected_max_sharpe: annualised E[max Sharpe] of n_effective zero-edge trials.
    best_index: row of the selected trial (given, or the best aligned Sharpe).
    best_sharpe, best_psr: its annualised Sharpe and PSR vs 0 over its own finite days.
    dsr: its Deflated Sharpe Ratio against expected_max_sharpe.
    pbo, pbo_partitions: Probability of Backtest Overfitting by CSCV and the splits evaluated.
    pbo_logits: mean, min, q25, median, q75, max and a 20-bin histogram (hist_edges, hist_counts).
    reasons: key -> one line saying why it is None, or what alignment dropped ("aligned").
    """
    m = np.asarray(returns_matrix, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    ann = math.sqrt(periods_per_year)
    reasons: dict[str, str] = {}
    a = align_returns(m)
    n_rows = int(m.shape[0]) if m.size else 0
    n_al = int(a.matrix.shape[0])
    t = int(a.matrix.shape[1]) if n_al else 0
    if a.notes:
        reasons["aligned"] = "; ".join(a.notes)
    n_tried_eff = max(int(n_tried), n_rows)
    if n_tried < n_rows:
        reasons["n_tried"] = f"n_tried={n_tried} below the {n_rows} trials with returns; using {n_rows}"
    out: dict = dict(
        n_tried=n_tried_eff,
        n_with_returns=n_rows,
        n_aligned=n_al,
        n_days=t,
        mean_correlation=None,
        n_effective=None,
        sharpe_variance=None,
        expected_max_sharpe=None,
        best_index=None,
        best_sharpe=None,
        best_psr=None,
        dsr=None,
        pbo=None,
        pbo_partitions=0,
        pbo_logits=None,
        reasons=reasons,
    )
    if n_tried_eff < 1:
        reasons["n_effective"] = "no trial tried"
        return out
    rho = _mean_correlation(a.matrix) if n_al >= 2 and t >= 2 else None
    out["mean_correlation"] = rho
    out["n_effective"] = _n_eff(float(n_tried_eff), rho)
    if rho is None and n_tried_eff > 1:
        reasons["n_effective"] = (
            "correlation undefined (fewer than 2 non-constant trials or 2 common days); n_effective = n_tried"
        )
    srs = _row_sharpes(a.matrix) if n_al and t >= 2 else np.empty(0)
    var = float(srs.var(ddof=1)) if srs.size >= 2 else None
    out["sharpe_variance"] = var
    if var is None:
        reasons["expected_max_sharpe"] = "fewer than 2 trials with a Sharpe; no spread to deflate by"
    else:
        out["expected_max_sharpe"] = ann * expected_max_sharpe(out["n_effective"], var)
    if best_index is None and srs.size:
        best_index = int(a.trials[int(np.argmax(srs))])
    if best_index is None:
        reasons["dsr"] = "no trial with at least 2 common daily returns"
    elif not 0 <= best_index < n_rows:
        reasons["dsr"] = f"best_index {best_index} is not one of the {n_rows} trials with returns"
    else:
        out["best_index"] = int(best_index)
        st = sharpe_stats(m[best_index], periods_per_year=periods_per_year)
        out["best_sharpe"], out["best_psr"] = st.sharpe, st.psr
        if st.sharpe is None:
            reasons["dsr"] = f"best trial: {st.reason}"
        elif var is None:
            reasons["dsr"] = reasons["expected_max_sharpe"]
        else:
            out["dsr"] = deflated_sharpe(m[best_index], n_trials=out["n_effective"], sharpe_variance=var)
    res = pbo_cscv(a.matrix if n_al else m, n_splits=n_splits)
    out["pbo"], out["pbo_partitions"] = res.pbo, res.n_partitions
    out["pbo_logits"] = _summary(res.logits)
    if res.pbo is None:
        reasons["pbo"] = res.reason or "not computed"
    return out
