"""`hft run CONFIG.yaml`: one backtest, locally, with a summary table (registered by hft.cli)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from hft.cli_common import StorageOpts, StoreOpt, fail
from hft.errors import ConfigError, HftError
from hft.store.results import RUN_METRICS

__all__ = ["run", "rerun", "format_summary"]

#: The figures `hft run` and `hft rerun` print, in this order (formatted by hft.tables, by name): the
#: run's metrics (one schema: hft.store.results) except the final equity, then how many ticks it saw.
SUMMARY_METRICS = (*(m for m in RUN_METRICS if m != "final_equity"), "ticks")


def format_summary(summary: dict, width: int | None = None) -> str:
    """A run's summary as the table every command prints (`width` columns, default the terminal's)."""
    from hft.tables import render_record, to_text

    m = summary["metrics"]
    d = summary["data"]
    title = (
        f"run {summary['run_id']}  group {summary['group']}\n"
        f"{d['symbol']} {d['start']} .. {d['end']}  ({len(d['days'])} days, {d['ticks']:,} ticks; "
        "ratios annualised over 252 days)"
    )
    return to_text(render_record({k: m.get(k) for k in SUMMARY_METRICS}, title), width=width)


def run(
    config: Annotated[Path, typer.Argument(help="run config (YAML)", exists=False)],
    store: Annotated[
        str | None,
        typer.Option(
            envvar="HFT_STORE", help="store URL (local path or s3://bucket/prefix); else the config's"
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="first UTC day, YYYY-MM-DD (overrides the config)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="last UTC day, inclusive")] = None,
    force: Annotated[bool, typer.Option(help="recompute even if an identical run exists")] = False,
    strict: Annotated[bool, typer.Option(help="fail when requested days are not in the store")] = False,
    storage_option: StorageOpts = None,
) -> None:
    """Backtest one config and write runs/{group}/{run_id}/ under the store."""
    from hft.backtest.api import missing_days, prepare_run, run_prepared
    from hft.status import phases
    from hft.store.fs import parse_storage_options

    try:
        opts = parse_storage_options(storage_option)
        with phases("run: reading the config and the store's manifests"):
            prep = prepare_run(
                config,
                store=store,
                start=_day(start, "--start"),
                end=_day(end, "--end"),
                storage_options=opts,
            )
        gone = missing_days(prep.config.data.start, prep.config.data.end, prep.days)
        if gone:
            d = prep.config.data
            msg = (
                f"{len(gone)} requested day(s) of {d.symbol} not in {prep.store.uri('ticks')}: "
                f"{', '.join(gone[:10])}{' …' if len(gone) > 10 else ''} "
                f"(`hft ingest {d.symbol} --start {gone[0]} --end {gone[-1]}` fetches them)"
            )
            if strict:
                raise ConfigError(f"{msg}; --strict: nothing was run")
            typer.secho(
                f"warning: {msg}; running on the {len(prep.days)} stored day(s)", fg="yellow", err=True
            )
        with phases("run: backtesting (a first run compiles the kernels: one-time, cached)"):
            out = run_prepared(prep, force=force, where=str(config))  # the manifests read once
    except HftError as exc:
        fail(exc)
    typer.echo(format_summary(out.summary))
    typer.echo(f"{'computed' if out.computed else 'reused'}: {out.folder}")
    # days with no partition at all were named before the run; the rest of the gaps here
    gaps = [g for g in out.summary.get("data", {}).get("gaps") or () if g.get("status") != "missing"]
    if gaps:
        from hft.store.gaps import format_gaps

        typer.secho(
            f"warning: the data has gaps ({format_gaps(gaps)}); recorded under data.gaps in summary.yaml",
            fg="yellow",
            err=True,
        )


def rerun(
    run_id: Annotated[str, typer.Argument(help="run id (a trial's `run_id` in the report or its row)")],
    store: StoreOpt = "./data",
    storage_option: StorageOpts = None,
) -> None:
    """Rebuild a run's folder (trades, equity, summary) from its result row, as the sweep would have."""
    from hft.backtest.rerun import rerun as rebuild_run
    from hft.status import phases
    from hft.store.fs import parse_storage_options

    try:
        with phases(f"rerun: rebuilding {run_id} (a first run compiles the kernels: one-time)"):
            out = rebuild_run(run_id, store, parse_storage_options(storage_option))
    except HftError as exc:
        fail(exc)
    typer.echo(format_summary(out.summary))
    typer.echo(f"rebuilt: {out.folder}")


def _day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{flag}: {value!r} is not a date (YYYY-MM-DD)") from None
