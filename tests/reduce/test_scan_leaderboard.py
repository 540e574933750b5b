from __future__ import annotations

import logging
import math
import statistics

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hft.errors import ConfigError, StoreError
from hft.reduce import SkippedArtifactWarning, compare_strategies, leaderboard, runs_table, scan_runs
from hft.reduce.synth import write_runs
from hft.store.fs import Store
from tests.reduce.conftest import eager_top, folder_of


@pytest.mark.parametrize(("by", "desc"), [("sharpe", True), ("net_pnl", True), ("max_drawdown_frac", False)])
def test_leaderboard_matches_an_eager_sort(runs_dir, by, desc):
    root, rows = runs_dir
    with _no_warnings():
        scan = scan_runs(root)
        lb = leaderboard(scan, by=by, top=15)
    assert lb["run_id"].to_list() == eager_top(rows, by, 15, desc)
    assert lb["rank"].to_list() == list(range(1, 16))
    want = {r["run_id"]: r for r in rows}
    for r in lb.iter_rows(named=True):
        assert r[by] == pytest.approx(want[r["run_id"]][by])
        assert r["run_url"].endswith(f"/{want[r['run_id']]['group']}/{r['run_id']}")


class _no_warnings:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", SkippedArtifactWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_store_root_is_accepted_and_filters_push_down(runs_dir):
    root, rows = runs_dir
    import polars as pl

    scan = scan_runs(root.removesuffix("/runs"))  # the store holding runs/
    assert len(scan.summaries) == len(rows)
    lb = leaderboard(scan, by="sharpe", top=5, where=pl.col("strategy") == "zscore")
    assert lb["run_id"].to_list() == eager_top([r for r in rows if r["strategy"] == "zscore"], "sharpe", 5)
    # pushed down = the predicate and the column subset sit on the Parquet scan node itself, with
    # no FILTER node above it (a filter Polars could not push would appear as FILTER ... FROM)
    plan = scan.lazy().filter(pl.col("strategy") == "zscore").select("run_id", "sharpe").explain()
    lines = [ln.strip() for ln in plan.splitlines()]
    at = next(i for i, ln in enumerate(lines) if ln.startswith("Parquet SCAN"))
    scan_node = lines[at + 1 :]
    assert 'SELECTION: col("strategy") == "zscore"' in scan_node, plan
    n_cols = len(scan.schema)  # the file-path column Polars adds is not a Parquet column
    assert f"PROJECT 3/{n_cols} COLUMNS" in scan_node, plan  # run_id, sharpe and strategy only
    assert not any("FILTER" in ln for ln in lines), plan
    unfiltered = scan.lazy().select("run_id", "sharpe").explain()
    assert (
        "SELECTION" not in unfiltered and f"PROJECT 2/{n_cols} COLUMNS" in unfiltered
    )  # the test sees a difference


def test_group_pruning_and_unknown_group(runs_dir):
    root, rows = runs_dir
    scan = scan_runs(root, groups=["g1"])
    assert sorted(f.split("/")[-3] for f in scan.summaries) == ["g1"] * sum(r["group"] == "g1" for r in rows)
    with pytest.raises(ConfigError, match="--group: no runs for nope"):
        scan_runs(root, groups=["nope"])


def test_group_scan_lists_only_that_groups_folder(runs_dir, monkeypatch):
    """A sweep scans its own group several times: the store's other sweeps must not be listed (their
    number grows with the store, the sweep's work does not), and no group name reaches outside."""
    from fsspec.implementations.local import LocalFileSystem

    root, rows = runs_dir
    listed: list[str] = []
    find = LocalFileSystem.find

    def spy(self, path, *args, **kwargs):
        listed.append(str(path).rstrip("/"))
        return find(self, path, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "find", spy)
    scan = scan_runs(root, groups=["g1", "g1"])
    assert listed == [f"{root}/g1"]
    assert len(scan.summaries) == sum(r["group"] == "g1" for r in rows) > 0
    listed.clear()
    for bad in ("..", "../runs/g1", "g1/..", "."):
        with pytest.raises(ConfigError, match="--group: no runs for"):
            scan_runs(root, groups=[bad])
    assert listed == []
    scan_runs(root)  # no groups: the whole runs folder, once
    assert listed == [root]


def test_bad_metric_and_missing_folder_are_named(runs_dir, tmp_path):
    scan = scan_runs(runs_dir[0])
    with pytest.raises(ConfigError, match=r"--by 'shrape'.*sharpe"):
        leaderboard(scan, by="shrape")
    with pytest.raises(StoreError, match="does not exist"):
        scan_runs(str(tmp_path / "nothing"))


def test_broken_runs_are_skipped_named_and_counted(runs_copy):
    root, rows = runs_copy
    by_id = {r["run_id"]: r for r in rows}
    victims = rows[:4]
    (folder_of(root, victims[0]) / "summary.yaml").unlink()  # unfinished
    (folder_of(root, victims[1]) / "summary.parquet").unlink()  # committed but no summary
    (folder_of(root, victims[2]) / "summary.parquet").write_bytes(b"PAR1 this is not parquet")
    # readable Parquet whose typed column cannot be cast: found by bisection, skipped
    pq.write_table(
        pa.table({"run_id": ["x"], "sharpe": ["not a number"]}),
        folder_of(root, victims[3]) / "summary.parquet",
    )
    with pytest.warns(SkippedArtifactWarning) as record:
        scan = scan_runs(root)
        lb = leaderboard(scan, by="sharpe", top=len(rows))
    messages = [str(w.message) for w in record]
    assert any(victims[0]["run_id"] in m and "unfinished" in m for m in messages)
    assert any(victims[1]["run_id"] in m and "missing summary.parquet" in m for m in messages)
    assert any(victims[2]["run_id"] in m and "unreadable summary.parquet" in m for m in messages)
    assert any(victims[3]["run_id"] in m and "unreadable summary.parquet" in m for m in messages)
    assert scan.skipped_counts() == {
        "unfinished run": 1,
        "missing summary.parquet": 1,
        "unreadable summary.parquet": 2,
    }
    good = [r for r in rows if r["run_id"] not in {v["run_id"] for v in victims}]
    assert lb["run_id"].to_list() == eager_top(good, "sharpe", len(rows))
    assert set(lb["run_id"]) <= set(by_id)


def test_runs_table_and_strategy_comparison_match_python(runs_dir):
    root, rows = runs_dir
    table = runs_table(scan_runs(root), "sharpe")
    assert table.height == len(rows)
    cmp = {r["strategy"]: r for r in compare_strategies(table, "sharpe").iter_rows(named=True)}
    for strategy in ("ema_cross", "zscore"):
        vals = [r["sharpe"] for r in rows if r["strategy"] == strategy and r["sharpe"] is not None]
        pnl = [r["net_pnl"] for r in rows if r["strategy"] == strategy]
        c = cmp[strategy]
        assert c["runs"] == len(pnl)
        assert c["best_sharpe"] == pytest.approx(max(vals))
        assert c["mean_sharpe"] == pytest.approx(statistics.fmean(vals))
        assert c["median_sharpe"] == pytest.approx(statistics.median(vals))
        q = statistics.quantiles(vals, n=4, method="inclusive")
        assert c["p25_sharpe"] == pytest.approx(q[0])
        assert c["p75_sharpe"] == pytest.approx(q[2])
        assert c["share_profitable"] == pytest.approx(sum(p > 0 for p in pnl) / len(pnl))


def test_artifact_names_agree_with_the_writer():
    from hft.backtest import artifacts as A
    from hft.reduce import scan

    assert (scan.SUMMARY_YAML, scan.SUMMARY_PARQUET, scan.TRADES_FILE, scan.EQUITY_FILE) == (
        A.SUMMARY_YAML,
        A.SUMMARY_PARQUET,
        A.TRADES_FILE,
        A.EQUITY_FILE,
    )


def test_corrupt_summary_in_s3_is_skipped(s3_store):
    url, opts = s3_store
    st = Store(f"{url}/runs", opts)
    rows = write_runs(st, 12, groups=2, seed=5, curves=False)
    st.write_bytes(b"garbage", rows[3]["group"], rows[3]["run_id"], "summary.parquet")
    with pytest.warns(SkippedArtifactWarning, match=f"{rows[3]['run_id']}/summary.parquet: unreadable"):
        lb = leaderboard(scan_runs(url, opts), by="net_pnl", top=20)
    assert lb["run_id"].to_list() == eager_top(rows[:3] + rows[4:], "net_pnl", 20)


@pytest.mark.slow
def test_thousands_of_runs_in_s3_match_an_eager_leaderboard(s3_store):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    url, opts = s3_store
    st = Store(f"{url}/runs", opts)
    rows = write_runs(st, 2000, groups=8, seed=3, curves=False)
    unfinished, lost = rows[7], rows[8]
    st.fs.rm(st.path(unfinished["group"], unfinished["run_id"], "summary.yaml"))
    st.fs.rm(st.path(lost["group"], lost["run_id"], "summary.parquet"))
    with pytest.warns(SkippedArtifactWarning) as record:
        scan = scan_runs(url, opts)
        lb = leaderboard(scan, by="sharpe", top=50)
    messages = sorted(str(w.message) for w in record)
    assert any(f"{lost['run_id']}/summary.parquet: missing" in m for m in messages), messages
    assert any(f"{unfinished['run_id']}: unfinished run" in m for m in messages), messages
    good = [r for r in rows if r["run_id"] not in (unfinished["run_id"], lost["run_id"])]
    assert scan.skipped_counts() == {"unfinished run": 1, "missing summary.parquet": 1}
    assert len(scan.summaries) == len(good)
    assert lb["run_id"].to_list() == eager_top(good, "sharpe", 50)
    want = sorted(
        (r["sharpe"] for r in good if r["sharpe"] is not None and math.isfinite(r["sharpe"])), reverse=True
    )
    assert lb["sharpe"].to_list() == pytest.approx(want[:50])
    assert all(u.startswith(f"{url}/runs/") for u in lb["run_url"])
