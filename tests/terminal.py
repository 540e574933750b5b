"""Run a command on a real pseudo-terminal of a given size: what a person at that terminal sees.

Status spinners (hft.status) only draw on a terminal, so tests of them go through one. `screen()`
strips the escape sequences and carriage returns and keeps every text the terminal was sent.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HFT = [sys.executable, "-m", "hft.cli"]  # this checkout's `hft` (ROOT first on PYTHONPATH)

_ESCAPES = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase
    r"|\x1b\][^\x07\x1b]*(\x07|\x1b\\)"  # OSC: titles, links
    r"|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)


def run_in_terminal(
    argv: list[str], *, env: dict[str, str] | None = None, columns: int = 80, cwd=None, timeout: float = 300
) -> tuple[int, str]:
    """(exit code, everything written to the terminal) of `argv` on a `columns`-wide pty."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    base = dict(os.environ if env is None else env)
    path = os.pathsep.join(p for p in (str(ROOT), base.get("PYTHONPATH")) if p)
    full_env = {**base, "PYTHONPATH": path, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=full_env, cwd=cwd, start_new_session=True
    )
    os.close(slave)
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    quiet_since = None
    try:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{argv[:4]} still running after {timeout} s")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                out.append(data)
                quiet_since = None
            elif proc.poll() is not None:
                # the command ended; processes it started may keep the terminal open: drain, then stop
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 1.0:
                    break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        os.close(master)
    return proc.returncode, b"".join(out).decode("utf-8", errors="replace")


def screen(raw: str) -> str:
    """The text a terminal was sent, without escape sequences; carriage returns become newlines."""
    return _ESCAPES.sub("", raw).replace("\r\n", "\n").replace("\r", "\n")
