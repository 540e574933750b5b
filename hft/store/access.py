"""Object-store failures as one line naming the URL and what to check, instead of a botocore traceback.

s3fs, botocore, aiobotocore, aiohttp, pyarrow and Polars each report "the server is gone" or "no such
bucket" in their own way, often wrapped by Ray. `store_failure` looks down an exception's chain once
and recognises them; `check_store` asks the endpoint one question when a command opens a store, so a
wrong endpoint, bucket or option fails before any work starts.
"""

from __future__ import annotations

import os
import re
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hft.errors import ConfigError, HftError, StoreAccessError

if TYPE_CHECKING:
    from hft.store.fs import Store

__all__ = ["check_store", "store_failure", "exception_chain"]

_CHECKED: set[tuple[str, str]] = set()
_URL = re.compile(r"https?://[^\s/\"'?]+")
_CONNECTION_TYPES = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ClientOSError",
    "ConnectionRefusedError",
    "ConnectionResetError",
}
_CONNECTION_TEXT = ("Connection refused", "error sending request", "NETWORK_CONNECTION", "Could not connect")
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken"}
_BAD_OPTION = re.compile(r"unexpected keyword argument '([^']+)'")


def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc`, its causes and contexts, and the remote cause of a Ray task or actor error, in order."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop(0)
        if cur is None or any(cur is s for s in seen):
            continue
        seen.append(cur)
        todo += [getattr(cur, "cause", None), cur.__cause__, cur.__context__]
    return [e for e in seen if isinstance(e, BaseException)]


def _codes(chain: list[BaseException]) -> set[str]:
    """botocore error codes (NoSuchBucket, AccessDenied, …) found in the chain."""
    return {str((getattr(e, "response", None) or {}).get("Error", {}).get("Code", "")) for e in chain}


def _endpoint(chain: list[BaseException], fallback: str) -> str:
    for e in chain:
        url = (getattr(e, "kwargs", None) or {}).get("endpoint_url")
        if url:
            return _URL.match(url).group(0) if _URL.match(url) else url
    for e in chain:
        host, port = getattr(e, "host", None), getattr(e, "port", None)
        if isinstance(host, str) and port:
            return f"http://{host}:{port}"
    for e in chain:
        m = _URL.search(str(e))
        if m:
            return m.group(0)
    return fallback


def store_failure(exc: BaseException, url: str | None = None, endpoint: str | None = None) -> HftError | None:
    """The one-line error for an object-store failure anywhere in `exc`'s chain, or None if it is not one.

    `url` is the store (for the message); `endpoint` the configured endpoint, if known.
    """
    chain = exception_chain(exc)
    where = f" for {url}" if url else ""
    for e in chain:
        m = _BAD_OPTION.search(str(e)) if isinstance(e, TypeError) else None
        if m:
            return ConfigError(
                f"--storage-option {m.group(1)}=…{where}: not an option of the store's filesystem "
                "(s3fs takes e.g. endpoint_url, key, secret, anon, client_kwargs.region_name)"
            )
    names = {type(e).__name__ for e in chain}
    codes = _codes(chain)
    text = " ".join(str(e) for e in chain)
    if names & _CONNECTION_TYPES or any(t in text for t in _CONNECTION_TEXT):
        ep = _endpoint(chain, endpoint or "the S3 endpoint")
        return StoreAccessError(
            f"cannot reach {ep}{where}: check that the server is up and that --storage-option "
            "endpoint_url (or AWS_ENDPOINT_URL) points at it, then rerun"
        )
    if "NoSuchBucket" in names | codes or "bucket does not exist" in text:
        bucket = f" {url.split('://', 1)[1].split('/', 1)[0]!r}" if url and "://" in url else ""
        return StoreAccessError(f"bucket{bucket} does not exist{where}: create it or fix --store")
    refused = (codes & _CREDENTIAL_CODES) or (names & {"NoCredentialsError", "PartialCredentialsError"})
    if refused:
        return StoreAccessError(
            f"the store refused the credentials{where} ({', '.join(sorted(refused))}): check "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, --storage-option key=/secret= or the instance profile"
        )
    return None


def _probe(endpoint: str, url: str, timeout: float = 5.0) -> None:
    """A refused TCP connect is certain and instant; botocore would retry it for ~15 s first."""
    parts = urlsplit(endpoint)
    if not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise StoreAccessError(
            f"cannot reach {endpoint} for {url} ({exc.strerror or exc}): check that the server is up and "
            "that --storage-option endpoint_url (or AWS_ENDPOINT_URL) points at it, then rerun"
        ) from None


def check_store(store: Store) -> None:
    """Ask an object store's endpoint for its bucket once per process: reachable, exists, options valid."""
    if store.is_local:
        return
    key = (store.url, repr(sorted(store.storage_options.items())))
    if key in _CHECKED:
        return
    bucket = store.root.split("/", 1)[0]
    endpoint = str(store.storage_options.get("endpoint_url") or "") or None
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        _probe(endpoint, store.url)
    try:
        store.fs.info(bucket)
    except PermissionError as exc:
        if _codes(exception_chain(exc)) & (_CREDENTIAL_CODES - {"AccessDenied"}):
            raise store_failure(exc, store.url, endpoint) or exc from None
        # AccessDenied on the bucket itself: a policy may still allow the prefix; let the reads decide
    except FileNotFoundError:
        msg = f"bucket {bucket!r} does not exist for {store.url}: create it or fix --store"
        raise StoreAccessError(msg) from None
    except Exception as exc:
        err = store_failure(exc, store.url, endpoint)
        if err is None:
            raise
        raise err from None
    _CHECKED.add(key)
