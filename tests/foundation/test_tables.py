"""hft.tables: one look for every table; 80 columns stay readable (columns left out are named)."""

from __future__ import annotations

from datetime import date

import polars as pl

from hft.tables import render_record, render_table, span, to_text


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_a_wide_table_at_80_columns_keeps_whole_numbers_and_names_what_it_left_out():
    df = pl.DataFrame(
        {
            "rank": [1, 2],
            "net_pnl": [1234.5, -0.25],
            "total_return": [0.123456, -0.0002],
            "sharpe": [1.23456, None],
            "params": ["fast=10, slow=100, window=5000, entry_z=2.5", "fast=20, slow=300"],
            "run_id": ["a" * 40, "b" * 40],
            "strategy": ["ema_cross", "zscore"],
        }
    )
    text = to_text(render_table(df, "Title", width=80), width=80)
    assert max(len(line) for line in _lines(text)) <= 80, text
    for want in ("1,234.50", "-0.25", "12.35%", "-0.02%", "1.23"):  # formatted, never cut
        assert want in text, text
    flat = " ".join(text.split())
    assert "left out at this width: run (widen" in flat and "zscore" in flat  # a narrower one still fits
    assert "…" not in text.replace("… ", "")  # no ellipsis inside a cell
    wide = to_text(render_table(df, "Title", width=250), width=250)
    assert "a" * 40 in wide and "left out" not in wide


def test_every_row_when_asked_and_a_count_of_the_rest_otherwise():
    df = pl.DataFrame({"trades": list(range(60))})
    assert "… 10 more rows" in to_text(render_table(df, width=80), width=80)
    assert "more rows" not in to_text(render_table(df, width=80, max_rows=None), width=80)


def test_record_formats_each_value_by_its_name():
    text = to_text(
        render_record({"net_pnl": 1234.5, "total_return": 0.01, "trades": 1200, "avg_holding_s": 300.0}),
        width=80,
    )
    rows = {" ".join(line.split()[:-1]): line.split()[-1] for line in _lines(text) if line.strip()}
    assert rows == {"net PnL": "1,234.50", "return": "1.00%", "trades": "1,200", "avg hold 5.0": "min"}


def test_span_is_short_and_unambiguous():
    assert span(date(2024, 3, 4), date(2024, 3, 4)) == "2024-03-04"
    assert span(date(2024, 3, 4), date(2024, 3, 6)) == "2024-03-04..03-06"
    assert span(date(2023, 12, 29), date(2024, 1, 2)) == "2023-12-29..2024-01-02"


def test_brackets_are_text_never_rich_markup():
    import io

    from hft.tables import console, print_table

    df = pl.DataFrame({"expected_max_sharpe": [1.5], "params": ["a=[1, 2] [bold]x"]})
    buf = io.StringIO()
    print_table(df, "T [red]x", con=console(80, file=buf))
    for text in (to_text(render_table(df, "T [red]x", width=80), width=80), buf.getvalue()):
        assert "E[max Sharpe]" in text and "a=[1, 2] [bold]x" in text and "T [red]x" in text, text


def test_params_read_as_name_value_from_json_and_old_yaml():
    from hft.tables import params_text

    assert params_text('{"fast": 200, "slow": 1000, "z": 2.5}') == "fast=200, slow=1000, z=2.5"
    assert params_text("fast: 200\nslow: 1000\n") == "fast=200, slow=1000"
    assert params_text("{not json") == "{not json"  # shown as stored, never a crash
