"""Reader tables: every cell rounded by meaning, no NaN, no `.0` on an integer, no truncation."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mothlib.report.sphinx_ext import dedupe_scripts
from mothlib.report.tables import (
    MISSING, column_kind, format_value, reader_frame, reader_table, reader_table_html,
)

FRACTION_DECIMALS = re.compile(r"\d\.(\d{5,})")  # more than four decimals


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "fraction_pruned": [0.0, 0.25, 0.449198, 0.89994],
        "motif": ["converging3", "biparallel", "a long motif name that must not be cut", "bifan"],
        "val_loss": [1.17e-3, 2.4e-2, 9.9e-4, np.nan],
        "z": [6.2735, -0.04, np.nan, 12.1149],
        "p_value": [0.0049751, 0.5, 1.0, 0.0001],
        "n_batches": [2250.0, 3120.0, 11750.0, 0.0],
        "n_networks": np.array([8, 8, 3, 1], dtype=np.int64),
        "holds": [True, False, True, False],
        "spread": [0.123456, 1234567.0, 0.000123, 0.0],
    })


NOTES = {"z": "the degree-preserving null keeps this count fixed", "val_loss": "no accurate network"}


def test_cells_are_rounded_by_meaning():
    cells, notes = reader_frame(_frame(), notes=NOTES)
    assert list(cells.columns) == ["fraction pruned", "motif", "validation loss", "z", "p-value",
                                   "n batches", "networks", "holds", "spread"]
    assert list(cells["fraction pruned"]) == ["0.0 %", "25.0 %", "44.9 %", "90.0 %"]
    assert list(cells["validation loss"][:3]) == ["1.17e-03", "2.40e-02", "9.90e-04"]
    # Markers are numbered in column order: validation loss first.
    assert list(cells["z"]) == ["6.27", "-0.04", MISSING + "\u00b2", "12.11"]
    assert list(cells["n batches"]) == ["2,250", "3,120", "11,750", "0"]
    assert list(cells["networks"]) == ["8", "8", "3", "1"]
    assert list(cells["holds"]) == ["yes", "no", "yes", "no"]
    assert cells["motif"][2] == "a long motif name that must not be cut"
    assert cells["validation loss"][3] == MISSING + "\u00b9"
    assert notes == ["\u00b9 no accurate network", "\u00b2 the degree-preserving null keeps this count fixed"]


def test_html_has_no_nan_no_long_decimals_and_the_footnotes():
    html = reader_table_html(_frame(), notes=NOTES)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells and not [c for c in cells if "nan" in c.lower() or c.endswith(".0")]
    assert not [c for c in cells if FRACTION_DECIMALS.search(c)]
    assert "the degree-preserving null keeps this count fixed" in html
    assert "a long motif name that must not be cut" in html and "..." not in html


def test_missing_values_need_a_note_and_names_must_exist():
    with pytest.raises(ValueError, match="column 'z' has missing values"):
        reader_table(_frame(), notes={"val_loss": "x"})
    with pytest.raises(ValueError, match="names no column"):
        reader_table(_frame(), notes=NOTES, names={"zz": "z"})
    with pytest.raises(ValueError, match="kind of 'z'"):
        reader_table(_frame(), notes=NOTES, kinds={"z": "percent"})
    with pytest.raises(TypeError, match="DataFrame"):
        reader_table([1, 2])


def test_index_and_multiindex_columns_become_named_columns():
    frame = pd.DataFrame({("ghost", 1): [1.0, 2.0], ("dead", 1): [0, 3]},
                         index=pd.Index([0.15, 0.25], name="fraction_pruned"))
    cells, _ = reader_frame(frame, index=True)
    assert list(cells.columns) == ["fraction pruned", "ghost 1", "dead 1"]
    assert list(cells["fraction pruned"]) == ["15.0 %", "25.0 %"]
    assert list(cells["ghost 1"]) == ["1", "2"]


def test_kinds_inferred():
    assert column_kind("fraction_pruned", pd.Series([0.1])) == "fraction"
    assert column_kind("median_z", pd.Series([0.1])) == "z"
    assert column_kind("test_loss", pd.Series([0.1])) == "loss"
    assert column_kind("batches", pd.Series([1.0, 2.0])) == "count"
    assert column_kind("ok", pd.Series([True])) == "bool"
    assert column_kind("ok", pd.Series([True, None], dtype=object)) == "bool"
    assert column_kind("note", pd.Series(["a"])) == "text"


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@settings(max_examples=300, deadline=None)
@given(x=finite, kind=st.sampled_from(["loss", "z", "p", "float"]))
def test_no_number_prints_more_than_four_decimals_or_nan(x, kind):
    text = format_value(x, kind)
    assert "nan" not in text.lower() and not FRACTION_DECIMALS.search(text), text
    if kind == "z":
        assert abs(float(text) - x) <= 0.005 + 1e-9 * abs(x)
    else:  # three (p: two) significant digits
        assert float(text) == pytest.approx(x, rel=0.06 if kind == "p" else 6e-3, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=-(2**52), max_value=2**52))
def test_whole_numbers_print_without_a_decimal_point(n):
    for value in (n, float(n)):
        text = format_value(value, "count")
        assert "." not in text and int(text.replace(",", "")) == n


@settings(max_examples=200, deadline=None)
@given(f=st.floats(min_value=0, max_value=1))
def test_fractions_print_as_percentages(f):
    text = format_value(f, "fraction")
    assert text.endswith(" %") and abs(float(text[:-2]) - 100 * f) <= 0.05 + 1e-9


def test_dedupe_scripts_keeps_the_first_of_each_script():
    class Script(str):
        def __new__(cls, filename, **attributes):
            obj = super().__new__(cls, filename or "")
            obj.filename, obj.attributes = filename, attributes
            return obj

    body = 'const THEBE_JS_URL = "x"'
    scripts = [Script("a.js"), Script(None, body=body), Script("a.js", defer="defer"),
               Script("", body=body), Script("b.js")]
    context = {"script_files": scripts}
    dedupe_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts
    assert [(s.filename, s.attributes) for s in scripts] == [
        ("a.js", {}), (None, {"body": body}), ("a.js", {"defer": "defer"}), ("b.js", {})]
