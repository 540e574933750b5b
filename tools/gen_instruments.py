"""Regenerate hft/data/instruments.json from dukascopy-node's instrument-meta-data.json.

Usage: python tools/gen_instruments.py ../shared/data/dukascopy/instrument-meta-data.json
"""

import json
import sys
from pathlib import Path

src = json.loads(Path(sys.argv[1]).read_text())
rows = {
    key.upper(): [meta["name"], round(meta["decimalFactor"]), meta.get("startHourForTicks")]
    for key, meta in src.items()
}
out = Path(__file__).resolve().parents[1] / "hft" / "data" / "instruments.json"
out.write_text(json.dumps(rows, separators=(",", ":"), sort_keys=True) + "\n")
print(f"{len(rows)} instruments -> {out}")
