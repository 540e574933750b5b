"""A status line for each start-up phase (starting Ray, compiling kernels, warming caches, drawing a
report), shown the same way by every command.

On a terminal it is a rich spinner on stderr that each phase replaces; when stderr is not a terminal
(a log file, CI, a pipe) each phase is one plain line instead, so the log still says what took the time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["Phases", "phases"]


class Phases:
    """Tell the user which phase is running: `phase(text)` replaces the line (`--quiet`: nothing)."""

    def __init__(self, status, console, enabled: bool) -> None:
        self._status, self._console, self._enabled = status, console, enabled
        self._last: str | None = None

    def __call__(self, text: str) -> None:
        if not self._enabled or text == self._last:
            return
        self._last = text
        if self._status is not None:
            self._status.update(text)
        else:
            self._console.print(text, markup=False, highlight=False)


@contextlib.contextmanager
def phases(first: str | None = None, *, enabled: bool = True) -> Iterator[Phases]:
    """`with phases("report: scanning run summaries") as phase: …; phase("report: drawing the HTML")`."""
    from rich.console import Console

    con = Console(stderr=True, highlight=False, soft_wrap=True)
    if not enabled or not con.is_terminal:
        tell = Phases(None, con, enabled)
        if first:
            tell(first)
        yield tell
        return
    with con.status(first or "") as status:
        yield Phases(status, con, enabled)
