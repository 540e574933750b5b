"""The one way `hft` starts or joins Ray: network-safe, sized for a laptop.

By default Ray's dashboard posts usage reports to the internet, probes the cloud metadata address
169.254.169.254 unless `~/ray_bootstrap_config.yaml` exists, and writes an auth token under
`~/.ray`. Every Ray process `hft` starts (here, in tests, benchmarks, the demo and CI) inherits
`safe_ray_env()`, which turns all of that off and points HOME at a private folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["safe_ray_env", "ray_home", "init_ray", "shutdown_ray", "ray_session"]

#: Object store cap for a locally started Ray: enough for ingest batches and a month of ticks,
#: small enough that an 8 GB laptop keeps room for the workers themselves.
DEFAULT_OBJECT_STORE_BYTES = 768 * 1024**2


def ray_home() -> Path:
    """A HOME for Ray processes holding `ray_bootstrap_config.yaml` = `{}` (stops the metadata probe)."""
    home = Path(os.environ.get("HFT_RAY_HOME") or Path(tempfile.gettempdir()) / f"hft-ray-home-{os.getuid()}")
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "ray_bootstrap_config.yaml"
    if not cfg.exists() or cfg.read_text().strip() != "{}":
        cfg.write_text("{}\n")
    return home


def safe_ray_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) plus the variables that keep Ray on this machine."""
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
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
            "HOME": str(home),
        }
    )
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

    Returns the `ray.init` context; a no-op when this process is already connected.
    """
    import ray

    if ray.is_initialized():
        return None
    address = address or os.environ.get("RAY_ADDRESS") or None
    opts: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False, **kwargs}
    if address is None:
        opts.update(
            num_cpus=num_cpus or os.cpu_count() or 1,
            object_store_memory=object_store_memory or DEFAULT_OBJECT_STORE_BYTES,
            include_dashboard=dashboard,
        )
        if dashboard:
            opts["dashboard_host"] = "127.0.0.1"
        # Started processes copy our environment at spawn time; only they need the private HOME.
        with _patched_environ(safe_ray_env()):
            return ray.init(**opts)
    with _patched_environ(safe_ray_env()):
        return ray.init(address=address, **opts)


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
