"""What every `hft` sub-command shares: how errors end a command, and the store options."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, NoReturn

import typer

from hft.errors import HftError

__all__ = ["StorageOpts", "StoreOpt", "fail", "exit_on_error"]

StoreOpt = Annotated[
    str,
    typer.Option(
        "--store", envvar="HFT_STORE", help="fsspec URL of the store: a path or s3://bucket/prefix."
    ),
]
StorageOpts = Annotated[
    list[str] | None,
    typer.Option(
        "--storage-option",
        help="fsspec option key=value (repeatable), e.g. endpoint_url=http://127.0.0.1:9000.",
    ),
]


def fail(exc: BaseException) -> NoReturn:
    """Print `error: …` in red on stderr and exit 2 (bad input: nothing was done)."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from None


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    try:
        yield
    except HftError as exc:
        fail(exc)
