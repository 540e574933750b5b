"""What every `hft` sub-command shares: how errors end a command, and the store options.

Exit codes (README "Exit codes"): 0 done; 1 done in part (the failed items are named); 2 bad input,
nothing done; 3 the store or the Ray cluster cannot be reached or used (fix it and rerun); 4 an
unexpected error (a bug: rerun with `--debug` and report the traceback). Every error is one line on
stderr; `hft --debug …` (or HFT_DEBUG=1) adds the traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import traceback
from collections.abc import Iterator
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from hft.errors import ClusterError, ConfigError, HftError, StoreAccessError

__all__ = [
    "StorageOpts",
    "StoreOpt",
    "DebugOpt",
    "HftGroup",
    "debug_enabled",
    "exit_code",
    "explain",
    "fail",
    "exit_on_error",
]

EXIT_PARTIAL, EXIT_INPUT, EXIT_UNREACHABLE, EXIT_BUG = 1, 2, 3, 4

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

#: `hft --debug …`: print the traceback of an error as well (also HFT_DEBUG=1).
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Print the traceback of an error (also HFT_DEBUG=1).")
]

_debug = False


def debug_enabled() -> bool:
    return _debug or os.environ.get("HFT_DEBUG", "") not in ("", "0")


def set_debug(on: bool) -> None:
    global _debug
    _debug = on


def explain(exc: BaseException) -> HftError | None:
    """The HftError to report for `exc`: itself, the cause inside a Ray task error, or a recognised
    object-store failure; None for anything else (a bug)."""
    from hft.store.access import exception_chain, store_failure

    chain = [e for e in exception_chain(exc) if getattr(e, "cause", None) is None]  # skip Ray's wrappers
    for e in chain:
        if isinstance(e, (StoreAccessError, ClusterError)):
            return e
    store = store_failure(exc)  # names the endpoint and what to check: clearer than whoever wrapped it
    if store is not None:
        return store
    hft = next((e for e in chain if isinstance(e, HftError)), None)
    if hft is None and isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return ConfigError(f"{exc.strerror}: another process holds the port; pick another --port")
    return hft


def exit_code(err: BaseException) -> int:
    return EXIT_UNREACHABLE if isinstance(err, (StoreAccessError, ClusterError)) else EXIT_INPUT


def _first_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def fail(exc: BaseException) -> NoReturn:
    """Print `error: …` (one line) in red on stderr and exit with the documented code."""
    err = explain(exc)
    if debug_enabled():
        traceback.print_exception(exc)
    if err is None:
        typer.secho(
            f"error: unexpected {type(exc).__name__}: {_first_line(str(exc))} "
            "(a bug: rerun with --debug for the traceback and report it)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(EXIT_BUG) from None
    typer.secho(f"error: {_first_line(str(err))}", fg=typer.colors.RED, err=True)
    raise typer.Exit(exit_code(err)) from None


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    try:
        yield
    except HftError as exc:
        fail(exc)


class HftGroup(TyperGroup):
    """Runs a sub-command so that anything it raises ends as one line and a documented exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors: Typer prints them
            raise
        except BrokenPipeError:  # the reader left (`hft … | head`): click ends quietly, as other tools do
            raise
        except KeyboardInterrupt:
            typer.secho("interrupted", fg=typer.colors.RED, err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            fail(exc)
