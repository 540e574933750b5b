"""A real multi-node Ray cluster on one machine, for tests, benchmarks and operators' rehearsals.

Each node is a `ray start --block` process in its own process group, with its own temp dir (also
its working directory, as on a machine of its own) and ports, started with `safe_ray_env()` (so
token authentication is on and every node and driver shares the local token file). Stopping a node
kills exactly that group, never other Ray processes on the machine (which `ray stop` would).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hft.rayenv import safe_ray_env

__all__ = ["LocalCluster", "RayNode", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ports(n: int) -> list[int]:
    """n distinct free ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class RayNode:
    name: str
    proc: subprocess.Popen
    temp_dir: Path
    log: Path

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL, grace: float = 5.0) -> None:
        """End this node's `ray start` and every process it started (its process group)."""
        for s, wait in ((sig, grace), (signal.SIGKILL, 30.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, s)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            # the group may outlive its leader for a moment: make sure nothing of it is left
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return


@dataclass
class LocalCluster:
    """`with LocalCluster(nodes=2, cpus_per_node=1) as c: init_ray(c.address)`."""

    nodes: int = 2
    cpus_per_node: int = 1
    object_store_bytes: int = 256 * 1024**2
    resources_per_node: bool = True  # each node also gets a custom resource `node<i>` for pinning
    dashboard: bool = False  # the head's dashboard (needed by `ray job submit`), on 127.0.0.1
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hft-ray-")))
    started: list[RayNode] = field(default_factory=list)
    address: str = ""
    dashboard_url: str = ""

    def _start(self, i: int, head: bool) -> RayNode:
        name = "head" if head else f"worker{i}"
        temp = self.root / name
        temp.mkdir(parents=True, exist_ok=True)
        p = _ports(9)
        cmd = [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--block",
            f"--temp-dir={temp}",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus_per_node}",
            f"--object-store-memory={self.object_store_bytes}",
            f"--node-manager-port={p[0]}",
            f"--object-manager-port={p[1]}",
            f"--min-worker-port={20000 + 1000 * i}",
            f"--max-worker-port={20999 + 1000 * i}",
            f"--metrics-export-port={p[2]}",
            f"--dashboard-agent-listen-port={p[3]}",
            f"--dashboard-agent-grpc-port={p[4]}",
            f"--runtime-env-agent-port={p[5]}",
            "--disable-usage-stats",
        ]
        if self.resources_per_node:
            cmd.append(f'--resources={{"node{i}": 1}}')
        if head:
            gcs = p[6]
            cmd += ["--head", f"--port={gcs}", f"--ray-client-server-port={p[7]}"]
            if self.dashboard:
                cmd += ["--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={p[8]}"]
                self.dashboard_url = f"http://127.0.0.1:{p[8]}"
            else:
                cmd.append("--include-dashboard=false")
            self.address = f"127.0.0.1:{gcs}"
        else:
            cmd.append(f"--address={self.address}")
        log = self.root / f"{name}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                cmd,
                env=safe_ray_env(),
                cwd=temp,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node = RayNode(name, proc, temp, log)
        self.started.append(node)
        return node

    def start(self, timeout: float = 90.0) -> LocalCluster:
        self._start(0, head=True)
        for i in range(1, self.nodes):
            self._wait_nodes(i, timeout)
            self._start(i, head=False)
        self._wait_nodes(self.nodes, timeout)
        return self

    def _wait_nodes(self, n: int, timeout: float) -> None:
        """Wait until `n` nodes are alive, asking the GCS from a short-lived subprocess."""
        probe = (
            "import ray,sys;ray.init(address=sys.argv[1],logging_level='ERROR');"
            "print(sum(1 for x in ray.nodes() if x['Alive']))"
        )
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            if any(not node.alive for node in self.started):
                break
            res = subprocess.run(
                [sys.executable, "-c", probe, self.address],
                env=safe_ray_env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            last = res.stdout.strip() or res.stderr[-500:]
            if res.returncode == 0 and res.stdout.strip().isdigit() and int(res.stdout.strip()) >= n:
                return
            time.sleep(0.5)
        logs = "\n".join(f"--- {node.log}\n{node.log.read_text()[-2000:]}" for node in self.started)
        self.stop()
        raise RuntimeError(f"Ray cluster did not reach {n} nodes (last probe: {last})\n{logs}")

    def stop(self) -> None:
        for node in reversed(self.started):
            node.kill(signal.SIGTERM)
        self.started.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """`python -m hft.localcluster --nodes 2`: run a local multi-node cluster until Ctrl-C."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--cpus-per-node", type=int, default=1)
    args = ap.parse_args(argv)
    cluster = LocalCluster(nodes=args.nodes, cpus_per_node=args.cpus_per_node).start()
    print(f"Ray cluster of {args.nodes} nodes at {cluster.address} (logs in {cluster.root}); Ctrl-C stops it")
    print(f"  export RAY_ADDRESS={cluster.address}")
    # the token's path, never the token: Ray clients other than hft need RAY_AUTH_MODE=token and this path
    token_path = safe_ray_env()["RAY_AUTH_TOKEN_PATH"]
    print(f"  export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH={token_path}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
