from __future__ import annotations

from datetime import date

import pytest


@pytest.fixture(scope="module")
def ray_local():
    """A real local Ray per test module, through hft.rayenv; `ingest` joins it and the block ends it,
    so no module depends on another having started (or stopped) Ray first."""
    import ray

    from hft.rayenv import ray_session

    with ray_session(num_cpus=2):
        yield ray


SYNTH_START, SYNTH_END = date(2024, 3, 8), date(2024, 3, 11)  # Fri..Mon: trading days and a weekend


@pytest.fixture(scope="session")
def synth_feed(tmp_path_factory):
    """A few days of synthetic XAU/USD in the feed layout, plus the ticks it encodes."""
    from hft.data.synth import write_synth_feed

    root = tmp_path_factory.mktemp("feed")
    write_synth_feed(root, "XAUUSD", SYNTH_START, SYNTH_END, seed=11)
    return root
