"""The one way `hft` starts or joins Ray: network-safe, sized for a laptop.

By default Ray's dashboard posts usage reports to the internet and probes the cloud metadata address
169.254.169.254 unless `~/ray_bootstrap_config.yaml` exists. Every Ray process `hft` starts (here, in
tests, benchmarks, the demo and CI) inherits `safe_ray_env()`, which turns both off and points HOME at
a private folder. Ray's ports listen on every interface whatever `--node-ip-address` says, so token
authentication stays on: `RAY_AUTH_MODE=token` with a random token in a 0600 file of that private
folder (or the cluster's own token when `RAY_AUTH_TOKEN_PATH` is already set). The token is never
printed, logged or committed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hft.errors import ClusterError, ConfigError

__all__ = ["safe_ray_env", "ray_home", "auth_token_path", "init_ray", "shutdown_ray", "ray_session"]

#: Object store cap for a locally started Ray: enough for ingest batches and a month of ticks,
#: small enough that an 8 GB laptop keeps room for the workers themselves.
DEFAULT_OBJECT_STORE_BYTES = 768 * 1024**2


def ray_home() -> Path:
    """A private (0700) HOME for Ray processes holding `ray_bootstrap_config.yaml` = `{}` (stops the
    metadata probe) and the local Ray's auth token."""
    home = Path(os.environ.get("HFT_RAY_HOME") or Path(tempfile.gettempdir()) / f"hft-ray-home-{os.getuid()}")
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if home.stat().st_mode & 0o077:
        home.chmod(0o700)
    cfg = home / "ray_bootstrap_config.yaml"
    if not cfg.exists() or cfg.read_text().strip() != "{}":
        cfg.write_text("{}\n")
    return home


def auth_token_path(home: Path | None = None) -> Path:
    """The local Ray's token file, created once (random 256 bits, mode 0600) and never rewritten.

    Created beside its final name and hard-linked into place, so concurrent first callers agree on
    one token and nobody reads a half-written file.
    """
    home = home or ray_home()
    path = home / "auth_token"
    if path.exists():
        return path
    tmp = home / f".auth_token.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
    return path


def safe_ray_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) plus the variables that keep Ray on this machine and closed to others.

    A `RAY_AUTH_TOKEN_PATH` already in `base` is kept (a cluster's own token, see ray-cluster.yaml);
    otherwise the token is the local one from `auth_token_path()`.
    """
    env = dict(os.environ if base is None else base)
    real_home = Path(env.get("HOME") or Path.home())
    home = ray_home()
    # Workers inherit HOME=ray_home(); keep the user's AWS credentials reachable for s3fs.
    for var, name in (("AWS_SHARED_CREDENTIALS_FILE", "credentials"), ("AWS_CONFIG_FILE", "config")):
        if var not in env and (real_home / ".aws" / name).exists():
            env[var] = str(real_home / ".aws" / name)
    env.update(
        {
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
            "RAY_AUTH_MODE": "token",
            "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
            "HOME": str(home),
        }
    )
    if not env.get("RAY_AUTH_TOKEN_PATH") and not env.get("RAY_AUTH_TOKEN"):
        env["RAY_AUTH_TOKEN_PATH"] = str(auth_token_path(home))
    return env


@contextlib.contextmanager
def _patched_environ(env: dict[str, str]) -> Iterator[None]:
    old = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def init_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    dashboard: bool = False,
    **kwargs: Any,
) -> Any:
    """Start a local Ray (address None) or join `address`, always with `safe_ray_env()`.

    Returns the `ray.init` context; a no-op when this process is already connected (after checking
    that `address` answers and the token file exists, so a bad one fails in seconds either way).
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        _check_listening(address)
    env = safe_ray_env()
    token = env.get("RAY_AUTH_TOKEN_PATH")
    if token and not Path(token).is_file():
        raise ConfigError(f"RAY_AUTH_TOKEN_PATH={token}: no such file; point it at the cluster's token file")
    if ray.is_initialized():
        return None
    opts: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False, **kwargs}
    if address is None:
        opts.update(
            num_cpus=num_cpus or os.cpu_count() or 1,
            object_store_memory=object_store_memory or DEFAULT_OBJECT_STORE_BYTES,
            include_dashboard=dashboard,
        )
        if dashboard:
            opts["dashboard_host"] = "127.0.0.1"
    else:
        opts["address"] = address
    # Started processes copy our environment at spawn time; only they need the private HOME.
    with _patched_environ(env):
        # Ray reads RAY_AUTH_MODE once per process; re-read it, as Ray does when it enables auth itself.
        from ray._raylet import Config

        Config.initialize("")
        try:
            return ray.init(**opts)
        except Exception as exc:
            if not _refused_auth(exc):
                raise
            raise ClusterError(
                f"Ray at {address or 'this machine'} refused the token in "
                f"{token or '$RAY_AUTH_TOKEN'}; set RAY_AUTH_TOKEN_PATH to the cluster's token file"
            ) from None


def _refused_auth(exc: BaseException | None) -> bool:
    """Ray wraps its AuthenticationError in a ConnectionError (or only its text); look down the chain."""
    while exc is not None:
        if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _check_listening(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, when nothing listens at a `host:port` Ray address."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected host:port (the head's GCS, e.g. 127.0.0.1:6379)")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(
            f"--address {address}: nothing answers there ({exc.strerror or exc}); "
            "check that the Ray head is running and the host:port is its GCS port"
        ) from None


def shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


@contextlib.contextmanager
def ray_session(address: str | None = None, **kwargs: Any) -> Iterator[None]:
    """Connect for the block; shut down only what this block started."""
    import ray

    started = not ray.is_initialized()
    init_ray(address, **kwargs)
    try:
        yield
    finally:
        if started:
            ray.shutdown()
