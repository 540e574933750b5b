"""`hft report` and `hft dashboard` as typer-annotated functions (registered by hft.cli).

`python -m hft.reduce.cli report|dashboard …` runs them standalone.
"""

from __future__ import annotations

import sys
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hft.cli_common import StorageOpts, fail
from hft.errors import ConfigError, HftError
from hft.reduce.scan import METRIC_COLUMNS

#: `--by` choices: every numeric metric a run summary carries.
Metric = StrEnum("Metric", {**{m: m for m, t in METRIC_COLUMNS.items() if t.is_numeric()}, "dsr": "dsr"})
#: `--phase` choices (hft.store.results.PHASES, or every phase)
Phase = StrEnum("Phase", {p: p for p in ("test", "oos_check", "train", "run", "all")})

__all__ = ["report", "dashboard", "app"]


_fail = fail


def report(
    runs_url: Annotated[
        str, typer.Argument(envvar="HFT_STORE", help="The runs folder ({store}/runs) or its store.")
    ] = "./data",
    top: Annotated[
        int, typer.Option(help="Runs in the leaderboard (and with curves, at most 20).", min=1)
    ] = 10,
    by: Annotated[
        Metric,
        typer.Option(
            help="Metric to rank by (drawdowns and fees: lower is better); also psr, and dsr "
            "(PSR against the expected best Sharpe of the row's sweep window)."
        ),
    ] = Metric.sharpe,
    phase: Annotated[
        Phase,
        typer.Option(
            help="Only rows of this phase: test (walk-forward out of sample), oos_check (next best "
            "train trials on the test windows, not selected), train, run, or all."
        ),
    ] = Phase.all,
    min_days: Annotated[
        int,
        typer.Option(help="Ratios from fewer daily returns are flagged and ranked after the rest.", min=1),
    ] = 20,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")] = None,
    csv: Annotated[str | None, typer.Option(help="Write every run, ranked, as CSV (path or URL).")] = None,
    parquet: Annotated[str | None, typer.Option(help="Write every run, ranked, as Parquet.")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Only these run groups (repeatable).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Only runs of this strategy.")] = None,
    min_trades: Annotated[int, typer.Option(help="Only runs with at least this many trades.", min=0)] = 0,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage of the sweep (default: {runs}/optuna.db when present).")
    ] = None,
    study: Annotated[str | None, typer.Option(help="Optuna study for parameter importance.")] = None,
    storage_option: StorageOpts = None,
) -> None:
    """Rank every run under RUNS_URL; sensitivity, strategy comparison, curves of the leaders."""
    import polars as pl

    from hft.reduce.report import build_report, export_table
    from hft.reduce.scan import SkippedArtifactWarning
    from hft.reduce.text import render_text
    from hft.store.fs import parse_storage_options

    where = None
    if strategy:
        where = pl.col("strategy") == strategy
    if min_trades:
        cond = pl.col("trades") >= min_trades
        where = cond if where is None else where & cond
    try:
        opts = parse_storage_options(storage_option)
        from hft.status import phases

        status = phases("report: scanning run summaries")
        with warnings.catch_warnings(record=True) as caught, status as tell:
            warnings.simplefilter("always", SkippedArtifactWarning)
            rep = build_report(
                runs_url,
                storage_options=opts,
                by=Metric(by).value,
                top=top,
                curves=min(top, 20),
                groups=group,
                where=where,
                optuna_storage=storage,
                study=study,
                phase=Phase(phase).value,
                min_days=min_days,
                progress=lambda done, total, what: tell(f"report: {what}"),
            )
        for w in caught:
            if issubclass(w.category, SkippedArtifactWarning):
                typer.secho(f"warning: {w.message}", fg=typer.colors.YELLOW, err=True)
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        typer.echo(render_text(rep))
        for target in (csv, parquet):
            if target:
                typer.echo(f"wrote {export_table(rep.ranked, target, opts)}")
        if html:
            from hft.reduce.html import render_html

            html_target = str(html)
            with phases("report: drawing the HTML (Optuna plots take a few seconds)"):
                page = render_html(rep)
            export_html(page, html_target)
            typer.echo(f"wrote {html_target}")
    except HftError as exc:
        _fail(exc)


def export_html(text: str, target: str) -> None:
    from hft.store.fs import open_store

    path = Path(target).expanduser().resolve()
    open_store(str(path.parent)).write_bytes(text.encode(), path.name)


def dashboard(
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage URL (sqlite:///…/optuna.db) or journal file; default: the store's."
        ),
    ] = None,
    store: Annotated[
        str,
        typer.Option(
            envvar="HFT_STORE",
            help="Store whose sweeps are served: runs/*/optuna.journal or optuna.db; for an s3:// store, "
            "the studies its sweeps keep in $HFT_STATE_DIR on this machine.",
        ),
    ] = "./data",
    sweep: Annotated[
        str | None, typer.Option(help="With several sweeps in the store: serve this one (live).")
    ] = None,
    port: Annotated[
        int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).", min=0, max=65535)
    ] = 8080,
) -> None:
    """Serve optuna-dashboard on 127.0.0.1 for a store's sweeps (all of them, or --sweep NAME)."""
    from hft.reduce.dashboard import merged, pick_storage, serve_dashboard

    def say(m: str) -> None:
        typer.echo(m)
        sys.stdout.flush()

    try:
        if storage:
            serve_dashboard(storage, port, announce=say)
            return
        url, found = pick_storage(store, sweep)
        if url:
            serve_dashboard(url, port, announce=say)
            return
        say(f"{len(found)} sweeps in {store}: {', '.join(found)} (a snapshot; --sweep NAME for a live view)")
        serve_dashboard(merged(found), port, announce=say, what=f"{len(found)} sweeps")
    except (HftError, ConfigError) as exc:
        _fail(exc)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
app.command("report")(report)
app.command("dashboard")(dashboard)

if __name__ == "__main__":  # pragma: no cover
    app()
