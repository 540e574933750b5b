from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.engine.conftest import load_eurusd


@pytest.fixture(scope="session")
def eurusd(dukascopy_dir: Path) -> np.ndarray:
    """The two real fixture days, 2019-02-04 and 05."""
    return load_eurusd(dukascopy_dir)
