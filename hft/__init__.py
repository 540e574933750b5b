"""hft: raw Dukascopy ticks → Parquet store → Numba engine → Optuna/Ray sweeps → Polars reports."""

from __future__ import annotations

#: The one place the version lives (pyproject.toml reads it): a literal, because importing
#: importlib.metadata to look it up costs ~0.1 s on every `hft --help`.
__version__ = "0.1.0"

__all__ = ["__version__"]
