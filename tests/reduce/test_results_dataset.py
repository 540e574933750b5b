"""The per-sweep dataset of trial rows: parts replace on retry, corrupt parts are skipped by name,
stores mixing old run folders and new parts report every run once, and rankings say what they rank.

Rows are written through hft.store.results (the path sweeps use); the oracles are the plain Python
rows the test wrote and the ranking rules stated in hft.reduce.leaderboard's docstring.
"""

from __future__ import annotations

import math
import warnings
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from hft.errors import StoreError
from hft.reduce import SkippedArtifactWarning, leaderboard, scan_runs
from hft.reduce.report import build_report
from hft.reduce.selection import selection
from hft.reduce.synth import write_runs
from hft.store.fs import Store
from hft.store.results import write_part

D0 = date(2024, 1, 1)


def _row(
    trial: int, *, group="sw", phase="train", fold=None, days=30, sharpe=None, seed=0, status="complete"
):
    rng = np.random.default_rng([seed, trial])
    r = rng.normal(0.0005, 0.01, days)
    sd = float(np.std(r, ddof=1)) if days > 1 else 0.0
    return {
        "run_id": f"{group}-{phase}-{fold}-{trial:04d}",
        "group": group,
        "strategy": "ema_cross",
        "symbol": "XAUUSD",
        "start": D0,
        "end": D0 + timedelta(days=days - 1),
        "params": f'{{"fast": {trial}}}',
        "param_fast": trial,
        "net_pnl": float(r.sum()) * 1e5,
        "sharpe": sharpe if sharpe is not None else (float(r.mean() / sd * math.sqrt(252)) if sd else None),
        "n_days": days,
        "days": days,
        "sweep": group,
        "trial": trial,
        "fold": fold,
        "phase": phase,
        "status": status,
        "daily_dates": [D0 + timedelta(days=k) for k in range(days)] if status == "complete" else None,
        "daily_returns": [float(x) for x in r] if status == "complete" else None,
    }


def _runs(any_store) -> tuple[Store, str, dict]:
    url, opts = any_store
    return Store(url, opts), f"{url}/runs", opts


def test_a_retried_batch_replaces_its_part_and_rows_never_repeat(any_store):
    st, runs, opts = _runs(any_store)
    first = [_row(k) for k in range(0, 8)]
    write_part(st, "sw", first, range(0, 8))
    write_part(st, "sw", [_row(k) for k in range(8, 16)], range(8, 16))
    again = write_part(st, "sw", [dict(r, net_pnl=r["net_pnl"] + 1.0) for r in first], range(0, 8))  # retry
    assert again.endswith("runs/sw/trials/part-0000000-0000007.parquet")
    parts = sorted(p.rsplit("/", 1)[-1] for p in st.fs.find(st.path("runs", "sw", "trials")))
    assert parts == ["part-0000000-0000007.parquet", "part-0000008-0000015.parquet"]
    scan = scan_runs(runs, opts)
    df = scan.collect(lambda lf: lf.select("trial", "net_pnl", "daily_returns")).sort("trial")
    assert df["trial"].to_list() == list(range(16))
    assert df["net_pnl"][3] == pytest.approx(first[3]["net_pnl"] + 1.0)  # the retry's row won
    assert df["daily_returns"][5].to_list() == first[5]["daily_returns"]


def test_corrupt_part_is_skipped_by_name_and_mixed_stores_count_each_run_once(any_store):
    st, runs, opts = _runs(any_store)
    legacy = write_runs(
        Store(runs, opts), 6, groups=2, seed=2, curves=False, daily=False
    )  # old runs: no daily returns
    g0 = [r for r in legacy if r["group"] == "g0"]
    # sweep g0 resumed with the new code: one of its old trials is also a row of a part
    rows = [dict(_row(k, group="g0"), run_id=g0[0]["run_id"] if k == 0 else f"new{k}") for k in range(4)]
    write_part(st, "g0", rows, range(4))
    write_part(st, "g0", [_row(k, group="g0") for k in range(4, 8)], range(4, 8))
    bad = "runs/g0/trials/part-0000004-0000007.parquet"
    st.write_bytes(st.read_bytes(*bad.split("/"))[:200], *bad.split("/"))  # truncated
    with pytest.warns(SkippedArtifactWarning, match=r"part-0000004-0000007\.parquet: unreadable trial part"):
        scan = scan_runs(runs, opts)
        df = scan.collect(lambda lf: lf.select("group", "run_id", "phase", "status"))
    want = {(r["group"], r["run_id"]) for r in legacy} | {("g0", r["run_id"]) for r in rows}
    got = list(zip(df["group"], df["run_id"], strict=True))
    assert sorted(got) == sorted(want) and len(got) == len(want)  # once each, old and new
    assert set(df["phase"]) == {"run", "train"} and set(df["status"]) == {"complete"}
    with pytest.warns(SkippedArtifactWarning, match="skipped 2 run.s. of g0 run .*no daily returns"):
        sel = selection(scan)
    g0_train = next(w for w in sel.windows if w["group"] == "g0" and w["phase"] == "train")
    assert g0_train["n_tried"] == 4 and g0_train["n_with_returns"] == 4


def test_min_days_and_phases_order_the_ranking(tmp_path):
    st = Store(str(tmp_path / "store"))
    train = [
        _row(0, days=3, sharpe=9.0),  # the best Sharpe, from 3 daily returns
        _row(1, days=40, sharpe=1.0),
        _row(2, days=40, sharpe=2.0),
        _row(3, days=40, sharpe=float("nan")),
        _row(4, days=40, status="failed", sharpe=50.0),
    ]
    write_part(st, "sw", train, range(5))
    write_part(st, "sw", [_row(0, phase="test", fold=0, days=25, sharpe=0.5)], [0])
    scan = scan_runs(str(tmp_path / "store"))
    lb = leaderboard(scan, by="sharpe", top=10)
    # rule: test first; within a phase ranked rows by Sharpe, the few-days row after them, unrankable last
    got = lb.select("phase", "trial", "rank").rows()
    assert got[:4] == [("test", 0, 1), ("train", 2, 1), ("train", 1, 2), ("train", 0, 3)]
    assert sorted(got[4:]) == [("train", 3, None), ("train", 4, None)]  # NaN and failed: no rank
    assert lb.filter(pl.col("trial") == 0, pl.col("phase") == "train")["few_days"].item() is True
    relaxed = leaderboard(scan, by="sharpe", top=10, min_days=2, where=pl.col("phase") == "train")
    assert relaxed["trial"][0] == 0 and set(relaxed["phase"]) == {"train"}
    by_pnl = leaderboard(scan, by="net_pnl", top=10)  # not a ratio: n_days does not demote
    assert not by_pnl["few_days"].any()
    rep = build_report(str(tmp_path / "store"), by="sharpe", top=5, phase="test")
    assert set(rep.ranked["phase"]) == {"test"}


def test_each_rows_dsr_agrees_with_the_windows_dsr_of_its_best(tmp_path):
    from hft.reduce import honest

    st = Store(str(tmp_path / "store"))
    rows = [dict(_row(k, days=60, seed=3), sharpe=None) for k in range(12)]
    rows[4]["daily_returns"][7] = None  # a missing day is ignored, not a crash
    write_part(st, "sw", rows, range(12))
    sel = selection(scan_runs(str(tmp_path / "store")))
    (w,) = sel.windows
    best = sel.dsr.filter(pl.col("trial") == w["best_trial"])["dsr"].item()
    assert w["dsr"] is not None and best == pytest.approx(w["dsr"], rel=1e-9)  # vectorised vs scalar
    r4 = np.array([x for x in rows[4]["daily_returns"] if x is not None])
    sr0 = honest.expected_max_sharpe(w["n_effective"], w["sharpe_variance"])
    want = honest.probabilistic_sharpe(r4.mean() / r4.std(ddof=1), r4.size, *_skew_kurt(r4), sr0)
    assert sel.dsr.filter(pl.col("trial") == 4)["dsr"].item() == pytest.approx(want, rel=1e-9)


def _skew_kurt(x):
    from scipy import stats

    return float(stats.skew(x)), float(stats.kurtosis(x, fisher=False))


def test_bad_input_gives_reasons_never_a_crash_or_a_nan_first(tmp_path):
    st = Store(str(tmp_path / "store"))
    const = dict(_row(0, group="one"), daily_returns=[0.001] * 30, sharpe=None)
    write_part(st, "one", [const], [0])  # a study with one trial, constant returns
    single = [_row(k, group="single", days=1) for k in range(3)]  # single-day runs: no Sharpe at all
    write_part(st, "single", single, range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedArtifactWarning)
        rep = build_report(str(tmp_path / "store"), by="sharpe", top=5, curves=0)
        rep_dsr = build_report(str(tmp_path / "store"), by="dsr", top=5, curves=0)
    windows = {w["group"]: w for w in rep.selection.windows}
    assert windows["one"]["n_tried"] == 1 and windows["one"]["dsr"] is None and windows["one"]["reasons"]
    assert windows["one"]["pbo"] is None and "pbo" in windows["one"]["reasons"]
    assert windows["single"]["dsr"] is None and windows["single"]["pbo"] is None
    for r in (rep, rep_dsr):
        assert r.ranked["rank"].is_null().all()  # nothing rankable: no NaN ranked first
        assert r.leaderboard.height == 4


def test_pbo_logits_are_shown_in_the_terminal_and_html_reports(tmp_path):
    """The CSCV logits behind PBO: quantiles and a text histogram in `hft report`, a plotly histogram
    in the HTML; oracle: numpy quantiles/histogram of honest.pbo_cscv's logits on the rows' matrix."""
    from hft.reduce import honest
    from hft.reduce.html import render_html
    from hft.reduce.text import render_text

    st = Store(str(tmp_path / "store"))
    rows = [dict(_row(k, days=64, seed=5), sharpe=None) for k in range(10)]
    write_part(st, "sw", rows, range(10))
    res = honest.pbo_cscv(np.array([r["daily_returns"] for r in rows]), n_splits=16)
    rep = build_report(f"{tmp_path}/store/runs", curves=0)
    text = render_text(rep, width=250)
    (line,) = [x for x in text.splitlines() if x.startswith("PBO logits sw train")]
    assert f"{res.n_partitions} splits" in line and f"PBO {res.pbo:.2f}" in line
    lo, med, hi = np.quantile(res.logits, [0.0, 0.5, 1.0])
    assert f"median {med:.2f}" in line and f"min {lo:.2f}" in line and f"max {hi:.2f}" in line
    assert line.count("|") == 2 and len(line.split("|")[1]) == 20  # 20 bins
    page = render_html(rep)
    assert "logit of the in-sample best" in page and "Selection statistics" in page
    from hft.reduce.sweep_figures import pbo_logit_figure

    fig = pbo_logit_figure(rep.selection.windows, "sw")
    counts, _ = np.histogram(res.logits, bins=20)
    assert list(fig.data[0].y) == counts.tolist()


def test_a_held_scan_answers_from_memory_and_reads_what_it_does_not_hold(any_store):
    """`RunsScan.held` reads the parts once: inside the block the parts can be gone and queries on
    the held columns still answer (from memory); a query on another column reads the objects."""
    st, runs, opts = _runs(any_store)
    rows = [_row(k) for k in range(10)]
    write_part(st, "sw", rows[:6], range(6))
    write_part(st, "sw", rows[6:], range(6, 10))
    scan = scan_runs(runs, opts)
    with scan.held(["trial", "net_pnl", "daily_returns"]):
        for part in st.fs.find(st.path("runs", "sw", "trials")):
            st.fs.rm(part)
        df = scan.collect(lambda lf: lf.select("trial", "net_pnl").sort("trial"))
        assert df["net_pnl"].to_list() == pytest.approx([r["net_pnl"] for r in rows])
        with pytest.raises(StoreError, match="cannot scan summaries"):
            scan.collect(lambda lf: lf.select("trial", "sharpe"))  # not held: the (deleted) objects
    with pytest.raises(StoreError):
        scan.collect(lambda lf: lf.select("trial"))  # after the block: the objects again


def test_selection_finds_a_late_trial_on_other_days_when_rows_come_a_slice_at_a_time(tmp_path, monkeypatch):
    """The days are checked a slice of rows at a time: a trial in the last slice with as many days as
    the others but one of them different is still aligned on its own days, and dropped for lacking a
    day most trials have (oracle: the figures of honest.stack_returns's matrix)."""
    from hft.reduce import honest

    st = Store(str(tmp_path / "store"))
    rows = [dict(_row(k, days=40, seed=6), sharpe=None) for k in range(9)]
    rows[8]["daily_dates"] = [
        *rows[8]["daily_dates"][:20],
        *rows[8]["daily_dates"][21:],
        D0 + timedelta(days=45),
    ]
    write_part(st, "sw", rows, range(9))
    monkeypatch.setattr(honest, "CHUNK_CELLS", 80)  # 2 rows of 40 days per slice
    (w,) = selection(scan_runs(str(tmp_path / "store"))).windows
    m, _days = honest.stack_returns(
        [np.array(r["daily_dates"], dtype="datetime64[D]") for r in rows], [r["daily_returns"] for r in rows]
    )
    want = honest.selection_stats(m, n_tried=9)
    assert (w["n_days"], w["n_aligned"]) == (want["n_days"], want["n_aligned"]) == (40, 8)
    assert "1 trial(s) missing days most trials have dropped" in w["reasons"]["aligned"]
    assert w["pbo"] == want["pbo"] and w["dsr"] == pytest.approx(want["dsr"], rel=1e-12)
