"""hft: raw Dukascopy ticks → Parquet store → Numba engine → Optuna/Ray sweeps → Polars reports."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hft")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
