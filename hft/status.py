"""A status line for each start-up phase (starting Ray, compiling kernels, warming caches, drawing a
report), shown the same way by every command: a rich spinner on stderr that each phase replaces.

Only on a terminal: in a log or a pipe it prints nothing, so a failure stays the one `error:` line
on stderr (and progress bars and the command's own lines still say what happened).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["Phases", "phases"]


class _Line:
    """A spinner and one line of text, cut with … where the terminal is narrower."""

    def __init__(self, text: str) -> None:
        from rich.spinner import Spinner

        self.spinner, self.text = Spinner("dots", style="status.spinner"), text

    def __rich_console__(self, console, options):
        from rich.text import Text

        frame = self.spinner.render(console.get_time())
        yield Text.assemble(frame, " ", self.text, no_wrap=True, overflow="ellipsis")  # text, not markup


class Phases:
    """Tell the user which phase is running: `tell(text)` replaces the line (no-op off a terminal)."""

    def __init__(self, live=None, line: _Line | None = None) -> None:
        self._live, self._line = live, line

    def __call__(self, text: str) -> None:
        if self._live is not None:
            self._line.text = text
            self._live.refresh()  # drawn now: a short phase is seen too


@contextlib.contextmanager
def phases(first: str | None = None, *, enabled: bool = True) -> Iterator[Phases]:
    """`with phases("report: scanning run summaries") as tell: …; tell("report: drawing the HTML")`."""
    from rich.console import Console

    con = Console(stderr=True, highlight=False)
    if not enabled or not con.is_terminal or con.is_dumb_terminal:
        yield Phases()
        return
    from rich.live import Live

    line = _Line(first or "")
    with Live(line, console=con, transient=True, refresh_per_second=12.5) as live:
        yield Phases(live, line)
