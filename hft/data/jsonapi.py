"""Dukascopy's newer JSON tick API: one hour per response, prices and times delta-encoded.

Tick i: time = timestamp + Σ times[0..i]; ask units = round(ask / multiplier) + Σ asks[0..i];
price = units / decimal factor (dividing integers keeps prices bit-identical to the `.bi5` feed).
Volumes come in units, the `.bi5` feed gives millions: they are divided by 1e6 to agree.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np

from hft.data.ticks import HOUR_MS, TICK_DTYPE, hour_label, hour_ms
from hft.errors import DecodeError

__all__ = ["decode_json_hour", "encode_json_hour"]

_ARRAYS = ("times", "asks", "bids", "askVolumes", "bidVolumes")
_VOLUME_UNIT = 1e6


def decode_json_hour(body: bytes, *, symbol: str, hour: datetime, decimal_factor: int) -> np.ndarray:
    where = f"{symbol} {hour_label(hour)}"
    if not body.strip():  # the API answers an empty hour with a document, never with nothing
        raise DecodeError(f"{where}: JSON tick body is empty (an empty hour still comes as a JSON document)")
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"{where}: JSON tick body is not valid JSON ({len(body)} bytes): {exc}") from exc
    if not isinstance(doc, dict):
        raise DecodeError(f"{where}: JSON tick body is a {type(doc).__name__}, expected an object")
    missing = [k for k in ("timestamp", "multiplier", "ask", "bid", *_ARRAYS) if k not in doc]
    if missing:
        raise DecodeError(f"{where}: JSON tick body lacks field(s) {', '.join(missing)}")
    try:
        arrays = {k: np.asarray(doc[k], dtype=np.float64) for k in _ARRAYS}
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"{where}: JSON tick arrays must be numeric: {exc}") from exc
    n = arrays["times"].size
    bad = [k for k, v in arrays.items() if v.ndim != 1 or v.size != n]
    if bad:
        raise DecodeError(f"{where}: JSON tick arrays {', '.join(bad)} differ in length from times ({n})")
    if n == 0:
        return np.empty(0, dtype=TICK_DTYPE)
    start = hour_ms(hour)
    if int(doc["timestamp"]) != start:
        raise DecodeError(f"{where}: JSON field timestamp={doc['timestamp']} is not the hour start {start}")
    mult = float(doc["multiplier"])
    if not mult > 0:
        raise DecodeError(f"{where}: JSON field multiplier={doc['multiplier']!r} must be > 0")
    ts = start + np.cumsum(arrays["times"].astype(np.int64))
    if ts.min() < start or ts.max() >= start + HOUR_MS:
        raise DecodeError(f"{where}: JSON field times runs outside the hour")
    ask_units = round(float(doc["ask"]) / mult) + np.cumsum(arrays["asks"].astype(np.int64))
    bid_units = round(float(doc["bid"]) / mult) + np.cumsum(arrays["bids"].astype(np.int64))
    out = np.empty(n, dtype=TICK_DTYPE)
    out["ts"] = ts
    out["ask"] = ask_units / float(decimal_factor)
    out["bid"] = bid_units / float(decimal_factor)
    out["ask_volume"] = arrays["askVolumes"] / _VOLUME_UNIT
    out["bid_volume"] = arrays["bidVolumes"] / _VOLUME_UNIT
    return out


def encode_json_hour(ticks: np.ndarray, *, hour: datetime, decimal_factor: int) -> bytes:
    """Inverse of `decode_json_hour` (used by the offline feed)."""
    start = hour_ms(hour)
    mult = 1.0 / decimal_factor
    if ticks.size == 0:
        doc = {"timestamp": start, "multiplier": mult, "ask": 0, "bid": 0, **{k: [] for k in _ARRAYS}}
        return json.dumps(doc).encode()
    ask_u = np.rint(ticks["ask"] * decimal_factor).astype(np.int64)
    bid_u = np.rint(ticks["bid"] * decimal_factor).astype(np.int64)
    doc = {
        "timestamp": start,
        "multiplier": mult,
        "ask": int(ask_u[0]) / decimal_factor,
        "bid": int(bid_u[0]) / decimal_factor,
        "times": np.diff(ticks["ts"], prepend=start).tolist(),
        "asks": np.diff(ask_u, prepend=ask_u[0]).tolist(),
        "bids": np.diff(bid_u, prepend=bid_u[0]).tolist(),
        "askVolumes": (ticks["ask_volume"].astype(np.float64) * _VOLUME_UNIT).round(2).tolist(),
        "bidVolumes": (ticks["bid_volume"].astype(np.float64) * _VOLUME_UNIT).round(2).tolist(),
    }
    return json.dumps(doc, separators=(",", ":")).encode()
