"""Tables for readers: a DataFrame rounded by what its numbers mean, with named columns.

:func:`reader_table` turns a DataFrame into a pandas Styler (it displays as an HTML table in a
notebook and in the book); :func:`reader_table_html` gives the HTML itself. It is the one table
formatter of the book's chapters and widgets. Each column is printed by its *kind*
(:data:`KINDS`), given or inferred from its name and values:

==========  =======================================================  ======================
kind        printed as                                               e.g.
==========  =======================================================  ======================
percent     a share (fraction pruned): percentage, 1 decimal         0.449198 -> 44.9%
fraction    a correlation, Jaccard index or profile entry: 2 dec.    0.73468 -> 0.73
ratio       a ratio of two numbers: 2 decimals                       1.2345 -> 1.23
loss        scientific, 2 significant digits                         0.00117 -> 1.2e-03
z           1 decimal                                                6.2735 -> 6.3
mean        a mean or spread of counts: 1 decimal                    12345.67 -> 12,345.7
p           2 significant digits (scientific below 0.001)            0.0049751 -> 0.005
count       integer with thousands separators, never ``.0``          2250.0 -> 2,250
bool        yes / no                                                 True -> yes
float       3 significant digits; scientific off [0.01, 1e6)         0.0123456 -> 0.0123
text        as given (HTML-escaped), never truncated
==========  =======================================================  ======================

A count that is not whole (a median over networks) is rounded to the nearest integer.
A missing value (NaN, None) prints as an en dash with a footnote marker; the footnote, one text
per column (``notes``) or one for the whole table, says why, e.g. that a null model keeps the
count fixed. A column with missing values and no note gets the plain footnote
:data:`UNEXPLAINED`, so a run with an unforeseen gap still renders; chapters give notes. Use in a
chapter::

    from mothlib.report.tables import reader_table
    reader_table(
        table[["motif", "fraction_pruned", "z", "p_value", "val_loss", "n_networks"]],
        names={"z": "median z"},
        notes={"z": "the degree-preserving null keeps this count fixed (null std 0)"},
    )

Inference: bool dtype -> bool; names ``fraction_pruned``/``fraction*``/``sparsity*``/
``*_fraction``/``median_selected`` -> percent; ``*loss*`` -> loss; ``z``, ``z_*``, ``*_z`` -> z;
``p``, ``p_value`` -> p; ``null_mean``, ``null_std`` -> mean; ``rho``, ``jaccard``,
``*correlation``, ``relative_spread``, ``sp`` -> fraction; ``ratio``, ``*_ratio`` -> ratio;
integer dtype, or floats that are all whole numbers -> count; other floats -> float; anything
else -> text. Pass ``kinds={"column": "kind"}`` (or one kind for every column) where a name
misleads. Numeric column labels under a named columns axis (a pivot's
``columns="fraction_pruned"``) are printed by the kind of that name.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KINDS", "COLUMN_NAMES", "MISSING", "UNEXPLAINED", "column_kind", "format_value", "reader_frame",
           "reader_table", "reader_table_html"]

KINDS: tuple[str, ...] = ("percent", "fraction", "ratio", "loss", "z", "mean", "p", "count", "bool",
                          "float", "text")
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
#: The footnote of a missing value whose column has no note.
UNEXPLAINED = "no value: the run computed none here"
_MARKS = "\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"  # superscript 1-9
_MAX_DECIMALS = 4
_NAME_KINDS = (  # (pattern of a numeric column's lower-case name, kind), first match wins
    (r"fraction.*|sparsity.*|.*_fraction|median_selected", "percent"),
    (r".*loss.*", "loss"),
    (r"z|z_.*|.*_z", "z"),
    (r"p|p_value|pvalue", "p"),
    (r"null_mean|null_std", "mean"),
    (r"rho|jaccard|.*correlation|relative_spread|sp", "fraction"),
    (r"ratio|.*_ratio", "ratio"),
)


def column_kind(name: Any, values: pd.Series) -> str:
    """The kind (:data:`KINDS`) a column is printed as, inferred from its name and values."""
    label = str(name).lower()
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    numeric = pd.api.types.is_numeric_dtype(values)
    if numeric:
        for pattern, kind in _NAME_KINDS:
            if re.fullmatch(pattern, label):
                return kind
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


def _check_decimals(decimals: Any, where: str = "") -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)) or not 0 <= decimals <= _MAX_DECIMALS:
        raise ValueError(f"{where}decimals must be an integer from 0 to {_MAX_DECIMALS}, got {decimals!r}")


def format_value(value: Any, kind: str, *, decimals: int = 1) -> str:
    """One value as a reader sees it (missing values are the caller's: see :func:`reader_frame`).

    Parameters
    ----------
    value : number, bool or str
    kind : str
        One of :data:`KINDS`.
    decimals : int
        Decimals of a percentage (kind ``percent``), 0 to 4.

    Examples
    --------
    >>> format_value(0.449198, "percent"), format_value(2250.0, "count"), format_value(1.17e-3, "loss")
    ('44.9%', '2,250', '1.2e-03')
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    _check_decimals(decimals)
    if kind == "text":
        return str(value)
    if kind == "bool":
        return "yes" if bool(value) else "no"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"a value of kind {kind!r} must be a number, got {value!r}") from None
    if math.isinf(x):
        return "\u221e" if x > 0 else "\u2212\u221e"
    if kind == "percent":
        return f"{100 * x:.{decimals}f}%"
    if kind in ("fraction", "ratio"):
        return f"{x:.2f}"
    if kind == "loss":
        return f"{x:.1e}"
    if kind == "z":
        return f"{x:.1f}"
    if kind == "mean":
        return f"{x:,.1f}"
    if kind == "count":
        text = f"{x:,.0f}"  # a median count may be fractional: the nearest integer
        return "0" if text == "-0" else text
    if kind == "p":
        return f"{x:.1e}" if 0 < abs(x) < 1e-3 else f"{x:.2g}"
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-2 <= abs(x) < 1e6 else f"{x:.2e}"


def _label(value: Any) -> str:
    """A column label as text: a MultiIndex label's parts joined by spaces."""
    if isinstance(value, tuple):
        return " ".join(str(p) for p in value if str(p))
    return str(value)


def _labels(frame: pd.DataFrame, decimals: int) -> list[Any]:
    """The frame's column labels for readers, before renaming: MultiIndex labels flattened,
    numbers under a named columns axis printed by that name's kind."""
    columns = frame.columns
    if isinstance(columns, pd.MultiIndex):
        return [_label(c) for c in columns]
    if columns.name is not None and pd.api.types.is_numeric_dtype(columns) and len(columns):
        kind = column_kind(columns.name, pd.Series(np.asarray(columns)))
        return [format_value(c, kind, decimals=decimals) for c in columns]
    return list(columns)


def _formatter(column: Any, spec: str | Callable[[Any], str]) -> Callable[[Any], str]:
    """One value of ``column`` through a format string or callable, as text."""
    def apply(value: Any) -> str:
        try:
            return str(spec(value) if callable(spec) else spec.format(value))
        except (ValueError, TypeError, IndexError, KeyError) as err:
            raise ValueError(f"reader_table: formats[{column!r}] cannot format {value!r}: {err}") from None
    return apply


def reader_frame(
    frame: pd.DataFrame,
    *,
    kinds: Mapping[Any, str] | str | None = None,
    names: Mapping[Any, str] | None = None,
    notes: Mapping[Any, str] | str | None = None,
    formats: Mapping[Any, str | Callable[[Any], str]] | None = None,
    index: bool | None = None,
    decimals: int = 1,
) -> tuple[pd.DataFrame, list[str]]:
    """The formatted cells (all strings), their kinds and the footnotes of :func:`reader_table`.

    Parameters are those of :func:`reader_table`.

    Returns
    -------
    cells : DataFrame of str, one row per row of ``frame``
        Columns renamed for readers; missing values read ``–¹`` (en dash, footnote marker).
        ``cells.attrs["kinds"]`` holds each shown column's kind (``"format"`` for ``formats``).
    footnotes : list of str
        ``"¹ note"`` per distinct note used, in marker order.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"reader_table needs a pandas DataFrame, got {type(frame).__name__}")
    _check_decimals(decimals, "reader_table: ")
    data = frame.set_axis(_labels(frame, decimals), axis=1)
    own = list(data.columns)
    if index is None:  # an unnamed index is row numbers, which tell a reader nothing
        index = any(n is not None for n in frame.index.names)
    if index:
        clash = [n for n in frame.index.names if n is not None and n in own]
        if clash:
            raise ValueError(f"reader_table: the index and a column are both named {clash}")
        data = data.reset_index()
        data.columns = [_label(c) for c in data.columns]
    if len(set(data.columns)) != len(data.columns):
        raise ValueError(f"reader_table: column names repeat: {list(data.columns)}")
    if isinstance(kinds, str):
        if kinds not in KINDS:
            raise ValueError(f"reader_table: kinds must be a mapping or one of {list(KINDS)}, got {kinds!r}")
        kinds = dict.fromkeys(own, kinds)  # one kind: the frame's own columns, not its index
    if isinstance(notes, str):
        notes = dict.fromkeys(data.columns, notes)
    kinds, names, notes, formats = dict(kinds or {}), dict(names or {}), dict(notes or {}), dict(formats or {})
    for what, given in (("kinds", kinds), ("names", names), ("notes", notes), ("formats", formats)):
        unknown = [c for c in given if c not in data.columns]
        if unknown:
            raise ValueError(f"reader_table: {what} names no column {unknown}; the table has {list(data.columns)}")
    marks: dict[str, str] = {}
    cells = {}
    shown_kinds = {}
    for column in data.columns:
        values = data[column]
        kind = kinds.get(column) or column_kind(column, values)
        if kind not in KINDS:
            raise ValueError(f"reader_table: kind of {column!r} must be one of {list(KINDS)}, got {kind!r}")
        missing = values.map(_is_missing).to_numpy(dtype=bool)
        mark = ""
        if missing.any():
            # A chapter should say why; a run that yields an unforeseen gap still gets its page.
            note = notes.get(column, UNEXPLAINED)
            if note not in marks:
                if len(marks) == len(_MARKS):
                    raise ValueError(f"reader_table: at most {len(_MARKS)} distinct notes")
                marks[note] = _MARKS[len(marks)]
            mark = marks[note]
        if column in formats:
            show = _formatter(column, formats[column])
            shown_kinds[column] = "format"
        else:
            def show(v: Any, kind: str = kind) -> str:
                return format_value(v, kind, decimals=decimals)
            shown_kinds[column] = kind
        cells[column] = [MISSING + mark if gap else show(v) for v, gap in zip(values.tolist(), missing)]
    label = {c: names.get(c) or COLUMN_NAMES.get(str(c)) or str(c).replace("_", " ") for c in data.columns}
    if len(set(label.values())) != len(label):
        raise ValueError(f"reader_table: two columns would read the same: {list(label.values())}")
    shown = pd.DataFrame(cells, columns=list(data.columns)).rename(columns=label)
    shown.attrs["kinds"] = {label[c]: k for c, k in shown_kinds.items()}
    footnotes = [f"{mark} {note}" for note, mark in marks.items()]
    return shown, footnotes


def reader_table(
    frame: pd.DataFrame,
    *,
    kinds: Mapping[Any, str] | str | None = None,
    names: Mapping[Any, str] | None = None,
    notes: Mapping[Any, str] | str | None = None,
    formats: Mapping[Any, str | Callable[[Any], str]] | None = None,
    index: bool | None = None,
    decimals: int = 1,
    caption: str | None = None,
) -> Any:
    """A DataFrame as a table for readers: named columns, rounded by meaning, no ``NaN``.

    Parameters
    ----------
    frame : DataFrame
        Any shape; a MultiIndex of columns is flattened (``"ghost 1"``).
    kinds : dict or str, optional
        ``{column: kind}`` (:data:`KINDS`) where inference (module docstring) is not wanted, or
        one kind for every column of ``frame`` (the index's columns are still inferred).
    names : dict, optional
        ``{column: reader name}`` on top of :data:`COLUMN_NAMES`.
    notes : dict or str, optional
        ``{column: why its values can be missing}``, or one text for every column; a column
        with a missing value and no note gets :data:`UNEXPLAINED`.
    formats : dict, optional
        ``{column: format string or callable}`` for a column no kind fits (e.g. a compact count
        ``"12.3k"``); it gets the column's non-missing values only.
    index : bool, optional
        Show the index as leading columns (formatted by its names like any column). Default:
        shown when it is named, hidden when it is only row numbers.
    decimals : int
        Decimals of percentages, 0 to 4.
    caption : str, optional
        Shown under the table, above the footnotes.

    Returns
    -------
    pandas.io.formats.style.Styler
        Displays as an HTML table (index hidden, cells HTML-escaped, no cell truncated, numbers
        right-aligned on one line, text left-aligned and wrapped), the footnotes under it.

    Raises
    ------
    ValueError
        For unknown column names in ``kinds``,
        ``names``, ``notes`` or ``formats``, an unknown kind, repeated column names, a
        non-numeric value of a numeric kind, or ``decimals`` out of range.
    TypeError
        When ``frame`` is not a DataFrame.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"fraction_pruned": [0.25, 0.9], "z": [6.27, float("nan")]})
    >>> cells, notes = reader_frame(t, notes={"z": "the null spread is zero"})
    >>> cells.values.tolist(), notes
    ([['25.0%', '6.3'], ['90.0%', '–¹']], ['¹ the null spread is zero'])
    """
    shown, footnotes = reader_frame(frame, kinds=kinds, names=names, notes=notes, formats=formats,
                                    index=index, decimals=decimals)
    style = shown.style.hide(axis="index").format(escape="html")
    style = style.set_table_styles([
        {"selector": "td", "props": "white-space: nowrap; text-align: right;"},
        {"selector": "th", "props": "text-align: right;"},
        {"selector": "caption", "props": "caption-side: bottom; text-align: left; font-size: 0.9em;"},
    ], overwrite=False)
    text = [c for c, k in shown.attrs["kinds"].items() if k == "text"]
    if text:  # prose wraps and reads from the left; numbers stay on one line, right-aligned
        left = [{"selector": s, "props": "white-space: normal; text-align: left;"} for s in ("td", "th")]
        style = style.set_table_styles({c: left for c in text}, overwrite=False)
    lines = ([html.escape(caption)] if caption else []) + [html.escape(f) for f in footnotes]
    if lines:
        style = style.set_caption("<br>".join(lines))
    return style


def reader_table_html(frame: pd.DataFrame, **options: Any) -> str:
    """The HTML of :func:`reader_table` (same arguments): a ``<table>`` with its footnotes."""
    return reader_table(frame, **options).to_html()
