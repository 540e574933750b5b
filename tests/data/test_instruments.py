from __future__ import annotations

import json

import pytest

from hft.data.instruments import all_symbols, get_instrument, normalise_symbol
from hft.errors import UnknownSymbolError


def test_table_covers_every_instrument_of_the_reference_metadata(dukascopy_dir):
    meta = json.loads((dukascopy_dir / "instrument-meta-data.json").read_text())
    assert len(all_symbols()) >= len(meta) == 1607
    for key, m in meta.items():
        inst = get_instrument(key)
        assert inst.decimal_factor == round(m["decimalFactor"]), key
        assert inst.name == m["name"]


@pytest.mark.parametrize(
    ("symbol", "factor"), [("XAUUSD", 1000), ("eurusd", 100000), ("USD/JPY", 1000), ("BTC-USD", 10)]
)
def test_known_factors_and_spellings(symbol, factor):
    assert get_instrument(symbol).decimal_factor == factor


def test_json_api_pair_spelling():
    assert get_instrument("xauusd").json_api_pair == "XAU-USD"
    assert normalise_symbol(" xau/usd ") == "XAUUSD"


def test_unknown_symbol_suggests_close_names():
    with pytest.raises(UnknownSymbolError, match=r"unknown symbol 'XAUSD'.*did you mean .*XAUUSD"):
        get_instrument("XAUSD")
    with pytest.raises(UnknownSymbolError, match=r"unknown symbol 'QQQQQQQQ' \(see"):
        get_instrument("QQQQQQQQ")
