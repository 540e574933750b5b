"""The kept-runs pack: one object per sweep holding the same trades, equity and summary that
`hft rerun` writes as a folder, on a local folder and on S3 (moto); and, on a real local Ray, the
same pack whether its runs come from the actors that computed them or are run again by the driver
(an actor replaced, a resumed sweep)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from optuna.trial import TrialState

from hft.backtest import artifacts as A
from hft.backtest.rerun import find_row, rebuild_many, rerun
from hft.reduce.scan import polars_storage_options
from hft.store import open_store
from hft.store.kept import copy_kept, kept_ids, kept_row, read_kept, write_kept
from hft.sweep import parse_spec, run_sweep
from hft.sweep.keep import keep_artifacts, kept_rows
from hft.sweep.pool import ActorPool
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


def _quiet(**kw):
    return {"progress": False, "echo": lambda _s: None, **kw}


def _assert_pack_is_the_rebuild(spec, st, res) -> list[str]:
    """Every run in the sweep's pack equals the driver's rebuild of the row it keeps (the oracle
    `hft rerun` matches byte for byte): summary text, trades and equity. Returns the packed ids."""
    studies = [(f, w.study) for f, w in res.windows]
    rows = kept_rows(spec, st, studies)[0].to_dicts()
    url = st.uri("runs", spec.name, "kept.parquet")
    assert sorted(kept_ids(st, spec.name)) == sorted(r["run_id"] for r in rows)
    traded = 0
    for row, outcome, x in rebuild_many(rows, st):
        got = read_kept(url, row["run_id"])
        assert got.summary.encode() == A.yaml_bytes(outcome.summary), row["run_id"]
        for frame, want in ((got.trades, A.trades_table(x.trades)), (got.equity, A.equity_table(x.marks))):
            want = pl.from_arrow(want)
            assert frame.schema == want.schema and frame.equals(want), row["run_id"]
        traded += got.trades.height > 0
    assert traded  # the comparison saw trades, not only empty tables
    return [r["run_id"] for r in rows]


def _yaml_artifacts(st, name: str) -> dict:
    return yaml.safe_load(st.read_bytes("runs", name, "sweep.yaml"))["artifacts"]


def test_kept_runs_come_from_the_actors_equal_to_their_rebuild_and_none_is_run_again(ray_module, week_store):
    """The actors hand over the top K they computed: the pack equals the rebuild of the kept rows
    run for run, and equals the pack the rebuild path writes for the same sweep; sweep.yaml says
    nothing was run again, and the actors hold nothing once the driver took them."""
    spec = parse_spec(spec_dict(week_store, "k_held", n_trials=10, artifacts_top_k=4))
    st = open_store(week_store)
    pool = ActorPool(spec.resources)
    try:
        res = run_sweep(spec, pool=pool, **_quiet())
        left = [(s["retained"], s["retained_windows"]) for s in pool.stats()]
    finally:
        pool.close()
    assert left == [(0, 0), (0, 0)]  # taken, then dropped: a reused pool does not grow
    done = res.windows[0][1].study.get_trials(states=(TrialState.COMPLETE,))
    by_value = sorted(done, key=lambda t: (-t.value, t.number))
    top = list(dict.fromkeys(t.user_attrs["run"]["run_id"] for t in by_value))[:4]
    assert sorted(_assert_pack_is_the_rebuild(spec, st, res)) == sorted(top)
    want = {
        "top_k": 4,
        "kept": 4,
        "packed": 4,
        "retained": 4,
        "rebuilt": 0,
        "file": st.uri("runs", "k_held", "kept.parquet"),
    }
    assert res.artifacts == want and _yaml_artifacts(st, "k_held") == want
    held = pq.read_table(st.path("runs", "k_held", "kept.parquet"))
    st.fs.rm(st.path("runs", "k_held", "kept.parquet"))  # the same sweep through the rebuild path
    again = keep_artifacts(spec, st, [(None, res.windows[0][1].study)])
    assert (again["retained"], again["rebuilt"]) == (0, 4)
    assert pq.read_table(st.path("runs", "k_held", "kept.parquet")).equals(held)


def test_runs_of_replaced_actors_are_run_again_and_packed_the_same(ray_module, week_store):
    """Both actors are killed once some trials came back: what they held is gone, the replacements
    hold the rest; the pack is still every kept run as its rebuild, and sweep.yaml counts each side."""
    import ray

    spec = parse_spec(spec_dict(week_store, "k_dead", n_trials=8))  # top 20: every trial kept
    pool = ActorPool(spec.resources)
    lost: list[int] = []

    def kill_once(stats, pool_) -> None:
        if not lost and stats.trials >= 2:
            lost.append(stats.trials)  # came back from (so held by) the actors killed now
            for a in pool_.actors:
                ray.kill(a, no_restart=True)

    try:
        res = run_sweep(spec, pool=pool, callback=kill_once, **_quiet())
    finally:
        pool.close()
    assert lost and res.stats.actor_deaths >= 1 and pool.replaced >= 1
    st = open_store(week_store)
    ids = _assert_pack_is_the_rebuild(spec, st, res)
    a = _yaml_artifacts(st, "k_dead")
    assert a["packed"] == len(ids) == a["retained"] + a["rebuilt"] and len(ids) >= 6
    # lost[0] trials were told before the kill; a batch that had finished but was not told yet is
    # lost with its actor too (its result is in the driver's object store, its held runs are gone):
    # so at least lost[0] are run again, and the replacements hand over the rest
    assert a["rebuilt"] >= lost[0] and a["retained"] >= 1


def test_a_resumed_sweep_packs_old_runs_from_the_pack_or_runs_them_again(ray_module, week_store):
    """4 trials keeping 2; resumed to 8 keeping all: the sampler (same seed) repeats the first 4
    parameter sets, so the kept rows are trials 0-3 (a run id keeps its lowest trial): 2 copied from
    the old pack, 2 run again (their actors are gone; the new actors hold twins 4-7, not those rows).
    Resumed to 12 with another seed: 4 new runs, all from the actors, the rest copied."""
    raw = spec_dict(week_store, "k_resume", n_trials=4, artifacts_top_k=2)
    first = run_sweep(parse_spec(raw), **_quiet())
    assert (first.artifacts["retained"], first.artifacts["rebuilt"]) == (2, 0)
    st = open_store(week_store)
    for n, seed, want in ((8, 3, (4, 0, 2)), (12, 4, (8, 4, 0))):
        spec = parse_spec(
            {**raw, "n_trials": n, "artifacts_top_k": n, "sampler": {"type": "random", "seed": seed}}
        )
        res = run_sweep(spec, **_quiet())
        ids = _assert_pack_is_the_rebuild(spec, st, res)
        a = _yaml_artifacts(st, "k_resume")
        assert (a["packed"], a["retained"], a["rebuilt"]) == want and len(ids) == want[0]
