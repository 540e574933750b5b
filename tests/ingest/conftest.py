from __future__ import annotations

from datetime import date

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray for the ingest tests, started through the network-safe helper."""
    import ray

    from hft.rayenv import init_ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


SYNTH_START, SYNTH_END = date(2024, 3, 8), date(2024, 3, 11)  # Fri..Mon: trading days and a weekend


@pytest.fixture(scope="session")
def synth_feed(tmp_path_factory):
    """A few days of synthetic XAU/USD in the feed layout, plus the ticks it encodes."""
    from hft.data.synth import write_synth_feed

    root = tmp_path_factory.mktemp("feed")
    write_synth_feed(root, "XAUUSD", SYNTH_START, SYNTH_END, seed=11)
    return root
