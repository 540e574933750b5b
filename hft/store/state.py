"""Where hft keeps, per user, what belongs to a store but cannot live in it.

An Optuna study needs a file lock or a database, which an object store does not give, so the studies
of a remote (`s3://`) store's sweeps live on the machine that ran them: `$HFT_STATE_DIR` (default
`$XDG_STATE_HOME/hft`, else `~/.local/state/hft`) `/studies/{store-slug}-{hash}/{sweep}/`, keyed by
the store URL so two stores never share a folder. `hft sweep` writes there and `hft dashboard` reads
there, through these two functions.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

__all__ = ["state_dir", "studies_dir"]


def state_dir() -> Path:
    """Per-user folder for what hft keeps outside any store (studies of remote stores)."""
    env = os.environ.get("HFT_STATE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "hft"


def _store_key(url: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", url).strip("-")[:60]
    return f"{slug}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def studies_dir(store_uri: str) -> Path:
    """The folder holding one sub-folder per sweep of the store `store_uri` (as `Store.uri()` gives
    it: `s3://bucket/prefix`, no trailing slash)."""
    return state_dir() / "studies" / _store_key(store_uri)
