"""A real two-node Ray cluster on 127.0.0.1 with a moto S3 store: work lands on both nodes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from hft.data.feed import FeedServer
from hft.data.synth import synth_day, write_synth_feed
from hft.ingest import IngestConfig, ingest
from hft.store import read_manifest, read_ticks

pytestmark = pytest.mark.slow

START, END = date(2024, 4, 1), date(2024, 4, 4)


@pytest.fixture(scope="module")
def small_feed(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed")
    write_synth_feed(root, "XAUUSD", START, END, seed=5, activity=0.05)
    return root


def test_ingest_fans_out_over_both_nodes_into_s3(two_nodes, small_feed, s3_store):
    url, opts = s3_store
    with FeedServer(small_feed, faults=None) as server:
        cfg = IngestConfig(
            symbol="XAUUSD",
            start=START,
            end=END,
            store=url,
            storage_options=opts,
            feed_url=server.url,
            address=two_nodes.address,
        )
        report = ingest(cfg, progress=False)
    assert report.ok
    nodes = {d.node_id for d in report.days}
    assert len(nodes) == 2, nodes  # tasks ran on both nodes
    recorded = {read_manifest(url, "XAUUSD", d, opts)["node_id"] for d in cfg.days()}
    assert recorded == nodes
    # the ticks the generator wrote into the feed (not a second ingest through the same code)
    expected = np.concatenate([synth_day("XAUUSD", d, seed=5, activity=0.05) for d in cfg.days()])
    stored = read_ticks(url, "XAUUSD", START, END, opts)
    assert len(stored) == len(expected) > 0
    for name in expected.dtype.names:
        np.testing.assert_array_equal(stored[name], expected[name], err_msg=name)


def test_cluster_admits_only_holders_of_its_token(two_nodes, tmp_path):
    from hft.rayenv import safe_ray_env
    from tests.foundation.intruder import assert_joined, assert_refused, join

    assert_refused(join(two_nodes.address, tmp_path))  # no token
    assert_refused(join(two_nodes.address, tmp_path, token="f" * 64))  # a guessed token
    token_path = safe_ray_env()["RAY_AUTH_TOKEN_PATH"]
    assert_joined(join(two_nodes.address, tmp_path, token_path=token_path), nodes=2)
