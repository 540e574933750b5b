"""Rehearse ray-cluster.yaml's autoscaler on this machine: a head with no worker and Ray's fake
provider (`fake_multinode`, `RAY_FAKE_CLUSTER=1`), which starts worker nodes as local processes when
demand appears. A sweep gets its actors on nodes the autoscaler launched for it, completes, and the
nodes are released after the idle timeout.

The node types come from ray-cluster.yaml itself (names, min/max workers, head and worker sizes from
their instance types), scaled down by `SCALE` to fit a 2-core machine, so the rehearsal breaks when
the file drifts. Ray's `AutoscalingCluster` helper is not used: its start and shutdown run
`ray stop --force`, which ends every Ray process on the machine; here the head is one `ray start`
process group started with `safe_ray_env()`, and only that group (with the worker nodes its
autoscaler started, found by their session folder) is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from hft.data.synth import synth_day
from hft.localcluster import free_port
from hft.rayenv import init_ray, safe_ray_env
from hft.store.ticks import write_day
from hft.sweep import parse_spec, run_sweep

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: vCPU and GiB of the instance types ray-cluster.yaml may name (AWS published sizes).
INSTANCES = {"m6i.xlarge": (4, 16), "c6i.4xlarge": (16, 32)}
SCALE = 16  # 16 vCPU, 32 GiB worker -> 1 CPU, 2 GiB; 4 vCPU head -> 0 CPU (actors go to workers)
MAX_WORKERS = 2  # of the file's 16: what this machine can hold
IDLE_S = 6  # the file says 10 minutes; a rehearsal cannot wait that long
START = date(2024, 5, 6)


def autoscaler_config(gcs: str) -> dict:
    """The fake-provider cluster config mirroring ray-cluster.yaml's node types."""
    src = yaml.safe_load((ROOT / "ray-cluster.yaml").read_text())
    head_type = src["head_node_type"]
    types = {}
    for name, t in src["available_node_types"].items():
        cpus, gib = INSTANCES[t["node_config"]["InstanceType"]]
        res = {"CPU": cpus // SCALE, "memory": gib * 1024**3 // SCALE, **(t.get("resources") or {})}
        if name == head_type:
            types["ray.head.default"] = {"resources": res, "node_config": {}, "max_workers": 0}
        else:
            res.pop("memory")  # the fake provider cannot give a node `memory` (Ray asserts)
            types[name] = {
                "resources": {**res, "object_store_memory": 100 * 1024**2},
                "node_config": {},
                "min_workers": t["min_workers"],
                "max_workers": min(t["max_workers"], MAX_WORKERS),
            }
    assert len(types) == len(src["available_node_types"]) >= 2
    return {
        "cluster_name": src["cluster_name"],
        "max_workers": min(src["max_workers"], MAX_WORKERS),
        "upscaling_speed": src["upscaling_speed"],
        "idle_timeout_minutes": IDLE_S / 60,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs,
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "auth": {"ssh_user": "ubuntu"},
        "available_node_types": types,
        "head_node_type": "ray.head.default",
        "docker": {},
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def _ours(temp: Path) -> list[int]:
    """PIDs of processes whose command line names our temp folder (the head's and its nodes')."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            with contextlib.suppress(OSError):
                if str(temp).encode() in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
    return pids


@pytest.fixture()
def autoscaling_head(tmp_path):
    """A head with 0 CPUs and the fake autoscaler; yields (address, worker type name)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    temp = Path(tempfile.mkdtemp(prefix="hft-as-"))  # short: Ray's socket paths must fit 107 bytes
    gcs = f"127.0.0.1:{free_port()}"
    cfg = autoscaler_config(gcs)
    cfg_path = tmp_path / "autoscaler.json"
    cfg_path.write_text(json.dumps(cfg))
    head = cfg["available_node_types"]["ray.head.default"]["resources"]
    cmd = [
        str(Path(sys.executable).with_name("ray")),
        "start",
        "--block",
        "--head",
        f"--temp-dir={temp}",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs.rsplit(':', 1)[1]}",
        f"--num-cpus={head['CPU']}",
        f"--resources={json.dumps({k: v for k, v in head.items() if k not in ('CPU', 'memory')})}",
        f"--memory={head['memory']}",
        "--object-store-memory=100000000",
        f"--autoscaling-config={cfg_path}",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    env = {**safe_ray_env(), "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    log = tmp_path / "head.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _connect(gcs, proc, log)
        workers = [k for k in cfg["available_node_types"] if k != "ray.head.default"]
        yield gcs, workers[0]
    finally:
        ray.shutdown()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)  # then SIGKILL below: a head stopping under SIGTERM can take 15 s and more
        for pid in [proc.pid, *_ours(temp)]:  # worker nodes started by the autoscaler, if any left
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL) if pid == proc.pid else os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def _connect(gcs: str, proc: subprocess.Popen, log: Path) -> None:
    """Join the head once its GCS port answers (a head that died names why)."""
    host, port = gcs.rsplit(":", 1)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        with socket.socket() as s:
            if s.connect_ex((host, int(port))) == 0:
                break
        assert time.monotonic() < deadline, f"head GCS {gcs} did not open: {log.read_text()[-3000:]}"
        time.sleep(0.5)
    time.sleep(2)  # the GCS listens before the head's raylet has registered
    init_ray(gcs)


def _store(root: Path) -> str:
    for i in range(2):
        day = START + timedelta(days=i)
        write_day(str(root), "XAUUSD", day, synth_day("XAUUSD", day, seed=3, activity=0.03))
    return str(root)


def _alive_workers() -> dict[str, str]:
    import ray

    return {
        n["NodeID"]: n["NodeManagerAddress"]
        for n in ray.nodes()
        if n["Alive"] and n["Resources"].get("CPU", 0) > 0
    }


def test_sweep_on_zero_workers_scales_up_completes_and_releases_the_nodes(autoscaling_head, tmp_path):
    import ray

    address, worker_type = autoscaling_head
    assert _alive_workers() == {}  # the head advertises no CPU: nothing can run before the autoscaler acts
    head_ids = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    store = _store(tmp_path / "store")
    spec = parse_spec(
        {
            "name": "autoscaled",
            "data": {"symbol": "XAUUSD", "start": START, "end": START + timedelta(days=1), "store": store},
            "strategy": {"name": "ema_cross"},
            "execution": {"size": 1, "latency_ms": 20, "slippage": 0.01, "taker_per_unit": 0.02},
            "space": {
                "fast": {"type": "int", "low": 20, "high": 40, "step": 20},
                "slow": {"type": "int", "low": 200, "high": 400, "step": 200},
            },
            "sampler": {"type": "grid"},
            "objectives": [{"metric": "net_pnl"}],
            "n_trials": 4,
            "resources": {"actors": 2, "batch": 1, "cache_mb": 16},
        },
        "autoscaler test",
    )
    res = run_sweep(spec, address=address, progress=False, echo=lambda _s: None)
    study = res.windows[0][1].study
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 4
    rows = [
        r
        for p in (Path(store) / "runs" / "autoscaled" / "trials").glob("part-*.parquet")
        for r in pq.read_table(p).to_pylist()
    ]
    assert sorted(r["trial"] for r in rows) == sorted(t.number for t in done)
    ran_on = {r["node_id"] for r in rows}
    launched = {n["NodeID"] for n in ray.nodes()} - head_ids
    assert launched, "the autoscaler started no node"
    assert ran_on <= launched and not ran_on & head_ids  # every trial ran on an autoscaled worker
    sizes = {n["Resources"]["CPU"] for n in ray.nodes() if n["NodeID"] in launched and n["Alive"]}
    assert sizes <= {16 / SCALE}  # c6i.4xlarge's 16 vCPU, scaled (dead ones no longer list resources)
    # idle: the autoscaler terminates the workers after the idle timeout
    deadline = time.monotonic() + IDLE_S + 60
    while _alive_workers() and time.monotonic() < deadline:
        time.sleep(1)
    assert _alive_workers() == {}, f"workers still up {IDLE_S + 60}s after the sweep: {_alive_workers()}"
    assert worker_type == "cpu_worker"
