"""The classic datafeed's hourly `.bi5` body: LZMA of 20-byte big-endian `>IIIff` records.

Decoding is one `np.frombuffer` over the decompressed bytes; LZMA itself is the cost that remains.
"""

from __future__ import annotations

import lzma
from datetime import datetime

import numpy as np

from hft.data.ticks import HOUR_MS, TICK_DTYPE, hour_label, hour_ms
from hft.errors import DecodeError

__all__ = ["BI5_RECORD", "decode_bi5", "encode_bi5"]

#: One record as the feed stores it: ms in hour, ask and bid in integer price units, volumes.
BI5_RECORD = np.dtype(
    [("ms", ">u4"), ("ask", ">u4"), ("bid", ">u4"), ("ask_volume", ">f4"), ("bid_volume", ">f4")]
)


def decode_bi5(body: bytes, *, symbol: str, hour: datetime, decimal_factor: int) -> np.ndarray:
    """Decode one hour; a 0-byte body is an hour without ticks, anything malformed raises."""
    where = f"{symbol} {hour_label(hour)}"
    if not body:
        return np.empty(0, dtype=TICK_DTYPE)
    try:
        raw = lzma.decompress(body)
    except (lzma.LZMAError, EOFError) as exc:
        raise DecodeError(f"{where}: corrupt or truncated .bi5 body ({len(body)} bytes): {exc}") from exc
    if len(raw) % BI5_RECORD.itemsize:
        raise DecodeError(
            f"{where}: decompressed .bi5 is {len(raw)} bytes, not a multiple of "
            f"{BI5_RECORD.itemsize}-byte records (truncated file?)"
        )
    rec = np.frombuffer(raw, dtype=BI5_RECORD)
    if rec.size and int(rec["ms"].max()) >= HOUR_MS:
        bad = int(np.argmax(rec["ms"] >= HOUR_MS))
        raise DecodeError(
            f"{where}: record {bad} has ms offset {int(rec['ms'][bad])}, outside the hour (0..3599999)"
        )
    out = np.empty(rec.size, dtype=TICK_DTYPE)
    out["ts"] = rec["ms"].astype(np.int64) + hour_ms(hour)
    factor = float(decimal_factor)
    out["ask"] = rec["ask"] / factor
    out["bid"] = rec["bid"] / factor
    out["ask_volume"] = rec["ask_volume"]
    out["bid_volume"] = rec["bid_volume"]
    return out


def encode_bi5(ticks: np.ndarray, *, hour: datetime, decimal_factor: int, preset: int = 1) -> bytes:
    """Inverse of `decode_bi5` (used by the synthetic feed); an empty hour encodes to 0 bytes."""
    if ticks.size == 0:
        return b""
    rec = np.empty(ticks.size, dtype=BI5_RECORD)
    ms = ticks["ts"] - hour_ms(hour)
    if ms.min() < 0 or ms.max() >= HOUR_MS:
        raise ValueError(f"ticks outside hour {hour_label(hour)}")
    rec["ms"] = ms
    rec["ask"] = np.rint(ticks["ask"] * decimal_factor)
    rec["bid"] = np.rint(ticks["bid"] * decimal_factor)
    rec["ask_volume"] = ticks["ask_volume"]
    rec["bid_volume"] = ticks["bid_volume"]
    return lzma.compress(rec.tobytes(), format=lzma.FORMAT_ALONE, preset=preset)
