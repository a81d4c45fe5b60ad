"""Reader tables (the book's one table formatter): every cell rounded by meaning, no NaN, no
`.0` on an integer, no truncation, a footnote for every dash."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mothlib.report.sphinx_ext import dedupe_scripts
from mothlib.report.tables import (
    MISSING, UNEXPLAINED, column_kind, format_value, reader_frame, reader_table, reader_table_html,
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
    assert list(cells["fraction pruned"]) == ["0.0%", "25.0%", "44.9%", "90.0%"]
    assert list(cells["validation loss"][:3]) == ["1.2e-03", "2.4e-02", "9.9e-04"]
    # Markers are numbered in column order: validation loss first.
    assert list(cells["z"]) == ["6.3", "-0.0", MISSING + "\u00b2", "12.1"]
    assert list(cells["p-value"]) == ["0.005", "0.5", "1", "1.0e-04"]
    assert list(cells["spread"]) == ["0.123", "1.23e+06", "1.23e-04", "0"]
    assert list(cells["n batches"]) == ["2,250", "3,120", "11,750", "0"]
    assert list(cells["networks"]) == ["8", "8", "3", "1"]
    assert list(cells["holds"]) == ["yes", "no", "yes", "no"]
    assert cells["motif"][2] == "a long motif name that must not be cut"
    assert cells["validation loss"][3] == MISSING + "\u00b9"
    assert notes == ["\u00b9 no accurate network", "\u00b2 the degree-preserving null keeps this count fixed"]


def test_html_has_no_nan_no_long_decimals_and_the_footnotes():
    html = reader_table_html(_frame(), notes=NOTES)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells and not [c for c in cells if "nan" in c.lower()]
    shown, _ = reader_frame(_frame(), notes=NOTES)
    counts = [c for c, kind in shown.attrs["kinds"].items() if kind == "count"]
    assert counts == ["n batches", "networks"]
    assert not [c for c in shown[counts].to_numpy().ravel() if "." in c]  # no `.0` on an integer
    assert not [c for c in cells if FRACTION_DECIMALS.search(c)]
    assert "the degree-preserving null keeps this count fixed" in html
    assert "a long motif name that must not be cut" in html and "..." not in html


def test_missing_values_without_a_note_get_the_plain_footnote_and_names_must_exist():
    cells, footnotes = reader_frame(_frame(), notes={"val_loss": "x"})
    assert "nan" not in " ".join(cells.to_numpy().ravel()).lower()
    assert any(UNEXPLAINED in f for f in footnotes), footnotes
    with pytest.raises(ValueError, match="names no column"):
        reader_table(_frame(), notes=NOTES, names={"zz": "z"})
    with pytest.raises(ValueError, match="kind of 'z'"):
        reader_table(_frame(), notes=NOTES, kinds={"z": "percentage"})
    with pytest.raises(TypeError, match="DataFrame"):
        reader_table([1, 2])


def test_index_and_multiindex_columns_become_named_columns():
    frame = pd.DataFrame({("ghost", 1): [1.0, 2.0], ("dead", 1): [0, 3]},
                         index=pd.Index([0.15, 0.25], name="fraction_pruned"))
    cells, _ = reader_frame(frame, index=True)
    assert list(cells.columns) == ["fraction pruned", "ghost 1", "dead 1"]
    assert list(cells["fraction pruned"]) == ["15.0%", "25.0%"]
    assert list(cells["ghost 1"]) == ["1", "2"]


def test_kinds_inferred():
    assert column_kind("fraction_pruned", pd.Series([0.1])) == "percent"
    assert column_kind("median_selected", pd.Series([0.1])) == "percent"
    assert column_kind("profile_correlation", pd.Series([0.1])) == "fraction"
    assert column_kind("rho", pd.Series([0.1])) == "fraction"
    assert column_kind("ratio", pd.Series([0.1])) == "ratio"
    assert column_kind("null_std", pd.Series([0.1])) == "mean"
    assert column_kind("p_value", pd.Series([0.1])) == "p"
    assert column_kind("median_z", pd.Series([0.1])) == "z"
    assert column_kind("test_loss", pd.Series([0.1])) == "loss"
    assert column_kind("batches", pd.Series([1.0, 2.0])) == "count"
    assert column_kind("ok", pd.Series([True])) == "bool"
    assert column_kind("ok", pd.Series([True, None], dtype=object)) == "bool"
    assert column_kind("note", pd.Series(["a"])) == "text"


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@settings(max_examples=300, deadline=None)
@given(x=finite, kind=st.sampled_from(["loss", "z", "p", "float", "fraction", "ratio", "mean"]))
def test_no_number_prints_more_than_four_decimals_or_nan(x, kind):
    text = format_value(x, kind)
    assert "nan" not in text.lower() and not FRACTION_DECIMALS.search(text), text
    value = float(text.replace(",", ""))
    if kind in ("z", "mean"):  # 1 decimal
        assert abs(value - x) <= 0.05 + 1e-9 * abs(x)
    elif kind in ("fraction", "ratio"):  # 2 decimals
        assert abs(value - x) <= 0.005 + 1e-9 * abs(x)
    elif kind == "float":  # three significant digits
        assert value == pytest.approx(x, rel=6e-3, abs=1e-300)
    else:  # two significant digits
        assert value == pytest.approx(x, rel=0.06, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=-(2**52), max_value=2**52))
def test_whole_numbers_print_without_a_decimal_point(n):
    for value in (n, float(n)):
        text = format_value(value, "count")
        assert "." not in text and int(text.replace(",", "")) == n


@settings(max_examples=200, deadline=None)
@given(f=st.floats(min_value=0, max_value=1), decimals=st.integers(min_value=0, max_value=4))
def test_shares_print_as_percentages(f, decimals):
    text = format_value(f, "percent", decimals=decimals)
    assert text.endswith("%") and abs(float(text[:-1]) - 100 * f) <= 0.5 * 10**-decimals + 1e-9
    assert not FRACTION_DECIMALS.search(text)


def test_counts_that_are_not_whole_round_to_the_nearest_integer():
    # A median of counts over networks may end in .5; the reader sees an integer.
    assert [format_value(v, "count") for v in (2000.5, 2001.5, 1234.4, -0.4)] == ["2,000", "2,002", "1,234", "0"]
    assert format_value(float("inf"), "count") == "\u221e"
    with pytest.raises(ValueError, match="must be a number"):
        format_value("many", "count")


# -- the chapters' uses (formerly plots.readable_table) -------------------------------------

def test_percentages_yes_no_counts_and_a_caption():
    frame = pd.DataFrame({"fraction_pruned": [0.89994, 0.25], "holds": [True, False],
                          "batches": [2250.0, 3120.0]})
    html = reader_table_html(frame, kinds={"fraction_pruned": "percent", "batches": "count"},
                             caption="why")
    for shown in ("90.0%", "25.0%", "yes", "no", "2,250", "why"):
        assert shown in html, shown
    assert "True" not in html and "2250.0" not in html


def test_numeric_column_labels_follow_the_kind_of_the_columns_name():
    # A pivot with columns="fraction_pruned": the labels read as percentages (chapter 10).
    wide = pd.DataFrame([[1.0, 2.0]], columns=pd.Index([0.0, 0.449198], name="fraction_pruned"),
                        index=pd.Index(["short"], name="arm"))
    cells, _ = reader_frame(wide, kinds="count")
    assert list(cells.columns) == ["arm", "0.0%", "44.9%"]
    assert list(cells.iloc[0]) == ["short", "1", "2"]
    html = reader_table_html(wide, kinds="count", decimals=0)
    assert "45%" in html and "0.449198" not in html
    with pytest.raises(ValueError, match="column names repeat"):
        reader_frame(pd.DataFrame([[1, 2]], columns=pd.Index([0.4491, 0.4492], name="fraction_pruned")))


def test_rounds_by_meaning_and_names_columns_for_readers():
    frame = pd.DataFrame({"network": [0, 1], "val_loss": [0.0234567, np.nan], "z": [1.26, -13.04],
                          "fraction_pruned": [0.14878, 0.75], "rho": [0.73468, -0.1]})
    html = reader_table_html(frame, kinds={"fraction_pruned": "fraction"},
                             notes={"val_loss": "no accurate network"})
    for shown in ("2.3e-02", MISSING + "\u00b9", "1.3", "-13.0", "0.15", "0.75", "0.73", "-0.10",
                  "validation loss", "fraction pruned", "\u00b9 no accurate network"):
        assert shown in html, shown
    assert "0.0234567" not in html and "val_loss" not in html and "0.7347" not in html
    # The index, named, is shown as a column and formatted by its kind.
    counts = pd.DataFrame({"a": [1.0, 2000.5]}, index=pd.Index([0.14878, 0.5], name="fraction_pruned"))
    cells, _ = reader_frame(counts, kinds={"a": "count", "fraction_pruned": "fraction"})
    assert list(cells.columns) == ["fraction pruned", "a"]
    assert list(cells["a"]) == ["1", "2,000"] and list(cells["fraction pruned"]) == ["0.15", "0.50"]
    with pytest.raises(ValueError, match=r"kinds names no column \['nope'\]"):
        reader_table(frame, kinds={"nope": "z"}, notes={"val_loss": "x"})
    with pytest.raises(ValueError, match="kinds must be a mapping or one of"):
        reader_table(frame, kinds="some", notes={"val_loss": "x"})


def test_one_kind_for_every_column_leaves_the_index_to_inference():
    chain_z = pd.DataFrame({"paths": [-2.345, np.nan], "seed-pairs": [1.0, 3.25]},
                           index=pd.Index(["chain2", "chain3"], name="motif"))
    cells, notes = reader_frame(chain_z, kinds="z", notes="no finite z (the null spread is zero)")
    assert list(cells.columns) == ["motif", "paths", "seed-pairs"]
    assert list(cells["motif"]) == ["chain2", "chain3"]
    assert list(cells["paths"]) == ["-2.3", MISSING + "\u00b9"]
    assert list(cells["seed-pairs"]) == ["1.0", "3.2"]
    assert notes == ["\u00b9 no finite z (the null spread is zero)"]


def test_index_shown_when_named_hidden_when_row_numbers():
    named = pd.DataFrame({"n": [1, 2]}, index=pd.Index(["a", "b"], name="strategy"))
    assert list(reader_frame(named)[0].columns) == ["strategy", "n"]
    assert list(reader_frame(named, index=False)[0].columns) == ["n"]
    plain = pd.DataFrame({"n": [1, 2]})
    assert list(reader_frame(plain)[0].columns) == ["n"]
    assert list(reader_frame(plain, index=True)[0].columns) == ["index", "n"]
    pair = pd.DataFrame({"z": [1.0]}, index=pd.MultiIndex.from_tuples([("layer-edges", "bifan")],
                                                                      names=["null_model", "motif"]))
    assert list(reader_frame(pair, names={"null_model": "null model"})[0].columns) == ["null model", "motif", "z"]
    with pytest.raises(ValueError, match="both named"):
        reader_frame(pd.DataFrame({"motif": [1]}, index=pd.Index(["x"], name="motif")))


def test_formats_for_columns_no_kind_fits():
    wide = pd.DataFrame({"edges": [12_345.0, np.nan], "bifan": [950.0, 4_560_000.0]})
    cells, notes = reader_frame(wide, formats={"edges": lambda v: f"{v / 1e3:.1f}k", "bifan": "{:,.0f}"},
                                notes={"edges": "not counted"})
    assert list(cells["edges"]) == ["12.3k", MISSING + "\u00b9"]  # a missing value never reaches the format
    assert list(cells["bifan"]) == ["950", "4,560,000"]
    assert cells.attrs["kinds"] == {"edges": "format", "bifan": "format"}
    with pytest.raises(ValueError, match=r"formats\['bifan'\] cannot format"):
        reader_frame(wide, formats={"bifan": "{:d}"}, notes={"edges": "x"})
    with pytest.raises(ValueError, match="formats names no column"):
        reader_frame(wide, formats={"ghost": "{}"}, notes={"edges": "x"})


def test_text_is_escaped_wraps_and_reads_from_the_left_numbers_stay_on_one_line():
    table = pd.DataFrame({"criterion": ["Spearman < -0.5 & rho > 0"], "z": [2.0]})
    html = reader_table_html(table)
    assert "Spearman &lt; -0.5 &amp; rho &gt; 0" in html
    style = re.search(r"<style[^>]*>(.*?)</style>", html, re.S).group(1)
    assert re.search(r"td\.col0 \{\s*white-space: normal;\s*text-align: left;", style)
    assert re.search(r"(?<![.\w])td \{\s*white-space: nowrap;\s*text-align: right;", style)


def test_bad_options_are_refused_with_their_name():
    with pytest.raises(ValueError, match="decimals must be an integer from 0 to 4"):
        reader_table(pd.DataFrame({"fraction_pruned": [0.5]}), decimals=7)
    with pytest.raises(ValueError, match="two columns would read the same"):
        reader_frame(pd.DataFrame({"val_loss": [0.1], "validation loss": [0.2]}))


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
