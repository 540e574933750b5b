"""README promise: credentials and endpoint come from the standard AWS variables, no option needed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date

import boto3
import numpy as np

from hft.data.ticks import TICK_DTYPE
from hft.store import write_day

DAY = date(2024, 3, 5)


def _bucket(endpoint: str) -> str:
    name = f"hft-env-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    ).create_bucket(Bucket=name)
    return name


def _hft_store(url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "hft.cli", "store", "--store", url],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_store_reads_s3_through_the_aws_variables_alone(moto_endpoint):
    bucket = _bucket(moto_endpoint)
    url = f"s3://{bucket}/store"
    t = np.zeros(500, dtype=TICK_DTYPE)
    t["ts"] = 1_709_596_800_000 + np.arange(500) * 1000
    t["bid"], t["ask"] = 2000.0, 2000.25
    write_day(
        url,
        "XAUUSD",
        DAY,
        t,
        {"hours": {"00": {"status": "ok"}}},
        {"endpoint_url": moto_endpoint, "key": "k", "secret": "s"},
    )
    env = {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}

    res = _hft_store(url, env)
    assert res.returncode == 0, res.stderr
    assert "XAUUSD" in res.stdout and "2024-03-05" in res.stdout and "500" in res.stdout

    # the variable really is what points the store at a server: a closed port is named as unreachable
    res = _hft_store(url, {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert res.returncode == 3
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0], res.stderr
