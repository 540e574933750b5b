"""`hft demo`: the whole chain offline on embedded defaults, each stage saying what it wrote where.

synth a week of XAU/USD -> serve it on 127.0.0.1 -> Ray ingest into ./data -> a TPE sweep of two
strategies (EMA crossover, z-score reversion) with walk-forward validation on the same local Ray ->
leaderboards and out-of-sample results per strategy.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import typer

from hft.data.feed import FeedServer
from hft.data.synth import write_synth_feed
from hft.ingest.pipeline import IngestConfig, ingest
from hft.rayenv import init_ray, shutdown_ray
from hft.status import phases
from hft.store.fs import open_store
from hft.store.summary import summarise

__all__ = ["DEMO_START", "DEMO_SYMBOL", "demo_specs", "run_demo"]

DEMO_SYMBOL = "XAUUSD"
DEMO_START = date(2024, 3, 4)  # a Monday: five trading days and a weekend


def demo_specs(store: str, start: date, end: date, n_trials: int = 16) -> list:
    """The demo's two TPE sweeps, walk-forward over the stored days (3 train, 1 test, step 1)."""
    from hft.sweep.spec import parse_spec

    common = {
        "data": {"symbol": DEMO_SYMBOL, "start": start, "end": end, "store": store},
        "execution": {
            "size": 1,
            "latency_ms": 20,
            "slippage": 0.01,
            "taker_per_unit": 0.02,
            "stop_loss": 5.0,
        },
        "sampler": {"type": "tpe", "seed": 7, "n_startup_trials": 6},
        "objectives": [{"metric": "net_pnl", "direction": "maximize"}],
        "n_trials": n_trials,
        "pruner": {"type": "median", "n_startup_trials": 4, "n_warmup_steps": 0},
        "walk_forward": {"train_days": 3, "test_days": 1, "step_days": 1},
        "resources": {"batch": 4},
        "top": 5,
    }
    ema = {
        "name": "demo_ema_cross",
        "strategy": {"name": "ema_cross"},
        "space": {
            "fast": {"type": "int", "low": 50, "high": 1000, "log": True},
            "slow": {"type": "int", "low": 1500, "high": 20000, "log": True},
        },
    }
    zs = {
        "name": "demo_zscore",
        "strategy": {"name": "zscore", "params": {"exit_z": 0.5}},
        "space": {
            "window": {"type": "int", "low": 200, "high": 5000, "log": True},
            "entry_z": {"type": "float", "low": 1.5, "high": 4.0, "step": 0.25},
        },
    }
    return [parse_spec({**common, **s}, where=f"demo sweep {s['name']}") for s in (ema, zs)]


def run_demo(workdir: Path, *, days: int = 7, seed: int = 7, n_trials: int = 16) -> None:
    from hft.sweep.cli import print_result
    from hft.sweep.pool import ActorPool
    from hft.sweep.run import run_sweep, sweep_ray
    from hft.sweep.spec import Resources

    workdir = Path(workdir)
    feed_dir, store = workdir / "demo-feed", str(workdir / "data")
    end = DEMO_START + timedelta(days=days - 1)
    t_all = time.perf_counter()

    t0 = time.perf_counter()
    summary = write_synth_feed(feed_dir, DEMO_SYMBOL, DEMO_START, end, seed=seed)
    typer.echo(f"[1/4] synth: {summary} → {feed_dir} ({time.perf_counter() - t0:.1f}s)")

    specs = demo_specs(store, DEMO_START, end, n_trials)
    try:
        with phases("demo: starting Ray (local)"):  # sweep_ray below joins it; shutdown_ray ends it
            init_ray(None, object_store_memory=Resources().object_store_mb * 1024**2)
        with sweep_ray(None, Resources()), FeedServer(feed_dir) as server:
            typer.echo(f"[2/4] feed: serving {feed_dir} at {server.url} (bound to 127.0.0.1)")
            cfg = IngestConfig(
                symbol=DEMO_SYMBOL, start=DEMO_START, end=end, store=store, feed_url=server.url
            )
            report = ingest(cfg)
            rate = report.ticks_per_second
            typer.echo(
                f"[3/4] ingest: {report.rows:,} ticks in {len(report.days)} day(s) → {store}/ticks "
                f"in {report.seconds:.1f}s ({rate:,.0f} ticks/s after Ray start-up), "
                f"failed hours: {len(report.failed)}, suspect empty hours: {len(report.suspect)}"
            )
            for row in summarise(open_store(store), DEMO_SYMBOL):
                typer.echo(
                    f"stored {row['symbol']} {row['first']}..{row['last']}: {row['days']} days, "
                    f"{row['rows']:,} ticks, hours ok={row['ok']} empty={row['empty']} failed={row['failed']}"
                )
            typer.echo(
                f"[4/4] sweep: TPE over {', '.join(s.strategy.name for s in specs)}, {n_trials} trials per "
                "walk-forward fold (train 3 days, test the next), median pruning per UTC day, Ray actors"
            )
            pool = ActorPool(specs[0].resources)  # one pool for both: each actor reads a day once
            typer.echo(
                f"sweep: {len(pool.actors)} actor(s) starting; each compiles the engine's kernels on its "
                "first trial (one-time, cached on disk) and warms its tick cache"
            )
            results = []
            try:
                for spec in specs:
                    # a demo rerun over other days replaces its old studies (as --fresh)
                    results.append(run_sweep(spec, pool=pool, echo=typer.echo, fresh=True))
            finally:
                pool.close()
    finally:
        shutdown_ray()
    for res in results:
        typer.echo("")
        print_result(res)
    import polars as pl

    from hft.tables import print_table

    ranked = sorted(results, key=lambda r: -((r.aggregate or {}).get("oos_net_pnl") or float("-inf")))
    rows = []
    for i, res in enumerate(ranked, 1):
        a = res.aggregate or {}
        rows.append(
            {
                "rank": i,
                "strategy": res.spec.strategy.name,
                "net_pnl": a.get("oos_net_pnl"),
                "total_return": a.get("oos_total_return"),
                "positive_folds": f"{a.get('positive_folds', 0)}/{a.get('folds_ok', 0)}",
                "trades": a.get("oos_trades"),
            }
        )
    typer.echo("")
    print_table(
        pl.DataFrame(rows, infer_schema_length=None),
        "Out of sample, the number to trust (walk-forward test windows only)",
    )
    typer.echo(f"demo finished in {time.perf_counter() - t_all:.0f}s")
    typer.echo(
        "next, on this store (configs/xau_ema_cross.yaml and every file in sweeps/ run on it):\n"
        f"  hft report {store} --top 20 --html report.html    # interactive report, opens offline\n"
        "  hft run configs/xau_ema_cross.yaml\n"
        "  hft sweep sweeps/zscore_tpe.yaml --n-trials 8\n"
        f"  hft dashboard --store {store}"
    )
