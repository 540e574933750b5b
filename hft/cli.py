"""`hft` command line: one command per stage of the chain, each with -h/--help.

Commands whose modules import the engine (Numba), Ray, Optuna or Polars are registered lazily:
`hft --help` lists them from the short help below and imports nothing heavy, so it answers in a
fraction of a second; the module is imported when the command itself runs (or shows its help).
"""

from __future__ import annotations

import importlib
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hft import cli_common
from hft.errors import HftError

#: name → (module:function, short help): imported only when the command runs.
LAZY_COMMANDS = {
    "run": ("hft.backtest.cli:run", "One backtest of a run config, written as a run folder."),
    "rerun": ("hft.backtest.cli:rerun", "Rebuild a sweep trial's run folder from its result row."),
    "sweep": ("hft.sweep.cli:sweep", "An Optuna sweep over Ray actors, with walk-forward validation."),
    "report": ("hft.reduce.cli:report", "Leaderboard, statistics and an HTML report over every run."),
    "dashboard": ("hft.reduce.cli:dashboard", "Serve optuna-dashboard on a sweep's Optuna storage."),
    "schema": ("hft.configdoc:schema", "JSON Schema of run configs or sweep specs (editor completion)."),
}
_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _LazyCommand(typer.core.TyperCommand):
    """Stands in for a command until it is used: short help only, the real one built on first use."""

    def __init__(self, name: str, target: str, short: str) -> None:
        super().__init__(name, help=short, short_help=short)
        self._target, self._real = target, None

    def real(self):
        if self._real is None:
            module, func = self._target.split(":")
            # shell completion is the top-level command's (--install-completion), not each command's
            one = typer.Typer(
                add_completion=False, pretty_exceptions_enable=False, context_settings=_SETTINGS
            )
            one.command(self.name)(getattr(importlib.import_module(module), func))
            self._real = typer.main.get_command(one)
        return self._real

    def make_context(self, info_name, args, parent=None, **extra):
        return self.real().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        return self.real().invoke(ctx)

    def get_params(self, ctx):
        return self.real().get_params(ctx)

    def shell_complete(self, ctx, incomplete):
        return self.real().shell_complete(ctx, incomplete)


class _LazyGroup(cli_common.HftGroup):
    def list_commands(self, ctx) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.commands[cmd_name] = _LazyCommand(cmd_name, *LAZY_COMMANDS[cmd_name])
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=_LazyGroup,
    help="Dukascopy ticks → Parquet store → Numba engine → Optuna/Ray sweeps → Polars reports. "
    "The store is --store or $HFT_STORE (default ./data).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=_SETTINGS,
)
feed_app = typer.Typer(
    help="The offline Dukascopy-compatible feed.", no_args_is_help=True, context_settings=_SETTINGS
)
app.add_typer(feed_app, name="feed")
from hft.strategy_cli import strategy_app  # noqa: E402  (light: typer only until a command runs)

app.add_typer(strategy_app, name="strategy")


def _version(value: bool) -> None:
    if value:
        from hft import __version__

        typer.echo(f"hft {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", help="Print the version and exit.", callback=_version, is_eager=True),
    ] = False,
    debug: cli_common.DebugOpt = False,
) -> None:
    """Global options (the help text is the app's)."""
    cli_common.set_debug(debug)


class Source(StrEnum):
    """Where `hft ingest` reads ticks."""

    bi5 = "bi5"
    json = "json"


StoreOpt = cli_common.StoreOpt
StorageOpts = cli_common.StorageOpts
_fail = cli_common.fail


@app.command()
def symbols(query: Annotated[str, typer.Argument(help="Substring to filter by, e.g. XAU.")] = "") -> None:
    """List known instruments, their decimal factors and where their history starts."""
    import polars as pl

    from hft.data.instruments import all_symbols, get_instrument
    from hft.tables import print_table

    q = query.upper().replace("/", "")
    rows = []
    for sym in all_symbols():
        inst = get_instrument(sym)
        if q in sym or q in inst.name.upper():
            rows.append(
                {
                    "symbol": sym,
                    "name": inst.name,
                    "decimal_factor": inst.decimal_factor,
                    "first_tick": inst.first_tick_hour,
                }
            )
    if not rows:
        typer.secho(f"no instrument matches {query!r} (try a shorter part, e.g. XAU)", fg="red", err=True)
        raise typer.Exit(1)
    what = f"matching {query!r}" if query else "known"
    title = f"{len(rows):,} instrument(s) {what}: price = integer feed units / decimal factor"
    print_table(pl.DataFrame(rows, infer_schema_length=None), title, max_rows=None)


@app.command()
def synth(
    symbol: Annotated[str, typer.Argument(help="Instrument, e.g. XAUUSD.")],
    start: Annotated[str, typer.Option(help="First UTC day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last UTC day (inclusive), YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Folder to write the feed layout into.")] = Path("./feed"),
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 0,
    activity: Annotated[float, typer.Option(help="Tick-rate multiplier (1 = realistic).", min=0.001)] = 1.0,
) -> None:
    """Write synthetic .bi5 hour files in the feed's folder layout (no internet needed)."""
    from hft.data.synth import write_synth_feed

    try:
        summary = write_synth_feed(
            out, symbol, _day(start, "--start"), _day(end, "--end"), seed=seed, activity=activity
        )
    except HftError as exc:
        _fail(exc)
    typer.echo(f"synth: {summary}")


@feed_app.command("serve")
def feed_serve(
    root: Annotated[
        Path, typer.Argument(help="Folder in the feed layout (SYMBOL/YYYY/MM/DD/HHh_ticks.bi5).")
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port).")] = 8765,
    latency_ms: Annotated[float, typer.Option(help="Added latency per request.")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Fraction of requests answered 503.")] = 0.0,
    throttle_rate: Annotated[float, typer.Option(help="Fraction answered 429.")] = 0.0,
    truncate_rate: Annotated[float, typer.Option(help="Fraction of bodies cut in half.")] = 0.0,
    empty_rate: Annotated[float, typer.Option(help="Fraction of empty 200 bodies.")] = 0.0,
    hang_rate: Annotated[float, typer.Option(help="Fraction accepted and never answered.")] = 0.0,
    fail_first: Annotated[int, typer.Option(help="Answer 503 to the first N requests of each path.")] = 0,
    retry_after: Annotated[
        int | None, typer.Option(help="Send Retry-After: N (seconds) with every 429.")
    ] = None,
    fault_hours: Annotated[
        str | None, typer.Option(help="Inject faults only into these UTC hours, e.g. 0,23.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fault injection.")] = 0,
) -> None:
    """Serve a feed folder over HTTP in both the .bi5 and the JSON-API layouts."""
    from hft.data.feed import FeedFaults, serve_forever

    try:
        faults = FeedFaults.checked(
            latency_ms=latency_ms,
            error_rate=error_rate,
            throttle_rate=throttle_rate,
            truncate_rate=truncate_rate,
            empty_rate=empty_rate,
            hang_rate=hang_rate,
            fail_first=fail_first,
            retry_after=retry_after,
            fault_hours=_hours(fault_hours),
            seed=seed,
        )
        serve_forever(root, host, port, faults)
    except HftError as exc:
        _fail(exc)


@app.command()
def ingest(
    symbol: Annotated[str, typer.Argument(help="Instrument, e.g. XAUUSD.")],
    start: Annotated[str, typer.Option(help="First UTC day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last UTC day (inclusive), YYYY-MM-DD.")],
    store: StoreOpt = "./data",
    source: Annotated[
        Source, typer.Option(help="bi5: classic hourly files; json: the newer tick API.")
    ] = Source.bi5,
    feed_url: Annotated[
        str | None, typer.Option(help="Feed root; default $HFT_FEED_URL or Dukascopy's public one.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Days in flight at once (0 = one per Ray CPU).")] = 0,
    concurrency: Annotated[int, typer.Option(help="HTTP requests in flight per worker.")] = 4,
    address: Annotated[
        str | None, typer.Option(help="Join this Ray cluster instead of starting one.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Fetch again days already stored.")] = False,
    accept_empty: Annotated[
        bool,
        typer.Option(
            help="Store hours that stay empty while the market should trade (a holiday) as empty "
            "instead of failing on them."
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds per HTTP try (connect and read).", min=0.1)] = 20.0,
    deadline: Annotated[
        float, typer.Option(help="Seconds a day may take, retries included; then its hours fail.", min=1)
    ] = 300.0,
    verify: Annotated[
        bool, typer.Option(help="Read stored days, check them against their manifests, refetch bad ones.")
    ] = False,
    storage_option: StorageOpts = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Download, validate and store ticks as Parquet, one Ray task per day of hours."""
    from hft.ingest.pipeline import ingest as run_ingest
    from hft.ingest.pipeline import make_config
    from hft.store.fs import parse_storage_options

    try:
        cfg = make_config(
            symbol=symbol,
            start=_day(start, "--start"),
            end=_day(end, "--end"),
            store=store,
            source=Source(source).value,
            feed_url=feed_url,
            workers=workers,
            concurrency=concurrency,
            address=address,
            force=force,
            accept_empty=accept_empty,
            timeout_s=timeout,
            deadline_s=deadline,
            verify=verify,
            storage_options=parse_storage_options(storage_option),
        )
        report = run_ingest(cfg, progress=not quiet)
    except HftError as exc:
        _fail(exc)
    _print_ingest(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_ingest(report) -> None:
    cfg = report.config
    from hft.tables import console, render_record, span

    written = [d for d in report.days if not d.skipped]
    figures = {
        "days written": len(written),
        "days already stored": len(report.days) - len(written),
        "ticks in written days": report.rows,
        "ticks fetched": report.fetched_ticks,
        "wall_time_s": report.seconds,
        "ticks/s after Ray start-up": round(report.ticks_per_second),
    }
    console().print(render_record(figures, f"ingest {cfg.symbol} {span(cfg.start, cfg.end)} → {cfg.store}"))
    for problem in report.repaired:
        typer.secho(f"repaired (fetched again): {problem}", fg="yellow", err=True)
    dropped = {k: v for k, v in report.dropped().items() if v}
    if dropped:
        typer.echo(f"dropped ticks: {dropped}")
    suspect = report.suspect
    if suspect:
        typer.secho(
            f"{len(suspect)} hour(s) stayed empty although the market should trade then (fetched "
            f"again, still empty: a feed glitch, or a holiday): {', '.join(suspect)}",
            fg="red",
            err=True,
        )
    failed = report.failed
    if failed:
        typer.secho(f"{len(failed)} hour(s) failed:", fg="red", err=True)
        for d in report.days:
            for h in d.by_status("failed"):
                typer.echo(f"  {d.day}T{h}: {d.hours[h].get('error', '')}", err=True)
    if failed or suspect:
        typer.echo(
            "rerun the same command to fetch only these hours"
            + (" (add --accept-empty if the market really was closed)" if suspect else ""),
            err=True,
        )


@app.command("store")
def store_summary(
    store: StoreOpt = "./data",
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
    verify: Annotated[
        bool, typer.Option(help="Read every day and check it against its manifest (rows, size, hash).")
    ] = False,
    storage_option: StorageOpts = None,
) -> None:
    """Summarise what the store holds: days, ticks and hour statuses per symbol."""
    from hft.store.fs import open_store, parse_storage_options
    from hft.store.summary import summarise

    try:
        st = open_store(store, parse_storage_options(storage_option))
        if not st.fs.exists(st.root):
            from hft.errors import StoreError

            raise StoreError(f"store {st.url!r} does not exist (check --store; `hft ingest` creates it)")
        rows = summarise(st, symbol)
        checked = _verify_store(st, symbol) if verify else None
    except HftError as exc:
        _fail(exc)
    if not rows:
        typer.echo(f"{st.uri('ticks')}: no tick partitions")
    else:
        import polars as pl

        from hft.tables import print_table

        cols = ["symbol", "first", "last", "days", "rows", "ok", "empty", "failed", "suspect_empty"]
        table = pl.DataFrame([{c: r.get(c) for c in cols} for r in rows]).rename(
            {"rows": "ticks", "ok": "hours_ok", "empty": "hours_empty", "failed": "hours_failed"}
        )
        print_table(table, f"Ticks under {st.uri('ticks')} (hours by status: ok, empty, failed, suspect)")
    for r in rows:
        for day, why in r["unvouched"]:
            typer.secho(
                f"warning: {r['symbol']} {day}: {why}, its ticks are not counted; repair with "
                f"`hft ingest {r['symbol']} --start {day} --end {day} --store {st.url}`",
                fg="yellow",
                err=True,
            )
    if checked:
        raise typer.Exit(1)


def _verify_store(st, symbol: str | None) -> int:
    """Print each problem `hft store --verify` finds, one line per file; returns how many."""
    from hft.store.verify import verify_store

    days, problems = verify_store(st, symbol)
    for p in problems:
        typer.secho(f"bad: {p}", fg="red", err=True)
    for p in problems:
        typer.echo(
            f"repair: hft ingest {p.symbol} --start {p.day} --end {p.day} --store {st.url} --verify", err=True
        )
    typer.echo(f"verify: {days} day(s) checked, {len(problems)} with problems")
    return len(problems)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the synthetic feed and the store go.")] = Path("."),
    days: Annotated[int, typer.Option(help="Days of synthetic XAU/USD.", min=1, max=31)] = 7,
    trials: Annotated[int, typer.Option(help="Trials per walk-forward fold and strategy.", min=1)] = 16,
) -> None:
    """Offline end to end on embedded defaults: synth → feed on 127.0.0.1 → Ray ingest → store."""
    from hft.demo import run_demo

    try:
        run_demo(workdir, days=days, n_trials=trials)
    except HftError as exc:
        _fail(exc)


def _day(value: str, opt: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        from hft.errors import ConfigError

        raise ConfigError(f"{opt} {value!r}: expected a date YYYY-MM-DD") from None


def _hours(value: str | None) -> frozenset[int] | None:
    if value is None:
        return None
    try:
        return frozenset(int(h) for h in value.split(",") if h.strip())
    except ValueError:
        from hft.errors import ConfigError

        raise ConfigError(f"--fault-hours {value!r}: expected UTC hours like 0,23") from None


def main() -> None:  # pragma: no cover - console entry
    try:
        app()
    except HftError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
