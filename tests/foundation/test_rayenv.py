"""Every Ray process started through hft.rayenv runs with the network-safe environment, and the
Ray it starts admits only processes holding its token."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from hft.errors import ClusterError, ConfigError
from hft.rayenv import auth_token_path, init_ray, ray_home, safe_ray_env
from tests.foundation.intruder import assert_joined, assert_refused, join


def test_safe_env_turns_off_reporting_and_metadata_probe_and_keeps_auth_on():
    env = safe_ray_env({"HOME": "/somewhere", "PATH": "/bin"})
    assert env["RAY_USAGE_STATS_ENABLED"] == "0"
    assert env["RAY_USAGE_STATS_REPORT_URL"] == "http://127.0.0.1:9/"
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["PATH"] == "/bin"
    home = Path(env["HOME"])
    assert home == ray_home() and home != Path("/somewhere")
    assert (home / "ray_bootstrap_config.yaml").read_text().strip() == "{}"
    token = Path(env["RAY_AUTH_TOKEN_PATH"])
    assert token.parent == home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    text = token.read_text()
    assert len(text) == 64 and int(text, 16) > 0  # 256 random bits, hex, as `ray get-auth-token` makes


def test_a_cluster_token_path_already_set_is_kept():
    env = safe_ray_env({"RAY_AUTH_TOKEN_PATH": "/etc/cluster-token"})
    assert env["RAY_AUTH_TOKEN_PATH"] == "/etc/cluster-token" and env["RAY_AUTH_MODE"] == "token"


def test_token_is_created_once_even_by_concurrent_callers(tmp_path):
    paths: list[Path] = []
    threads = [threading.Thread(target=lambda: paths.append(auth_token_path(tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = (tmp_path / "auth_token").read_text()
    assert set(paths) == {tmp_path / "auth_token"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth_token"]  # no stray temporary files
    assert auth_token_path(tmp_path).read_text() == first  # never rewritten
    (tmp_path / "other").mkdir()
    assert auth_token_path(tmp_path / "other").read_text() != first  # random, not derived


def test_user_aws_credentials_stay_reachable(tmp_path):
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    env = safe_ray_env({"HOME": str(tmp_path)})
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == str(tmp_path / ".aws" / "credentials")
    assert "AWS_CONFIG_FILE" not in env


def test_an_address_with_nothing_listening_fails_fast():
    from hft.localcluster import free_port

    with pytest.raises(ClusterError, match=r"--address 127\.0\.0\.1:\d+: nothing answers"):
        init_ray(f"127.0.0.1:{free_port()}")


@pytest.mark.slow
def test_local_ray_admits_only_holders_of_its_token(tmp_path):
    import ray

    from hft.rayenv import ray_session

    home_before = os.environ.get("HOME")
    started = not ray.is_initialized()  # another test may have left an hft-started Ray connected
    with ray_session(num_cpus=1):

        @ray.remote
        def probe():
            keys = ("RAY_USAGE_STATS_ENABLED", "RAY_USAGE_STATS_REPORT_URL", "RAY_AUTH_MODE", "HOME")
            return {k: os.environ.get(k) for k in (*keys, "RAY_AUTH_TOKEN_PATH")}

        seen = ray.get(probe.remote())
        assert os.environ.get("HOME") == home_before  # the driver's own HOME is untouched
        address = ray.get_runtime_context().gcs_address
        logs = Path(ray._private.worker._global_node.get_session_dir_path())
        token = auth_token_path().read_text()
        assert_refused(join(address, tmp_path))  # no token at all
        assert_refused(join(address, tmp_path, token="0" * 64))  # a guessed token
        assert_joined(join(address, tmp_path, token_path=str(auth_token_path())), nodes=1)
        logged = [p for p in logs.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
        assert logged == []  # the token is in no log of the session
    assert ray.is_initialized() is not started  # shut down if and only if this block started it
    assert seen["RAY_USAGE_STATS_ENABLED"] == "0"
    assert seen["RAY_AUTH_MODE"] == "token"
    assert seen["RAY_AUTH_TOKEN_PATH"] == str(auth_token_path())
    assert seen["RAY_USAGE_STATS_REPORT_URL"] == "http://127.0.0.1:9/"
    assert (Path(seen["HOME"]) / "ray_bootstrap_config.yaml").exists()
    assert not (Path(home_before or "/nonexistent") / ".ray" / "auth_token").exists()


def test_a_missing_cluster_token_file_is_named_before_ray_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=rf"RAY_AUTH_TOKEN_PATH={tmp_path / 'nope'}: no such file"):
        init_ray(num_cpus=1)
    with pytest.raises(ConfigError, match="expected host:port"):
        init_ray("localhost")
