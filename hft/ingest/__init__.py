"""Stage 1 of the chain: Dukascopy hours → validated, Hive-partitioned Parquet, as Ray tasks."""

from hft.ingest.pipeline import IngestConfig, IngestReport, ingest

__all__ = ["IngestConfig", "IngestReport", "ingest"]
