"""Selection statistics per sweep window, from one lazy scan of the result rows' daily returns.

A *window* is the set of rows one choice was made from: same group (sweep), phase, fold and date
range. For each in-sample window (phase train, and groups of single runs) the trials' daily
returns form a trials × days matrix that hft.reduce.honest turns into n_tried (every row: complete,
pruned and failed), n_effective, the expected maximum Sharpe under the null, the DSR of the
selected best and the PBO by CSCV. Walk-forward sweeps add, per fold, the in-sample vs
out-of-sample degradation: rank correlation of train vs test figures of the trials run on both
windows (the selected trial, phase test, plus the next best train trials, phase oos_check), on
Sharpe, or total_return / net_pnl when the test window is too short for a Sharpe (`metric`).
Each row also gets its own `dsr`: its PSR against the expected maximum Sharpe of its window.

Rows without daily returns (runs written before they were stored) are left out of these figures
with a `SkippedArtifactWarning` that names the window and the count.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import polars as pl
from scipy import special

from hft.reduce import honest
from hft.reduce.scan import RunsScan, SkippedArtifactWarning

__all__ = [
    "COLUMNS",
    "DEFAULT_PBO_SPLITS",
    "WINDOW",
    "Selection",
    "degradation_frame",
    "selection",
    "selection_frame",
]

DEFAULT_PBO_SPLITS = 16
WINDOW = ("group", "phase", "fold", "start", "end")
COLUMNS = (  # what `selection` reads
    *WINDOW,
    "trial",
    "run_id",
    "status",
    "sharpe",
    "total_return",
    "net_pnl",
    "daily_dates",
    "daily_returns",
)


class Selection:
    """What `selection` found: one dict per in-sample window, one per walk-forward fold, and a
    frame of per-row DSR to join on (group, phase, fold, trial, run_id)."""

    def __init__(self) -> None:
        self.windows: list[dict[str, Any]] = []
        self.degradation: list[dict[str, Any]] = []
        self.dsr: pl.DataFrame = pl.DataFrame(
            schema={
                "group": pl.String,
                "phase": pl.String,
                "fold": pl.Int64,
                "trial": pl.Int64,
                "run_id": pl.String,
                "dsr": pl.Float64,
            }
        )

    def for_group(self, group: str) -> dict[str, Any]:
        """The YAML-safe figures of one sweep (what `sweep.yaml` stores)."""
        return {
            "windows": [w for w in self.windows if w["group"] == group],
            "walkforward_degradation": [d for d in self.degradation if d["group"] == group],
        }


def _matrix(rows: pl.DataFrame) -> np.ndarray:
    """Rows' (daily_dates, daily_returns) lists → trials × union-of-days, NaN where a trial has no
    return that day (as honest.stack_returns, without a Python object per value). The usual sweep
    window, every row on the same ascending days, is one reshape of the flat values."""
    same = _same_days(rows)
    if same is not None:
        return same
    ex = (
        rows.select(pl.int_range(pl.len()).alias("_i"), "daily_dates", "daily_returns")
        .explode("daily_dates", "daily_returns")
        .drop_nulls("daily_dates")
    )
    days = ex["daily_dates"].unique().sort()
    m = np.full((rows.height, days.len()), np.nan)
    j = days.search_sorted(ex["daily_dates"]).to_numpy()
    m[ex["_i"].to_numpy(), j] = ex["daily_returns"].fill_null(np.nan).to_numpy()
    return m


def _same_days(rows: pl.DataFrame) -> np.ndarray | None:
    """trials × days when every row lists the same ascending days once, else None. The days are
    compared a slice of rows at a time (near honest.CHUNK_CELLS values, no exploded copy of every
    date); the returns are one explode (Polars reuses the memory the scan just freed, where a fresh
    NumPy array of 10^5 × 250 cost 0.8 CPU-s of page faults on the development machine)."""
    n = rows.height
    lens = rows["daily_returns"].list.len()
    if n == 0 or lens.null_count() or lens.n_unique() != 1 or not lens.equals(rows["daily_dates"].list.len()):
        return None
    t = int(lens[0])
    dates = rows["daily_dates"]
    first = dates.slice(0, 1).explode()
    if t == 0 or first.null_count():
        return None
    d0 = first.to_physical().to_numpy()
    if not (np.diff(d0) > 0).all():
        return None
    step = max(1, honest.CHUNK_CELLS // t)
    for lo in range(0, n, step):
        d = dates.slice(lo, step).explode()
        if d.null_count() or not (d.to_physical().to_numpy().reshape(-1, t) == d0).all():
            return None
    return rows["daily_returns"].explode().cast(pl.Float64).fill_null(np.nan).to_numpy().reshape(n, t)


def _row_psr(m: np.ndarray, benchmark: float) -> list[float | None]:
    """Per row of `m` (NaN ignored): PSR against `benchmark` (per-period Sharpe), i.e. the DSR when
    the benchmark is the window's expected maximum Sharpe. Same moments and formula as
    hft.reduce.honest.probabilistic_sharpe, vectorised over 10^4-10^5 rows; None where undefined.
    Rows a chunk at a time: the temporaries stay near honest.CHUNK_CELLS values."""
    step = max(1, honest.CHUNK_CELLS // max(m.shape[1], 1))
    out: list[float | None] = []
    for lo in range(0, m.shape[0], step):
        out += _row_psr_chunk(m[lo : lo + step], benchmark)
    return out


def _row_psr_chunk(m: np.ndarray, benchmark: float) -> list[float | None]:
    ok = np.isfinite(m)
    full = bool(ok.all())  # the usual window: no masked copies (the same values, the same sums)
    n = np.full(m.shape[0], m.shape[1]) if full else ok.sum(axis=1)
    with np.errstate(all="ignore"):
        mean = (m if full else np.where(ok, m, 0.0)).sum(axis=1) / n
        d = m - mean[:, None]
        if not full:
            d = np.where(ok, d, 0.0)
        d2 = d * d
        m2, m3, m4 = d2.sum(axis=1) / n, (d2 * d).sum(axis=1) / n, (d2 * d2).sum(axis=1) / n
        sr = mean / np.sqrt(m2 * n / (n - 1))
        skew, kurt = m3 / m2**1.5, m4 / (m2 * m2)
        term = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
        z = (sr - benchmark) * np.sqrt(n - 1) / np.sqrt(term)
        if full:
            spread = m.max(axis=1) - m.min(axis=1)
        else:
            spread = np.where(ok, m, -np.inf).max(axis=1) - np.where(ok, m, np.inf).min(axis=1)
    constant = ~(spread > 1e-12 * np.maximum(np.abs(mean), 1e-300))
    valid = (n >= 2) & ~constant & (m2 > 0) & (term > 0) & np.isfinite(z)
    psr = special.ndtr(np.where(valid, z, 0.0))
    return [float(p) if v else None for p, v in zip(psr, valid, strict=True)]


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _window_stats(
    key: dict[str, Any], rows: pl.DataFrame, n_splits: int, best: dict | None
) -> tuple[dict, pl.DataFrame]:
    """One window's selection figures and its rows' DSR."""
    n_tried = max(rows.height, int((best or {}).get("n_tried") or 0))
    ok = rows.select(
        ((pl.col("status") == "complete") & pl.col("daily_returns").list.len().gt(0)).fill_null(False)
    ).to_series()
    usable = rows if ok.all() else rows.filter(ok)  # no copy of the lists when every row has returns
    complete = rows.filter(pl.col("status") == "complete").height
    missing = complete - usable.height
    where = f"{key['group']} {key['phase']}" + ("" if key["fold"] is None else f" fold {key['fold']}")
    if missing:
        warnings.warn(
            f"skipped {missing} run(s) of {where} from the selection statistics: no daily returns "
            "(written before hft stored them; rerun to include them)",
            SkippedArtifactWarning,
            stacklevel=3,
        )
    out: dict[str, Any] = {
        **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in key.items()},
        "n_rows": n_tried,
        "n_without_returns": missing,
    }
    dsr_rows = usable.select("group", "phase", "fold", "trial", "run_id").with_columns(
        pl.lit(None, pl.Float64).alias("dsr")
    )
    if usable.height == 0:
        out.update(n_tried=n_tried, reasons={"all": "no complete trial with daily returns"})
        return out, dsr_rows
    m = _matrix(usable)
    best_index = None
    if best is not None:
        idx = usable.with_row_index("_i").filter(
            (pl.col("trial") == best.get("trial")) if best.get("trial") is not None else pl.lit(False)
        )
        best_index = int(idx["_i"][0]) if idx.height else None
    stats = honest.selection_stats(m, n_tried=n_tried, best_index=best_index, n_splits=n_splits)
    bi = stats.get("best_index")
    if bi is not None:
        out["best_trial"] = _plain(usable["trial"][bi])
        out["best_run_id"] = usable["run_id"][bi]
    out.update({k: _plain(v) for k, v in stats.items() if k not in ("pbo_logits",)})
    logits = stats.get("pbo_logits")
    out["pbo_logits"] = {k: _plain(v) for k, v in logits.items()} if logits else None
    var = stats.get("sharpe_variance")
    sr0 = honest.expected_max_sharpe(float(stats.get("n_effective") or 1.0), float(var or 0.0))
    return out, dsr_rows.with_columns(pl.Series("dsr", _row_psr(m, sr0), pl.Float64))


def selection(
    scan: RunsScan,
    *,
    where: pl.Expr | None = None,
    n_splits: int = DEFAULT_PBO_SPLITS,
    best: dict[tuple, dict] | None = None,
) -> Selection:
    """Selection statistics of every window under `scan` (see the module docstring).

    `best` maps (group, phase, fold) to {"trial": n, "n_tried": k} when the caller knows the selected
    trial and how many trials the study tried (the sweep's study; a trial lost with its actor has
    no row); otherwise the window's best Sharpe is the selection and its rows count as tried.
    """
    cols = [c for c in COLUMNS if c in scan.schema]

    def query(lf: pl.LazyFrame) -> pl.LazyFrame:
        return (lf.filter(where) if where is not None else lf).select(cols)

    rows = scan.collect(query)
    out = Selection()
    if rows.is_empty():
        return out
    meta = rows.drop([c for c in ("daily_dates", "daily_returns") if c in rows.columns])
    keys = rows.select(WINDOW)
    if keys.n_unique() == 1:  # one window (a plain sweep): no partition copy of the lists
        parts = {keys.row(0): rows}
    else:
        parts = rows.partition_by(list(WINDOW), as_dict=True, maintain_order=True)
    del rows, keys  # the daily-return lists are held once, by the windows
    frames = []
    for values, df in parts.items():
        key = dict(zip(WINDOW, values, strict=True))
        choice = (best or {}).get((key["group"], key["phase"], key["fold"]))
        if key["phase"] in OOS_PHASES:  # no choice made on a test window: a row's DSR is its PSR
            frames.append(_single_dsr(df))
            continue
        stats, dsr = _window_stats(key, df, n_splits, choice)
        out.windows.append(stats)
        frames.append(dsr)
    out.windows.sort(key=lambda w: (w["group"], w["phase"], -1 if w["fold"] is None else w["fold"]))
    out.dsr = pl.concat(frames, how="vertical_relaxed") if frames else out.dsr
    out.degradation = _degradation(meta)
    return out


def _single_dsr(df: pl.DataFrame) -> pl.DataFrame:
    ok = df.filter((pl.col("status") == "complete") & pl.col("daily_returns").list.len().gt(0))
    vals = _row_psr(_matrix(ok), 0.0) if ok.height else []
    return ok.select("group", "phase", "fold", "trial", "run_id").with_columns(
        pl.Series("dsr", vals, pl.Float64)
    )


#: rank correlation metrics in order of preference: a 1-day test window has no Sharpe (it needs at
#: least 2 daily returns), so the degradation falls back to total_return, then net_pnl, and says so
DEGRADATION_METRICS = ("sharpe", "total_return", "net_pnl")
OOS_PHASES = ("test", "oos_check")  # the selected trial, and the other top train trials on the test window


def _degradation(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """Per walk-forward fold: train vs test figures of the trials run on both windows (the selected
    trial, phase test, and the next best train trials, phase oos_check), on the first metric of
    DEGRADATION_METRICS that gives a rank correlation (else the first with any pair)."""
    test = rows.filter(pl.col("phase").is_in(OOS_PHASES) & (pl.col("status") == "complete"))
    out = []
    for (group, fold), t in test.partition_by(["group", "fold"], as_dict=True, maintain_order=True).items():
        train = rows.filter(
            (pl.col("group") == group) & (pl.col("phase") == "train") & (pl.col("fold") == fold)
        ).filter(pl.col("status") == "complete")
        trials = train["trial"].to_list()
        res, used = None, None
        for metric in DEGRADATION_METRICS:
            if metric not in rows.columns:
                continue
            by_trial = dict(zip(t["trial"].to_list(), t[metric].to_list(), strict=True))
            got = honest.wf_degradation(train[metric].to_list(), [by_trial.get(k) for k in trials])
            if got["spearman"] is not None:
                res, used = got, metric
                break
            if res is None or (res["n_pairs"] == 0 and got["n_pairs"] > 0):
                res, used = got, metric
        res = {k: _plain(v) for k, v in (res or {}).items()}
        if used != "sharpe" and used is not None:
            res["reason"] = "; ".join(
                filter(
                    None,
                    [
                        f"no Sharpe rank correlation (a test window needs 2+ daily returns for a Sharpe); "
                        f"ranked by {used}",
                        res.get("reason"),
                    ],
                )
            )
        if res.get("best_index") is not None:
            res["best_trial"] = _plain(trials[res.pop("best_index")])
        else:
            res.pop("best_index", None)
        selected = t.filter(pl.col("phase") == "test")["trial"].to_list()
        out.append(
            {
                "group": group,
                "fold": _plain(fold),
                "metric": used,
                "selected_trial": _plain(selected[0]) if selected else None,
                "train_trials": len(trials),
                "oos_trials": t.height,
                **res,
            }
        )
    out.sort(key=lambda d: (d["group"], d["fold"]))
    return out


def selection_frame(sel: Selection) -> pl.DataFrame:
    """One row per in-sample window: what was tried and how much of its best is selection luck."""
    cols = (  # most telling first: narrow terminals drop columns from the right
        "group",
        "phase",
        "fold",
        "dsr",
        "best_psr",
        "pbo",
        "best_sharpe",
        "expected_max_sharpe",
        "n_tried",
        "n_effective",
        "best_trial",
        "n_days",
        "start",
        "end",
        "pbo_partitions",
    )
    rows = [{c: w.get(c) for c in cols} | {"notes": _notes(w)} for w in sel.windows]
    df = pl.DataFrame(
        rows, schema_overrides={"fold": pl.Int64, "best_trial": pl.Int64}, infer_schema_length=None
    )
    from hft.tables import drop_blank_columns

    return drop_blank_columns(df)  # PBO of short windows, fold of a plain sweep: said in the notes


def degradation_frame(sel: Selection) -> pl.DataFrame:
    """One row per walk-forward fold: train vs test Sharpe agreement and the best trial's drop."""
    cols = (
        "group",
        "fold",
        "metric",
        "train_trials",
        "n_pairs",
        "spearman",
        "best_trial",
        "best_train",
        "best_test",
        "drop",
    )
    rows = [{c: d.get(c) for c in cols} | {"notes": d.get("reason") or ""} for d in sel.degradation]
    return pl.DataFrame(rows, infer_schema_length=None)


def _notes(w: dict[str, Any]) -> str:
    reasons = w.get("reasons") or {}
    return "; ".join(f"{k}: {v}" for k, v in reasons.items())
