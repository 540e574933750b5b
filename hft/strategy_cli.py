"""`hft strategy new NAME` and `hft strategy check FILE` (registered by hft.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hft.cli_common import debug_enabled, fail
from hft.errors import ConfigError, HftError

__all__ = ["strategy_app"]

strategy_app = typer.Typer(help="Write and check user strategies (docs/strategies.md).", no_args_is_help=True)


@strategy_app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="Strategy name (a Python identifier), e.g. my_sma.")],
    out: Annotated[Path, typer.Option(help="Folder to write NAME.py and NAME.yaml into.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Write a working strategy (NAME.py, an SMA cross to edit) and a run config (NAME.yaml)."""
    from hft.backtest.strategy_tools import write_template

    try:
        files = write_template(name, out, force)
    except HftError as exc:
        fail(exc)
    for f in files:
        typer.echo(f"wrote {f}")
    typer.echo(f"next: hft strategy check {files[0]}   then: hft run {files[1]} --store ./data")


def _params(items: list[str] | None) -> dict:
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r}: expected name=value")
        out[key] = yaml.safe_load(value)
    return out


@strategy_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The strategy's .py file.")],
    name: Annotated[str | None, typer.Option(help="Only this strategy of the file.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Parameter name=value (repeatable).")] = None,
    ticks: Annotated[int, typer.Option(help="Synthetic ticks to run on.", min=1000)] = 200_000,
    debug: Annotated[
        bool, typer.Option(help="Show the full traceback (Numba's report) of a failure (as `hft --debug`).")
    ] = False,
) -> None:
    """Compile FILE's strategies and run them bounds-checked on synthetic ticks: repeatable,
    chunked = unchunked, no look-ahead, and their speed. Exits 1 if a check fails."""
    from hft.backtest.strategy_tools import check_strategy
    from hft.status import phases

    try:
        with phases(f"strategy check: compiling {file}, bounds-checked (a few seconds)"):
            reports = check_strategy(file, name=name, params=_params(param), ticks=ticks)
    except Exception as exc:
        if debug or debug_enabled():  # the whole chain, Numba's own report included
            import traceback

            typer.echo("".join(traceback.format_exception(exc)), err=True)
            raise typer.Exit(2) from None
        if isinstance(exc, HftError):
            fail(exc)
        fail(ConfigError(f"{file}: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"))
    for rep in reports:
        typer.echo(f"strategy {rep.name} ({file})")
        for line in rep.lines:
            typer.echo(f"  {line}")
    timed = [r for r in reports if r.speed]
    if timed:
        import polars as pl

        from hft.tables import print_table

        rows = [
            {"strategy": r.name, "M ticks/s": r.speed[0], "built-in M ticks/s": r.speed[1],
             "relative speed": r.speed[0] / r.speed[1]}
            for r in timed
        ]  # fmt: skip
        title = f"Speed on {ticks:,} synthetic ticks (built-in: ema_cross)"
        print_table(pl.DataFrame(rows), title)
    failed = [rep for rep in reports if rep.failed]
    for rep in failed:
        typer.secho(
            f"error: {file}: strategy {rep.name!r} failed {', '.join(rep.failed)} "
            "(its FAIL lines above say what to fix)",
            fg=typer.colors.RED,
            err=True,
        )
    if failed:
        raise typer.Exit(1)
