"""Every object-store failure ends an `hft` command as one line naming the URL and what to check, with
the exit code README "Exit codes" documents; the traceback only with --debug."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hft.cli import app
from hft.localcluster import free_port

ROOT = Path(__file__).resolve().parents[2]
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
NO_FEED = ["--feed-url", "http://127.0.0.1:9"]  # nothing to fetch from, never the public feed
FAST = ["--storage-option", "config_kwargs.retries.max_attempts=1"]  # one try: keeps the suite quick

SPEC = """name: faults
data: {symbol: XAUUSD, start: 2024-03-04, end: 2024-03-04, store: ./unused}
strategy: {name: ema_cross}
execution: {size: 1, capital: 100000}
space:
  fast: {type: int, low: 100, high: 200, step: 100}
  slow: {type: int, low: 2000, high: 4000, step: 2000}
sampler: {type: grid}
objectives: [{metric: sharpe, direction: maximize}]
n_trials: 4
"""
RUN = """group: faults
data: {symbol: XAUUSD, start: 2024-03-04, end: 2024-03-04, store: ./unused}
strategy: {name: ema_cross, params: {fast: 100, slow: 2000}}
execution: {size: 1, capital: 100000}
"""


def _command(name: str, store: str, files: Path) -> list[str]:
    return {
        "store": ["store", "--store", store],
        "run": ["run", str(files / "run.yaml"), "--store", store],
        "report": ["report", f"{store}/runs"],
        "ingest": [
            "ingest",
            "XAUUSD",
            "--start",
            "2024-03-04",
            "--end",
            "2024-03-04",
            "--store",
            store,
            *NO_FEED,
        ],
        "sweep": ["sweep", str(files / "spec.yaml"), "--store", store, "--quiet", "--storage", _db(files)],
    }[name]


def _db(files: Path) -> str:
    return f"sqlite:///{files / 'optuna.db'}"  # not ./runs of the folder the tests run in


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    (root / "spec.yaml").write_text(SPEC)
    (root / "run.yaml").write_text(RUN)
    return root


@pytest.fixture(autouse=True)
def creds(monkeypatch):
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("HFT_DEBUG", raising=False)


def _one_line(res, code: int, *needles: str) -> str:
    err = res.stderr
    assert res.exit_code == code, (res.exit_code, res.output, err)
    assert "Traceback" not in res.output + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


COMMANDS = ["store", "run", "report", "ingest", "sweep"]


@pytest.mark.parametrize("command", COMMANDS)
def test_unreachable_endpoint(command, files):
    endpoint = f"http://127.0.0.1:{free_port()}"
    opts = ["--storage-option", f"endpoint_url={endpoint}", *FAST]
    t0 = time.monotonic()
    res = CliRunner().invoke(app, [*_command(command, "s3://bkt/st", files), *opts])
    assert time.monotonic() - t0 < 20
    _one_line(res, 3, f"cannot reach {endpoint}", "s3://bkt/st", "endpoint_url")


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_bucket(command, files, moto_endpoint):
    opts = ["--storage-option", f"endpoint_url={moto_endpoint}"]
    res = CliRunner().invoke(app, [*_command(command, "s3://no-such-bucket/st", files), *opts])
    _one_line(res, 3, "bucket 'no-such-bucket' does not exist", "create it or fix --store")


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_storage_option_key(command, files, s3_store):
    url, opts = s3_store
    args = ["--storage-option", f"endpoint_url={opts['endpoint_url']}", "--storage-option", "endpoint_ur1=x"]
    res = CliRunner().invoke(app, [*_command(command, url, files), *args])
    _one_line(res, 2, "--storage-option endpoint_ur1=", "not an option")


def test_debug_adds_the_traceback(files, moto_endpoint):
    args = ["store", "--store", "s3://no-such-bucket/st", "--storage-option", f"endpoint_url={moto_endpoint}"]
    res = CliRunner().invoke(app, ["--debug", *args])
    assert res.exit_code == 3
    assert "Traceback" in res.stderr and "StoreAccessError" in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: bucket 'no-such-bucket' does not exist")


def test_every_store_command_takes_the_same_storage_option():
    for name in COMMANDS:
        res = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "250"}, terminal_width=250)
        assert res.exit_code == 0 and "--storage-option" in res.output, name


@pytest.mark.slow
def test_server_gone_midway_then_back(tmp_path):
    """Moto stops while `hft ingest` is writing (the feed is slow, so the run is mid-way): one line,
    exit 3; the same command after the server is back completes."""
    import boto3
    from moto.server import ThreadedMotoServer

    from hft.data.feed import FeedFaults, FeedServer
    from hft.data.synth import write_synth_feed
    from hft.store import list_days

    write_synth_feed(tmp_path / "feed", "XAUUSD", _days()[0], _days()[0], seed=1, activity=0.02)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_boto_creds())
    s3.create_bucket(Bucket="mid")
    env = os.environ | CREDS | {"PYTHONPATH": str(ROOT)}
    with FeedServer(tmp_path / "feed", faults=FeedFaults(latency_ms=1500)) as feed:
        cmd = [sys.executable, "-m", "hft.cli", "ingest", "XAUUSD", "--start", "2024-03-04", "--end"]
        cmd += ["2024-03-04", "--store", "s3://mid/st", "--storage-option", f"endpoint_url={endpoint}"]
        cmd += ["--feed-url", feed.url, "--quiet", "--concurrency", "2", *FAST]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while feed.stats()["requests"] < 4 and time.monotonic() < deadline:  # the ingest is under way
                time.sleep(0.2)
            server.stop()
            out, err = proc.communicate(timeout=180)
        finally:
            proc.kill()
        assert proc.returncode == 3, (proc.returncode, out, err)
        assert "Traceback" not in out + err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach {endpoint}"), err
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()  # moto keeps its buckets in this process: the same store comes back
    with FeedServer(tmp_path / "feed") as fast:  # the same feed without the delay, for a quick rerun
        cmd[cmd.index("--feed-url") + 1] = fast.url
        try:
            again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            assert again.returncode == 0, again.stderr[-2000:]
            opts = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
            assert list_days("s3://mid/st", "XAUUSD", opts) == list(_days())
        finally:
            server.stop()


def _days():
    from datetime import date

    return [date(2024, 3, 4)]


def _boto_creds():
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def test_an_address_with_nothing_listening_fails_in_seconds(tmp_path, files):
    """In a fresh `hft` process (this test process may already hold a Ray from another test)."""
    from datetime import date

    from hft.data.synth import synth_day
    from hft.store.ticks import write_day

    day = date(2024, 3, 4)
    write_day(str(tmp_path / "data"), "XAUUSD", day, synth_day("XAUUSD", day, seed=1, activity=0.01))
    address = f"127.0.0.1:{free_port()}"
    ingest = ["ingest", "XAUUSD", "--start", "2024-03-04", "--end", "2024-03-04", "--store", str(tmp_path)]
    ingest += ["--feed-url", f"http://127.0.0.1:{free_port()}"]
    sweep = ["sweep", str(files / "spec.yaml"), "--store", str(tmp_path / "data"), "--quiet"]
    sweep += ["--storage", _db(files)]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    for args in (ingest, sweep):
        t0 = time.monotonic()
        res = subprocess.run(
            [sys.executable, "-m", "hft.cli", *args, "--address", address],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert time.monotonic() - t0 < 20
        res.exit_code, res.output = res.returncode, res.stdout
        _one_line(res, 3, f"--address {address}: nothing answers", "Ray head is running")


def test_a_busy_port_is_one_line(tmp_path):
    import socket

    import optuna

    db = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(storage=db, study_name="s")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = CliRunner().invoke(app, ["dashboard", "--storage", db, "--port", str(port)])
        _one_line(res, 2, f"port {port} on 127.0.0.1 is in use", "--port")
        res = CliRunner().invoke(app, ["feed", "serve", str(tmp_path), "--port", str(port)])
        _one_line(res, 2, f"port {port} on 127.0.0.1 is already in use", "pick another")


def test_store_of_a_folder_that_does_not_exist(tmp_path):
    res = CliRunner().invoke(app, ["store", "--store", str(tmp_path / "nope")])
    _one_line(res, 2, f"store {str(tmp_path / 'nope')!r} does not exist", "check --store")
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["store", "--store", str(tmp_path / "empty")])
    assert res.exit_code == 0 and "no tick partitions" in res.output


def test_botocore_failures_are_recognised_down_the_chain(moto_endpoint):
    """Failures after the open-time check come from botocore/s3fs (maybe wrapped by Ray or Polars)."""
    import s3fs

    from hft.errors import StoreAccessError
    from hft.store.access import store_failure

    dead = f"http://127.0.0.1:{free_port()}"
    retries = {"retries": {"max_attempts": 1}}
    for endpoint, path, expected in (
        (dead, "bkt/x", f"cannot reach {dead} for s3://bkt/x"),
        (
            moto_endpoint,
            "no-such-bucket/x",
            "bucket 'no-such-bucket' does not exist for s3://no-such-bucket/x",
        ),
    ):
        fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing", config_kwargs=retries)
        try:
            fs.ls(path, refresh=True)
        except Exception as exc:  # whatever botocore/s3fs raise: that is what is being recognised
            raised = exc
        else:
            pytest.fail(f"{path} on {endpoint} did not fail")
        assert store_failure(RuntimeError("a task failed"), f"s3://{path}") is None  # unrelated error
        wrapped = RuntimeError("a task failed")
        wrapped.__cause__ = raised
        err = store_failure(wrapped, f"s3://{path}")
        assert isinstance(err, StoreAccessError) and str(err).startswith(expected), err
