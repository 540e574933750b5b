"""Every Ray process started through hft.rayenv runs with the network-safe environment."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from hft.rayenv import ray_home, safe_ray_env


def test_safe_env_turns_off_reporting_and_metadata_probe():
    env = safe_ray_env({"HOME": "/somewhere", "PATH": "/bin"})
    assert env["RAY_USAGE_STATS_ENABLED"] == "0"
    assert env["RAY_USAGE_STATS_REPORT_URL"] == "http://127.0.0.1:9/"
    assert env["RAY_AUTH_MODE"] == "disabled"
    assert env["PATH"] == "/bin"
    home = Path(env["HOME"])
    assert home == ray_home() and home != Path("/somewhere")
    assert (home / "ray_bootstrap_config.yaml").read_text().strip() == "{}"


def test_user_aws_credentials_stay_reachable(tmp_path):
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    env = safe_ray_env({"HOME": str(tmp_path)})
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == str(tmp_path / ".aws" / "credentials")
    assert "AWS_CONFIG_FILE" not in env


@pytest.mark.slow
def test_workers_of_a_local_ray_inherit_it_and_the_driver_keeps_its_home():
    import ray

    from hft.rayenv import ray_session

    home_before = os.environ.get("HOME")
    with ray_session(num_cpus=1):

        @ray.remote
        def probe():
            keys = ("RAY_USAGE_STATS_ENABLED", "RAY_USAGE_STATS_REPORT_URL", "RAY_AUTH_MODE", "HOME")
            return {k: os.environ.get(k) for k in keys}

        seen = ray.get(probe.remote())
        assert os.environ.get("HOME") == home_before  # the driver's own HOME is untouched
        own = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs}
        assert ray.nodes()[0]["NodeManagerAddress"] in own  # Ray talks to this machine only
    assert not ray.is_initialized()
    assert seen["RAY_USAGE_STATS_ENABLED"] == "0"
    assert seen["RAY_AUTH_MODE"] == "disabled"
    assert seen["RAY_USAGE_STATS_REPORT_URL"] == "http://127.0.0.1:9/"
    assert (Path(seen["HOME"]) / "ray_bootstrap_config.yaml").exists()
    assert not (Path(home_before or "/nonexistent") / ".ray" / "auth_token").exists()
