from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def two_nodes():
    """A real two-node Ray cluster (two `ray start` processes, own temp dirs and ports) and this
    process connected to it as the driver. Only what this fixture started is stopped: a Ray that
    another fixture left connected is an error of that fixture, reported here, never shut down."""
    import ray

    from hft.localcluster import LocalCluster
    from hft.rayenv import init_ray

    if ray.is_initialized():
        pytest.fail(
            "this test process is still connected to a Ray an earlier fixture started and did not shut "
            "down; the two-node tests need this process's driver connection for their own cluster"
        )
    cluster = LocalCluster(nodes=2, cpus_per_node=1).start()
    try:
        init_ray(cluster.address)
        yield cluster
    finally:
        ray.shutdown()  # the driver connection this fixture opened
        cluster.stop()
