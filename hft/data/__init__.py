"""Ingest side of the chain: instruments, feed formats (.bi5, JSON API), HTTP client, synthetic feed."""
