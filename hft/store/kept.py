"""Kept runs of a sweep packed in one Parquet file: `{store}/runs/{sweep}/kept.parquet`.

A sweep keeps trades and equity only for the runs a person will look at (hft.sweep.keep). Written as
run folders that is four objects per run; packed, it is one object per sweep, replaced atomically as
a whole when the kept set changes, so a reader sees the old pack or the new one, never half of one.

One row (and one row group, so a reader of one run reads only its own bytes) per run: `run_id`,
`group`, `summary` (the text of the run folder's `summary.yaml`, byte for byte), and `trades` and
`equity` as lists of structs with the columns of the folder's `trades.parquet` / `equity.parquet`
(hft.backtest.artifacts). `hft rerun RUN_ID` still writes a run folder; a run with a folder is read
from its folder.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hft.store.fs import Store

__all__ = [
    "KEPT_FILE",
    "KeptRun",
    "copy_kept",
    "kept_ids",
    "kept_path",
    "kept_row",
    "read_kept",
    "write_kept",
]

KEPT_FILE = "kept.parquet"


class KeptRun:
    """One packed run as Polars frames: its summary.yaml text, trades and equity."""

    def __init__(self, run_id: str, summary: str, trades, equity) -> None:
        self.run_id, self.summary, self.trades, self.equity = run_id, summary, trades, equity


def kept_path(group: str) -> tuple[str, str, str]:
    return ("runs", group, KEPT_FILE)


def _nested(table: pa.Table) -> pa.ListArray:
    """A table as a one-element list of structs (its rows)."""
    table = table.combine_chunks()
    rows = pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns], fields=list(table.schema))
    return pa.ListArray.from_arrays(pa.array([0, table.num_rows], pa.int32()), rows)


def kept_row(run_id: str, group: str, summary: bytes | str, trades: pa.Table, equity: pa.Table) -> pa.Table:
    """One run as one row of the pack."""
    text = summary.decode() if isinstance(summary, bytes) else summary
    return pa.table(
        {
            "run_id": pa.array([run_id], pa.string()),
            "group": pa.array([group], pa.string()),
            "summary": pa.array([text], pa.string()),
            "trades": _nested(trades),
            "equity": _nested(equity),
        }
    )


def write_kept(st: Store, group: str, rows: Iterable[pa.Table]) -> tuple[str, int]:
    """Publish the pack of `group` from one-row tables (kept_row), one row group each; returns its URL
    and how many runs it holds. The bytes are built in memory (compressed), then written at once."""
    buf = io.BytesIO()
    writer: pq.ParquetWriter | None = None
    n = 0
    for row in rows:
        if writer is None:
            writer = pq.ParquetWriter(buf, row.schema, compression="zstd", use_dictionary=["group"])
        writer.write_table(row.cast(writer.schema), row_group_size=1)
        n += 1
    if writer is None:
        raise ValueError("write_kept: no run to pack")
    writer.close()
    st.write_bytes(buf.getvalue(), *kept_path(group))
    return st.uri(*kept_path(group)), n


def kept_ids(st: Store, group: str) -> list[str]:
    """Run ids in the pack of `group`, in pack order; [] when there is no pack or it is unreadable."""
    try:
        with st.fs.open(st.path(*kept_path(group)), "rb") as fh:
            return pq.read_table(fh, columns=["run_id"]).column("run_id").to_pylist()
    except (OSError, pa.ArrowException):
        return []


def copy_kept(st: Store, group: str, run_ids: set[str]) -> Iterable[pa.Table]:
    """The pack's rows for `run_ids`, one row group at a time (nothing else is read)."""
    with st.fs.open(st.path(*kept_path(group)), "rb") as fh:
        pf = pq.ParquetFile(fh)
        ids = pf.read(columns=["run_id"]).column("run_id").to_pylist()
        for i, rid in enumerate(ids):
            if rid in run_ids:
                yield pf.read_row_group(i)


def read_kept(url: str, run_id: str, storage_options: dict[str, Any] | None = None) -> KeptRun | None:
    """One run of the pack at `url` (Polars reads only the row group holding it); None if absent."""
    import polars as pl

    df = (
        pl.scan_parquet(url, storage_options=storage_options)
        .filter(pl.col("run_id") == run_id)
        .select("summary", "trades", "equity")
        .collect()
    )
    if df.is_empty():
        return None
    return KeptRun(run_id, df["summary"][0], df["trades"][0].struct.unnest(), df["equity"][0].struct.unnest())
