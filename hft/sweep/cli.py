"""`hft sweep SPEC.yaml | CONFIG.yaml... | FOLDER`: registered by hft.cli as `app.command("sweep")(sweep)`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hft.cli_common import StorageOpts, fail
from hft.errors import ConfigError, HftError

__all__ = ["sweep", "print_result", "shortfall"]


def shortfall(res) -> str | None:
    """Why the sweep did less than asked (a study short of n_trials, completed trials left without
    a result row), or None."""
    rows = (
        f"{len(res.rows_missing)} completed trial(s) still have no result row (see the warnings "
        "above); rerun to retry"
        if getattr(res, "rows_missing", None)
        else None
    )
    short = [
        (w.name, w.counts["complete"] + w.counts["pruned"], w.n_trials)
        for _, w in res.windows
        if w.counts["complete"] + w.counts["pruned"] < w.n_trials
    ]
    if not short:
        return rows
    done = sum(w.counts["complete"] for _, w in res.windows)
    head = "no trial completed" if done == 0 else "fewer trials than asked completed"
    where = "; ".join(f"{name}: {got} of {want}" for name, got, want in short)
    why = f"{head} ({where}); see the failure reasons above, fix them and rerun to retry the failed trials"
    return f"{why}; {rows}" if rows else why


def print_reasons(res, echo=typer.echo) -> None:
    """Each distinct failure reason once, with how many trials it failed."""
    from collections import Counter

    from hft.sweep.study import failure_reasons

    total: Counter[str] = Counter()
    for _, w in res.windows:
        for n, why in failure_reasons(w.study):
            total[why] += n
    if total:
        echo(f"failed trials by reason ({sum(total.values())}):")
        for why, n in total.most_common():
            echo(f"  {n:>5} × {why}")


def print_result(res, echo=typer.echo, width: int | None = None) -> None:
    """Leaderboard, walk-forward and selection tables (hft.tables, `width` columns, default the
    terminal's) and where everything was written."""
    from hft.sweep.leaderboard import leaderboard_tables, selection_tables, walkforward_tables
    from hft.tables import terminal_width, to_text

    spec, s = res.spec, res.stats
    width = width or terminal_width()
    parts = leaderboard_tables(spec, res.leaderboard, width)
    if res.walkforward:
        parts += walkforward_tables(spec, res.walkforward, res.aggregate or {}, width)
    if res.selection:
        parts += selection_tables(res.selection, width)
    echo(to_text(*parts, width=width))
    counts = {k: sum(w.counts[k] for _, w in res.windows) for k in ("complete", "pruned", "failed")}
    echo(
        f"sweep {spec.name}: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['failed']} failed "
        f"in {res.seconds:.1f}s ({s.ticks:,} ticks through the engine"
        + (f", {s.actor_deaths} actor(s) died and were replaced" if s.actor_deaths else "")
        + (f"; re-ran {len(res.interrupted)} interrupted trial(s)" if res.interrupted else "")
        + (f"; recorded {len(res.adopted)} written trial(s)" if res.adopted else "")
        + (f"; rebuilt {len(res.repaired)} lost row(s)" if res.repaired else "")
        + (f"; retried {len(res.retried)} failed trial(s)" if res.retried else "")
        + ")"
    )
    print_reasons(res, echo)
    echo(f"  trials:  {res.folder}/trials/ (one Parquet part per batch: params, metrics, daily returns)")
    if res.artifacts:
        a = res.artifacts
        tests = f"{res.folder}/<run_id>/ for the test runs; " if res.walkforward else ""
        echo(
            f"  runs:    {a.get('file') or res.folder + '/kept.parquet'}: trades and equity of "
            f"{a['kept']} kept trial(s) (top {a['top_k']} per objective, Pareto front; new to the pack: "
            f"{a.get('retained', 0)} from the actors, {a.get('rebuilt', 0)} run again); "
            f"{tests}any other: hft rerun RUN_ID --store …"
        )
    else:
        echo(f"  runs:    {res.folder}/<run_id>/ (trades, equity, summary)")
    if res.walkforward_path:
        echo(f"  folds:   {res.walkforward_path}")
    echo(f"  summary: {res.summary_path}")
    echo(f"  study:   {res.storage} (optuna-dashboard {res.storage.removeprefix('journal:')})")


def sweep(
    specs: Annotated[
        list[Path], typer.Argument(help="A sweep spec (YAML); or run configs and/or folders of them.")
    ],
    address: Annotated[
        str | None, typer.Option(help="Join this Ray cluster (default $RAY_ADDRESS, else a local Ray).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage: RDB URL, journal:PATH, or sqlite / journal for the file in runs/{sweep}/ "
            "(default journal: appends grouped per batch, far cheaper per trial than sqlite)."
        ),
    ] = None,
    n_trials: Annotated[int | None, typer.Option(help="Override the spec's n_trials.", min=1)] = None,
    store: Annotated[
        str | None, typer.Option(envvar="HFT_STORE", help="Store URL (overrides the spec's data.store).")
    ] = None,
    feed_url: Annotated[
        str | None, typer.Option(help="Ingest missing days from this feed first (else data.feed_url).")
    ] = None,
    storage_option: StorageOpts = None,
    fresh: Annotated[
        bool,
        typer.Option(
            help="Delete a stored study made for another spec or data and start again "
            "(without it such a study is an error; a matching study is always resumed)."
        ),
    ] = False,
    retry_failed: Annotated[
        int,
        typer.Option(help="Re-run each failed trial up to N times over all reruns (0: never).", min=0),
    ] = 1,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
    strict: Annotated[bool, typer.Option(help="Fail when requested days are not in the store.")] = False,
) -> None:
    """Optuna sweep over a pool of Ray actors (resumable), or a batch of plain run configs."""
    from hft.store.fs import parse_storage_options
    from hft.sweep.run import run_configs, run_sweep
    from hft.sweep.spec import is_sweep_spec, parse_spec, read_yaml

    try:
        opts = parse_storage_options(storage_option)
        first = specs[0]
        doc = read_yaml(first) if len(specs) == 1 and first.is_file() else None
        if doc is not None and is_sweep_spec(doc):
            from hft.backtest.config import anchor_store

            spec = parse_spec(anchor_store(doc, first), where=str(first))
            res = run_sweep(
                spec,
                store=store,
                storage=storage,
                n_trials=n_trials,
                address=address,
                storage_options=opts,
                feed_url=feed_url,
                progress=not quiet,
                echo=typer.echo,
                strict=strict,
                fresh=fresh,
                retry_failed=retry_failed,
            )
            print_result(res)
            why = shortfall(res)
            if why:
                typer.secho(f"error: sweep {spec.name}: {why}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
            return
        for p in specs:
            if p.is_file() and is_sweep_spec(read_yaml(p)):
                raise ConfigError(f"{p}: a sweep spec runs on its own; pass it alone")
        if n_trials or storage or fresh:
            raise ConfigError("--n-trials, --storage and --fresh apply to a sweep spec, not to run configs")
        outs = run_configs(specs, store=store, address=address, storage_options=opts, progress=not quiet)
    except HftError as exc:
        fail(exc)
    import polars as pl

    from hft.tables import render_table, terminal_width, to_text

    rows, folders = [], set()
    for path, o in outs:
        m = o.metrics or {}
        rows.append(
            {
                "config": str(path),
                "status": o.status,
                **{k: m.get(k) for k in ("net_pnl", "sharpe", "trades")},
                "run_id": o.run_id,
            }
        )
        if o.folder:
            folders.add(o.folder.rstrip("/").rsplit("/", 1)[0])
    width = terminal_width()
    title = "Run configs (each run's folder: runs/<group>/<run id>/)"
    typer.echo(to_text(render_table(pl.DataFrame(rows), title, max_rows=None, width=width), width=width))
    for f in sorted(folders):
        typer.echo(f"  runs: {f}/")
    failed = [(path, o) for path, o in outs if o.status != "complete"]
    for path, o in failed:
        typer.secho(f"{path}: failed: {o.error}", fg=typer.colors.RED, err=True)
    typer.echo(f"{len(outs) - len(failed)} of {len(outs)} config(s) ran")
    if failed:
        raise typer.Exit(1)
