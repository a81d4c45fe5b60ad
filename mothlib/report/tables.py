"""Tables for readers: a DataFrame rounded by what its numbers mean, with named columns.

:func:`reader_table` turns a DataFrame into a pandas Styler (it displays as an HTML table in a
notebook and in the book); :func:`reader_table_html` gives the HTML itself. Each column is
printed by its *kind* (:data:`KINDS`), given or inferred from its name and values:

==========  ===================================================  ==================
kind        printed as                                           e.g.
==========  ===================================================  ==================
fraction    percentage, 1 decimal (``decimals`` to change)       0.449198 -> 44.9 %
loss        scientific, 3 significant digits                     0.00117 -> 1.17e-03
z           2 decimals                                           6.2735 -> 6.27
p           2 significant digits (scientific below 0.001)        0.0049751 -> 0.005
count       integer with thousands separators, never ``.0``      2250.0 -> 2,250
bool        yes / no                                             True -> yes
float       3 significant digits; scientific off [0.01, 1e6)     0.0123456 -> 0.0123
text        as given, never truncated
==========  ===================================================  ==================

A missing value (NaN, None) prints as an en dash with a footnote marker; the footnote, one text
per column (``notes``), says why, e.g. that a null model keeps the count fixed. A column with
missing values and no note is refused, so no table shows an unexplained gap. Use in a chapter::

    from mothlib.report.tables import reader_table
    reader_table(
        table[["motif", "fraction_pruned", "z", "p_value", "val_loss", "n_networks"]],
        names={"z": "median z"},
        notes={"z": "the degree-preserving null keeps this count fixed (null std 0)"},
    )

Inference: bool dtype -> bool; integer dtype, or floats that are all whole numbers -> count;
names ``fraction_pruned``/``fraction*``/``sparsity*``/``*_fraction`` -> fraction; ``*loss*``
-> loss; ``z``, ``z_*``, ``*_z`` -> z; ``p``, ``p_value`` -> p; other floats -> float; anything
else -> text. Pass ``kinds={"column": "kind"}`` where a name misleads.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KINDS", "COLUMN_NAMES", "MISSING", "column_kind", "format_value", "reader_frame",
           "reader_table", "reader_table_html"]

KINDS: tuple[str, ...] = ("fraction", "loss", "z", "p", "count", "bool", "float", "text")
#: Reader names of the study's columns; any other ``snake_case`` name reads with spaces.
COLUMN_NAMES: dict[str, str] = {
    "fraction_pruned": "fraction pruned",
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "test_loss": "test loss",
    "n_networks": "networks",
    "n_selected": "networks selected",
    "relative_spread": "relative spread of z",
    "profile_correlation": "profile correlation",
    "median_selected": "median fraction pruned (selected)",
    "null_mean": "null mean",
    "null_std": "null std",
    "p_value": "p-value",
    "z_note": "note",
    "sp": "significance profile",
}
#: What a missing value prints as (an en dash), before its footnote marker.
MISSING = "\u2013"
_MARKS = "\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"  # superscript 1-9


def column_kind(name: Any, values: pd.Series) -> str:
    """The kind (:data:`KINDS`) a column is printed as, inferred from its name and values."""
    label = str(name).lower()
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    numeric = pd.api.types.is_numeric_dtype(values)
    if numeric and re.fullmatch(r"(fraction.*|sparsity.*|.*_fraction)", label):
        return "fraction"
    if numeric and "loss" in label:
        return "loss"
    if numeric and re.fullmatch(r"(z|z_.*|.*_z)", label):
        return "z"
    if numeric and label in ("p", "p_value", "pvalue"):
        return "p"
    if pd.api.types.is_integer_dtype(values):
        return "count"
    if numeric:
        finite = values.to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        whole = finite.size > 0 and bool(np.all(finite == np.round(finite))) and bool(np.all(np.abs(finite) < 2**53))
        return "count" if whole else "float"
    if values.dropna().map(lambda v: isinstance(v, (bool, np.bool_))).all() and values.notna().any():
        return "bool"
    return "text"


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def format_value(value: Any, kind: str, *, decimals: int = 1) -> str:
    """One value as a reader sees it (missing values are the caller's: see :func:`reader_frame`).

    Parameters
    ----------
    value : number, bool or str
    kind : str
        One of :data:`KINDS`.
    decimals : int
        Decimals of a percentage (kind ``fraction``).

    Examples
    --------
    >>> format_value(0.449198, "fraction"), format_value(2250.0, "count"), format_value(1.17e-3, "loss")
    ('44.9 %', '2,250', '1.17e-03')
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    if kind == "text":
        return str(value)
    if kind == "bool":
        return "yes" if bool(value) else "no"
    x = float(value)
    if math.isinf(x):
        return "\u221e" if x > 0 else "\u2212\u221e"
    if kind == "fraction":
        return f"{100 * x:.{decimals}f} %"
    if kind == "loss":
        return f"{x:.2e}"
    if kind == "z":
        return f"{x:.2f}"
    if kind == "count":
        if x != round(x):
            raise ValueError(f"a count must be a whole number, got {value!r}")
        return f"{int(round(x)):,}"
    if kind == "p":
        return f"{x:.1e}" if 0 < abs(x) < 1e-3 else f"{x:.2g}"
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-2 <= abs(x) < 1e6 else f"{x:.2e}"


def reader_frame(
    frame: pd.DataFrame,
    *,
    kinds: Mapping[Any, str] | None = None,
    names: Mapping[Any, str] | None = None,
    notes: Mapping[Any, str] | None = None,
    index: bool = False,
    decimals: int = 1,
) -> tuple[pd.DataFrame, list[str]]:
    """The formatted cells (all strings) and the footnotes of :func:`reader_table`.

    Returns
    -------
    cells : DataFrame of str, one row per row of ``frame``
        Columns renamed for readers; missing values read ``–¹`` (en dash, footnote marker).
    footnotes : list of str
        ``"¹ note"`` per distinct note used, in marker order.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"reader_table needs a pandas DataFrame, got {type(frame).__name__}")
    data = frame.reset_index() if index else frame
    if isinstance(data.columns, pd.MultiIndex):
        data = data.set_axis([" ".join(str(p) for p in c if str(p)) for c in data.columns], axis=1)
    if len(set(data.columns)) != len(data.columns):
        raise ValueError(f"reader_table: column names repeat: {list(data.columns)}")
    kinds, names, notes = dict(kinds or {}), dict(names or {}), dict(notes or {})
    for what, given in (("kinds", kinds), ("names", names), ("notes", notes)):
        unknown = [c for c in given if c not in data.columns]
        if unknown:
            raise ValueError(f"reader_table: {what} names no column {unknown}; the table has {list(data.columns)}")
    marks: dict[str, str] = {}
    cells = {}
    for column in data.columns:
        values = data[column]
        kind = kinds.get(column) or column_kind(column, values)
        if kind not in KINDS:
            raise ValueError(f"reader_table: kind of {column!r} must be one of {list(KINDS)}, got {kind!r}")
        missing = values.map(_is_missing).to_numpy(dtype=bool)
        mark = ""
        if missing.any():
            if column not in notes:
                raise ValueError(
                    f"reader_table: column {column!r} has missing values; say why in "
                    f"notes={{{column!r}: '...'}} (they print as a dash with that footnote)"
                )
            if notes[column] not in marks:
                if len(marks) == len(_MARKS):
                    raise ValueError(f"reader_table: at most {len(_MARKS)} distinct notes")
                marks[notes[column]] = _MARKS[len(marks)]
            mark = marks[notes[column]]
        cells[column] = [
            MISSING + mark if gap else format_value(v, kind, decimals=decimals)
            for v, gap in zip(values.tolist(), missing)
        ]
    label = {c: names.get(c) or COLUMN_NAMES.get(str(c)) or str(c).replace("_", " ") for c in data.columns}
    shown = pd.DataFrame(cells, columns=list(data.columns)).rename(columns=label)
    footnotes = [f"{mark} {note}" for note, mark in marks.items()]
    return shown, footnotes


def reader_table(
    frame: pd.DataFrame,
    *,
    kinds: Mapping[Any, str] | None = None,
    names: Mapping[Any, str] | None = None,
    notes: Mapping[Any, str] | None = None,
    index: bool = False,
    decimals: int = 1,
    caption: str | None = None,
) -> Any:
    """A DataFrame as a table for readers: named columns, rounded by meaning, no ``NaN``.

    Parameters
    ----------
    frame : DataFrame
        Any shape; a MultiIndex of columns is flattened (``"ghost 1"``).
    kinds : dict, optional
        ``{column: kind}`` (:data:`KINDS`) where inference (module docstring) is not wanted.
    names : dict, optional
        ``{column: reader name}`` on top of :data:`COLUMN_NAMES`.
    notes : dict, optional
        ``{column: why its values can be missing}``; required for every column with a missing
        value.
    index : bool
        Show the index as leading columns (formatted by its names like any column).
    decimals : int
        Decimals of percentages.
    caption : str, optional
        Shown under the table, above the footnotes.

    Returns
    -------
    pandas.io.formats.style.Styler
        Displays as an HTML table (index hidden, cells HTML-escaped, no cell truncated), the
        footnotes under it.

    Raises
    ------
    ValueError
        For a column with missing values and no note, unknown column names in ``kinds``,
        ``names`` or ``notes``, an unknown kind or a count that is not a whole number.
    """
    shown, footnotes = reader_frame(frame, kinds=kinds, names=names, notes=notes, index=index,
                                    decimals=decimals)
    style = shown.style.hide(axis="index").format(escape="html")
    style = style.set_table_styles([
        {"selector": "td", "props": "white-space: nowrap; text-align: right;"},
        {"selector": "th", "props": "text-align: right;"},
        {"selector": "caption", "props": "caption-side: bottom; text-align: left; font-size: 0.9em;"},
    ], overwrite=False)
    lines = ([html.escape(caption)] if caption else []) + [html.escape(f) for f in footnotes]
    if lines:
        style = style.set_caption("<br>".join(lines))
    return style


def reader_table_html(frame: pd.DataFrame, **options: Any) -> str:
    """The HTML of :func:`reader_table` (same arguments): a ``<table>`` with its footnotes."""
    return reader_table(frame, **options).to_html()
