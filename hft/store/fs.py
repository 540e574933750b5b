"""A store root on any fsspec filesystem, with the two guarantees the chain relies on.

- Atomic writes: a reader sees the old object or the new one, never half of one (local files are
  written beside the target and `os.replace`d; object stores publish a single PUT atomically).
- Containment: relative names (from configs, symbols, run ids) never escape the root.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from hft.errors import ConfigError, StoreError

__all__ = ["Store", "open_store", "parse_storage_options"]


def parse_storage_options(pairs: list[str] | None) -> dict[str, Any]:
    """`["endpoint_url=http://…", "client_kwargs.region_name=eu-west-1"]` → nested dict.

    Values `true`/`false` and integers are converted, so `anon=true` works as s3fs expects.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--storage-option {pair!r}: expected key=value")
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif raw.lstrip("-").isdigit():
            value = int(raw)
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--storage-option {pair!r}: {p} is both a value and a group")
        node[leaf] = value
    return out


def _default_s3_options(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    """Honour AWS_ENDPOINT_URL for S3-compatible stores (MinIO, moto) even on older botocore."""
    if protocol in ("s3", "s3a") and "endpoint_url" not in options:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            return {"endpoint_url": endpoint, **options}
    return options


@dataclass
class Store:
    """A root folder on a filesystem; every path handed out is inside it."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.url:
            raise ConfigError("store URL is empty")
        protocol = self.url.split("://", 1)[0] if "://" in self.url else "file"
        opts = _default_s3_options(protocol, dict(self.storage_options))
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url, **opts)
        except ImportError as exc:
            raise StoreError(f"store {self.url!r}: backend not installed ({exc})") from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"store {self.url!r}: bad storage options {sorted(opts)}: {exc}") from exc
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        """Join `parts` under the root; `..`, absolute parts and empty names are refused."""
        clean: list[str] = []
        for part in parts:
            for piece in str(part).replace("\\", "/").split("/"):
                if piece in ("", "."):
                    continue
                if piece == ".." or piece.endswith(":"):
                    raise StoreError(f"name {part!r} would escape the store root {self.url!r}")
                clean.append(piece)
        if not clean and parts:
            raise StoreError(f"empty name {parts!r} in store {self.url!r}")
        return posixpath.join(self.root, *clean)

    def uri(self, *parts: str) -> str:
        """The full URL of a path under the root (for messages and for Polars/pyarrow scans)."""
        path = self.path(*parts)
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def read_bytes(self, *parts: str) -> bytes:
        path = self.path(*parts)
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot read {self.uri(*parts)}: {exc}") from exc

    def write_bytes(self, data: bytes, *parts: str) -> str:
        """Atomically publish `data`; returns the path written."""
        path = self.path(*parts)
        try:
            if self.is_local:
                directory = posixpath.dirname(path)
                os.makedirs(directory, exist_ok=True)
                tmp = posixpath.join(directory, f".{posixpath.basename(path)}.{uuid.uuid4().hex}.tmp")
                try:
                    with open(tmp, "wb") as fh:
                        fh.write(data)
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            else:
                self.fs.pipe_file(path, data)
        except OSError as exc:
            raise StoreError(f"cannot write {self.uri(*parts)}: {exc}") from exc
        return path

    def remove_stale_temps(self, *parts: str) -> int:
        """Delete `.NAME.*.tmp` leftovers of writes killed mid-way in folder `parts` (local stores only:
        object stores publish whole objects). Only for folders a single writer owns, e.g. one day."""
        if not self.is_local:
            return 0
        removed = 0
        for name in self.listdir(*parts):
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path(*parts, name))
                    removed += 1
        return removed

    def listdir(self, *parts: str) -> list[str]:
        """Names (not paths) directly below `parts`; [] when it does not exist."""
        path = self.path(*parts) if parts else self.root
        try:
            entries = self.fs.ls(path, detail=False, refresh=True) if not self.is_local else os.listdir(path)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)


def open_store(store: str | Store, storage_options: dict[str, Any] | None = None) -> Store:
    """A Store for `store`; an object store's endpoint, bucket and options are checked once per process."""
    from hft.store.access import check_store

    st = store if isinstance(store, Store) else Store(str(store), dict(storage_options or {}))
    check_store(st)
    return st
