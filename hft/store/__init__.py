"""Object storage for the chain: fsspec URLs (local path or s3://), atomic writes, the tick layout."""

from hft.store.fs import Store, open_store, parse_storage_options
from hft.store.ticks import (
    TICK_SCHEMA,
    iter_tick_batches,
    list_days,
    read_manifest,
    read_ticks,
    write_day,
)

__all__ = [
    "TICK_SCHEMA",
    "Store",
    "iter_tick_batches",
    "list_days",
    "open_store",
    "parse_storage_options",
    "read_manifest",
    "read_ticks",
    "write_day",
]
