from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def two_nodes():
    """A real two-node Ray cluster (two `ray start` processes, own temp dirs and ports) and this
    process connected to it as the driver. Only what this fixture started is stopped."""
    import ray

    from hft.localcluster import LocalCluster
    from hft.rayenv import init_ray

    if ray.is_initialized():  # a local Ray from another test module: this module needs the cluster
        ray.shutdown()
    cluster = LocalCluster(nodes=2, cpus_per_node=1).start()
    try:
        init_ray(cluster.address)
        yield cluster
    finally:
        ray.shutdown()
        cluster.stop()
