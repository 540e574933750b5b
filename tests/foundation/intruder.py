"""A process that tries to join a running Ray as a driver, as someone else on the network would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hft.rayenv import safe_ray_env

#: Plain `ray.init`, not hft's: the outsider does not go through hft.rayenv.
JOIN = "import ray,sys;ray.init(address=sys.argv[1],logging_level='ERROR');print('JOINED',len(ray.nodes()))"


def join(address: str, home: Path, *, token: str | None = None, token_path: str | None = None):
    """Run a driver against `address`: no token (auth mode off), a given token, or a token file.

    HOME is `home` (so no ~/.ray/auth_token is found) and Ray gives up after ~3 s instead of ~20 s.
    """
    env = {k: v for k, v in safe_ray_env().items() if not k.startswith("RAY_AUTH")}
    env |= {"HOME": str(home), "RAY_gcs_server_port_wait_time_s": "3"}
    if token is None and token_path is None:
        env["RAY_AUTH_MODE"] = "disabled"
    else:
        env["RAY_AUTH_MODE"] = "token"
        if token is not None:
            env["RAY_AUTH_TOKEN"] = token
        if token_path is not None:
            env["RAY_AUTH_TOKEN_PATH"] = token_path
    return subprocess.run(
        [sys.executable, "-c", JOIN, address], env=env, capture_output=True, text=True, timeout=120
    )


def assert_refused(res: subprocess.CompletedProcess) -> None:
    assert res.returncode != 0 and "JOINED" not in res.stdout, res.stdout
    assert "InvalidAuthToken" in res.stderr, res.stderr[-2000:]  # refused for the token, not a timeout


def assert_joined(res: subprocess.CompletedProcess, nodes: int) -> None:
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[-2:] == ["JOINED", str(nodes)], res.stdout
