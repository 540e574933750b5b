"""The kept-runs pack without Ray: one object per sweep holding the same trades, equity and summary
that `hft rerun` writes as a folder, on a local folder and on S3 (moto)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from hft.backtest import artifacts as A
from hft.backtest.rerun import find_row, rebuild_many, rerun
from hft.reduce.scan import polars_storage_options
from hft.store import open_store
from hft.store.kept import copy_kept, kept_ids, kept_row, read_kept, write_kept
from hft.sweep import parse_spec
from hft.sweep.worker import BatchRequest, SweepWorker, TrialTask

from .conftest import START, spec_dict

PARAMS = [{"fast": 10, "slow": 100}, {"fast": 20, "slow": 300}, {"fast": 40, "slow": 200}]
_TS = pa.timestamp("ms", tz="UTC")


def _tables(i: int, n: int) -> tuple[pa.Table, pa.Table]:
    trades = pa.table(
        {
            "entry_time": pa.array(range(n), pa.int64()).cast(_TS),
            "side": pa.array(["long"] * n, pa.string()),
            "net_pnl": pa.array([float(i + k) for k in range(n)], pa.float64()),
        }
    )
    equity = pa.table({"ts": pa.array([1, 2, 3], pa.int64()).cast(_TS), "equity": [1.0, 2.0, float(i)]})
    return trades, equity


def test_pack_round_trip_copy_and_replace(any_store):
    url, opts = any_store
    st = open_store(url, opts)
    runs = {f"run{i:013d}": _tables(i, n) for i, n in enumerate([3, 0, 5])}  # one run without trades
    rows = [kept_row(rid, "g", f"run_id: {rid}\n", *t) for rid, t in runs.items()]
    where, n = write_kept(st, "g", rows)
    assert n == 3 and where == st.uri("runs", "g", "kept.parquet")
    assert kept_ids(st, "g") == list(runs)
    with st.fs.open(st.path("runs", "g", "kept.parquet"), "rb") as fh:
        assert pq.ParquetFile(fh).metadata.num_row_groups == 3  # a reader of one run reads its own group
    for rid, (trades, equity) in runs.items():
        got = read_kept(where, rid, polars_storage_options(st))
        assert got.summary == f"run_id: {rid}\n"
        assert got.trades.equals(pl.from_arrow(trades)) and got.trades.schema == pl.from_arrow(trades).schema
        assert got.equity.equals(pl.from_arrow(equity))
    assert read_kept(where, "feedfacefeedface", polars_storage_options(st)) is None
    # a new pack: two runs copied from the old one (their row groups), one new; replaces it whole
    keep = {"run0000000000000", "run0000000000002"}
    new = kept_row("run0000000000009", "g", "x: 1\n", *_tables(9, 1))
    write_kept(st, "g", [*copy_kept(st, "g", keep), new])
    assert kept_ids(st, "g") == ["run0000000000000", "run0000000000002", "run0000000000009"]
    assert read_kept(where, "run0000000000002", polars_storage_options(st)).trades.height == 5
    assert kept_ids(st, "nothing") == []


def test_rebuilt_and_packed_runs_equal_what_hft_rerun_writes_byte_for_byte(week_store):
    """Rows only from the actor (as a sweep writes them), then the batched rebuild the sweep packs:
    each run's summary text is the folder's summary.yaml byte for byte, and its trades and equity
    are the folder's tables (same types, same values) as `hft rerun` writes them
    (the single, streaming engine path)."""
    spec = parse_spec(spec_dict(week_store, "k_pack"))
    tasks = [
        TrialTask(i, spec.run_config(p, START, spec.data.end, week_store).model_dump(mode="json"), tags)
        for i, p in enumerate(PARAMS)
        for tags in [{"sweep": "k_pack", "trial": i, "phase": "train"}]
    ]
    rep = SweepWorker(cache_mb=64).run(BatchRequest(tasks, folders=False))
    assert [o.status for o in rep.outcomes] == ["complete"] * 3 and all(
        o.folder is None for o in rep.outcomes
    )
    st = open_store(week_store)
    rows = [find_row(st, o.run_id) for o in rep.outcomes]
    built = list(rebuild_many(rows, st))
    assert [r["run_id"] for r, _o, _res in built] == [o.run_id for o in rep.outcomes]
    packed = [
        kept_row(
            r["run_id"], "k_pack", A.yaml_bytes(o.summary), A.trades_table(x.trades), A.equity_table(x.marks)
        )
        for r, o, x in built
    ]
    url, _n = write_kept(st, "k_pack", packed)
    assert not any((Path(week_store) / "runs" / "k_pack" / o.run_id).exists() for o in rep.outcomes)
    for o in rep.outcomes:
        got = read_kept(url, o.run_id)
        folder = Path(rerun(o.run_id, week_store).folder)  # a folder of its own, as `hft rerun` writes it
        assert got.summary.encode() == (folder / "summary.yaml").read_bytes()
        assert got.trades.height == o.metrics["trades"] > 0
        for name, frame in (("trades.parquet", got.trades), ("equity.parquet", got.equity)):
            want = pl.read_parquet(folder / name)
            assert frame.schema == want.schema and frame.equals(want), name
